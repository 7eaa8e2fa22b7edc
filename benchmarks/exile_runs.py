"""Exile's order-flow run the way the server executes it, shared by order_flow.py and celery_vs_inline.py.

A fresh, migrated database per backend (SQLite file, PostgreSQL or MariaDB on 127.0.0.1), the order flow saved
through the ORM as the API saves it (cases, a scenario, its data rows, an environment pointing at the target),
a queued ScenarioRun per trial, and two executors:

- `InlineExecutor`: a separate Python process standing in for the API process. It executes each run it is
  sent with `app.runs.executor.execute_run` on the app's own pooled engine (`get_session_factory()`, from
  DATABASE_URL), as `app.runs.dispatch.start_inline` does; its process pool (RUN_PROCESSES) and engine stay
  warm between runs, as a server's do. One process per database, so nothing of one backend leaks into another.
- `CeleryWorkers`: N real `celery -A app.tasks.celery_app:celery_app worker -Q exile_scenario_tasks`
  processes; a run is sent with `app.runs.dispatch.send_to_workers`, the API's path.

Run directly, this module is the inline executor's process (`serve-inline`); nothing else calls that.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))  # this tree's `app`, whatever the virtualenv's editable install points at

import orjson  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

STEPS_PER_ROW = 3
BACKENDS = ("sqlite", "postgresql", "mariadb")
BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mariadb": "MariaDB"}
SERVERS = {
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}",
    "mariadb": "mysql+asyncmy://root@127.0.0.1:3306/{db}?charset=utf8mb4",
}
SEED_BATCH = 5000


# ---- databases -------------------------------------------------------------------------------------------------
@dataclass
class Database:
    backend: str  # sqlite | postgresql | mariadb
    url: str
    keep: bool = False
    _drop: Any = None

    @property
    def name(self) -> str:
        return BACKEND_NAMES[self.backend]

    def drop(self) -> None:
        if not self.keep and self._drop is not None:
            self._drop()


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _server_sql(backend: str, statements: Iterable[str]) -> None:
    """Statements on the server's admin database (postgres / no database), outside a transaction."""
    if backend == "postgresql":
        import asyncpg

        pg = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
        try:
            for sql in statements:
                await pg.execute(sql)
        finally:
            await pg.close()
    else:
        import asyncmy

        my = await asyncmy.connect(host="127.0.0.1", port=3306, user="root", password="")
        try:
            async with my.cursor() as cursor:
                for sql in statements:
                    await cursor.execute(sql)
        finally:
            my.close()


