"""Events that notify a project's channels (run finished, failed, recovered, ...), recorded where they happen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


async def on_run_end(session: AsyncSession, run_id: int) -> None:
    """Called in the transaction that ended scenario run `run_id` (any path: executor, cancel, reaper)."""
    return None


async def on_runs_ended_at(session: AsyncSession, finished_at: datetime) -> None:
    """For a bulk end (the reaper's UPDATE): the runs it ended with `finished_at`."""
    return None


async def record_event(session: AsyncSession, project_id: int, event: str, subject: dict[str, Any]) -> None:
    """An event of another domain (a plan run ended, a schedule missed a tick) for the project's channels."""
    return None
