"""The platform-neutral message of an event: a title, a verdict, a summary, the top failures and a report link.

It is built once, when the event is recorded, masked with the secrets of the environment the run used (the
executor masks its records already; this is the net for what a target echoed) and bounded, then stored with the
delivery: every attempt and every format reads the same message. The formats (app.notifications.formats)
render it per platform.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.callbacks.service import report_urls
from app.core.config import get_settings
from app.core.text import storable
from app.engine.masking import Masker
from app.engine.statuses import FAILING, RunStatus
from app.environments.secrets import environment_masker
from app.models import ApiRequestRun, Environment, Project, ScenarioRun, TestScenario
from app.models.notification import NotificationEvent
from app.notifications.formats import one_line

MAX_FAILURES = 5
STEP_LIMIT = 120
FAILURE_TEXT_LIMIT = 300
VALUE_LIMIT = 300
ERROR_LIMIT = 500
SUMMARY_LIMIT = 20  # label/value pairs from another domain's subject
DETAILS_LIMIT = 16 * 1024  # bytes of JSON: a subject's machine-readable details larger than this are left out
# Statuses that count as a failed run (run_failed, and what run_recovered recovers from).
FAILED_RUN: tuple[RunStatus, ...] = (RunStatus.FAILED, RunStatus.ERROR, RunStatus.INTERRUPTED)
BAD_STATUSES = frozenset({"failed", "error", "interrupted", "missed", "skipped"})
# A plan run's scenario runs listed as its failures (`missing`: its scenario was deleted before its turn).
FAILED_ITEMS = frozenset({"failed", "error", "interrupted", "missing"})

_VERBS = {
    NotificationEvent.RUN_RECOVERED: "recovered",
    NotificationEvent.NEW_FAILURE_CLUSTER: "failed with a new cause",
}


def tone_of(status: str) -> str:
    """good (green), bad (red) or neutral: what the platforms colour a message by."""
    if status == "passed":
        return "good"
    return "bad" if status in BAD_STATUSES else "neutral"


def absolute_link(link: Any) -> str | None:
    """A path on this server made absolute with PUBLIC_URL (a path without it); an http(s) URL as it is."""
    if not isinstance(link, str) or not link or len(link) > 2048:
        return None
    if link.startswith("/"):
        return (get_settings().public_url or "").rstrip("/") + link
    return link if link.lower().startswith(("http://", "https://")) else None


def _duration(ms: float | None) -> str | None:
    if ms is None:
        return None
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _counts(counts: dict[str, Any], keys: tuple[str, ...]) -> str:
    """`total (n passed, n failed, ...)`, naming only the counts that are not zero."""
    total = counts.get("total")
    parts = ", ".join(f"{counts.get(key, 0)} {key}" for key in keys if counts.get(key))
    return f"{total if total is not None else '?'}" + (f" ({parts})" if parts else "")


def finish(message: dict[str, Any], masker: Masker) -> dict[str, Any]:
    """Masked everywhere, and free of what a database or JSON cannot hold."""
    masked = masker.value(message)
    return dict(orjson.loads(storable(orjson.dumps(masked, default=str).decode())))


def _failure_text(assertions: Any, error: str | None, status: str) -> str:
    """What failed: the first failing check's message, else the error, else the status."""
    for assertion in assertions if isinstance(assertions, list) else []:
        if isinstance(assertion, dict) and assertion.get("passed") is False and assertion.get("message"):
            return str(assertion["message"])
    return error or str(status)


async def top_failures(session: AsyncSession, run: ScenarioRun, masker: Masker) -> tuple[list[dict[str, Any]], int]:
    """The run's first failing steps (final attempts), masked and clipped, and how many more there are."""
    where = (
        ApiRequestRun.scenario_run_id == run.id,
        ApiRequestRun.is_final.is_(True),
        ApiRequestRun.status.in_(FAILING),
    )
    rows = await session.execute(
        select(
            ApiRequestRun.name,
            ApiRequestRun.iteration,
            ApiRequestRun.status,
            ApiRequestRun.error,
            ApiRequestRun.assertions,
        )
        .where(*where)
        .order_by(ApiRequestRun.iteration, ApiRequestRun.id)
        .limit(MAX_FAILURES)
    )
    failures = [
        {
            "step": masker.clip(one_line(row.name or "?", 10_000), STEP_LIMIT),
            "iteration": row.iteration,
            "status": str(row.status),
            "message": one_line(
                masker.clip(_failure_text(row.assertions, row.error, row.status), 4000), FAILURE_TEXT_LIMIT
            ),
        }
        for row in rows
    ]
    total = len(failures)
    if total == MAX_FAILURES:
        total = int(await session.scalar(select(func.count()).select_from(ApiRequestRun).where(*where)) or total)
    return failures, total - len(failures)


