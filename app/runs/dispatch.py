"""Hands a committed run to its executor: an asyncio task here, or a Celery task on exile_scenario_tasks."""

from __future__ import annotations

import asyncio

from app.core.db import get_session_factory
from app.models import ScenarioRun
from app.runs.executor import execute_run, worker_name

# Strong references: a task nobody holds may be garbage-collected mid-run.
_inline_runs: set[asyncio.Task[str | None]] = set()


async def dispatch(run: ScenarioRun) -> None:
    """Call only after the run's row is committed: the executor reads it from the database."""
    if run.executor == "celery":
        from app.tasks.scenario import run_scenario_task

        await asyncio.to_thread(run_scenario_task.delay, run.id)
        return
    task = asyncio.get_running_loop().create_task(execute_run(get_session_factory(), run.id, worker_name("inline")))
    _inline_runs.add(task)
    task.add_done_callback(_inline_runs.discard)


async def wait_for_inline_runs() -> None:
    """For tests and shutdown: let the inline runs started by this process finish."""
    while _inline_runs:
        await asyncio.gather(*list(_inline_runs), return_exceptions=True)
