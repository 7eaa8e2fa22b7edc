"""Firing schedules exactly once per tick, however many API processes and Celery workers look for due ticks.

Every API process runs `fire_forever` (and every Celery worker a thread doing the same, app.tasks.schedules);
each pass takes the enabled schedules whose `next_fire_at` has come and, for each, in ONE transaction:
1. inserts the tick's ScheduleFire row: (schedule_id, tick_at) is unique, so a second process inserting the
   same tick waits for the first and then fails on the key (or is refused at once on SQLite);
2. moves `next_fire_at` on with an UPDATE guarded by the value (and version) it read: a process that read a
   stale schedule (another fired it, someone edited it) changes no row and gives the tick up;
3. decides and records the outcome: `missed` when the tick is later than the schedule's grace (plus
   SCHEDULE_TOLERANCE_SECONDS), `skipped_overlap` while the previous run goes on, else starts the run as the
   owner (`fired`), or `refused` / `error` with the reason;
4. commits, and only then hands the run to its executor.
A process that dies before the commit leaves nothing behind and the tick is still due, so the next pass of
any process fires it. Ticks missed while everything was down are not replayed in a burst: only the latest
one is considered (fired if within the grace, else recorded missed), and the earlier ones are recorded as
one `missed` fire that counts them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import get_settings
from app.core.db import get_session_factory
from app.core.errors import AppError
from app.core.text import bounded
from app.models import Schedule, ScheduleFire
from app.models.base import utcnow
from app.models.schedule import FireOutcome
from app.notifications.events import record_event
from app.runs.executor import worker_name
from app.schedules import cron, targets

logger = logging.getLogger("exile.schedules")

DETAIL_LIMIT = 1000
BATCH = 100  # schedules handled per pass; more due ones wait for the next pass (a second later)
CATCH_UP_LIMIT = 1000  # missed ticks counted one by one; beyond, the latest is found directly
PRUNE_EVERY = 50  # every so many fires, a schedule's oldest fires past SCHEDULE_FIRES_KEPT are deleted


@dataclass
class FireSummary:
    """What one pass did: ticks per outcome, and ticks another process claimed first."""

    outcomes: dict[str, int] = field(default_factory=dict)
    lost: int = 0

    def add(self, outcome: FireOutcome | None) -> None:
        if outcome is None:
            self.lost += 1
        else:
            self.outcomes[str(outcome)] = self.outcomes.get(str(outcome), 0) + 1

    def __bool__(self) -> bool:
        return bool(self.outcomes)


@dataclass
class _Tick:
    """The tick a pass decided to handle for one schedule, read before the claim."""

    schedule: Schedule
    expected: datetime  # next_fire_at as read: the claim's guard
    latest: datetime  # the latest tick at or before now: the one handled
    earlier: int | None  # ticks before it that never ran (None: more than CATCH_UP_LIMIT)
    next_tick: datetime
    late_seconds: float
    on_time: bool


Decide = Callable[[AsyncSession, ScheduleFire, _Tick], Awaitable[targets.Started | None]]


async def fire_due(
    session_factory: async_sessionmaker[AsyncSession], *, now: datetime | None = None, worker: str | None = None
) -> FireSummary:
    """Handle every due tick once; safe to run in any number of processes at the same time."""
    now = now or utcnow()
    worker = worker or worker_name("schedules")
    async with session_factory() as session:
        due = list(
            await session.scalars(
                select(Schedule)
                .where(Schedule.enabled.is_(True), Schedule.next_fire_at <= now)
                .order_by(Schedule.next_fire_at)
                .limit(BATCH)
            )
        )
    summary = FireSummary()
    for schedule in due:
        summary.add(await fire_one(session_factory, schedule, now, worker))
    return summary


def _plan(schedule: Schedule, now: datetime) -> _Tick:
    assert schedule.next_fire_at is not None
    spec = cron.parse(schedule.cron, schedule.timezone)
    ticks, more = cron.ticks_from(spec, schedule.next_fire_at, now, CATCH_UP_LIMIT)
    latest = cron.latest_at_or_before(spec, now) if more else ticks[-1]
    late = (now - latest).total_seconds()
    return _Tick(
        schedule=schedule,
        expected=schedule.next_fire_at,
        latest=latest,
        earlier=None if more else len(ticks) - 1,
        next_tick=cron.next_after(spec, now),
        late_seconds=late,
        on_time=late <= schedule.grace_seconds + get_settings().schedule_tolerance_seconds,
    )


async def fire_one(
    session_factory: async_sessionmaker[AsyncSession], schedule: Schedule, now: datetime, worker: str
) -> FireOutcome | None:
    """Claim and handle the schedule's due tick; None when another process had it (or it was not due)."""
    try:
        tick = _plan(schedule, now)
    except cron.CronError as exc:  # a stored expression no longer valid (its zone left tzdata): stop, say why
        logger.error("schedule %s: %s; it is stopped until someone saves it again", schedule.id, exc)
        async with session_factory() as session:
            await session.execute(
                update(Schedule)
                .where(Schedule.id == schedule.id, Schedule.next_fire_at == schedule.next_fire_at)
                .values(next_fire_at=None)
            )
            await session.commit()
        return None
    try:
        claimed = await _claim(session_factory, tick, worker, _fire)
    except AppError as exc:  # the start was refused: nothing of it is kept, the refusal is recorded instead
        claimed = await _claim(session_factory, tick, worker, _record(FireOutcome.REFUSED, exc.message))
    except Exception as exc:
        logger.exception("schedule %s: starting the tick of %s failed", schedule.id, tick.latest.isoformat())
        reason = f"starting the run failed: {type(exc).__name__}: {exc}"
        claimed = await _claim(session_factory, tick, worker, _record(FireOutcome.ERROR, reason))
    if claimed is None:
        return None
    fire, started = claimed
    if started is not None:
        try:
            await targets.hand_over(started)
        except Exception as exc:  # the run itself is already ended `error` by dispatch, with the reason
            reason = f"{started.label} could not be handed to its executor: {getattr(exc, 'message', exc)}"
            await _set_outcome(session_factory, fire.id, FireOutcome.ERROR, reason)
            return FireOutcome.ERROR
    if fire.id % PRUNE_EVERY == 0:
        await _prune(session_factory, schedule.id)
    return fire.outcome