async def run_message(
    session: AsyncSession,
    run: ScenarioRun,
    event: NotificationEvent,
    new_causes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A finished scenario run's message for `event` (the caller chose the most specific event it matches)."""
    from app.runs.service import run_read  # the counts the API shows (late: runs imports notifications)

    read = run_read(run)
    masker = await environment_masker(session, run.environment_id)
    project_name = await session.scalar(select(Project.name).where(Project.id == run.project_id)) or "?"
    scenario_name = None
    if run.scenario_id is not None:
        scenario_name = await session.scalar(select(TestScenario.name).where(TestScenario.id == run.scenario_id))
    environment_name = None
    if run.environment_id is not None:
        environment_name = await session.scalar(select(Environment.name).where(Environment.id == run.environment_id))
    status = str(run.status)
    name = scenario_name or f"run {run.id}"
    verb = _VERBS.get(event, status)
    summary: list[tuple[str, Any]] = [
        ("Scenario", name),
        ("Environment", environment_name or "none"),
        ("Iterations", _counts(read["iterations"], ("passed", "failed", "error", "flaky", "not_run"))),
        ("Requests", _counts(read["requests"], ("passed", "failed", "error", "skipped", "flaky"))),
    ]
    if (duration := _duration(read["duration_ms"])) is not None:
        summary.append(("Duration", duration))
    summary.append(("Trigger", run.trigger))
    ci = run.ci or {}
    for key, label in (("branch", "Branch"), ("commit", "Commit"), ("build_url", "Build")):
        if ci.get(key):
            summary.append((label, ci[key]))
    if new_causes:
        summary.append(("New failure causes", len(new_causes)))
    if run.error:
        summary.append(("Error", one_line(masker.clip(run.error, 4000), ERROR_LIMIT)))
    summary.append(("Run", f"#{run.id}"))
    failures, more = await top_failures(session, run, masker)
    reports = report_urls(run.id)
    message = {
        "event": str(event),
        "title": f"[{one_line(project_name, 100)}] {one_line(name, 120)} {verb}",
        "status": status,
        "tone": tone_of(status),
        "project": {"id": run.project_id, "name": project_name},
        "summary": [[label, one_line(value, VALUE_LIMIT)] for label, value in summary],
        "failures": failures,
        "more_failures": more,
        "new_causes": new_causes or [],
        "link": reports["html"],
        "at": run.finished_at.isoformat() if run.finished_at else None,
        "details": {
            "run_id": run.id,
            "scenario_id": run.scenario_id,
            "scenario_name": scenario_name,
            "environment_id": run.environment_id,
            "environment_name": environment_name,
            "status": status,
            "trigger": run.trigger,
            "iterations": read["iterations"],
            "requests": read["requests"],
            "duration_ms": read["duration_ms"],
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "error": one_line(masker.clip(run.error, 4000), ERROR_LIMIT) if run.error else None,
            "ci": {key: one_line(value, VALUE_LIMIT) for key, value in list(ci.items())[:20]},
            "reports": reports,
        },
    }
    return finish(message, masker)


def _pairs(summary: Any) -> list[list[str]]:
    items = summary.items() if isinstance(summary, dict) else summary if isinstance(summary, list) else []
    pairs = []
    for item in items:
        if isinstance(item, list | tuple) and len(item) == 2 and item[1] is not None:
            pairs.append([one_line(item[0], 60), one_line(item[1], VALUE_LIMIT)])
        if len(pairs) == SUMMARY_LIMIT:
            break
    return pairs


# A subject's own values shown in its summary, in this order (counts as "total (n passed, ...)").
SUBJECT_FIELDS = (
    ("scenarios", "Scenarios"),
    ("iterations", "Iterations"),
    ("requests", "Requests"),
    ("pass_rate", "Pass rate"),
    ("environment", "Environment"),
    ("trigger", "Trigger"),
    ("tick_at", "Tick"),
    ("missed_ticks", "Missed ticks"),
    ("reason", "Reason"),
    ("detail", "Detail"),
    ("error", "Error"),
)
COUNT_KEYS = ("passed", "failed", "error", "cancelled", "skipped", "flaky", "active", "not_run")


def _subject_value(key: str, value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, list):
        return None
    if isinstance(value, dict):
        if not all(isinstance(item, int) for item in value.values()):
            return None  # a structure (a trigger's details): in `details`, not in the summary
        if "total" not in value:
            value = {"total": sum(v for k, v in value.items() if k != "flaky"), **value}
        return _counts(value, COUNT_KEYS)
    if key == "pass_rate" and isinstance(value, int | float):
        return f"{value * 100:.1f} %"
    return one_line(value, ERROR_LIMIT if key in ("error", "detail") else VALUE_LIMIT)


def _subject_failures(subject: dict[str, Any], masker: Masker) -> tuple[list[dict[str, Any]], int]:
    """The failures a subject lists, or those of its runs (a plan run's scenario runs that did not pass)."""
    given = subject.get("failures")
    if isinstance(given, list):
        listed = [item for item in given if isinstance(item, dict)]
        total = subject.get("failures_total")
        total = total if isinstance(total, int) else len(listed)
    else:
        given_runs = subject.get("runs")
        runs: list[Any] = given_runs if isinstance(given_runs, list) else []
        listed = [
            {"step": run.get("name"), "message": f"{run.get('status')}, run #{run.get('run_id')}"}
            for run in runs
            if isinstance(run, dict) and str(run.get("status")) in FAILED_ITEMS
        ]
        total = len(listed)
    failures = [
        {
            "step": masker.clip(one_line(item.get("step") or item.get("name") or "?", 10_000), STEP_LIMIT),
            "message": one_line(masker.clip(str(item.get("message") or ""), 4000), FAILURE_TEXT_LIMIT),
        }
        for item in listed[:MAX_FAILURES]
    ]
    return failures, max(0, total - len(failures))


def subject_message(
    event: NotificationEvent, project_id: int, project_name: str, subject: dict[str, Any], masker: Masker
) -> dict[str, Any]:
    """Another domain's event (a plan run ended, a schedule missed a tick) as a message; see record_event."""
    status = str(subject.get("status") or ("missed" if event == NotificationEvent.SCHEDULE_MISSED else ""))
    name = one_line(subject.get("name") or subject.get("plan_name") or subject.get("schedule_name") or "?", 120)
    default_title = {
        NotificationEvent.PLAN_RUN_FINISHED: f"plan {name} {status}",
        NotificationEvent.SCHEDULE_MISSED: f"schedule {name} missed a tick",
    }.get(event, f"{name} {status}")
    summary = _pairs(subject.get("summary"))
    for key, label in SUBJECT_FIELDS:
        if (shown := _subject_value(key, subject.get(key))) is not None:
            summary.append([label, shown])
    if (duration := _duration(subject.get("duration_ms"))) is not None:
        summary.append(["Duration", duration])
    given_ci = subject.get("ci")
    ci: dict[str, Any] = given_ci if isinstance(given_ci, dict) else {}
    for key, label in (("branch", "Branch"), ("commit", "Commit"), ("build_url", "Build")):
        if ci.get(key):
            summary.append([label, one_line(ci[key], VALUE_LIMIT)])
    failures, more = _subject_failures(subject, masker)
    details = {key: value for key, value in subject.items() if key not in ("summary", "failures", "title")}
    if len(orjson.dumps(details, default=str)) > DETAILS_LIMIT:
        details = {key: value for key, value in details.items() if isinstance(value, int | float | bool | None)}
    message = {
        "event": str(event),
        "title": f"[{one_line(project_name, 100)}] {one_line(subject.get('title') or default_title, 200)}",
        "status": status,
        "tone": tone_of(status),
        "project": {"id": project_id, "name": project_name},
        "summary": summary[: SUMMARY_LIMIT + len(SUBJECT_FIELDS) + 4],
        "failures": failures,
        "more_failures": more,
        "new_causes": [],
        "link": absolute_link(subject.get("link") or subject.get("report_path")),
        "at": subject.get("at") or subject.get("finished_at") or subject.get("tick_at"),
        "details": details,
    }
    return finish(message, masker)


def trial_message(project_name: str, channel_name: str, sender: str) -> dict[str, Any]:
    """What `POST /channels/{id}/test` sends: the format of a real message, with a sample failure."""
    return {
        "event": "test",
        "title": f"[{one_line(project_name, 100)}] Test message from Exile",
        "status": "test",
        "tone": "neutral",
        "project": {"id": None, "name": project_name},
        "summary": [["Channel", one_line(channel_name, 200)], ["Sent by", one_line(sender, 200)]],
        "failures": [{"step": "example step", "message": "status_code eq 200: expected 200, got 503"}],
        "more_failures": 0,
        "new_causes": [],
        "link": None,
        "at": None,
        "details": {"test": True},
    }
