"""Claims and the reaper against concurrent writers on the real servers (MariaDB and PostgreSQL).

CI saw a Celery run stay `queued` for 30 s on MariaDB: the reaper's UPDATEs scanned scenario_runs' status index,
locking every entry they passed, and a claim or a new run's INSERT that met them could be chosen as a deadlock's
victim. A claim rolled back so is made again, and the reaper no longer locks the runs it does not end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import get_settings
from app.core.db import build_engine, get_session_factory
from app.models import ScenarioRun
from app.models.base import utcnow
from app.runs.executor import claim, reap_stale_runs
from tests.factories import project

LOCK_WAIT_S = {"mysql": 1.0, "postgresql": 0.5}  # MariaDB counts whole seconds


@pytest.fixture
async def impatient() -> AsyncIterator[tuple[str, async_sessionmaker[AsyncSession]]]:
    """Sessions whose statements give up on a lock quickly (the server rolls them back, as a deadlock's victim)."""
    url = get_settings().resolved_database_url
    dialect = make_url(url).get_backend_name()
    if dialect not in LOCK_WAIT_S:
        pytest.skip("lock waits end in a timeout on MariaDB and PostgreSQL; SQLite waits its busy timeout")
    if dialect == "postgresql":  # a server setting of the connection: no transaction can undo it
        engine = build_engine(url, pool_size=2, connect_args={"server_settings": {"lock_timeout": "500"}})
    else:
        engine = build_engine(url, pool_size=2)

        @event.listens_for(engine.sync_engine, "connect")
        def _short_lock_wait(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
            cursor.close()

    yield dialect, async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def _run(api: Any, **fields: Any) -> int:
    project_id = (await project(api))["id"]
    values: dict[str, Any] = {"kind": "scenario", "status": "queued", "executor": "celery", "created_at": utcnow()}
    async with get_session_factory()() as session:
        run = ScenarioRun(project_id=project_id, **{**values, **fields})
        session.add(run)
        await session.commit()
        return run.id


@contextlib.asynccontextmanager
async def another_writer_holding(run_id: int, seconds: float) -> AsyncIterator[asyncio.Future[None]]:
    """Another writer locks the run's row (leaving it queued) and commits `seconds` later; waited for on exit."""
    held = asyncio.Event()

    async def hold() -> None:
        async with get_session_factory()() as session:
            await session.execute(update(ScenarioRun).where(ScenarioRun.id == run_id).values(owner=None))
            held.set()
            await asyncio.sleep(seconds)
            await session.commit()

    holder = asyncio.ensure_future(hold())
    await held.wait()
    try:
        yield holder
    finally:
        await holder


async def test_a_claim_rolled_back_by_a_lock_timeout_is_made_again_and_takes_the_run(api, impatient):
    dialect, sessions = impatient
    run_id = await _run(api)
    async with another_writer_holding(run_id, 2.5 * LOCK_WAIT_S[dialect]):
        started = time.monotonic()
        assert await claim(sessions, run_id, "celery:test:1") is True  # once the other writer let go
        assert time.monotonic() - started > LOCK_WAIT_S[dialect]  # it did time out at least once
    async with get_session_factory()() as session:
        run = await session.get(ScenarioRun, run_id)
    assert run is not None and run.status == "running" and run.owner == "celery:test:1"


async def test_a_claim_that_keeps_timing_out_says_so_and_leaves_the_run_queued(api, impatient):
    dialect, sessions = impatient
    run_id = await _run(api)
    async with another_writer_holding(run_id, 8 * LOCK_WAIT_S[dialect]):
        with pytest.raises(DBAPIError, match=r"(?i)lock"):
            await claim(sessions, run_id, "celery:test:1")
    async with get_session_factory()() as session:
        assert await session.scalar(select(ScenarioRun.status).where(ScenarioRun.id == run_id)) == "queued"


async def test_the_reaper_neither_waits_for_nor_locks_runs_it_does_not_end(api, impatient):
    """A fresh queued run being claimed (its row locked) is no candidate: the reaper reads past it, while a stale
    running run is ended as before."""
    dialect, sessions = impatient
    fresh = await _run(api, executor="inline")
    stale = await _run(api, status="running", executor="inline", heartbeat_at=utcnow().replace(year=2020), owner="dead")
    async with another_writer_holding(fresh, 3 * LOCK_WAIT_S[dialect]) as holder:
        started = time.monotonic()
        assert await reap_stale_runs(sessions, stale_after_s=60, queued_timeout_s=600) == 1
        assert time.monotonic() - started < LOCK_WAIT_S[dialect]  # never waited on the locked row
        assert not holder.done()
    async with get_session_factory()() as session:
        statuses = {id_: status for id_, status in await session.execute(select(ScenarioRun.id, ScenarioRun.status))}
    assert statuses == {fresh: "queued", stale: "interrupted"}
