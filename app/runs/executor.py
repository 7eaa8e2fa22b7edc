"""Executes a claimed run with the engine, wherever it runs (API process or Celery worker).

A run is claimed atomically (queued -> running) so a redelivered task or a second worker never runs it
twice; while it runs, heartbeat_at moves and cancel_requested is polled; a run whose heartbeat stops is
ended `interrupted` by the reaper.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import get_settings
from app.engine.results import FlowOutcome
from app.engine.runner import run_flow
from app.engine.transport import AiohttpTransport
from app.models import ScenarioRun
from app.models.base import utcnow
from app.runs.loader import RunSetupError, load_flow
from app.runs.sink import DatabaseSink

logger = logging.getLogger("exile.runs")


def worker_name(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}"


async def claim(session_factory: async_sessionmaker[AsyncSession], run_id: int, owner: str) -> bool:
    now = utcnow()
    async with session_factory() as session:
        result = await session.execute(
            update(ScenarioRun)
            .where(ScenarioRun.id == run_id, ScenarioRun.status == "queued")
            .values(status="running", owner=owner[:200], started_at=now, heartbeat_at=now)
        )
        await session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def _finish(
    session_factory: async_sessionmaker[AsyncSession],
    run_id: int,
    status: str,
    error: str | None,
    outcome: FlowOutcome | None = None,
) -> None:
    values: dict[str, object] = {"status": status, "finished_at": utcnow(), "error": error}
    if outcome is not None:
        values.update(
            iterations_passed=outcome.iterations.passed,
            iterations_failed=outcome.iterations.failed,
            iterations_error=outcome.iterations.error,
            iterations_flaky=outcome.iterations.flaky,
        )
    async with session_factory() as session:
        # Only the owner of a running run ends it: a reaper may already have called it interrupted.
        await session.execute(
            update(ScenarioRun).where(ScenarioRun.id == run_id, ScenarioRun.status == "running").values(**values)
        )
        await session.commit()


async def _keep_alive(
    session_factory: async_sessionmaker[AsyncSession],
    run_id: int,
    sink: DatabaseSink,
    cancel: asyncio.Event,
    interval: float,
) -> None:
    """Heartbeat, progress and cancel polling: one small write and one read every `interval` seconds."""
    while True:
        await asyncio.sleep(interval)
        try:
            await sink.flush()
            async with session_factory() as session:
                await session.execute(update(ScenarioRun).where(ScenarioRun.id == run_id).values(heartbeat_at=utcnow()))
                requested = await session.scalar(select(ScenarioRun.cancel_requested).where(ScenarioRun.id == run_id))
                await session.commit()
            if requested:
                cancel.set()
        except asyncio.CancelledError:
            raise
        except Exception:  # a missed heartbeat is retried next tick; the reaper allows for several
            logger.exception("heartbeat for run %s failed", run_id)


async def execute_run(session_factory: async_sessionmaker[AsyncSession], run_id: int, owner: str) -> str | None:
    """Claim and execute one run; returns its final status, or None if someone else had claimed it."""
    settings = get_settings()
    if not await claim(session_factory, run_id, owner):
        logger.info("run %s was already claimed; skipping", run_id)
        return None
    async with session_factory() as session:
        run = await session.get(ScenarioRun, run_id)
    assert run is not None
    try:
        flow, options = await load_flow(session_factory, run, settings.body_snapshot_limit)
    except RunSetupError as exc:
        await _finish(session_factory, run_id, "error", str(exc))
        return "error"
    sink = DatabaseSink(session_factory, run_id, settings.run_batch_size)
    cancel = asyncio.Event()
    transport = AiohttpTransport(
        limit=max(8, options.concurrency * 2), verify_tls=flow.environment.verify_tls, proxy=flow.environment.proxy
    )
    keep_alive = asyncio.ensure_future(
        _keep_alive(session_factory, run_id, sink, cancel, settings.run_heartbeat_seconds)
    )
    outcome: FlowOutcome | None = None
    try:
        outcome = await run_flow(flow, options, transport, sink, cancel)
    except Exception as exc:
        logger.exception("run %s crashed", run_id)
        keep_alive.cancel()
        await asyncio.gather(keep_alive, return_exceptions=True)
        await sink.flush()
        await _finish(session_factory, run_id, "error", f"internal error: {type(exc).__name__}: {exc}")
        return "error"
    finally:
        keep_alive.cancel()
        await asyncio.gather(keep_alive, return_exceptions=True)
        await transport.close()
    await sink.flush()
    await _finish(session_factory, run_id, outcome.status, outcome.error, outcome)
    return outcome.status


async def reap_stale_runs(session_factory: async_sessionmaker[AsyncSession], stale_after_s: float) -> int:
    """End runs whose executor went silent (a killed worker or server) as `interrupted`."""
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    async with session_factory() as session:
        running = await session.execute(
            update(ScenarioRun)
            .where(ScenarioRun.status == "running", ScenarioRun.heartbeat_at < cutoff)
            .values(status="interrupted", finished_at=now, error="the executor stopped sending heartbeats")
        )
        # Inline runs are claimed within milliseconds; one still queued long after was lost with its process.
        lost = await session.execute(
            update(ScenarioRun)
            .where(ScenarioRun.status == "queued", ScenarioRun.executor == "inline", ScenarioRun.created_at < cutoff)
            .values(status="interrupted", finished_at=now, error="the server restarted before the run started")
        )
        await session.commit()
    return int(running.rowcount or 0) + int(lost.rowcount or 0)  # type: ignore[attr-defined]