def fresh_database(backend: str, work: Path, tag: str, keep: bool = False) -> Database:
    """A new, migrated database: SQLite `work/exile_bench[_<tag>].db`, else `exile_bench[_<tag>]_pg` / `_my`."""
    base = f"exile_bench_{tag}" if tag else "exile_bench"
    if backend == "sqlite":
        path = work / f"{base}.db"
        remove_sqlite(path)
        db = Database(backend, f"sqlite+aiosqlite:///{path}", keep, lambda: remove_sqlite(path))
    elif backend in SERVERS:
        name = f"{base}_{'pg' if backend == 'postgresql' else 'my'}"
        if backend == "postgresql":
            create = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"']
            dropping = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']
        else:
            create = [f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"]
            dropping = [f"DROP DATABASE IF EXISTS `{name}`"]
        asyncio.run(_server_sql(backend, create))
        db = Database(
            backend, SERVERS[backend].format(db=name), keep, lambda: asyncio.run(_server_sql(backend, dropping))
        )
    else:
        raise SystemExit(f"unknown database {backend!r}: one of {', '.join(BACKENDS)}")
    migrate_quietly(db.url)
    return db


def migrate_quietly(url: str) -> None:
    from app.core.bootstrap import migrate

    log = io.StringIO()
    try:
        with contextlib.redirect_stderr(log):  # Alembic's INFO lines; shown only if the migration fails
            migrate(url)  # Alembic runs its own event loop: call it outside ours
    except Exception:
        print(log.getvalue(), file=sys.stderr)
        raise


def parse_backends(text: str) -> list[str]:
    chosen = [b.strip().lower() for b in text.split(",") if b.strip()]
    aliases = {"pg": "postgresql", "postgres": "postgresql", "mysql": "mariadb", "my": "mariadb"}
    chosen = [aliases.get(b, b) for b in chosen]
    for backend in chosen:
        if backend not in BACKENDS:
            raise SystemExit(f"unknown database {backend!r}: one of {', '.join(BACKENDS)}")
    return chosen


# ---- the scenario and its runs ---------------------------------------------------------------------------------
@dataclass
class Seeded:
    url: str
    user: int
    project: int
    environment: int
    scenario: int
    rows: int


def _sessions(url: str) -> tuple[Any, async_sessionmaker[AsyncSession]]:
    from app.core.db import build_engine

    engine = build_engine(url)
    return engine, async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def _seed(url: str, cases: list[dict[str, Any]], rows: Iterable[Any], target: str) -> Seeded:
    from app.cases.schemas import CaseCreate
    from app.models import ApiRequest, Environment, Project, TestScenario, TestScenarioCase, TestScenarioDataset, User

    engine, sessions = _sessions(url)
    try:
        async with sessions() as session:
            user = User(email="bench@example.com", full_name="Bench", password_hash="-")
            session.add(user)
            await session.flush()
            project = Project(name="bench", owner_id=user.id)
            session.add(project)
            await session.flush()
            environment = Environment(project_id=project.id, name="local", base_url=target)
            scenario = TestScenario(project_id=project.id, owner_id=user.id, name="order flow")
            session.add_all([environment, scenario])
            await session.flush()
            for position, case in enumerate(cases):
                # As app.cases.service.create_case saves a validated CaseCreate: every default filled in.
                fields = CaseCreate.model_validate({**case, "project_id": project.id}).model_dump(
                    mode="json", by_alias=True, exclude={"tags"}
                )
                saved = ApiRequest(owner_id=user.id, **fields)
                session.add(saved)
                await session.flush()
                session.add(TestScenarioCase(scenario_id=scenario.id, case_id=saved.id, position=position))
            count = 0
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(
                    {"scenario_id": scenario.id, "position": row.index, "name": "", "variables": row.variables}
                )
                if len(batch) == SEED_BATCH:
                    await session.execute(insert(TestScenarioDataset), batch)
                    count += len(batch)
                    batch = []
            if batch:
                await session.execute(insert(TestScenarioDataset), batch)
                count += len(batch)
            await session.commit()
            return Seeded(url, user.id, project.id, environment.id, scenario.id, count)
    finally:
        await engine.dispose()


def seed_scenario(url: str, cases: list[dict[str, Any]], rows: Iterable[Any], target: str) -> Seeded:
    """The user, project, environment (base URL = the target), cases and a scenario with one data row per row."""
    return asyncio.run(_seed(url, cases, rows, target))


async def _queue(seeded: Seeded, executor: str, concurrency: int, only: list[int] | None) -> int:
    from app.models import ScenarioRun
    from app.models.base import utcnow

    engine, sessions = _sessions(seeded.url)
    try:
        async with sessions() as session:
            run = ScenarioRun(
                project_id=seeded.project,
                scenario_id=seeded.scenario,
                kind="scenario",
                status="queued",
                trigger="manual",
                executor=executor,
                environment_id=seeded.environment,
                created_by_id=seeded.user,
                iterations_total=len(only) if only else seeded.rows,
                settings={"concurrency": concurrency},  # what app.runs.service copies from the request
                only_iterations=only,
                created_at=utcnow(),
            )
            session.add(run)
            await session.commit()
            return run.id
    finally:
        await engine.dispose()


def queue_run(seeded: Seeded, executor: str, concurrency: int, only: list[int] | None = None) -> int:
    """A queued ScenarioRun of the whole scenario (or of the iterations `only`) at `concurrency` in flight."""
    return asyncio.run(_queue(seeded, executor, concurrency, only))


@dataclass
class RunRow:
    run_id: int
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    requests_passed: int
    requests_failed: int
    requests_error: int
    recorded: int
    recorded_passed: int
    chunks: int | None  # None: this version has no sharded runs
    chunks_at_once: int | None  # the most chunks running at the same moment (from their started/finished_at)
    error: str | None

    @property
    def seconds(self) -> float:
        """Claim to finish, as the run's row says."""
        if self.started_at is None or self.finished_at is None:
            return float("nan")
        return (_aware(self.finished_at) - _aware(self.started_at)).total_seconds()

    def problems(self, rows: int) -> list[str]:
        expected = rows * STEPS_PER_ROW
        found = []
        if self.status != "passed":
            found.append(f"run {self.run_id} ended {self.status}" + (f": {self.error[:300]}" if self.error else ""))
        if self.requests_passed != expected or self.requests_failed or self.requests_error:
            found.append(
                f"run counts {self.requests_passed} passed / {self.requests_failed} failed / "
                f"{self.requests_error} error, expected {expected} passed"
            )
        if self.recorded != expected or self.recorded_passed != expected:
            found.append(f"{self.recorded} ApiRequestRun rows ({self.recorded_passed} passed), expected {expected}")
        return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _run_row(url: str, run_id: int, count: bool) -> RunRow:
    from app.models import ApiRequestRun, ScenarioRun

    engine, sessions = _sessions(url)
    try:
        async with sessions() as session:
            run = await session.get(ScenarioRun, run_id, populate_existing=True)
            assert run is not None, f"run {run_id} vanished"
            recorded = passed = 0
            if count:
                of_run = ApiRequestRun.scenario_run_id == run_id
                recorded = int(await session.scalar(select(func.count()).where(of_run)) or 0)
                passed = int(
                    await session.scalar(select(func.count()).where(of_run, ApiRequestRun.status == "passed")) or 0
                )
            at_once = await _chunks_at_once(session, run_id) if getattr(run, "chunks", 0) else None
            return RunRow(
                run_id,
                str(run.status),
                run.started_at,
                run.finished_at,
                run.requests_passed,
                run.requests_failed,
                run.requests_error,
                recorded,
                passed,
                getattr(run, "chunks", None),
                at_once,
                run.error,
            )
    finally:
        await engine.dispose()


async def _chunks_at_once(session: AsyncSession, run_id: int) -> int:
    from app.models import ScenarioRunChunk as chunk

    spans = (await session.execute(select(chunk.started_at, chunk.finished_at).where(chunk.run_id == run_id))).all()
    events = sorted(
        [(_aware(start), 1) for start, end in spans if start and end]
        + [(_aware(end), -1) for start, end in spans if start and end],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same moment
    )
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def run_row(url: str, run_id: int, count: bool = True) -> RunRow:
    """The run's row, with its ApiRequestRun rows counted (all, and passed) when `count`."""
    return asyncio.run(_run_row(url, run_id, count))


TIMING_KEYS = ("elapsed", "duration", "started", "finished", "_ms", "time")


async def _fingerprint(url: str, run_id: int) -> Counter[bytes]:
    from app.models import ApiRequestRun

    engine, sessions = _sessions(url)
    seen: Counter[bytes] = Counter()
    try:
        async with sessions() as session:
            query = select(
                ApiRequestRun.iteration,
                ApiRequestRun.step_key,
                ApiRequestRun.status,
                ApiRequestRun.is_final,
                ApiRequestRun.request,
            ).where(ApiRequestRun.scenario_run_id == run_id)
            result = await session.stream(query.execution_options(yield_per=5000))
            async for iteration, step_key, status, is_final, request in result:
                snapshot = {k: v for k, v in (request or {}).items() if not any(t in k for t in TIMING_KEYS)}
                key = orjson.dumps(
                    [iteration, step_key, str(status), bool(is_final), snapshot], option=orjson.OPT_SORT_KEYS
                )
                seen[hashlib.blake2b(key, digest_size=16).digest()] += 1
    finally:
        await engine.dispose()
    return seen


def record_fingerprint(url: str, run_id: int) -> Counter[bytes]:
    """The run's records as a multiset of (iteration, step_key, status, is_final, request snapshot minus timings)."""
    return asyncio.run(_fingerprint(url, run_id))


# ---- processes -------------------------------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    """The process's children, grandchildren... (Linux /proc)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in children:
                found.append(int(child))
                stack.append(int(child))
    return found


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process, all threads; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants, plus what its exited, waited-for children used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        waited = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime + cstime
    except OSError:
        waited = 0.0
    return process_cpu(pid) + waited + sum(process_cpu(child) for child in descendants(pid))


def peak_rss_kib(pid: int) -> int:
    """The kernel's high-water mark of a process's resident memory (VmHWM), KiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakSampler:
    """Samples VmHWM of a process and every descendant every 50 ms: the peak of each, by role."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.05)

    def sample(self) -> None:
        for pid in [self.pid, *descendants(self.pid)]:
            peak = peak_rss_kib(pid)
            if peak:
                self.peaks[pid] = max(self.peaks.get(pid, 0), peak)

    def stop(self) -> dict[str, int]:
        """{"executor": its peak KiB, "children": the largest descendant's peak KiB, "n_children": how many}."""
        self.sample()
        self._stop.set()
        self._thread.join()
        children = [peak for pid, peak in self.peaks.items() if pid != self.pid]
        return {
            "executor": self.peaks.get(self.pid, 0),
            "children": max(children, default=0),
            "n_children": len(children),
        }


def _app_env(url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    env.pop("CELERY_BROKER_URL", None)
    env.update(extra or {})
    return env


def executor_settings(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The settings a run is executed with (the sharding ones may not exist yet: then None)."""
    with _patched_env(env or {}):
        from app.core.config import Settings

        settings = Settings()
    return {
        "RUN_PROCESSES": getattr(settings, "run_processes", None),
        "RUN_CHUNK_ROWS": getattr(settings, "run_chunk_rows", None),
        "RUN_BATCH_SIZE": settings.run_batch_size,
        "RUN_FLUSH_SECONDS": settings.run_flush_seconds,
        "EVENT_LOOP": getattr(settings, "event_loop", None),
        "ENGINE_HTTP_CLIENT": getattr(settings, "engine_http_client", None),
    }


@contextlib.contextmanager
def _patched_env(values: dict[str, str]) -> Any:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Executed:
    """One executed run: wall time end to end (dispatch -> finished) and claim -> finish from the run's row."""

    executor: str
    backend: str
    concurrency: int
    rows: int
    run_id: int
    end_to_end: float
    row: RunRow | None
    cpu_seconds: float = float("nan")  # of the executing processes (and their children)
    problems: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return self.rows * STEPS_PER_ROW

    @property
    def rps(self) -> float:
        """Requests per second, end to end."""
        return self.requests / self.end_to_end if self.end_to_end else 0.0

    @property
    def rps_row(self) -> float:
        """Requests per second, claim to finish as the run row says."""
        seconds = self.row.seconds if self.row else float("nan")
        return self.requests / seconds if seconds and seconds == seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6 if self.requests else float("nan")

    @property
    def chunks(self) -> str:
        """`chunks (most at once)`, `0` for an unsharded run, `-` where this version has no chunks."""
        if self.row is None or self.row.chunks is None:
            return "-"
        return f"{self.row.chunks} ({self.row.chunks_at_once})" if self.row.chunks else "0"


class InlineExecutor:
    """A process standing in for the API: executes the runs it is sent with `execute_run`, one at a time."""

    def __init__(self, db: Database, log: Path, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, __file__, "serve-inline"],
            cwd=REPO,
            env=_app_env(db.url, env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
            start_new_session=True,
        )
        ready = self._read()
        self.settings: dict[str, Any] = ready["settings"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise SystemExit(f"the inline executor for {self.db.name} died:\n{self.log.read_text()[-3000:]}")
        return json.loads(line)

    def execute(self, run_id: int) -> dict[str, Any]:
        """{"seconds": wall time of execute_run, "cpu": CPU seconds of the process and its children, "status"}."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{run_id}\n")
        self.process.stdin.flush()
        return self._read()

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


def run_inline(executor: InlineExecutor, seeded: Seeded, concurrency: int, rows: int) -> Executed:
    run_id = queue_run(seeded, "inline", concurrency)
    done = executor.execute(run_id)
    row = run_row(seeded.url, run_id)
    executed = Executed("inline", executor.db.backend, concurrency, rows, run_id, done["seconds"], row, done["cpu"])
    executed.problems = row.problems(rows)
    return executed


class CeleryWorkers:
    """N Celery worker processes on exile_scenario_tasks (each `--pool=threads --concurrency=C`)."""

    def __init__(
        self,
        db: Database,
        broker: str,
        count: int,
        log_dir: Path,
        concurrency: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.broker = broker
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        env = _app_env(db.url, {**(env or {}), "CELERY_BROKER_URL": broker})
        try:
            for index in range(count):
                log = log_dir / f"celery-worker-{index + 1}.log"
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
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    f"bench{index + 1}-{uuid.uuid4().hex[:6]}@%h",
                ]
                self.logs.append(log)
                self.processes.append(
                    subprocess.Popen(
                        command,
                        cwd=REPO,
                        env=env,
                        stdout=log.open("w"),
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            deadline = time.monotonic() + 90
            for process, log in zip(self.processes, self.logs, strict=True):
                while "ready." not in log.read_text():
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("a Celery worker did not start:\n" + log.read_text()[-3000:])
                    time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def cpu(self) -> float:
        return sum(tree_cpu(pid) for pid in self.pids)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def use_broker(broker: str) -> None:
    """Point this process's Celery app (what send_to_workers publishes with) at `broker`, and empty its queue."""
    os.environ["CELERY_BROKER_URL"] = broker
    import redis

    from app.tasks.celery_app import celery_app

    celery_app.conf.broker_url = broker
    redis.Redis.from_url(broker).delete("exile_scenario_tasks")  # messages an interrupted benchmark left


async def _dispatch_and_wait(url: str, run_id: int, limit_s: float) -> tuple[float, str | None]:
    from app.models import ScenarioRun
    from app.runs.dispatch import send_to_workers

    engine, sessions = _sessions(url)
    try:
        async with engine.connect() as connection:  # warm before the clock starts
            await connection.exec_driver_sql("SELECT 1")
        started = time.perf_counter()
        await send_to_workers(run_id)
        while True:
            await asyncio.sleep(0.01)
            async with sessions() as session:
                finished = await session.scalar(select(ScenarioRun.finished_at).where(ScenarioRun.id == run_id))
            if finished is not None:
                return time.perf_counter() - started, None
            if time.perf_counter() - started > limit_s:
                return float("nan"), f"run {run_id} not finished after {limit_s:.0f} s"
    finally:
        await engine.dispose()


def run_celery(
    workers: CeleryWorkers, db: Database, seeded: Seeded, concurrency: int, rows: int, only: list[int] | None = None
) -> Executed:
    run_id = queue_run(seeded, "celery", concurrency, only)
    cpu = workers.cpu()
    seconds, late = asyncio.run(_dispatch_and_wait(db.url, run_id, 120 + rows / 20))
    cpu = workers.cpu() - cpu  # includes the workers' idle polling over the same span (small)
    row = run_row(db.url, run_id)
    executed = Executed(f"celery x{len(workers.pids)}", db.backend, concurrency, rows, run_id, seconds, row, cpu)
    executed.problems = ([late] if late else []) + row.problems(rows)
    return executed


# ---- the inline executor's process -----------------------------------------------------------------------------
def _serve_inline() -> None:
    """Reads run ids on stdin, executes each with execute_run, answers one JSON line per run on stdout."""
    import logging

    from app.core import loops

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    out: IO[str] = sys.stdout
    sys.stdout = sys.stderr  # nothing but the answers on the pipe

    async def serve() -> None:
        from app.core.db import dispose_engine, get_engine, get_session_factory
        from app.runs.executor import execute_run, worker_name

        async with get_engine().connect() as connection:  # a server's pool is warm
            await connection.exec_driver_sql("SELECT 1")
        out.write(json.dumps({"settings": executor_settings()}) + "\n")
        out.flush()
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            run_id = int(line)
            cpu = tree_cpu(os.getpid())
            started = time.perf_counter()
            status = await execute_run(get_session_factory(), run_id, worker_name("inline"))
            seconds = time.perf_counter() - started
            cpu = tree_cpu(os.getpid()) - cpu
            out.write(json.dumps({"run_id": run_id, "seconds": seconds, "cpu": cpu, "status": str(status)}) + "\n")
            out.flush()
        await dispose_engine()

    loops.run(serve())  # the loop uvicorn would run the API on (uvloop where installed)


if __name__ == "__main__":
    if sys.argv[1:] == ["serve-inline"]:
        _serve_inline()
    else:
        sys.exit(__doc__)
