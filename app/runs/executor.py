"""Executes a claimed run with the engine, wherever it runs (API process or Celery worker).

A run is claimed atomically (queued -> running) so a redelivered task or a second worker never runs it
twice; while it runs, heartbeat_at moves and cancel_requested is polled; a run whose heartbeat stops is
ended `interrupted` by the reaper. Whatever happens, a claimed run ends with its real cause: nothing
below leaves it `running` for the reaper except the death of the process.
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
from app.engine.masking import Masker
from app.engine.results import Counts, FlowOutcome
from app.engine.runner import FlowRunner
from app.engine.statuses import RunStatus
from app.engine.transport import AiohttpTransport
from app.models import ScenarioRun
from app.models.base import utcnow
from app.runs.loader import RunSetupError, load_flow
from app.runs.rate_limit import close_limiter, run_limiter
from app.runs.sink import DatabaseSink

logger = logging.getLogger("exile.runs")
ERROR_TEXT_LIMIT = 2000
FINISH_ATTEMPTS = 4


def worker_name(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}"


async def claim(session_factory: async_sessionmaker[AsyncSession], run_id: int, owner: str) -> bool:
    now = utcnow()
    async with session_factory() as session:
        result = await session.execute(
            update(ScenarioRun)
            .where(ScenarioRun.id == run_id, ScenarioRun.status == RunStatus.QUEUED)
            .values(status=RunStatus.RUNNING, owner=owner[:200], started_at=now, heartbeat_at=now)
        )
        await session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def _finish(
    session_factory: async_sessionmaker[AsyncSession],
    run_id: int,
    status: RunStatus,
    error: str | None,
    outcome: FlowOutcome | None = None,
) -> None:
    values: dict[str, object] = {"status": status, "finished_at": utcnow(), "error": _bounded(error)}
    if outcome is not None:
        values.update(_iteration_counts(outcome.iterations))
        counted = outcome.iterations.passed + outcome.iterations.failed + outcome.iterations.error
        if (
            status in (RunStatus.PASSED, RunStatus.FAILED) and counted
        ):  # every row ran (setup passed): the rows read are the truth
            values["iterations_total"] = counted
    # Retried: a database hiccup at the very end must not leave the run to the reaper's wrong cause.
    for attempt in range(1, FINISH_ATTEMPTS + 1):
        try:
            async with session_factory() as session:
                # Only the owner of a running run ends it: a reaper may already have called it interrupted.
                await session.execute(
                    update(ScenarioRun)
                    .where(ScenarioRun.id == run_id, ScenarioRun.status == RunStatus.RUNNING)
                    .values(**values)
                )
                await session.commit()
            return
        except Exception:
            if attempt == FINISH_ATTEMPTS:
                logger.exception("run %s could not be ended %s", run_id, status)
                return
            await asyncio.sleep(0.25 * 2**attempt)


def _bounded(error: str | None) -> str | None:
    if error is None or len(error) <= ERROR_TEXT_LIMIT:
        return error
    return error[: ERROR_TEXT_LIMIT - 20] + f"... ({len(error)} chars)"


def _iteration_counts(iterations: Counts) -> dict[str, int]:
    return {
        "iterations_passed": iterations.passed,
        "iterations_failed": iterations.failed,
        "iterations_error": iterations.error,
        "iterations_flaky": iterations.flaky,
    }


async def _keep_alive(
    session_factory: async_sessionmaker[AsyncSession],
    run_id: int,
    sink: DatabaseSink,
    iterations: Counts,
    cancel: asyncio.Event,
    interval: float,
    ended_elsewhere: asyncio.Event,
) -> None:
    """Heartbeat, iteration progress and cancel polling: one small write and one read every `interval` seconds.

    Results are not flushed here: the sink writes them on its own time bound, and a slow database must
    not delay the heartbeat.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            async with session_factory() as session:
                await session.execute(
                    update(ScenarioRun)
                    .where(ScenarioRun.id == run_id, ScenarioRun.status == RunStatus.RUNNING)
                    .values(heartbeat_at=utcnow(), **_iteration_counts(iterations))
                )
                state = (
                    await session.execute(
                        select(ScenarioRun.status, ScenarioRun.cancel_requested).where(ScenarioRun.id == run_id)
                    )
                ).first()
                await session.commit()
            if state is None:  # the run's row was deleted (with its project): stop sending
                sink.run_gone.set()
            elif state.status != RunStatus.RUNNING:
                # The reaper already ended it (this process stalled past RUN_STALE_AFTER_SECONDS): a run
                # called `interrupted` must not go on sending; what it sent is still recorded.
                ended_elsewhere.set()
            if state is None or state.cancel_requested or state.status != RunStatus.RUNNING:
                cancel.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a missed heartbeat is retried next tick; the reaper allows for several
            logger.warning("heartbeat for run %s failed (retried): %s: %s", run_id, type(exc).__name__, exc)


