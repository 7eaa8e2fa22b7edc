"""Hands a committed run to its executor: an asyncio task here, or a Celery task on exile_scenario_tasks."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select, update

from app.core.db import get_session_factory
from app.core.errors import AppError
from app.engine.statuses import ACTIVE, RunStatus
from app.models import ScenarioRun
from app.models.base import utcnow
from app.runs.ending import record_end
from app.runs.executor import execute_run, worker_name

logger = logging.getLogger("exile.runs")

# Strong references: a task nobody holds may be garbage-collected mid-run.
_inline_runs: set[asyncio.Task[RunStatus | None]] = set()


class BrokerUnavailable(AppError):
    status_code, code = 503, "broker_unavailable"


async def send_to_workers(run_id: int) -> None:
    """Put the run's task on exile_scenario_tasks; raises when the broker cannot be reached."""
    from app.tasks.scenario import run_scenario_task

    await asyncio.to_thread(run_scenario_task.delay, run_id)


async def send_chunk_to_workers(run_id: int, position: int) -> None:
    """Put one chunk of a sharded run on exile_scenario_tasks; raises when the broker cannot be reached."""
    from app.tasks.scenario import run_chunk_task

    await asyncio.to_thread(run_chunk_task.delay, run_id, position)


async def dispatch(run: ScenarioRun) -> None:
    """Call only after the run's row is committed: the executor reads it from the database.

    A run that cannot be handed to the workers never stays `queued`: it is ended `error` with the
    reason, and BrokerUnavailable (503) tells the caller nothing will run it.
    """
    if run.executor == "celery":
        try:
            await send_to_workers(run.id)
        except Exception as exc:
            logger.error("run %s could not be sent to the workers: %s: %s", run.id, type(exc).__name__, exc)
            reason = f"the task queue could not be reached ({type(exc).__name__}); the run was not started"
            async with get_session_factory()() as session:
                await session.execute(
                    update(ScenarioRun)
                    .where(ScenarioRun.id == run.id, ScenarioRun.status == RunStatus.QUEUED)
                    .values(status=RunStatus.ERROR, finished_at=utcnow(), error=reason)
                )
                await record_end(session, run.id)  # its callback is sent by the callback sweep
                await session.commit()
            raise BrokerUnavailable(
                f"run {run.id} could not be sent to the workers: {reason}; it was recorded as error. "
                "Check CELERY_BROKER_URL and that the broker is up, then start it again."
            ) from exc
        return
    start_inline(run.id)


def start_inline(run_id: int, kind: str = "inline") -> asyncio.Task[RunStatus | None]:
    """Execute a committed run in this process, as a task that outlives the request that started it."""
    task = asyncio.get_running_loop().create_task(execute_run(get_session_factory(), run_id, worker_name(kind)))
    _inline_runs.add(task)
    task.add_done_callback(_inline_runs.discard)
    return task


async def wait_for_inline_runs() -> None:
    """For tests and shutdown: let the inline runs started by this process finish."""
    while _inline_runs:
        await asyncio.gather(*list(_inline_runs), return_exceptions=True)


async def wait_until_ended(run_id: int, timeout_s: float) -> bool:
    """Poll the run's row (no result backend needed) until it ended; False when `timeout_s` passed first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    interval = 0.02
    while True:
        async with get_session_factory()() as session:  # a fresh transaction each time sees the worker's commits
            status = await session.scalar(select(ScenarioRun.status).where(ScenarioRun.id == run_id))
        if status not in ACTIVE:
            return True
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 2, 0.25)
