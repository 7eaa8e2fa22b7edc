"""A plan run follows its scenario runs: each one's end (app.runs.ending) may start the next or end the plan.

Everything here runs in the transaction that ended a scenario run, under the plan run's row lock (SELECT ...
FOR UPDATE; SQLite has one writer at a time anyway). Locks are always taken in the same order, the scenario
run's row first (the UPDATE that ended it) and then its plan run's, so two children ending at once in two
processes wait for each other instead of deadlocking, and each is counted exactly once: its item in the plan
run's `items` moves from `started` to its final status only under the lock. The plan run's own final status is
set by a conditional UPDATE (still active -> ended), so it is set once, with its notification event and callback.

The plan's part runs in a savepoint: whatever goes wrong in it is logged and never undoes the scenario run's
own end (which the reaper, the roll-ups and the callbacks depend on); `reconcile` catches such a plan run up.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import is_write_conflict
from app.core.text import bounded
from app.engine.statuses import FINISHED, RunStatus
from app.environments.secrets import environment_masker
from app.models import CallbackDelivery, PlanRun, PlanRunStatus, ScenarioRun, TestScenario
from app.models.base import utcnow
from app.models.callback import DeliveryStatus
from app.models.plan import PLAN_ACTIVE
from app.notifications import events
from app.plans import launch
from app.plans.schemas import PassCriteria
from app.plans.summary import ERROR_LIMIT, MISSING, PENDING, SKIPPED, STARTED, event_summary

logger = logging.getLogger("exile.plans")

# Where an ended scenario run is counted on its plan run.
_BUCKET = {
    RunStatus.PASSED: "scenarios_passed",
    RunStatus.FAILED: "scenarios_failed",
    RunStatus.ERROR: "scenarios_error",
    RunStatus.INTERRUPTED: "scenarios_error",
    RunStatus.CANCELLED: "scenarios_cancelled",
}
# Summed from each ended scenario run.
SUMMED = (
    "iterations_passed",
    "iterations_failed",
    "iterations_error",
    "iterations_flaky",
    "requests_passed",
    "requests_failed",
    "requests_error",
    "requests_skipped",
    "requests_flaky",
)
RATE_EPSILON = 1e-9  # 19 of 20 is 0.95, whatever the float rounding of either side


async def on_run_end(session: AsyncSession, run_id: int) -> None:
    """Called in the transaction that ended scenario run `run_id` (any path: executor, cancel, reaper)."""
    plan_run_id = await session.scalar(select(ScenarioRun.plan_run_id).where(ScenarioRun.id == run_id))
    if plan_run_id is not None:
        await _guarded(session, plan_run_id, [run_id])


async def on_runs_ended_at(session: AsyncSession, finished_at: datetime) -> None:
    """For a bulk end (the reaper's UPDATE): the runs it ended with `finished_at`."""
    rows = await session.execute(
        select(ScenarioRun.id, ScenarioRun.plan_run_id).where(
            ScenarioRun.finished_at == finished_at,
            ScenarioRun.plan_run_id.is_not(None),
            ScenarioRun.status.in_(FINISHED),
        )
    )
    by_plan_run: dict[int, list[int]] = defaultdict(list)
    for run_id, plan_run_id in rows:
        if plan_run_id is not None:
            by_plan_run[plan_run_id].append(run_id)
    for plan_run_id in sorted(by_plan_run):  # one order for every process: no lock cycles between plan runs
        await _guarded(session, plan_run_id, by_plan_run[plan_run_id])


async def _guarded(session: AsyncSession, plan_run_id: int, run_ids: list[int]) -> None:
    marked = launch.mark(session)
    try:
        async with session.begin_nested():
            await children_ended(session, plan_run_id, run_ids)
    except Exception as exc:
        launch.forget_since(session, marked)  # nothing it meant to start or send was committed
        if is_write_conflict(exc):  # InnoDB rolled back the whole transaction, not the savepoint: the caller retries
            raise
        logger.exception(
            "plan run %s: the end of runs %s was not taken in (reconcile catches up)", plan_run_id, run_ids
        )


async def lock(session: AsyncSession, plan_run_id: int) -> PlanRun | None:
    """The plan run's row, locked until the transaction ends, as last committed (not an older snapshot).

    FOR NO KEY UPDATE on PostgreSQL (FOR UPDATE elsewhere): what an UPDATE of its non-key columns takes. A
    scenario run updated twice in one transaction (its end, then its roll-up flag) has its foreign keys
    checked again, which holds KEY SHARE on its plan run's row; FOR UPDATE would wait for that while the
    other transaction waits for a roll-up row this one wrote (a deadlock). Two such locks still exclude
    each other, so the plan run's enders still go one at a time.
    """
    return await session.scalar(
        select(PlanRun)
        .where(PlanRun.id == plan_run_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


async def children_ended(session: AsyncSession, plan_run_id: int, run_ids: Iterable[int]) -> None:
    """Count the ended scenario runs `run_ids` on their plan run (once each), apply its stop rules, move on."""
    plan_run = await lock(session, plan_run_id)
    if plan_run is None or plan_run.status not in PLAN_ACTIVE:
        return
    columns = [getattr(ScenarioRun, name) for name in SUMMED]
    rows = await session.execute(
        select(ScenarioRun.id, ScenarioRun.status, *columns).where(ScenarioRun.id.in_(list(run_ids)))
    )
    ended = {row.id: row for row in rows if row.status in FINISHED}
    items = [dict(item) for item in plan_run.items or []]
    for item in items:
        row = ended.get(item.get("run_id"))
        if row is None or item.get("status") != STARTED:
            continue
        item["status"] = str(row.status)
        bucket = _BUCKET.get(row.status, "scenarios_error")
        setattr(plan_run, bucket, getattr(plan_run, bucket) + 1)
        for name in SUMMED:
            setattr(plan_run, name, getattr(plan_run, name) + int(getattr(row, name) or 0))
        if (
            row.status != RunStatus.PASSED
            and (plan_run.stop_rules or {}).get("stop_on_first_failure")
            and not (plan_run.stopped or plan_run.cancel_requested)
        ):
            plan_run.stopped = True
            plan_run.error = bounded(
                f"stopped by stop_on_first_failure: scenario {item['scenario_id']} '{item['name']}' "
                f"(run {row.id}) ended {row.status}",
                ERROR_LIMIT,
            )
    plan_run.items = items
    await advance(session, plan_run)


async def advance(session: AsyncSession, plan_run: PlanRun) -> None:
    """Start pending scenarios while fewer than `concurrency` run; end the plan run when none runs or will.

    The caller holds the plan run's lock (or created it in this transaction).
    """
    items = [dict(item) for item in plan_run.items or []]
    if not (plan_run.cancel_requested or plan_run.stopped):
        active = sum(1 for item in items if item.get("status") == STARTED)
        for item in items:
            if active >= plan_run.concurrency:
                break
            if item.get("status") != PENDING:
                continue
            scenario = await session.get(TestScenario, item["scenario_id"])
            if scenario is None or scenario.project_id != plan_run.project_id:
                item["status"] = MISSING  # deleted since the plan run started: counted as an error
                plan_run.scenarios_error += 1
                continue
            child = await launch.create_child(session, plan_run, scenario)
            item.update(run_id=child.id, status=STARTED)
            active += 1
    if any(item.get("status") == STARTED for item in items):
        plan_run.items = items
        await session.flush()
        return
    skipped = [item for item in items if item.get("status") == PENDING]
    for item in skipped:  # a stop rule or a cancel kept them from starting
        item["status"] = SKIPPED
    plan_run.scenarios_skipped += len(skipped)
    plan_run.items = items
    await _finish(session, plan_run)


def verdict(plan_run: PlanRun) -> tuple[PlanRunStatus, float | None, str | None]:
    """The final status of an ended plan run, its pass rate and why it did not pass (pure: reads counts only)."""
    criteria = PassCriteria.model_validate(plan_run.pass_criteria or {})
    if plan_run.cancel_requested:
        return PlanRunStatus.CANCELLED, None, "cancelled on request"
    if plan_run.scenarios_passed + plan_run.scenarios_failed == 0:
        return (
            PlanRunStatus.ERROR,
            None,
            plan_run.error or "no scenario run ended passed or failed (each ended error, interrupted or cancelled)",
        )
    if criteria.basis == "requests":
        counted = plan_run.requests_passed + plan_run.requests_failed + plan_run.requests_error
        if not counted:
            return PlanRunStatus.ERROR, None, "no request result was recorded: nothing was tested"
        passed, what = plan_run.requests_passed, f"{counted} request results"
    else:
        counted = plan_run.scenarios_total
        passed, what = plan_run.scenarios_passed, f"{counted} scenarios"
    rate = passed / counted if counted else 0.0
    if plan_run.stopped:
        return PlanRunStatus.FAILED, rate, plan_run.error
    if rate + RATE_EPSILON >= criteria.min_pass_rate:
        return PlanRunStatus.PASSED, rate, None
    return (
        PlanRunStatus.FAILED,
        rate,
        f"pass rate {rate:.1%} ({passed} of {what} passed) is below the required {criteria.min_pass_rate:.1%}",
    )


async def _finish(session: AsyncSession, plan_run: PlanRun) -> None:
    """Set the final status once (a conditional UPDATE), with its notification event and callback delivery."""
    status, rate, error = verdict(plan_run)
    await session.flush()
    ended = await session.execute(
        update(PlanRun)
        .where(PlanRun.id == plan_run.id, PlanRun.status.in_(PLAN_ACTIVE))
        .values(status=status, pass_rate=rate, error=bounded(error, ERROR_LIMIT), finished_at=utcnow())
    )
    if not ended.rowcount:  # type: ignore[attr-defined]
        return
    masker = await environment_masker(session, plan_run.environment_id)
    summary = event_summary(plan_run, masker)
    await events.record_event(session, plan_run.project_id, "plan_run_finished", summary)
    if plan_run.callback_url:
        delivery_id = await _record_callback(session, plan_run, summary)
        if delivery_id is not None:
            plan_run.callback_delivery_id = delivery_id
            await session.flush()
            launch.deliver_after_commit(session, delivery_id)


async def _record_callback(session: AsyncSession, plan_run: PlanRun, summary: dict[str, Any]) -> int | None:
    """The plan run's callback, on the delivery slot of its first scenario run (which has no callback itself)."""
    anchor = next((item["run_id"] for item in plan_run.items or [] if item.get("run_id")), None)
    if anchor is None or not plan_run.callback_url:
        logger.warning("plan run %s started no scenario run: its callback has nothing to ride on", plan_run.id)
        return None
    taken = await session.scalar(select(CallbackDelivery.id).where(CallbackDelivery.run_id == anchor))
    if taken is not None:
        return None
    now = utcnow()
    delivery = CallbackDelivery(
        run_id=anchor,
        project_id=plan_run.project_id,
        url=plan_run.callback_url,
        payload=orjson.dumps({"event": "plan_run.finished", **summary}).decode(),
        status=DeliveryStatus.PENDING,
        attempts=0,
        attempt_log=[],
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    await session.flush()
    return delivery.id


async def stop(session: AsyncSession, plan_run_id: int, reason: str) -> None:
    """Start no more scenarios of this plan run (those running finish); it fails with `reason`."""
    plan_run = await lock(session, plan_run_id)
    if plan_run is not None and plan_run.status in PLAN_ACTIVE and not plan_run.stopped:
        plan_run.stopped = True
        plan_run.error = bounded(reason, ERROR_LIMIT)
        await session.flush()


async def reconcile(session_factory: async_sessionmaker[AsyncSession]) -> int:
    """Catch up active plan runs whose scenario runs ended without being counted (for the reaper's loop)."""
    async with session_factory() as session:
        active = list(await session.scalars(select(PlanRun.id).where(PlanRun.status.in_(PLAN_ACTIVE))))
    caught_up = 0
    for plan_run_id in active:
        async with session_factory() as session:
            plan_run = await lock(session, plan_run_id)
            if plan_run is None or plan_run.status not in PLAN_ACTIVE:
                await session.rollback()
                continue
            started = [item["run_id"] for item in plan_run.items or [] if item.get("status") == STARTED]
            ended = list(
                await session.scalars(
                    select(ScenarioRun.id).where(ScenarioRun.id.in_(started), ScenarioRun.status.in_(FINISHED))
                )
            )
            if ended or not started:
                await children_ended(session, plan_run_id, ended)
                caught_up += 1
            await session.commit()
    return caught_up
