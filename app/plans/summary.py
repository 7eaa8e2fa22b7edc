"""A plan run as the API, its notification event and its callback show it: counts, verdict, links."""

from __future__ import annotations

from typing import Any

from app.core.config import get_settings
from app.core.text import bounded
from app.engine.masking import Masker
from app.models import PlanRun

ERROR_LIMIT = 2000
ITEMS_IN_PAYLOAD = 200  # scenario runs listed in an event or callback (the API lists them all)
STARTED = "started"
PENDING = "pending"
SKIPPED = "skipped"
MISSING = "missing"  # its scenario was deleted before its turn came


def links(plan_run_id: int, base: str | None = None) -> dict[str, str]:
    """The plan run's URLs: absolute under PUBLIC_URL (or `base`), else paths from the server's root."""
    root = (base if base is not None else get_settings().public_url or "").rstrip("/")
    path = f"{root}/api/v1/plan-runs/{plan_run_id}"
    return {
        "plan_run": path,
        "json": f"{path}/report?format=json",
        "junit": f"{path}/report?format=junit",
        "html": f"{path}/report?format=html",
    }


def scenario_counts(plan_run: PlanRun) -> dict[str, int]:
    active = sum(1 for item in plan_run.items or [] if item.get("status") in (STARTED, PENDING))
    return {
        "total": plan_run.scenarios_total,
        "passed": plan_run.scenarios_passed,
        "failed": plan_run.scenarios_failed,
        "error": plan_run.scenarios_error,
        "cancelled": plan_run.scenarios_cancelled,
        "skipped": plan_run.scenarios_skipped,
        "active": active,
    }


def iteration_counts(plan_run: PlanRun) -> dict[str, int]:
    return {
        "passed": plan_run.iterations_passed,
        "failed": plan_run.iterations_failed,
        "error": plan_run.iterations_error,
        "flaky": plan_run.iterations_flaky,
    }


def request_counts(plan_run: PlanRun) -> dict[str, int]:
    counts = {
        "passed": plan_run.requests_passed,
        "failed": plan_run.requests_failed,
        "error": plan_run.requests_error,
        "skipped": plan_run.requests_skipped,
        "flaky": plan_run.requests_flaky,
    }
    return {"total": sum(v for k, v in counts.items() if k != "flaky"), **counts}


def duration_ms(plan_run: PlanRun) -> float | None:
    if plan_run.finished_at is None or plan_run.started_at is None:
        return None
    return (plan_run.finished_at - plan_run.started_at).total_seconds() * 1000


def read(plan_run: PlanRun, live: dict[int, str] | None = None, base: str | None = None) -> dict[str, Any]:
    """The PlanRunRead fields; `live` gives started scenario runs' current status (run id -> status)."""
    fields = {column: getattr(plan_run, column) for column in PlanRun.__table__.columns.keys()}
    items = []
    for item in plan_run.items or []:
        status = item.get("status", PENDING)
        if status == STARTED and live and item.get("run_id") in live:
            status = live[item["run_id"]]
        items.append({**item, "status": status})
    fields.update(
        items=items,
        scenarios=scenario_counts(plan_run),
        iterations=iteration_counts(plan_run),
        requests=request_counts(plan_run),
        duration_ms=duration_ms(plan_run),
        links=links(plan_run.id, base),
    )
    return fields


def event_summary(plan_run: PlanRun, masker: Masker) -> dict[str, Any]:
    """What a plan run's end tells the project's channels and its callback receiver (masked, bounded)."""
    items = plan_run.items or []
    return {
        "plan_run_id": plan_run.id,
        "plan_id": plan_run.plan_id,
        "plan_name": plan_run.plan_name,
        "project_id": plan_run.project_id,
        "status": str(plan_run.status),
        "pass_rate": plan_run.pass_rate,
        "pass_criteria": plan_run.pass_criteria,
        "stopped": plan_run.stopped,
        "error": bounded(masker.text(plan_run.error), ERROR_LIMIT) if plan_run.error else None,
        "trigger": masker.value(plan_run.trigger or {}),
        "scenarios": scenario_counts(plan_run),
        "iterations": iteration_counts(plan_run),
        "requests": request_counts(plan_run),
        "runs": [
            {key: item.get(key) for key in ("scenario_id", "name", "run_id", "status")}
            for item in items[:ITEMS_IN_PAYLOAD]
        ],
        "runs_listed": min(len(items), ITEMS_IN_PAYLOAD),
        "created_at": plan_run.created_at.isoformat() if plan_run.created_at else None,
        "started_at": plan_run.started_at.isoformat() if plan_run.started_at else None,
        "finished_at": plan_run.finished_at.isoformat() if plan_run.finished_at else None,
        "duration_ms": duration_ms(plan_run),
        "report_path": f"/api/v1/plan-runs/{plan_run.id}/report?format=html",
        "reports": links(plan_run.id),
    }
