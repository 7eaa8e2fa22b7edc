"""The same scenario run executed in-process (`execute_run`, the API's pooled engine) and by a real Celery worker.

    uv run python benchmarks/celery_vs_inline.py                          # SQLite, 2,000 rows at 16 in flight
    uv run python benchmarks/celery_vs_inline.py --postgres               # and PostgreSQL (a fresh db, dropped after)
    uv run python benchmarks/celery_vs_inline.py --profile-dir /tmp/prof  # cProfile of one run on each side

The run (order flow: login -> create order -> pay against ../shared/bench's nginx on 127.0.0.1:18080) is built
through the ORM: cases, a scenario with its data rows and a queued ScenarioRun, as the API saves them. Each
trial is timed from dispatch (the call to `execute_run`, or `run_scenario_task.delay`) to the run's
`finished_at`; inline and Celery trials are interleaved and the median of --repeat counts. The worker is
`celery -A app.tasks.celery_app:celery_app worker -Q exile_scenario_tasks --pool=threads --concurrency=1`
with DATABASE_URL and CELERY_BROKER_URL set; it gets one untimed warm-up run first, as the API's pool is warm.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.order_flow import (
    CACHE,
    REPO,
    STEPS_PER_ROW,
    TARGET,
    ensure_target,
    make_data,
    order_flow_cases,
    read_rows,
    remove_database,
    sqlite_url,
)

DEFAULT_BROKER = "redis://127.0.0.1:6379/10"
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


# ---- the database and the scenario -----------------------------------------------------------------------------
@dataclass
class Database:
    name: str
    url: str
    drop: Any = None  # called at the end


def sqlite_database(work: Path) -> Database:
    path = work / f"celery-vs-inline-{uuid.uuid4().hex[:8]}.db"
    remove_database(path)
    return Database("SQLite", sqlite_url(path), drop=lambda: remove_database(path))


def postgres_database(admin_url: str) -> Database:
    name = f"exile_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(admin_url)

    async def admin_sql(sql: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(
            host=admin.host, port=admin.port or 5432, user=admin.username, password=admin.password, database="postgres"
        )
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    return Database(
        "PostgreSQL", url, drop=lambda: asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    )


def migrate_quietly(url: str) -> None:
    from app.core.bootstrap import migrate

    log = io.StringIO()
    try:
        with contextlib.redirect_stderr(log):
            migrate(url)  # Alembic runs its own event loop: call it outside ours
    except Exception:
        print(log.getvalue(), file=sys.stderr)
        raise


async def seed_scenario(url: str, data: Path, concurrency: int) -> dict[str, int]:
    from app.core.db import build_engine
    from app.models import ApiRequest, Environment, Project, TestScenario, TestScenarioCase, TestScenarioDataset, User

    engine = build_engine(url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            user = User(email="bench@example.com", full_name="Bench", password_hash="-")
            session.add(user)
            await session.flush()
            project = Project(name="bench", owner_id=user.id)
            session.add(project)
            await session.flush()
            environment = Environment(project_id=project.id, name="local", base_url=TARGET)
            scenario = TestScenario(
                project_id=project.id, owner_id=user.id, name="order flow", settings={"concurrency": concurrency}
            )
            session.add_all([environment, scenario])
            await session.flush()
            for position, case in enumerate(order_flow_cases()):
                row = ApiRequest(project_id=project.id, owner_id=user.id, **case)
                session.add(row)
                await session.flush()
                session.add(TestScenarioCase(scenario_id=scenario.id, case_id=row.id, position=position))
            session.add_all(
                TestScenarioDataset(scenario_id=scenario.id, position=r.index, variables=r.variables)
                for r in read_rows(data)
            )
            await session.commit()
            return {"user": user.id, "project": project.id, "environment": environment.id, "scenario": scenario.id}
    finally:
        await engine.dispose()


async def queue_run(sessions: async_sessionmaker[AsyncSession], ids: dict[str, int], rows: int, executor: str) -> int:
    from app.models import ScenarioRun
    from app.models.base import utcnow

    async with sessions() as session:
        run = ScenarioRun(
            project_id=ids["project"],
            scenario_id=ids["scenario"],
            kind="scenario",
            status="queued",
            trigger="manual",
            executor=executor,
            environment_id=ids["environment"],
            created_by_id=ids["user"],
            iterations_total=rows,
            created_at=utcnow(),
        )
        session.add(run)
        await session.commit()
        return run.id


async def run_state(sessions: async_sessionmaker[AsyncSession], run_id: int) -> tuple[str, datetime | None, int, int]:
    from app.models import ApiRequestRun, ScenarioRun

    async with sessions() as session:
        run = await session.get(ScenarioRun, run_id, populate_existing=True)
        assert run is not None
        recorded = 0
        if run.finished_at is not None:
            recorded = int(
                await session.scalar(
                    select(func.count()).select_from(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run_id)
                )
                or 0
            )
        return run.status, run.finished_at, run.requests_passed, recorded


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---- the two executors -----------------------------------------------------------------------------------------
@dataclass
class Trial:
    executor: str
    requests: int
    seconds: float
    problems: list[str]
    cpu_seconds: float = float("nan")  # of the executing process (all its threads): steadier than wall time

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6 if self.requests else float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def checked(executor: str, state: tuple[str, datetime | None, int, int], started: datetime, rows: int) -> Trial:
    status, finished_at, passed, recorded = state
    expected = rows * STEPS_PER_ROW
    problems = []
    if status != "passed":
        problems.append(f"run ended {status}")
    if passed != expected or recorded != expected:
        problems.append(f"{passed} passed / {recorded} recorded, expected {expected}")
    seconds = (aware(finished_at) - started).total_seconds() if finished_at else float("nan")
    return Trial(executor, passed, seconds, problems)


async def inline_trial(url: str, ids: dict[str, int], rows: int, profile: Path | None = None) -> Trial:
    """execute_run in this process with a pooled engine, as app.runs.dispatch.start_inline does in the API."""
    from app.core.db import build_engine
    from app.models.base import utcnow
    from app.runs.executor import execute_run, worker_name

    engine = build_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    try:
        run_id = await queue_run(sessions, ids, rows, "inline")
        async with engine.connect() as connection:  # the API's pool is warm
            await connection.exec_driver_sql("SELECT 1")
        profiler = _profiler(profile)
        cpu = process_cpu(os.getpid())
        started = utcnow()
        await execute_run(sessions, run_id, worker_name("inline"))
        cpu = process_cpu(os.getpid()) - cpu
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(str(profile))
        trial = checked("inline", await run_state(sessions, run_id), started, rows)
        trial.cpu_seconds = cpu
        return trial
    finally:
        await engine.dispose()


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, all threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _profiler(profile: Path | None) -> Any:
    if profile is None:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


async def celery_trial(url: str, ids: dict[str, int], rows: int, worker_pid: int) -> Trial:
    from app.core.db import build_engine
    from app.models.base import utcnow
    from app.tasks.scenario import run_scenario_task

    engine = build_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    try:
        run_id = await queue_run(sessions, ids, rows, "celery")
        cpu = process_cpu(worker_pid)
        started = utcnow()
        run_scenario_task.delay(run_id)
        deadline = time.monotonic() + 60 + rows / 50
        while True:
            await asyncio.sleep(0.05)
            state = await run_state(sessions, run_id)
            if state[1] is not None:
                trial = checked("celery", state, started, rows)
                trial.cpu_seconds = process_cpu(worker_pid) - cpu  # includes up to 50 ms of idle worker
                return trial
            if time.monotonic() > deadline:
                return Trial("celery", 0, float("nan"), [f"run {run_id} still {state[0]} after the deadline"])
    finally:
        await engine.dispose()


class Worker:
    def __init__(self, url: str, broker: str, log: Path, concurrency: int, profile: Path | None) -> None:
        env = {**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": broker, "PYTHONPATH": str(REPO)}
        if profile is not None:
            env["EXILE_TASK_PROFILE_DIR"] = str(profile)
        command = [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "app.tasks.celery_app:celery_app",
            "worker",
            "-Q",
            "exile_scenario_tasks",
            "--pool=threads",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            "-n",
            f"bench-{uuid.uuid4().hex[:8]}@%h",
        ]
        self.log = log
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the worker did not start:\n" + log.read_text())
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


# ---- the comparison --------------------------------------------------------------------------------------------
def median(trials: list[Trial]) -> Trial:
    return sorted(trials, key=lambda t: t.rps)[len(trials) // 2]


def compare(db: Database, args: argparse.Namespace, data: Path, work: Path) -> tuple[Trial, Trial, list[Trial]]:
    from app.tasks.celery_app import celery_app

    celery_app.conf.broker_url = args.broker
    import redis

    redis.Redis.from_url(args.broker).delete("exile_scenario_tasks")  # messages an interrupted benchmark left
    migrate_quietly(db.url)
    ids = asyncio.run(seed_scenario(db.url, data, args.concurrency))
    profile = args.profile_dir
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    worker = Worker(db.url, args.broker, work / "celery-vs-inline-worker.log", args.worker_concurrency, profile)
    trials: list[Trial] = []
    try:
        print(f"{db.name}: warm-up run on the worker ...", flush=True)
        asyncio.run(celery_trial(db.url, ids, args.rows, worker.process.pid))
        for trial in range(1, args.repeat + 1):
            print(f"{db.name}: run {trial}/{args.repeat}: inline, celery ...", flush=True)
            inline_profile = profile / "inline.prof" if profile is not None and trial == 1 else None
            trials.append(asyncio.run(inline_trial(db.url, ids, args.rows, inline_profile)))
            trials.append(asyncio.run(celery_trial(db.url, ids, args.rows, worker.process.pid)))
    finally:
        worker.stop()
    inline = median([t for t in trials if t.executor == "inline"])
    celery = median([t for t in trials if t.executor == "celery"])
    return inline, celery, trials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000, help="data rows (3 requests each); default 2000")
    parser.add_argument("--concurrency", type=int, default=16, help="iterations in flight; default 16")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved trials per executor; default 3")
    parser.add_argument("--broker", default=DEFAULT_BROKER, help=f"Celery broker; default {DEFAULT_BROKER}")
    parser.add_argument("--worker-concurrency", type=int, default=1, help="worker threads; default 1")
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_POSTGRES, metavar="URL", help="also on PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    parser.add_argument(
        "--profile-dir", type=Path, help="cProfile the first inline run and every worker task into this directory"
    )
    parser.add_argument("--bench-dir", type=Path, default=REPO.parent / "shared" / "bench")
    args = parser.parse_args(argv)
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C: the worker is stopped and the databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = (CACHE / "work").resolve()
    work.mkdir(parents=True, exist_ok=True)
    ensure_target(args.bench_dir.resolve())
    data = make_data(args.bench_dir.resolve(), args.rows, work)
    databases = [] if args.no_sqlite else [lambda: sqlite_database(work)]
    if args.postgres:
        databases.append(lambda: postgres_database(args.postgres))
    results = []
    for make in databases:
        db = make()
        try:
            results.append((db.name, *compare(db, args, data, work)))
        finally:
            db.drop()
    ok = True
    print()
    print(f"order flow, {args.rows} rows = {args.rows * STEPS_PER_ROW} requests, {args.concurrency} in flight, ")
    print(f"dispatch to finished_at, median of {args.repeat} interleaved trials; worker --pool=threads")
    print()
    print("| database | executor | seconds | requests/s | trials requests/s | CPU us/request (median) | checks |")
    print("| --- | --- | ---: | ---: | --- | ---: | --- |")
    for name, inline, celery, trials in results:
        for chosen in (inline, celery):
            each = ", ".join(f"{t.rps:,.0f}" for t in trials if t.executor == chosen.executor)
            problems = [p for t in trials if t.executor == chosen.executor for p in t.problems]
            ok = ok and not problems
            checks = "; ".join(problems) or "all passed"
            cpus = sorted(t.cpu_us_per_request for t in trials if t.executor == chosen.executor)
            cpu = cpus[len(cpus) // 2]
            figures = f"{chosen.seconds:.2f} | {chosen.rps:,.0f} | {each} | {cpu:.0f}"
            print(f"| {name} | {chosen.executor} | {figures} | {checks} |")
    print()
    for name, inline, celery, _ in results:
        print(f"{name}: celery / inline requests/s = {celery.rps / inline.rps:.2f}x" if inline.rps else f"{name}: -")
    if args.profile_dir:
        print(f"\nprofiles in {args.profile_dir}: inline.prof, task-*.prof (uv run python -m pstats FILE)")
    print("\nRESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
