"""What a run's end writes beside its final status, in the same transaction: its report roll-ups, its
callback delivery, its plan's progress and its notifications. Every path that ends a run (its executor, a
cancel, a dispatch failure, the reaper) goes through here, so no ended run is missing from the reports,
without its callback, forgotten by its plan or unannounced."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.callbacks import service as callbacks
from app.notifications import events as notifications
from app.plans import progress as plans
from app.reports import rollups


async def record_end(
    session: AsyncSession, run_id: int, sums: rollups.RunSums | None = None, compared_with: int | None = None
) -> int | None:
    """For a run the caller just ended: the id of its callback delivery to send, if it has one. `sums`: what
    its sinks summed for the roll-ups (compared with run `compared_with`), checked before they are used."""
    await rollups.record_run(session, run_id, sums, compared_with)
    await plans.on_run_end(session, run_id)
    await notifications.on_run_end(session, run_id)
    return await callbacks.record_for_run(session, run_id)


async def record_ends_at(session: AsyncSession, finished_at: datetime) -> list[int]:
    """For a bulk end (the reaper's): every run it ended with `finished_at`."""
    await rollups.record_runs_ended_at(session, finished_at)
    await plans.on_runs_ended_at(session, finished_at)
    await notifications.on_runs_ended_at(session, finished_at)
    return await callbacks.record_ended_at(session, finished_at)