async def execute_run(session_factory: async_sessionmaker[AsyncSession], run_id: int, owner: str) -> RunStatus | None:
    """Claim and execute one run; returns its final status, or None if someone else claimed or ended it."""
    settings = get_settings()
    if not await claim(session_factory, run_id, owner):
        logger.info("run %s was already claimed; skipping", run_id)
        return None
    try:
        async with session_factory() as session:
            run = await session.get(ScenarioRun, run_id)
        if run is None:
            logger.info("run %s was deleted before it started", run_id)
            return None
        flow, options = await load_flow(session_factory, run, settings.body_snapshot_limit)
    except RunSetupError as exc:
        await _finish(session_factory, run_id, RunStatus.ERROR, str(exc))
        return RunStatus.ERROR
    except Exception as exc:  # a vanished reference, an unreadable row...: the run says so and ends
        logger.exception("run %s could not be prepared", run_id)
        await _finish(
            session_factory, run_id, RunStatus.ERROR, f"the run could not be prepared: {type(exc).__name__}: {exc}"
        )
        return RunStatus.ERROR
    if not any(step.enabled for step in flow.steps):
        await _finish(session_factory, run_id, RunStatus.ERROR, "nothing to run: the scenario has no enabled steps")
        return RunStatus.ERROR
    cancel = asyncio.Event()
    sink = DatabaseSink(session_factory, run_id, settings.run_batch_size, flush_seconds=settings.run_flush_seconds)
    transport = AiohttpTransport(
        limit=max(8, options.concurrency * 2), verify_tls=flow.environment.verify_tls, proxy=flow.environment.proxy
    )
    outcome: FlowOutcome | None = None
    failure: str | None = None
    keep_alive: asyncio.Future[None] | None = None
    ended_elsewhere = asyncio.Event()
    # One per-host budget for every process running this run, in Redis when the broker is Redis.
    limiter = run_limiter(settings.celery_broker_url, run_id, options.rate_limit)
    try:
        runner = FlowRunner(flow, options, transport, sink, cancel, limiter=limiter)
        keep_alive = asyncio.ensure_future(
            _keep_alive(
                session_factory,
                run_id,
                sink,
                runner.iterations,
                cancel,
                settings.run_heartbeat_seconds,
                ended_elsewhere,
            )
        )
        outcome = await runner.run()
    except Exception as exc:
        logger.exception("run %s crashed", run_id)
        # An exception's text can quote the value that broke it: the run record gets it masked.
        failure = Masker(flow.environment.secrets.values()).text(f"internal error: {type(exc).__name__}: {exc}")
    finally:
        if keep_alive is not None:
            keep_alive.cancel()
            await asyncio.gather(keep_alive, return_exceptions=True)
        await transport.close()
        await close_limiter(limiter)
    try:
        await sink.flush()
    except Exception as exc:
        logger.exception("run %s: results could not be stored", run_id)
        failure = failure or Masker(flow.environment.secrets.values()).text(
            f"results could not be stored: {type(exc).__name__}: {exc}"
        )
    if sink.run_gone.is_set():
        logger.info("run %s was deleted while it ran (with its project); it stopped", run_id)
        return None
    if ended_elsewhere.is_set():
        logger.warning("run %s was ended by someone else while it ran (the reaper?); it stopped", run_id)
        return None
    if failure is not None or outcome is None:
        await _finish(session_factory, run_id, RunStatus.ERROR, failure, outcome)
        return RunStatus.ERROR
    await _finish(session_factory, run_id, outcome.status, outcome.error, outcome)
    return outcome.status