async def _claim(
    session_factory: async_sessionmaker[AsyncSession], tick: _Tick, worker: str, decide: Decide
) -> tuple[ScheduleFire, targets.Started | None] | None:
    """Insert the tick's fire, move next_fire_at from the value read, decide, commit: all or nothing."""
    schedule = tick.schedule
    now = utcnow()
    async with session_factory() as session:
        try:
            if tick.latest != tick.expected:
                counted = f"more than {CATCH_UP_LIMIT}" if tick.earlier is None else str(tick.earlier)
                session.add(
                    ScheduleFire(
                        schedule_id=schedule.id,
                        tick_at=tick.expected,
                        outcome=FireOutcome.MISSED,
                        detail=f"{counted} tick(s) from this one until {tick.latest.isoformat()} were not run "
                        "(nothing was running to fire them); only the latest is caught up",
                        recorded_at=now,
                        recorded_by=worker,
                    )
                )
            fire = ScheduleFire(
                schedule_id=schedule.id,
                tick_at=tick.latest,
                outcome=FireOutcome.FIRED,
                recorded_at=now,
                recorded_by=worker,
            )
            session.add(fire)
            await session.flush()
            moved = await session.execute(
                update(Schedule)
                .where(
                    Schedule.id == schedule.id,
                    Schedule.next_fire_at == tick.expected,
                    Schedule.version == schedule.version,
                    Schedule.enabled.is_(True),
                )
                .values(next_fire_at=tick.next_tick)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                await session.rollback()
                return None
            started = await decide(session, fire, tick)
            if tick.latest != tick.expected or fire.outcome == FireOutcome.MISSED:
                await _announce_missed(session, tick, fire)
            await session.commit()
        except DBAPIError as exc:
            # The key taken by another process, a lock wait or deadlock: the tick is not ours (or is still due).
            await session.rollback()
            logger.debug("schedule %s tick %s not claimed: %s", schedule.id, tick.latest.isoformat(), type(exc))
            return None
    return fire, started


async def _fire(session: AsyncSession, fire: ScheduleFire, tick: _Tick) -> targets.Started | None:
    """The normal decision: missed when too late, skipped while the last run goes on, else started."""
    schedule = tick.schedule
    if not tick.on_time:
        fire.outcome = FireOutcome.MISSED
        fire.detail = (
            f"found {tick.late_seconds:.0f} s late, past the grace of {schedule.grace_seconds} s "
            f"(+{get_settings().schedule_tolerance_seconds:g} s tolerance): not run"
        )
        return None
    if not schedule.allow_overlap:
        busy = await _previous_still_running(session, schedule.id, tick.latest)
        if busy is not None:
            fire.outcome = FireOutcome.SKIPPED_OVERLAP
            fire.detail = f"{busy}; allow_overlap is off"
            return None
    principal = await targets.owner_principal(session, schedule.owner_id, f"schedule {schedule.id}")
    started = await targets.start(
        session,
        principal,
        scenario_id=schedule.scenario_id,
        plan_id=schedule.plan_id,
        environment_id=schedule.environment_id,
        variables=dict(schedule.variables or {}),
        trigger="schedule",
        ci={"schedule_id": schedule.id, "schedule_tick": tick.latest.isoformat()},
    )
    fire.run_id = started.run.id if started.run else None
    fire.plan_run_id = started.plan_run.id if started.plan_run else None
    return started


def _record(outcome: FireOutcome, reason: str) -> Decide:
    async def decide(session: AsyncSession, fire: ScheduleFire, tick: _Tick) -> None:
        fire.outcome = outcome
        fire.detail = bounded(reason, DETAIL_LIMIT)

    return decide


async def _previous_still_running(session: AsyncSession, schedule_id: int, before: datetime) -> str | None:
    """Whether the run of the schedule's last fired tick is still queued or running."""
    last = (
        await session.execute(
            select(ScheduleFire.run_id, ScheduleFire.plan_run_id)
            .where(
                ScheduleFire.schedule_id == schedule_id,
                ScheduleFire.outcome == FireOutcome.FIRED,
                ScheduleFire.tick_at < before,
            )
            .order_by(ScheduleFire.tick_at.desc())
            .limit(1)
        )
    ).first()
    if last is None:
        return None
    return await targets.still_running(session, last.run_id, last.plan_run_id)


async def _announce_missed(session: AsyncSession, tick: _Tick, fire: ScheduleFire) -> None:
    """The project's channels hear of missed ticks (app.notifications), in the transaction that records them."""
    schedule = tick.schedule
    await record_event(
        session,
        schedule.project_id,
        "schedule_missed",
        {
            "schedule_id": schedule.id,
            "schedule_name": schedule.name,
            "link": f"/api/v1/schedules/{schedule.id}/fires",
            "environment_id": schedule.environment_id,
            "scenario_id": schedule.scenario_id,
            "plan_id": schedule.plan_id,
            "tick_at": fire.tick_at.isoformat(),
            "first_missed_at": tick.expected.isoformat(),
            "missed_ticks": (tick.earlier if tick.earlier is not None else CATCH_UP_LIMIT)
            + (1 if fire.outcome == FireOutcome.MISSED else 0),
            "detail": fire.detail,
        },
    )


async def _set_outcome(
    session_factory: async_sessionmaker[AsyncSession], fire_id: int, outcome: FireOutcome, reason: str
) -> None:
    async with session_factory() as session:
        await session.execute(
            update(ScheduleFire)
            .where(ScheduleFire.id == fire_id)
            .values(outcome=outcome, detail=bounded(reason, DETAIL_LIMIT))
        )
        await session.commit()


async def _prune(session_factory: async_sessionmaker[AsyncSession], schedule_id: int) -> None:
    """Keep a schedule's newest SCHEDULE_FIRES_KEPT fires."""
    kept = get_settings().schedule_fires_kept
    async with session_factory() as session:
        cutoff = await session.scalar(
            select(ScheduleFire.tick_at)
            .where(ScheduleFire.schedule_id == schedule_id)
            .order_by(ScheduleFire.tick_at.desc())
            .offset(kept)
            .limit(1)
        )
        if cutoff is not None:
            await session.execute(
                delete(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id, ScheduleFire.tick_at <= cutoff)
            )
            await session.commit()


async def fire_forever() -> None:
    """The API process's loop: a pass every SCHEDULE_POLL_SECONDS (0: this process never fires)."""
    interval = get_settings().schedule_poll_seconds
    worker = worker_name("schedules")
    while interval > 0:
        try:
            await tick(get_session_factory(), worker)
        except Exception:
            logger.exception("firing schedules failed")
        await asyncio.sleep(interval)


async def tick(session_factory: async_sessionmaker[AsyncSession], worker: str) -> None:
    """One pass of a firing loop: due ticks, then commit statuses of ended triggered runs."""
    from app.schedules.commit_status import send_due

    summary = await fire_due(session_factory, worker=worker)
    if summary:
        logger.info("schedules: %s", summary.outcomes)
    if summary.lost:  # another process claimed the tick between this one reading and claiming it
        logger.info("schedules: %s tick(s) claimed by another process first", summary.lost)
    await send_due(session_factory, worker)
