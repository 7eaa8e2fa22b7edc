"""Run-sink write benchmark: microseconds per recorded row, old write path against the new, per database.

    uv run python benchmarks/sink_write.py                          # 20,000 rows on SQLite, PostgreSQL, MariaDB
    uv run python benchmarks/sink_write.py --rows 50000 --backends postgresql

Each backend gets a fresh database (SQLite: a temporary file; PostgreSQL and MariaDB: a new database on
127.0.0.1 that is dropped afterwards), migrated with app.core.bootstrap.migrate, with a user, a project and a
ScenarioRun so the foreign keys hold. The same realistic StepResults (order-flow sized request and response
snapshots, assertions, extracted values) go through three sinks, in turn, `--repeat` times:

- before: app/runs/sink.py as of commit BEFORE (the SQLAlchemy INSERT of every batch), loaded from git;
- bulk=False: today's sink with the driver bulk paths switched off (SQLAlchemy's INSERT);
- bulk: today's sink (SQLite: one multi-row INSERT, PostgreSQL: COPY, MariaDB: the bulk execute command).

The clock runs from the first put to the last commit (batches of 500, as a run writes them); "cpu" is this
process's CPU time over the same span (what the writes take from the event loop the engine runs on). Medians are
printed, with the rows read back and counted after each pass.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.pool import NullPool

from app.core.bootstrap import migrate
from app.core.db import build_engine
from app.engine.results import StepResult
from app.models import ApiRequestRun, Project, ScenarioRun, User
from app.models.base import utcnow
from app.runs.sink import DatabaseSink

REPO = Path(__file__).resolve().parents[1]
BEFORE = "5159959"  # the last commit before the driver bulk paths
BATCH_SIZE = 500  # app.core.config Settings.run_batch_size
SERVERS = {
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}",
    "mariadb": "mysql+asyncmy://root@127.0.0.1:3306/{db}?charset=utf8mb4",
}


def old_sink_class() -> type | None:
    """DatabaseSink as it was at BEFORE, imported from `git show` (None without git history)."""
    try:
        source = subprocess.run(
            ["git", "show", f"{BEFORE}:app/runs/sink.py"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("sink_before")
    exec(compile(source, f"{BEFORE}:app/runs/sink.py", "exec"), module.__dict__)
    return module.DatabaseSink  # type: ignore[no-any-return]


def results(rows: int) -> list[StepResult]:
    """Order-flow sized records: three steps per data row, every one recorded."""
    started = datetime(2026, 1, 1, tzinfo=UTC)
    made = []
    for i in range(rows):
        step = i % 3
        token = f"tok-user{i // 3}"
        body = {"code": 0, "data": {"order_id": f"o-{i}", "status": "PAID", "token": token, "qty": i % 7}}
        made.append(
            StepResult(
                step_key=f"step:{step}",
                case_id=None,
                step_id=1000 + step,
                dataset_id=None,
                iteration=i // 3,
                attempt=1,
                iteration_attempt=1,
                is_final=True,
                flaky=False,
                status="passed" if i % 50 else "failed",
                started_at=started + timedelta(microseconds=1234 * i),
                duration_ms=1.25 + (i % 13) / 8,
                name=("login", "create order", "pay")[step],
                request={
                    "method": "POST",
                    "url": f"http://127.0.0.1:18080/{('login', 'orders', 'pay')[step]}",
                    "headers": {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                    "body": f'{{"username": "user{i // 3}", "sku": "sku-{i % 97}", "qty": {i % 7}}}',
                    "size": 52,
                },
                dataset={"row": {"username": f"user{i // 3}", "password": "******", "sku": f"sku-{i % 97}"}},
                response={
                    "status": 200,
                    "headers": {"Content-Type": "application/json", "Content-Length": "96", "Server": "nginx"},
                    "body": str(body).replace("'", '"'),
                    "size": 96,
                    "sha256": f"{i:064x}",
                    "truncated": False,
                    "elapsed_ms": 0.412,
                    "url": "http://127.0.0.1:18080/pay",
                    "redirects": [],
                },
                assertions=[
                    {"source": "status_code", "op": "eq", "expected": 200, "actual": 200, "passed": True},
                    {"source": "body", "expression": "$.code", "op": "eq", "expected": 0, "actual": 0, "passed": True},
                ],
                extracted={"token": token} if step == 0 else {"order_id": f"o-{i}"},
            )
        )
    return made


@contextlib.asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[str]:
    """A new, empty database for the backend; dropped (or deleted) afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="exile-sink-bench-") as directory:
            yield f"sqlite+aiosqlite:///{directory}/bench.db"
        return
    name = f"exile_sink_bench_{uuid.uuid4().hex[:8]}"
    admin = build_engine(SERVERS[backend].format(db="postgres" if backend == "postgresql" else ""), poolclass=NullPool)
    create = f"CREATE DATABASE {name}" + (
        " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" if backend == "mariadb" else ""
    )
    async with admin.connect() as connection:
        await (await connection.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql(create)
    try:
        yield SERVERS[backend].format(db=name)
    finally:
        async with admin.connect() as connection:
            await (await connection.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql(
                f"DROP DATABASE IF EXISTS {name}"
            )
        await admin.dispose()


async def new_run(session_factory: async_sessionmaker[Any], project_id: int) -> int:
    async with session_factory() as session:
        run = ScenarioRun(project_id=project_id, kind="scenario", status="running", created_at=utcnow())
        session.add(run)
        await session.commit()
        return int(run.id)


async def seed(session_factory: async_sessionmaker[Any]) -> int:
    async with session_factory() as session:
        user = User(email="bench@example.com", full_name="Bench", password_hash="-")
        session.add(user)
        await session.flush()
        project = Project(name="bench", owner_id=user.id)
        session.add(project)
        await session.commit()
        return int(project.id)


async def one_pass(session_factory: async_sessionmaker[Any], make_sink: Any, project_id: int, made: list[StepResult]):
    run_id = await new_run(session_factory, project_id)
    sink = make_sink(session_factory, run_id, BATCH_SIZE)
    wall, cpu = time.perf_counter(), time.process_time()
    for result in made:
        await sink.put(result)
    await sink.flush()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    async with session_factory() as session:
        stored = await session.scalar(
            select(func.count()).select_from(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run_id)
        )
        failed = await session.scalar(select(ScenarioRun.requests_failed).where(ScenarioRun.id == run_id))
        await session.execute(delete(ApiRequestRun))  # every pass starts from the same empty table
        await session.commit()
    expected_failed = sum(r.status == "failed" for r in made)
    if stored != len(made) or failed != expected_failed:
        raise SystemExit(f"stored {stored} rows ({failed} failed), expected {len(made)} ({expected_failed})")
    return wall * 1e6 / len(made), cpu * 1e6 / len(made)


async def bench(backend: str, made: list[StepResult], repeat: int, variants: dict[str, Any]) -> None:
    async with fresh_database(backend) as url:
        log = io.StringIO()
        with contextlib.redirect_stderr(log):
            await asyncio.to_thread(migrate, url)
        engine = build_engine(url)
        session_factory = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        try:
            project_id = await seed(session_factory)
            await one_pass(session_factory, variants["bulk"], project_id, made[:1000])  # warm the pool and caches
            timings: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
            for _ in range(repeat):
                for name, make_sink in variants.items():  # in turn, so drift hits every variant alike
                    timings[name].append(await one_pass(session_factory, make_sink, project_id, made))
        finally:
            await engine.dispose()
    base = statistics.median(wall for wall, _ in timings[next(iter(variants))])
    for name, measured in timings.items():
        wall = statistics.median(w for w, _ in measured)
        cpu = statistics.median(c for _, c in measured)
        print(f"{backend:<11} {name:<11} {wall:8.1f} us/row {cpu:8.1f} us cpu/row   x{base / wall:4.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql,mariadb")
    args = parser.parse_args()
    variants: dict[str, Any] = {}
    old = old_sink_class()
    if old is None:
        print(f"(no git history: the sink of {BEFORE} is left out)", file=sys.stderr)
    else:
        variants["before"] = old
    variants["bulk=False"] = lambda *a: DatabaseSink(*a, bulk=False)
    variants["bulk"] = DatabaseSink
    made = results(args.rows)
    print(f"{args.rows} rows, batches of {BATCH_SIZE}, median of {args.repeat}; x = speed-up over the first line")
    for backend in args.backends.split(","):
        try:
            asyncio.run(bench(backend, made, args.repeat, variants))
        except (OSError, SQLAlchemyError) as exc:
            print(f"{backend:<11} unavailable: {exc}")


if __name__ == "__main__":
    main()
