"""Exactly-once firing: a schedule that fires every 10 s, with several processes racing for each tick.

    uv run python benchmarks/schedules_exactly_once.py                  # both phases, 3 minutes each
    uv run python benchmarks/schedules_exactly_once.py --minutes 1 --phases inline

Phase `celery`: two API processes (uvicorn on two ports) and two Celery workers (Redis at
redis://127.0.0.1:6379/13 by default), all on one PostgreSQL database, all running the firing loop.
Phase `inline`: the broker absent, two API processes (runs execute inline in whichever process fired).

Each phase creates a schedule `*/10 * * * * *` over the API on a one-step scenario (GET the API's /health),
lets it run for --minutes, disables it, waits for its runs to end, stops every process, and counts per tick:
fire records, runs (by the tick each run carries in its CI metadata), and which process fired it. It passes
when every tick of the window has exactly one fire and exactly one run, and no tick has more. Exit code 0
only when every phase passed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))

EVERY_10_SECONDS = "*/10 * * * * *"
EMAIL, PASSWORD = "scheduler@example.com", "correct-horse-battery"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="how long each phase lets the schedule fire")
    parser.add_argument("--phases", default="celery,inline", help="celery, inline or both (comma-separated)")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/exile_schedules_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--ports", default="18711,18712", help="the two API processes' ports")
    return parser.parse_args()


# ---- the database ----------------------------------------------------------------------------------------
async def fresh_database(url: str) -> None:
    """Drop and create the database, then migrate it (as `exile migrate` does)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from app.core.bootstrap import migrate
    from app.core.db import build_engine

    parsed = make_url(url)
    admin = build_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        await connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    await admin.dispose()
    await asyncio.to_thread(migrate, url)


async def seed_user(url: str) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlalchemy.pool import NullPool

    from app.core.db import build_engine
    from app.users.schemas import UserCreate
    from app.users.service import create_user

    engine = build_engine(url, poolclass=NullPool)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        await create_user(session, UserCreate(email=EMAIL, password=PASSWORD, is_admin=True))
        await session.commit()
    await engine.dispose()


async def count(url: str, schedule_id: int, window: tuple[datetime, datetime]) -> dict[str, Any]:
    """Fires and runs of the schedule, per tick, against the ticks the window should have had."""
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlalchemy.pool import NullPool

    from app.core.db import build_engine
    from app.models import ScenarioRun, ScheduleFire
    from app.schedules import cron

    engine = build_engine(url, poolclass=NullPool)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        fires = list(await session.scalars(select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)))
        runs = [
            run
            for run in await session.scalars(select(ScenarioRun).where(ScenarioRun.trigger == "schedule"))
            if (run.ci or {}).get("schedule_id") == schedule_id
        ]
    await engine.dispose()
    spec = cron.parse(EVERY_10_SECONDS, "UTC")
    start, end = window
    expected: list[datetime] = []
    moment = cron.next_after(spec, start)
    while moment <= end:
        expected.append(moment)
        moment = cron.next_after(spec, moment)
    fires_per_tick = Counter(fire.tick_at for fire in fires)
    runs_per_tick = Counter(datetime.fromisoformat(run.ci["schedule_tick"]) for run in runs)
    return {
        "expected": expected,
        "fires_per_tick": fires_per_tick,
        "runs_per_tick": runs_per_tick,
        "outcomes": Counter(str(fire.outcome) for fire in fires),
        "fired_by": Counter(fire.recorded_by.split(":")[0] + ":" + fire.recorded_by.split(":")[-1] for fire in fires),
        "run_status": Counter(str(run.status) for run in runs),
        "executors": Counter(run.executor for run in runs),
        "fires": fires,
    }


