"""Retention: request runs past their project's limits lose their snapshots, then their rows; roll-ups stay.

A project keeps its request runs' request, data and response snapshots `retention_body_days` days and the rows
themselves `retention_row_days` days (None: forever), counted from their scenario run's `created_at`, the time
the report roll-ups bucket runs by. Work goes in batches of at most `batch_size` ids, each its own short
transaction (select the ids, then update or delete by them: the same SQL on SQLite, MariaDB and PostgreSQL), so
no table stays locked and runs going on meanwhile barely notice.

What is never touched: a queued or running run and its records; the roll-ups (`report_rollups`,
`report_rollup_durations`); and the rows of a finished run the roll-ups have not counted yet (`rolled_up`
false: it ended before they existed), since deleting it would take it out of every trend for good
(`exile reports rebuild` counts it, the next prune removes it). A cleared snapshot is NULL, as for a step that
sent nothing; the project's `bodies_pruned_before` says which runs lost theirs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Executable, delete, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from app.engine.statuses import FINISHED
from app.models import ApiRequestRun, Project, ScenarioRun
from app.models.base import utcnow

Sessions = async_sessionmaker[AsyncSession]

# A record still holding a snapshot. A JSON null written by the sink counts too: it becomes SQL NULL once.
_HAS_SNAPSHOT = or_(
    ApiRequestRun.request.is_not(None), ApiRequestRun.dataset.is_not(None), ApiRequestRun.response.is_not(None)
)


@dataclass
class PruneResult:
    """What one prune did; `batches` counts its write transactions."""

    projects: int = 0
    bodies_cleared: int = 0
    request_runs_deleted: int = 0
    scenario_runs_deleted: int = 0
    # Finished runs past the row limit kept because the roll-ups have not counted them (`exile reports rebuild`).
    runs_not_rolled_up: int = 0
    batches: int = 0


@dataclass(frozen=True, slots=True)
class _Policy:
    project_id: int
    body_days: int | None
    row_days: int | None
    bodies_pruned_before: datetime | None


async def prune(
    session_factory: Sessions, *, now: datetime | None = None, project_id: int | None = None, batch_size: int = 1000
) -> PruneResult:
    """Apply every project's retention (or one project's); several processes may run it at once."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or utcnow()
    result = PruneResult()
    for policy in await _policies(session_factory, project_id):
        # Rows first: their snapshots need no clearing.
        if policy.row_days is not None:
            cutoff = now - timedelta(days=policy.row_days)
            await _delete_rows(session_factory, policy.project_id, cutoff, batch_size, result)
            await _mark(session_factory, policy.project_id, Project.rows_pruned_before, cutoff)
        if policy.body_days is not None:
            cutoff = now - timedelta(days=policy.body_days)
            await _clear_snapshots(session_factory, policy, cutoff, batch_size, result)
            await _mark(session_factory, policy.project_id, Project.bodies_pruned_before, cutoff)
        result.projects += 1
    return result


async def _policies(session_factory: Sessions, project_id: int | None) -> list[_Policy]:
    query = select(
        Project.id, Project.retention_body_days, Project.retention_row_days, Project.bodies_pruned_before
    ).where(or_(Project.retention_body_days.is_not(None), Project.retention_row_days.is_not(None)))
    if project_id is not None:
        query = query.where(Project.id == project_id)
    async with session_factory() as session:
        return [_Policy(*row) for row in await session.execute(query.order_by(Project.id))]


async def _delete_rows(
    session_factory: Sessions, project_id: int, cutoff: datetime, batch_size: int, result: PruneResult
) -> None:
    """Delete the finished, counted runs created before `cutoff`: their request runs batch by batch, then them.

    Their chunks and callback deliveries go with them (ON DELETE CASCADE, a few rows a run); a later run that
    re-ran one keeps going, its `rerun_of_id` set to NULL.
    """
    past = [ScenarioRun.project_id == project_id, ScenarioRun.created_at < cutoff, ScenarioRun.status.in_(FINISHED)]
    async for run_ids in _run_batches(session_factory, [*past, ScenarioRun.rolled_up.is_(True)], batch_size):
        result.request_runs_deleted += await _each_record_batch(
            session_factory,
            run_ids,
            batch_size,
            None,
            lambda ids: delete(ApiRequestRun).where(ApiRequestRun.id.in_(ids)),
            result,
        )
        result.scenario_runs_deleted += await _write(
            session_factory, delete(ScenarioRun).where(ScenarioRun.id.in_(run_ids), ScenarioRun.status.in_(FINISHED))
        )
        result.batches += 1
    async with session_factory() as session:
        kept = await session.scalar(select(func.count(ScenarioRun.id)).where(*past, ScenarioRun.rolled_up.is_(False)))
    result.runs_not_rolled_up += int(kept or 0)


