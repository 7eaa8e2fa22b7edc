"""Events that notify a project's channels (run finished, failed, recovered, ...), recorded where they happen.

Each event is recorded in the transaction of what caused it (a run's end, a plan run's end, a missed tick): a
delivery row per channel that wants it, with its message frozen, so an event is never lost to a crash between
its commit and its sending, and a transaction that rolls back announces nothing. The rows are sent after the
commit (app.notifications.delivery).

The rule of a channel: its `events`, its optional `scenario_ids` / `plan_ids` filters, and its throttle. A run
gives one message per channel, for the most specific event the channel wants: a failed run is
`new_failure_cluster` (when one of its failures belongs to no cluster of the project's earlier failures), else
`run_failed`, else `run_finished`; a passed run is `run_recovered` (when the previous comparable run, of the same
scenario in the same environment, failed), else `run_finished`. Scenario runs started by a plan run are
announced by the plan's `plan_run_finished`, not one by one.

The throttle: a channel gets at most `throttle_max` messages about one subject (a scenario, a plan, a schedule) in
`throttle_window_seconds`; those past it are recorded `throttled` and never sent. Channels are locked while
recording (in id order), so two runs ending at once cannot both take the last place.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import get_settings
from app.engine.statuses import FAILING, FINISHED, RunStatus
from app.environments.secrets import environment_masker
from app.models import ApiRequestRun, NotificationChannel, NotificationDelivery, Project, ScenarioRun
from app.models.base import utcnow
from app.models.notification import NotificationEvent, NotificationStatus
from app.notifications import messages
from app.notifications.delivery import send_after_commit
from app.notifications.formats import one_line

logger = logging.getLogger("exile.notifications")

# new_failure_cluster compares a failed run's failures with the project's failures of this long before it, at most
# HISTORY_LIMIT of them (the cost is paid only when a channel asks for the event and the run failed).
CLUSTER_LOOKBACK = timedelta(days=14)
HISTORY_LIMIT = 5000
RUN_FAILURES_LIMIT = 200
# Runs whose verdict a later run is compared with for run_recovered (a cancelled run has none).
VERDICTS: tuple[RunStatus, ...] = (RunStatus.PASSED, *messages.FAILED_RUN)


async def _channels(session: AsyncSession, project_id: int) -> list[NotificationChannel]:
    """The project's enabled channels, locked in id order so that their throttles are counted one at a time."""
    return list(
        await session.scalars(
            select(NotificationChannel)
            .where(NotificationChannel.project_id == project_id, NotificationChannel.enabled.is_(True))
            .order_by(NotificationChannel.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def _matches(channel: NotificationChannel, scenario_id: Any, plan_id: Any) -> bool:
    """A filter applies to the subjects that have what it filters by (a plan event has no scenario)."""
    if channel.scenario_ids is not None and scenario_id is not None and scenario_id not in channel.scenario_ids:
        return False
    return not (channel.plan_ids is not None and plan_id is not None and plan_id not in channel.plan_ids)


async def _recent(session: AsyncSession, *where: ColumnElement[bool], limit: int) -> int:
    # A locking read: MariaDB's plain SELECT would read this transaction's snapshot, older than the lock we hold.
    rows = await session.scalars(select(NotificationDelivery.id).where(*where).limit(limit).with_for_update(read=True))
    return len(list(rows))


async def _record(
    session: AsyncSession,
    channel: NotificationChannel,
    event: NotificationEvent,
    message: dict[str, Any],
    *,
    subject_key: str,
    dedupe_key: str | None,
    run_id: int | None = None,
) -> NotificationDelivery | None:
    """One delivery for a channel (throttled if its subject had its share); None if it was recorded before."""
    if dedupe_key is not None and await _recent(
        session,
        NotificationDelivery.channel_id == channel.id,
        NotificationDelivery.dedupe_key == dedupe_key,
        limit=1,
    ):
        return None
    now = utcnow()
    sent_lately = await _recent(
        session,
        NotificationDelivery.channel_id == channel.id,
        NotificationDelivery.subject_key == subject_key,
        NotificationDelivery.created_at >= now - timedelta(seconds=channel.throttle_window_seconds),
        NotificationDelivery.status != NotificationStatus.THROTTLED,
        limit=channel.throttle_max,
    )
    throttled = sent_lately >= channel.throttle_max
    delivery = NotificationDelivery(
        channel_id=channel.id,
        project_id=channel.project_id,
        event=str(event),
        subject_key=subject_key,
        dedupe_key=dedupe_key,
        run_id=run_id,
        title=one_line(message.get("title") or str(event), 300),
        message=orjson.dumps(message).decode(),
        status=NotificationStatus.THROTTLED if throttled else NotificationStatus.PENDING,
        max_attempts=get_settings().notify_attempts,
        attempts=0,
        attempt_log=[],
        next_attempt_at=None if throttled else now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    return delivery


# ---- runs --------------------------------------------------------------------------------------------------------
async def _previous_failed(session: AsyncSession, run: ScenarioRun) -> bool:
    """Whether the run before this one, of the same scenario in the same environment, failed."""
    environment = (
        ScenarioRun.environment_id.is_(None)
        if run.environment_id is None
        else ScenarioRun.environment_id == run.environment_id
    )
    previous = await session.scalar(
        select(ScenarioRun.status)
        .where(
            ScenarioRun.scenario_id == run.scenario_id,
            environment,
            ScenarioRun.id != run.id,
            ScenarioRun.status.in_(VERDICTS),
            ScenarioRun.finished_at <= run.finished_at,
        )
        .order_by(ScenarioRun.finished_at.desc(), ScenarioRun.id.desc())
        .limit(1)
    )
    return previous in messages.FAILED_RUN


async def new_causes(session: AsyncSession, run: ScenarioRun) -> list[dict[str, Any]]:
    """This run's failure clusters that none of the project's earlier failures (CLUSTER_LOOKBACK) belong to,
    clustered as the reports cluster them: [{"key", "size", "step", "message"}]."""
    from app.reports.clustering import Failure, cluster_failures, failure_message
    from app.reports.repository import Hidden
    from app.reports.service import Window, failures_in  # late: reports import the runs, which import this

    rows = await session.execute(
        select(
            ApiRequestRun.id,
            ApiRequestRun.case_id,
            ApiRequestRun.step_key,
            ApiRequestRun.name,
            ApiRequestRun.status,
            ApiRequestRun.response["status"].as_integer(),
            ApiRequestRun.error,
            ApiRequestRun.assertions,
            ApiRequestRun.started_at,
        )
        .where(ApiRequestRun.scenario_run_id == run.id, ApiRequestRun.status.in_(FAILING))
        .order_by(ApiRequestRun.id)
        .limit(RUN_FAILURES_LIMIT)
    )
    current: list[Failure] = []
    names: dict[int, str] = {}
    for row in rows:
        names[row[0]] = row[3]
        current.append(
            Failure(
                request_run_id=row[0],
                scenario_run_id=run.id,
                scenario_id=run.scenario_id,
                case_id=row[1],
                step_key=row[2],
                status=str(row[4]),
                status_code=row[5],
                error=row[6],
                assertions=row[7] if isinstance(row[7], list) else [],
                started_at=row[8],
            )
        )
    if not current:
        return []
    window = Window(since=run.created_at - CLUSTER_LOOKBACK, until=run.created_at)
    history, _retried = await failures_in(session, run.project_id, window, None, Hidden(), limit=HISTORY_LIMIT)
    ours = set(names)
    found = []
    for cluster in cluster_failures([*history, *current]):
        if cluster.member_ids and set(cluster.member_ids) <= ours:
            example = next(f for f in current if f.request_run_id == cluster.example.request_run_id)
            found.append(
                {
                    "key": cluster.key,
                    "size": cluster.size,
                    "step": names.get(example.request_run_id) or example.step_key,
                    "message": one_line(failure_message(example), messages.FAILURE_TEXT_LIMIT),
                }
            )
    return found


def _candidates(status: RunStatus) -> list[NotificationEvent]:
    """A run's events, most specific first: each channel gets the first it wants of those that happened."""
    if status == RunStatus.PASSED:
        return [NotificationEvent.RUN_RECOVERED, NotificationEvent.RUN_FINISHED]
    if status in messages.FAILED_RUN:
        return [NotificationEvent.NEW_FAILURE_CLUSTER, NotificationEvent.RUN_FAILED, NotificationEvent.RUN_FINISHED]
    return [NotificationEvent.RUN_FINISHED]


async def on_run_end(session: AsyncSession, run_id: int) -> None:
    """Called in the transaction that ended scenario run `run_id` (any path: executor, cancel, reaper)."""
    run = await session.scalar(
        select(ScenarioRun).where(ScenarioRun.id == run_id).execution_options(populate_existing=True)
    )
    # A case's "Send" is someone at their desk; a plan's scenario runs are announced by the plan.
    if run is None or run.status not in FINISHED or run.kind != "scenario" or run.scenario_id is None:
        return
    if run.plan_run_id is not None:
        return
    channels = [
        channel
        for channel in await _channels(session, run.project_id)
        if _matches(channel, run.scenario_id, None) and set(channel.events) & set(map(str, _candidates(run.status)))
    ]
    if not channels:
        return
    asked = {event for channel in channels for event in channel.events}
    happened = {NotificationEvent.RUN_FINISHED}
    causes: list[dict[str, Any]] = []
    if run.status in messages.FAILED_RUN:
        happened.add(NotificationEvent.RUN_FAILED)
        if NotificationEvent.NEW_FAILURE_CLUSTER in asked:
            try:
                causes = await new_causes(session, run)
            except Exception:  # an analysis' trouble must not keep the run from ending or its failure unannounced
                logger.exception("run %s: its failures could not be compared with the project's", run_id)
            if causes:
                happened.add(NotificationEvent.NEW_FAILURE_CLUSTER)
    elif (
        run.status == RunStatus.PASSED
        and NotificationEvent.RUN_RECOVERED in asked
        and await _previous_failed(session, run)
    ):
        happened.add(NotificationEvent.RUN_RECOVERED)
    built: dict[NotificationEvent, dict[str, Any]] = {}
    recorded: list[NotificationDelivery] = []
    for channel in channels:
        event = next((e for e in _candidates(run.status) if e in happened and e in channel.events), None)
        if event is None:
            continue
        if event not in built:
            built[event] = await _run_message(session, run, event, causes)
        delivery = await _record(
            session,
            channel,
            event,
            built[event],
            subject_key=f"scenario:{run.scenario_id}",
            dedupe_key=f"run:{run.id}",
            run_id=run.id,
        )
        if delivery is not None:
            recorded.append(delivery)
    await session.flush()
    send_after_commit(session, [d.id for d in recorded if d.status == NotificationStatus.PENDING])


async def _run_message(
    session: AsyncSession, run: ScenarioRun, event: NotificationEvent, causes: list[dict[str, Any]]
) -> dict[str, Any]:
    try:
        return await messages.run_message(
            session, run, event, causes if event == NotificationEvent.NEW_FAILURE_CLUSTER else None
        )
    except Exception:  # never let a message's detail stop a run from ending: send the essentials
        logger.exception("run %s: the notification could not be built in full", run.id)
        return {
            "event": str(event),
            "title": f"run {run.id} {run.status}",
            "status": str(run.status),
            "tone": messages.tone_of(str(run.status)),
            "summary": [],
            "failures": [],
            "link": None,
            "details": {"run_id": run.id, "scenario_id": run.scenario_id, "status": str(run.status)},
        }


async def on_runs_ended_at(session: AsyncSession, finished_at: datetime) -> None:
    """For a bulk end (the reaper's UPDATE): the runs it ended with `finished_at`."""
    run_ids = list(
        await session.scalars(
            select(ScenarioRun.id)
            .where(
                ScenarioRun.finished_at == finished_at,
                ScenarioRun.status.in_(FINISHED),
                ScenarioRun.kind == "scenario",
            )
            .order_by(ScenarioRun.id)
        )
    )
    for run_id in run_ids:
        await on_run_end(session, run_id)


# ---- other domains' events -----------------------------------------------------------------------------------------
def _subject_key(event: NotificationEvent, subject: dict[str, Any]) -> str:
    """What the throttle counts by: a missed tick by its schedule, a plan run by its plan."""
    order = [("plan_id", "plan"), ("schedule_id", "schedule"), ("scenario_id", "scenario")]
    if event == NotificationEvent.SCHEDULE_MISSED:
        order.insert(0, order.pop(1))
    for key, prefix in order:
        if subject.get(key) is not None:
            return f"{prefix}:{subject[key]}"
    return f"event:{event}"


def _dedupe_key(event: NotificationEvent, subject: dict[str, Any]) -> str | None:
    if subject.get("dedupe_key"):
        return one_line(subject["dedupe_key"], 128)
    if event == NotificationEvent.PLAN_RUN_FINISHED and subject.get("plan_run_id") is not None:
        return f"plan_run:{subject['plan_run_id']}"
    tick = subject.get("scheduled_for") or subject.get("tick_at")
    if event == NotificationEvent.SCHEDULE_MISSED and subject.get("schedule_id") is not None and tick:
        return one_line(f"schedule:{subject['schedule_id']}:{tick}", 128)
    return None  # nothing says which occurrence it is: each call is one message


async def record_event(session: AsyncSession, project_id: int, event: str, subject: dict[str, Any]) -> None:
    """An event of another domain (a plan run ended, a schedule missed a tick) for the project's channels.

    `event`: a NotificationEvent value (plan_run_finished, schedule_missed). `subject`, every key optional:
    `name`, `status`, `title` (else made from name and status), `summary` ({label: value} or [[label, value]]),
    `failures` ([{"step", "message"}], the first 5 shown) and `failures_total`, `link` (a path on this server,
    made absolute with PUBLIC_URL, or a URL; `report_path` too), `environment`, `environment_id` (its secrets are
    masked), `trigger`, `ci` ({"commit", "branch", "build_url"}), `duration_ms`, `reason`, `error`, `detail`, `at`;
    counts `scenarios` / `iterations` / `requests` ({"total"?, "passed", ...}) and `pass_rate` (0..1); a plan's
    `runs` ([{"name", "run_id", "status"}], those that did not pass listed as failures when `failures` is not
    given); a missed tick's `tick_at` and `missed_ticks`; for filters, throttling and idempotency `plan_id`,
    `scenario_id`, `schedule_id`, `plan_run_id`, `scheduled_for` / `tick_at`, or `dedupe_key`.
    Recorded in the caller's transaction; sent after it commits.
    """
    kind = NotificationEvent(event)  # an unknown name is the caller's bug: say so at once
    channels = [
        channel
        for channel in await _channels(session, project_id)
        if str(kind) in channel.events and _matches(channel, subject.get("scenario_id"), subject.get("plan_id"))
    ]
    if not channels:
        return
    project_name = await session.scalar(select(Project.name).where(Project.id == project_id)) or "?"
    environment_id = subject.get("environment_id")
    masker = await environment_masker(session, environment_id if isinstance(environment_id, int) else None)
    message = messages.subject_message(kind, project_id, project_name, subject, masker)
    subject_key = _subject_key(kind, subject)
    dedupe_key = _dedupe_key(kind, subject)
    recorded: list[NotificationDelivery] = []
    for channel in channels:
        delivery = await _record(session, channel, kind, message, subject_key=subject_key, dedupe_key=dedupe_key)
        if delivery is not None:
            recorded.append(delivery)
    await session.flush()
    send_after_commit(session, [d.id for d in recorded if d.status == NotificationStatus.PENDING])
