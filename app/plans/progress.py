"""A plan run follows its scenario runs: each one's end (app.runs.ending) may start the next or end the plan."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


async def on_run_end(session: AsyncSession, run_id: int) -> None:
    """Called in the transaction that ended scenario run `run_id` (any path: executor, cancel, reaper)."""
    return None


async def on_runs_ended_at(session: AsyncSession, finished_at: datetime) -> None:
    """For a bulk end (the reaper's UPDATE): the runs it ended with `finished_at`."""
    return None