async def _clear_snapshots(
    session_factory: Sessions, policy: _Policy, cutoff: datetime, batch_size: int, result: PruneResult
) -> None:
    """Set the request, data and response snapshots of finished runs created before `cutoff` to NULL."""
    window: list[ColumnElement[bool]] = [
        ScenarioRun.project_id == policy.project_id,
        ScenarioRun.created_at < cutoff,
        ScenarioRun.status.in_(FINISHED),
    ]
    if policy.bodies_pruned_before is not None:
        # Runs before the last cutoff were cleared then, except any still going at the time: those ended since.
        done = policy.bodies_pruned_before
        window.append(or_(ScenarioRun.created_at >= done, ScenarioRun.finished_at >= done))
    cleared = {"request": null(), "dataset": null(), "response": null()}  # SQL NULL, not a JSON null
    async for run_ids in _run_batches(session_factory, window, batch_size):
        result.bodies_cleared += await _each_record_batch(
            session_factory,
            run_ids,
            batch_size,
            _HAS_SNAPSHOT,
            lambda ids: update(ApiRequestRun).where(ApiRequestRun.id.in_(ids)).values(cleared),
            result,
        )


async def _run_batches(
    session_factory: Sessions, where: Sequence[ColumnElement[bool]], batch_size: int
) -> AsyncIterator[list[int]]:
    """The ids of the scenario runs matching `where`, batch_size at a time in id order (keyset: each a short read)."""
    after = 0
    while True:
        async with session_factory() as session:
            run_ids = list(
                await session.scalars(
                    select(ScenarioRun.id)
                    .where(*where, ScenarioRun.id > after)
                    .order_by(ScenarioRun.id)
                    .limit(batch_size)
                )
            )
        if not run_ids:
            return
        yield run_ids
        after = run_ids[-1]


async def _each_record_batch(
    session_factory: Sessions,
    run_ids: list[int],
    batch_size: int,
    condition: ColumnElement[bool] | None,
    statement: Callable[[list[int]], Executable],
    result: PruneResult,
) -> int:
    """Run `statement` on the runs' request runs, batch_size ids at a time, each batch one transaction."""
    changed = 0
    after = 0
    where: list[ColumnElement[bool]] = [ApiRequestRun.scenario_run_id.in_(run_ids)]
    if condition is not None:
        where.append(condition)
    while True:
        async with session_factory() as session:
            ids = list(
                await session.scalars(
                    select(ApiRequestRun.id)
                    .where(*where, ApiRequestRun.id > after)
                    .order_by(ApiRequestRun.id)
                    .limit(batch_size)
                )
            )
            if not ids:
                return changed
            changed += _rowcount(await session.execute(_unsynchronised(statement(ids))))
            await session.commit()
        result.batches += 1
        after = ids[-1]


async def _write(session_factory: Sessions, statement: Executable) -> int:
    async with session_factory() as session:
        count = _rowcount(await session.execute(_unsynchronised(statement)))
        await session.commit()
    return count


async def _mark(
    session_factory: Sessions, project_id: int, column: InstrumentedAttribute[Any], cutoff: datetime
) -> None:
    """Record how far pruning has gone (never backwards). Not an edit: version and updated_at stay as they are,
    so a client's PATCH in flight does not get a 409 from it."""
    await _write(
        session_factory,
        update(Project)
        .where(Project.id == project_id, or_(column.is_(None), column < cutoff))
        .values({column: cutoff, Project.updated_at: Project.updated_at}),
    )


def _unsynchronised(statement: Executable) -> Executable:
    # No ORM objects are loaded here: nothing in the session to keep in step with the rows.
    return statement.execution_options(synchronize_session=False)


def _rowcount(executed: Any) -> int:
    return int(cast(CursorResult[Any], executed).rowcount or 0)
