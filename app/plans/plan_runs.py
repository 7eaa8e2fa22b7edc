"""Plan runs once started: who may see them, their scenario runs' live status, and cancelling them."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.roles import at_least
from app.engine.statuses import ACTIVE, RunStatus
from app.models import PlanRun, ScenarioRun, TestPlan
from app.models.base import utcnow
from app.models.plan import PLAN_ACTIVE
from app.plans import progress
from app.runs import service as runs
from app.runs.ending import record_end


async def plan_run_visibility(session: AsyncSession, principal: Principal) -> ColumnElement[bool]:
    """Runs of projects the caller belongs to, minus runs of plans it may not see."""
    if principal.is_site_admin:
        return true()
    member_ids = [pid for pid, role in (await principal.roles(session)).items() if role]
    plans = select(TestPlan.id).where(await principal.visible_filter(session, TestPlan))
    return and_(PlanRun.project_id.in_(member_ids), or_(PlanRun.plan_id.is_(None), PlanRun.plan_id.in_(plans)))


async def get_plan_run(session: AsyncSession, principal: Principal, plan_run_id: int, action: str = "read") -> PlanRun:
    plan_run = await session.scalar(
        select(PlanRun).where(PlanRun.id == plan_run_id, await plan_run_visibility(session, principal))
    )
    if plan_run is None:
        raise NotFound(f"plan run {plan_run_id} not found")
    if action != "read":
        role = await principal.role_in(session, plan_run.project_id)
        if not at_least(role, "runner"):
            raise Forbidden(f"your role in project {plan_run.project_id} is '{role}'; runners and above may do this")
    return plan_run


async def live_statuses(session: AsyncSession, plan_run_ids: list[int]) -> dict[int, str]:
    """Scenario run id -> its status now, for the runs of these plan runs."""
    if not plan_run_ids:
        return {}
    rows = await session.execute(
        select(ScenarioRun.id, ScenarioRun.status).where(ScenarioRun.plan_run_id.in_(plan_run_ids))
    )
    return {run_id: str(status) for run_id, status in rows}


async def request_cancel(session: AsyncSession, principal: Principal, plan_run_id: int) -> PlanRun:
    """Step 1 of a cancel: the plan run starts no more scenario runs once this commits.

    The cancel is two transactions (the router commits after each step) because of lock order: a scenario
    run's end holds its row and then waits for its plan run's row, so nothing may hold the plan run's row
    while it waits for a scenario run's. This step takes only the plan run's row; once it is committed with
    `cancel_requested`, no scenario run of it is created any more, and step 2 (cancel_children) locks the
    now final set of scenario runs first, then cancels them.
    """
    plan_run = await get_plan_run(session, principal, plan_run_id, "run")
    locked = await progress.lock(session, plan_run.id)
    if locked is None or locked.status not in PLAN_ACTIVE:
        status = locked.status if locked is not None else plan_run.status
        raise Conflict(f"plan run {plan_run.id} already ended ({status})", code="run_finished")
    if not locked.cancel_requested:
        locked.cancel_requested = True
        await audit.record(session, principal, "cancel", "plan_run", locked.id, locked.project_id)
        await session.flush()
    return locked


async def cancel_children(session: AsyncSession, principal: Principal, plan_run_id: int) -> PlanRun:
    """Step 2 of a cancel: cancel every scenario run of the plan run (a running one stops at its next heartbeat)."""
    run_ids = list(
        await session.scalars(
            select(ScenarioRun.id)
            .where(ScenarioRun.plan_run_id == plan_run_id, ScenarioRun.status.in_(ACTIVE))
            .order_by(ScenarioRun.id)
        )
    )
    if run_ids:  # by primary key: row locks only (no range lock that would hold up other inserts)
        locking = select(ScenarioRun.id).where(ScenarioRun.id.in_(run_ids)).with_for_update(key_share=True)
        await session.execute(locking)
    for run_id in run_ids:
        try:
            await runs.cancel_run(session, principal, run_id)
        except (NotFound, Forbidden):  # its scenario is not (or no longer) visible to the caller
            await _cancel_unseen(session, run_id)
        except Conflict:  # ended meanwhile
            continue
    locked = await progress.lock(session, plan_run_id)
    if locked is None:
        raise NotFound(f"plan run {plan_run_id} not found")
    if locked.status in PLAN_ACTIVE:
        await progress.advance(session, locked)  # ends it now when none of its scenario runs is left running
    return locked


async def _cancel_unseen(session: AsyncSession, run_id: int) -> None:
    """Cancel a scenario run of the plan run that the canceller cannot see as a run (the plan's cancel covers it)."""
    ended = await session.execute(
        update(ScenarioRun)
        .where(ScenarioRun.id == run_id, ScenarioRun.status == RunStatus.QUEUED)
        .values(
            status=RunStatus.CANCELLED, cancel_requested=True, finished_at=utcnow(), error="cancelled before it started"
        )
    )
    if ended.rowcount:  # type: ignore[attr-defined]
        await record_end(session, run_id)
    else:
        await session.execute(update(ScenarioRun).where(ScenarioRun.id == run_id).values(cancel_requested=True))


async def plan_runs_query(
    session: AsyncSession,
    principal: Principal,
    *,
    plan_id: int | None = None,
    project_id: int | None = None,
    status: str | None = None,
) -> Select[PlanRun]:
    statement = select(PlanRun).where(await plan_run_visibility(session, principal))
    for column, value in ((PlanRun.plan_id, plan_id), (PlanRun.project_id, project_id), (PlanRun.status, status)):
        if value is not None:
            statement = statement.where(column == value)
    return statement.order_by(PlanRun.id.desc())