# ---- the processes ---------------------------------------------------------------------------------------
class Processes:
    """API processes and Celery workers sharing one database, their output in log files."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], ready: str) -> None:
        log = self.logs / f"{name}.log"
        process = subprocess.Popen(
            command, cwd=REPO, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append((name, process))
        deadline = time.monotonic() + 90
        while ready not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start:\n" + log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)

    def api(self, port: int) -> None:
        command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
        self.start(f"api-{port}", command, "Application startup complete")

    def worker(self, index: int) -> None:
        celery = str(Path(sys.executable).parent / "celery")
        command = [
            celery, "-A", "app.tasks.celery_app:celery_app", "worker", "-Q", "exile_scenario_tasks",
            "--pool=threads", "--concurrency=2", "--loglevel=INFO", "-n", f"bench{index}-{os.getpid()}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        self.start(f"worker-{index}", command, "ready.")

    def stop(self) -> None:
        for _, process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.started.clear()


# ---- one phase -------------------------------------------------------------------------------------------
async def sign_in(base: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base) as http:
        answer = await http.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def create_schedule(base: str, headers: dict[str, str], name: str) -> dict[str, Any]:
    """A project, an environment on the API itself, a case GET /health, a scenario, and its schedule."""
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = await http.post(path, json=body)
            assert answer.status_code == 201, answer.text
            return answer.json()

        project = await post("/api/v1/projects", {"name": f"exactly once ({name})"})
        environment = await post(f"/api/v1/projects/{project['id']}/environments", {"name": "self", "base_url": base})
        case = await post(
            "/api/v1/cases",
            {
                "project_id": project["id"],
                "name": "health",
                "method": "GET",
                "url": "/health",
                "assertions": [{"source": "status_code", "op": "eq", "expected": 200}],
            },
        )
        scenario = await post("/api/v1/scenarios", {"project_id": project["id"], "name": f"tick ({name})"})
        steps = await http.put(f"/api/v1/scenarios/{scenario['id']}/steps", json=[{"case_id": case["id"]}])
        assert steps.status_code == 200, steps.text
        return await post(
            "/api/v1/schedules",
            {
                "name": f"every 10 s ({name})",
                "scenario_id": scenario["id"],
                "environment_id": environment["id"],
                "cron": EVERY_10_SECONDS,
                "timezone": "UTC",
            },
        )


async def disable(base: str, headers: dict[str, str], schedule_id: int) -> None:
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        current = (await http.get(f"/api/v1/schedules/{schedule_id}")).json()
        answer = await http.patch(
            f"/api/v1/schedules/{schedule_id}", json={"version": current["version"], "enabled": False}
        )
        answer.raise_for_status()


async def wait_for_runs(base: str, headers: dict[str, str], seconds: float = 60) -> None:
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            active = 0
            for status in ("queued", "running"):
                active += (await http.get("/api/v1/scenario-runs", params={"status": status})).json()["total"]
            if not active:
                return
            await asyncio.sleep(1)


async def phase(name: str, args: argparse.Namespace, logs: Path) -> bool:
    ports = [int(port) for port in args.ports.split(",")]
    env = {
        **os.environ,
        "DATABASE_URL": args.postgres,
        "SECRET_KEY": "exactly-once-benchmark-secret-key-0123456789",
        "EXILE_DATA_DIR": str(logs / "data"),
        "ENVIRONMENT": "development",
        "RUN_PROCESSES": "1",
        "SCHEDULE_POLL_SECONDS": "1",
        "PYTHONPATH": str(REPO),
    }
    env.pop("CELERY_RESULT_BACKEND", None)
    if name == "celery":
        env["CELERY_BROKER_URL"] = args.redis
        import redis

        redis.Redis.from_url(args.redis).flushdb()  # no task left over from an earlier phase
    else:
        env.pop("CELERY_BROKER_URL", None)
    processes = Processes(env, logs / name)
    (logs / name).mkdir(parents=True, exist_ok=True)
    try:
        for port in ports:
            processes.api(port)
        if name == "celery":
            processes.worker(1)
            processes.worker(2)
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        headers = await sign_in(bases[0])
        schedule = await create_schedule(bases[0], headers, name)
        created = datetime.now(UTC)
        print(f"[{name}] schedule {schedule['id']} created at {created:%H:%M:%S}; firing for {args.minutes:g} min ...")
        await asyncio.sleep(args.minutes * 60)
        await disable(bases[1], headers, schedule["id"])
        disabled = datetime.now(UTC)
        await wait_for_runs(bases[0], headers)
    finally:
        processes.stop()
    # The last tick before the disable may have been due while it was being saved: it counts if it fired.
    counts = await count(args.postgres, schedule["id"], (created, disabled - timedelta(seconds=2)))
    counts["lost"] = sum(
        log.read_text(errors="replace").count("claimed by another process first") for log in (logs / name).glob("*.log")
    )
    return report(name, counts, disabled)


def report(name: str, counts: dict[str, Any], disabled: datetime) -> bool:
    expected: list[datetime] = counts["expected"]
    fires, runs = counts["fires_per_tick"], counts["runs_per_tick"]
    missing = [tick for tick in expected if fires[tick] != 1 or runs[tick] != 1]
    doubled = [tick for tick in set(fires) | set(runs) if fires[tick] > 1 or runs[tick] > 1]
    # Only a tick due while the disable was being saved may be outside the window; none after it.
    extra = [tick for tick in set(fires) | set(runs) if tick not in expected and tick > disabled]
    print(f"[{name}] ticks in the window: {len(expected)}")
    print(f"[{name}] fire records: {sum(fires.values())} over {len(fires)} ticks; outcomes {dict(counts['outcomes'])}")
    print(f"[{name}] runs: {sum(runs.values())} over {len(runs)} ticks; status {dict(counts['run_status'])}; "
          f"executed by {dict(counts['executors'])}")  # fmt: skip
    print(f"[{name}] runs per tick: {dict(Counter(runs[tick] for tick in expected))} (tick count by runs)")
    print(
        f"[{name}] fired by (process:pid): {dict(counts['fired_by'])}; claims lost to another process: {counts['lost']}"
    )
    print(f"[{name}] ticks with other than one fire and one run: {len(missing)}; with more than one: {len(doubled)}")
    passed = not missing and not doubled and not extra and set(counts["outcomes"]) == {"fired"}
    print(f"[{name}] {'PASS: every tick ran once and only once' if passed else 'FAIL'}")
    return passed


async def main() -> int:
    args = parse_args()
    phases = [name.strip() for name in args.phases.split(",") if name.strip()]
    await fresh_database(args.postgres)
    await seed_user(args.postgres)
    logs = Path(tempfile.mkdtemp(prefix="exile-schedules-bench-"))
    print(f"logs: {logs}")
    results = [await phase(name, args, logs) for name in phases]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
