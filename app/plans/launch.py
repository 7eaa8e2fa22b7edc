"""A plan run's scenario runs are created in a transaction and handed to their executor only once it commits.

A child is created when its turn comes (at the plan run's start, or in the transaction that ends an earlier
child), never ahead of it: a run left `queued` while it waits would be taken by the reaper for a lost one
(interrupted, or sent to the workers again). Its row must be committed before an executor looks for it, so
the creating transaction only notes it; an `after_commit` hook on that session then starts it. An inline run
goes to the process's runs thread (app.runs.dispatch.RunsThread; whichever loop ended the previous child: the
API's, a run pool process's or a Celery thread's, which stop as soon as their task returns). A
Celery run is sent from a short thread; one whose task cannot be sent is ended `error` and stops its plan run.
The plan run's callback delivery, recorded with its end, is sent from such a thread too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.engine.statuses import RunStatus
from app.models import PlanRun, ScenarioRun, TestScenario, TestScenarioDataset
from app.models.base import utcnow

logger = logging.getLogger("exile.plans")

_INFO_KEY = "exile.plans.after_commit"
CHILD_TRIGGER = {"schedule": "schedule", "webhook": "ci", "ci": "ci", "api": "api"}
CI_LIMITS = {"commit": 200, "branch": 500, "build_url": 2048}


@dataclass
class _AfterCommit:
    runs: list[tuple[int, str]] = field(default_factory=list)  # (run id, executor)
    deliveries: list[int] = field(default_factory=list)


def _pending(session: AsyncSession) -> _AfterCommit:
    info = session.sync_session.info
    pending: _AfterCommit | None = info.get(_INFO_KEY)
    if pending is None:
        pending = info[_INFO_KEY] = _AfterCommit()
        event.listen(session.sync_session, "after_commit", _committed)
        event.listen(session.sync_session, "after_rollback", _rolled_back)
    return pending


def start_after_commit(session: AsyncSession, run: ScenarioRun) -> None:
    """Start `run` once the session's transaction commits (never if it rolls back)."""
    _pending(session).runs.append((run.id, run.executor))


def deliver_after_commit(session: AsyncSession, delivery_id: int) -> None:
    """Send a callback delivery once the session's transaction commits."""
    _pending(session).deliveries.append(delivery_id)


def mark(session: AsyncSession) -> tuple[int, int]:
    """Where the notes stand, so a savepoint rolled back can drop what it noted (forget_since)."""
    pending = _pending(session)
    return len(pending.runs), len(pending.deliveries)


def forget_since(session: AsyncSession, marked: tuple[int, int]) -> None:
    pending = _pending(session)
    del pending.runs[marked[0] :]
    del pending.deliveries[marked[1] :]


# Savepoints fire these events too: only the outermost transaction's end counts (a savepoint's rollback is
# handled by whoever opened it, with mark/forget_since).
def _rolled_back(sync_session: Session) -> None:
    pending = sync_session.info.get(_INFO_KEY)
    if pending is not None and not sync_session.in_nested_transaction():
        pending.runs.clear()
        pending.deliveries.clear()


def _committed(sync_session: Session) -> None:
    pending = sync_session.info.get(_INFO_KEY)
    if pending is None or sync_session.in_nested_transaction() or not (pending.runs or pending.deliveries):
        return
    runs, deliveries = list(pending.runs), list(pending.deliveries)
    pending.runs.clear()
    pending.deliveries.clear()
    remote = [run_id for run_id, executor in runs if executor != "inline"]
    inline = [run_id for run_id, executor in runs if executor == "inline"]
    if inline:
        from app.runs.dispatch import start_inline  # late: app.runs imports this package at a run's end

        for run_id in inline:  # on this process's runs thread, whichever thread or loop ended the previous run
            start_inline(run_id)
    if remote or deliveries:
        threading.Thread(target=_send, args=(remote, deliveries), name="exile-plan-dispatch", daemon=True).start()


def _thread_sessions() -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """An engine of this thread's own (a connection never crosses event loops); the caller disposes it."""
    from app.core.db import THREAD_POOL_SIZE, build_engine

    engine = build_engine(get_settings().resolved_database_url, pool_size=THREAD_POOL_SIZE)
    return engine, async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def _send(run_ids: list[int], delivery_ids: list[int]) -> None:
    """In its own thread: put the runs' tasks on the queue, then record what failed and send the callbacks."""
    from app.tasks.scenario import run_scenario_task

    unsent: list[tuple[int, str]] = []
    for run_id in run_ids:
        try:
            run_scenario_task.delay(run_id)
        except Exception as exc:
            logger.error("plan child run %s could not be sent to the workers: %s: %s", run_id, type(exc).__name__, exc)
            unsent.append((run_id, f"the task queue could not be reached ({type(exc).__name__}); it was not started"))
    if unsent or delivery_ids:
        try:
            asyncio.run(_after_send(unsent, delivery_ids))
        except Exception:
            logger.exception("plan runs: ending unsent runs or sending callbacks failed (the sweeps retry)")


async def _after_send(unsent: list[tuple[int, str]], delivery_ids: list[int]) -> None:
    from app.callbacks import service as callbacks
    from app.plans import progress
    from app.runs.ending import record_end

    engine, sessions = _thread_sessions()
    try:
        for run_id, reason in unsent:
            async with sessions() as session:
                # The run's row, then its plan run's (the order every run's end takes them in).
                ended = await session.execute(
                    update(ScenarioRun)
                    .where(ScenarioRun.id == run_id, ScenarioRun.status == RunStatus.QUEUED)
                    .values(status=RunStatus.ERROR, finished_at=utcnow(), error=reason)
                )
                if ended.rowcount:  # type: ignore[attr-defined]
                    plan_run_id = await session.scalar(select(ScenarioRun.plan_run_id).where(ScenarioRun.id == run_id))
                    if plan_run_id is not None:  # no more children would reach the workers either
                        await progress.stop(session, plan_run_id, f"scenario run {run_id}: {reason}")
                    await record_end(session, run_id)
                await session.commit()
        for delivery_id in delivery_ids:
            await callbacks.deliver(sessions, delivery_id)
    finally:
        await engine.dispose()


# ---- creating a child ------------------------------------------------------------------------------------
def child_ci(trigger: dict[str, Any]) -> dict[str, str]:
    """The CI metadata each scenario run of the plan run carries (commit, branch, build URL), bounded."""
    return {key: str(trigger[key])[:limit] for key, limit in CI_LIMITS.items() if trigger.get(key) not in (None, "")}


async def create_child(session: AsyncSession, plan_run: PlanRun, scenario: TestScenario) -> ScenarioRun:
    """A queued scenario run of `scenario` for `plan_run`, started when the session commits."""
    rows = await session.scalar(
        select(func.count()).select_from(TestScenarioDataset).where(TestScenarioDataset.scenario_id == scenario.id)
    )
    trigger = plan_run.trigger or {}
    run = ScenarioRun(
        project_id=plan_run.project_id,
        scenario_id=scenario.id,
        kind="scenario",
        status=RunStatus.QUEUED,
        trigger=CHILD_TRIGGER.get(str(trigger.get("type")), "manual"),
        executor=get_settings().executor,
        environment_id=plan_run.environment_id,
        created_by_id=plan_run.created_by_id,
        variables=dict(plan_run.variables or {}),
        ci=child_ci(trigger),
        settings=dict(scenario.settings or {}),
        iterations_total=int(rows or 0) or 1,
        created_at=utcnow(),
        plan_run_id=plan_run.id,
    )
    session.add(run)
    await session.flush()
    start_after_commit(session, run)
    return run
