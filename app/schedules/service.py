"""Schedules: cron in a time zone on a scenario or a plan, managed by editors, fired as their owner.

A schedule runs as whoever last saved it (its owner), with that person's rights at each tick: saving a
schedule is what lends it your rights, so nobody can make a schedule run something they may not run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal, require_role
from app.core.config import get_settings
from app.core.crud import apply_changes, check_version
from app.core.errors import InvalidInput, NotFound
from app.core.merge_patch import VARIABLE_MAP, merge_patch, validate_merged
from app.models import Schedule, ScheduleFire, TestPlan, TestScenario
from app.models.base import utcnow
from app.models.schedule import FireOutcome
from app.schedules import cron, targets
from app.schedules.schemas import ScheduleCreate, ScheduleUpdate

NEXT_SHOWN = 5


def spec_of(expression: str, zone: str, *, now: datetime | None = None) -> cron.CronSpec:
    """The expression in its zone, refused (422 naming `cron`) when it fires more often than allowed."""
    try:
        spec = cron.parse(expression, zone)
    except cron.CronError as exc:
        raise InvalidInput(f"cron: {exc}", loc=["body", "cron"]) from None
    least = get_settings().schedule_min_interval_seconds
    gap = cron.shortest_gap(spec, now or utcnow())
    if gap < least:
        raise InvalidInput(
            f"cron: '{spec.expression}' fires every {gap:g} s; schedules may fire at most every {least} s "
            "(SCHEDULE_MIN_INTERVAL_SECONDS)",
            loc=["body", "cron"],
        )
    return spec


def first_tick(schedule: Schedule, now: datetime | None = None) -> datetime | None:
    """The tick an enabled schedule waits for next (None while disabled)."""
    if not schedule.enabled:
        return None
    return cron.next_after(cron.parse(schedule.cron, schedule.timezone), now or utcnow())


async def _visible(session: AsyncSession, principal: Principal) -> ColumnElement[bool]:
    """Schedules of the caller's projects whose target the caller may see."""
    if principal.is_site_admin:
        return true()
    member_ids = [pid for pid, role in (await principal.roles(session)).items() if role]
    scenarios = select(TestScenario.id).where(await principal.visible_filter(session, TestScenario))
    plans = select(TestPlan.id).where(await principal.visible_filter(session, TestPlan))
    return and_(
        Schedule.project_id.in_(member_ids),
        or_(Schedule.scenario_id.is_(None), Schedule.scenario_id.in_(scenarios)),
        or_(Schedule.plan_id.is_(None), Schedule.plan_id.in_(plans)),
    )


async def get_schedule(session: AsyncSession, principal: Principal, schedule_id: int, action: str = "read") -> Schedule:
    """The schedule if the caller may see it (404 otherwise) and its role allows `action` (403 otherwise)."""
    schedule = await session.scalar(
        select(Schedule).where(Schedule.id == schedule_id, await _visible(session, principal))
    )
    if schedule is None:
        raise NotFound(f"schedule {schedule_id} not found")
    if action != "read":
        require_role(await principal.role_in(session, schedule.project_id), action, f"project {schedule.project_id}")
    return schedule


async def visible_schedules(
    session: AsyncSession,
    principal: Principal,
    *,
    project_id: int | None = None,
    scenario_id: int | None = None,
    plan_id: int | None = None,
    enabled: bool | None = None,
) -> Select[Schedule]:
    statement = select(Schedule).where(await _visible(session, principal))
    for column, value in (
        (Schedule.project_id, project_id),
        (Schedule.scenario_id, scenario_id),
        (Schedule.plan_id, plan_id),
        (Schedule.enabled, enabled),
    ):
        if value is not None:
            statement = statement.where(column == value)
    return statement.order_by(Schedule.id)


async def create_schedule(session: AsyncSession, principal: Principal, data: ScheduleCreate) -> Schedule:
    project_id = await targets.check_target(
        session,
        principal,
        scenario_id=data.scenario_id,
        plan_id=data.plan_id,
        environment_id=data.environment_id,
        action="edit",
    )
    spec = spec_of(data.cron, data.timezone)
    schedule = Schedule(
        project_id=project_id,
        owner_id=principal.user.id,
        **data.model_dump(mode="json", exclude={"cron", "timezone"}),
        cron=spec.expression,
        timezone=spec.zone_name,
    )
    schedule.next_fire_at = first_tick(schedule)
    session.add(schedule)
    await audit.created(session, principal, "schedule", schedule)
    return schedule


async def update_schedule(
    session: AsyncSession, principal: Principal, schedule_id: int, data: ScheduleUpdate
) -> Schedule:
    schedule = await get_schedule(session, principal, schedule_id, "edit")
    check_version(schedule, data.version, "schedule")
    changes = data.changes()
    if "variables" in changes:
        merged = merge_patch(schedule.variables or {}, changes["variables"])
        changes["variables"] = validate_merged(VARIABLE_MAP, merged, ["body", "variables"])
    merged_target = {
        name: changes.get(name, getattr(schedule, name)) for name in ("scenario_id", "plan_id", "environment_id")
    }
    project_id = await targets.check_target(session, principal, **merged_target, action="edit")
    if project_id != schedule.project_id:
        field = "scenario_id" if merged_target["scenario_id"] is not None else "plan_id"
        raise InvalidInput(
            f"the target must be in the schedule's project {schedule.project_id}; create a schedule there instead",
            loc=["body", field],
        )
    spec = spec_of(changes.get("cron", schedule.cron), changes.get("timezone", schedule.timezone))
    if "cron" in changes:
        changes["cron"] = spec.expression
    before = audit.snapshot(schedule)
    retime = bool({"cron", "timezone", "enabled"} & set(changes))
    apply_changes(schedule, changes)
    schedule.owner_id = principal.user.id  # saving lends the schedule your rights (module docstring)
    if retime:
        schedule.next_fire_at = first_tick(schedule)
    await audit.updated(session, principal, "schedule", schedule, before)
    return schedule


async def delete_schedule(session: AsyncSession, principal: Principal, schedule_id: int) -> None:
    schedule = await get_schedule(session, principal, schedule_id, "edit")
    await audit.deleted(session, principal, "schedule", schedule)
    await session.delete(schedule)
    await session.flush()


def detail(schedule: Schedule, now: datetime | None = None) -> dict[str, Any]:
    """The schedule with its next 5 ticks, in UTC and in its zone."""
    fields = {column: getattr(schedule, column) for column in Schedule.__table__.columns.keys()}
    spec = cron.parse(schedule.cron, schedule.timezone)
    ticks = cron.next_times(spec, now or utcnow(), NEXT_SHOWN)
    fields["next_fire_times"] = ticks
    fields["next_fire_times_local"] = [tick.astimezone(spec.zone).isoformat() for tick in ticks]
    return fields


async def fires_query(
    session: AsyncSession, principal: Principal, schedule_id: int, outcome: FireOutcome | None
) -> Select[ScheduleFire]:
    """A visible schedule's fires, the newest tick first."""
    await get_schedule(session, principal, schedule_id)
    statement = select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)
    if outcome is not None:
        statement = statement.where(ScheduleFire.outcome == outcome)
    return statement.order_by(ScheduleFire.tick_at.desc())