async def reap_stale_runs(
    session_factory: async_sessionmaker[AsyncSession], stale_after_s: float, queued_timeout_s: float | None = None
) -> int:
    """End runs that nothing will finish: a silent executor (`interrupted`), a lost task message (`error`).

    A Celery run nobody claimed within `queued_timeout_s` (its message lost when Redis restarted without
    persistence, say) is sent once more; one still unclaimed that long after is ended `error`. A second
    message for a run waiting behind a busy queue is harmless: whoever gets it second finds it claimed.
    """
    if queued_timeout_s is None:
        queued_timeout_s = get_settings().run_queued_timeout_seconds
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    unclaimed_cutoff = now - timedelta(seconds=queued_timeout_s)
    async with session_factory() as session:
        running = await session.execute(
            update(ScenarioRun)
            .where(ScenarioRun.status == RunStatus.RUNNING, ScenarioRun.heartbeat_at < cutoff)
            .values(status=RunStatus.INTERRUPTED, finished_at=now, error="the executor stopped sending heartbeats")
        )
        # Inline runs are claimed within milliseconds; one still queued long after was lost with its process.
        lost = await session.execute(
            update(ScenarioRun)
            .where(
                ScenarioRun.status == RunStatus.QUEUED,
                ScenarioRun.executor == "inline",
                ScenarioRun.created_at < cutoff,
            )
            .values(status=RunStatus.INTERRUPTED, finished_at=now, error="the server restarted before the run started")
        )
        abandoned = await session.execute(
            update(ScenarioRun)
            .where(
                ScenarioRun.status == RunStatus.QUEUED,
                ScenarioRun.executor != "inline",
                ScenarioRun.redispatched_at < unclaimed_cutoff,
            )
            .values(
                status=RunStatus.ERROR,
                finished_at=now,
                error=f"no worker claimed the run within {queued_timeout_s:g} s, even after it was sent again: "
                "is a worker running and consuming exile_scenario_tasks?",
            )
        )
        unclaimed = list(
            await session.scalars(
                select(ScenarioRun.id).where(
                    ScenarioRun.status == RunStatus.QUEUED,
                    ScenarioRun.executor != "inline",
                    ScenarioRun.redispatched_at.is_(None),
                    ScenarioRun.created_at < unclaimed_cutoff,
                )
            )
        )
        await session.commit()
    for run_id in unclaimed:
        await _redispatch(session_factory, run_id)
    return int(running.rowcount or 0) + int(lost.rowcount or 0) + int(abandoned.rowcount or 0)  # type: ignore[attr-defined]


async def _redispatch(session_factory: async_sessionmaker[AsyncSession], run_id: int) -> None:
    """Send an unclaimed run's task once more; the conditional update makes one reaper (of many) do it."""
    from app.runs.dispatch import send_to_workers

    async with session_factory() as session:
        marked = await session.execute(
            update(ScenarioRun)
            .where(
                ScenarioRun.id == run_id, ScenarioRun.status == RunStatus.QUEUED, ScenarioRun.redispatched_at.is_(None)
            )
            .values(redispatched_at=utcnow())
        )
        await session.commit()
    if not marked.rowcount:  # type: ignore[attr-defined]
        return
    try:
        await send_to_workers(run_id)
        logger.warning("run %s was not claimed in time; its task was sent again", run_id)
    except Exception:  # the broker is down: the next timeout ends the run with that reason
        logger.exception("run %s could not be sent again", run_id)
