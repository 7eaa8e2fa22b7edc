"""Commit statuses: when a run a trigger started ends, its verdict is POSTed to the code host.

Recorded with the run (in the hook's transaction), sent by the firing loops (every API process and Celery
worker, each pass) once the run has ended: a delivery is claimed with a lease by a conditional UPDATE, so
one process sends each attempt; a failed attempt is retried with the run callbacks' backoff and attempts
(CALLBACK_ATTEMPTS, CALLBACK_BACKOFF_SECONDS, ...). The body is the code host's own:
- GitHub (POST /repos/{owner}/{repo}/statuses/{sha}): {"state": success|failure|error, "target_url",
  "description", "context"}, with `Authorization: Bearer <token>`;
- GitLab (POST /projects/{id}/statuses/{sha}): {"state": success|failed|canceled, "target_url",
  "description", "name"}, with `PRIVATE-TOKEN: <token>`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import get_settings
from app.core.secret_box import unseal
from app.core.text import bounded
from app.engine.masking import Masker
from app.engine.statuses import FINISHED
from app.models import CodeHostTrigger, CommitStatusDelivery, PlanRun, ScenarioRun
from app.models.base import utcnow
from app.models.plan import PLAN_ACTIVE
from app.models.schedule import DeliveryState
from app.schedules.hooks import HookEvent
from app.schedules.targets import Started

logger = logging.getLogger("exile.schedules")

BATCH = 20
LEASE_MARGIN_SECONDS = 30.0
GITHUB_STATES = {"passed": "success", "failed": "failure", "cancelled": "error"}  # anything else: error
GITLAB_STATES = {"passed": "success", "failed": "failed", "cancelled": "canceled"}  # anything else: failed


def render_url(template: str, event: HookEvent) -> str:
    """The status URL for this commit: each value URL-encoded (repository_path keeps its slashes)."""
    values = {
        "repository": quote(event.repository, safe=""),
        "repository_path": quote(event.repository, safe="/"),
        "repository_id": quote(event.repository_id, safe=""),
        "commit": quote(event.commit, safe=""),
        "branch": quote(event.branch, safe=""),
    }
    return template.format(**values)


async def record(session: AsyncSession, trigger: CodeHostTrigger, started: Started, event: HookEvent) -> None:
    """The status to send when the started run ends (in the hook's transaction)."""
    assert trigger.status_url is not None
    session.add(
        CommitStatusDelivery(
            trigger_id=trigger.id,
            run_id=started.run.id if started.run else None,
            plan_run_id=started.plan_run.id if started.plan_run else None,
            url=render_url(trigger.status_url, event)[:2048],
            state=DeliveryState.PENDING,
            attempts=0,
            created_at=utcnow(),
        )
    )
    await session.flush()


def _ended() -> Any:
    """Deliveries whose run (or plan run) has ended."""
    run_ended = select(ScenarioRun.id).where(
        ScenarioRun.id == CommitStatusDelivery.run_id, ScenarioRun.status.in_(FINISHED)
    )
    plan_ended = select(PlanRun.id).where(
        PlanRun.id == CommitStatusDelivery.plan_run_id, PlanRun.status.not_in(PLAN_ACTIVE)
    )
    return or_(run_ended.exists(), plan_ended.exists())


async def send_due(session_factory: async_sessionmaker[AsyncSession], worker: str) -> int:
    """Send the statuses of runs that ended (one attempt each that is due); how many were attempted."""
    now = utcnow()
    async with session_factory() as session:
        due = list(
            await session.scalars(
                select(CommitStatusDelivery.id)
                .where(
                    CommitStatusDelivery.state == DeliveryState.PENDING,
                    or_(CommitStatusDelivery.next_attempt_at.is_(None), CommitStatusDelivery.next_attempt_at <= now),
                    or_(CommitStatusDelivery.claimed_until.is_(None), CommitStatusDelivery.claimed_until < now),
                    _ended(),
                )
                .order_by(CommitStatusDelivery.id)
                .limit(BATCH)
            )
        )
    attempted = 0
    for delivery_id in due:
        attempted += await _send_one(session_factory, delivery_id, worker)
    return attempted


async def _send_one(session_factory: async_sessionmaker[AsyncSession], delivery_id: int, worker: str) -> int:
    settings = get_settings()
    now = utcnow()
    lease = now + timedelta(seconds=settings.callback_timeout_seconds + LEASE_MARGIN_SECONDS)
    async with session_factory() as session:
        claimed = await session.execute(
            update(CommitStatusDelivery)
            .where(
                CommitStatusDelivery.id == delivery_id,
                CommitStatusDelivery.state == DeliveryState.PENDING,
                or_(CommitStatusDelivery.claimed_until.is_(None), CommitStatusDelivery.claimed_until < now),
            )
            .values(claimed_until=lease, claimed_by=worker)
        )
        await session.commit()
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return 0
        delivery = await session.get(CommitStatusDelivery, delivery_id)
        trigger = await session.get(CodeHostTrigger, delivery.trigger_id) if delivery else None
        if delivery is None or trigger is None:
            return 0
        verdict, description, target_url = await _verdict(session, delivery)
    token = unseal(trigger.sealed_status_token) if trigger.sealed_status_token else None
    body, headers = _request(trigger, verdict, description, target_url, token)
    status_code, error = await _post(delivery.url, body, headers, Masker([token] if token else []))
    done = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": done,
        "last_status_code": status_code,
        "last_error": bounded(error, 1000),
        "sent_status": body["state"],
        "claimed_until": None,
        "claimed_by": None,
    }
    if error is None:
        values.update(state=DeliveryState.DELIVERED, delivered_at=utcnow(), next_attempt_at=None)
    elif done >= settings.callback_attempts:
        values.update(state=DeliveryState.FAILED, next_attempt_at=None)
    else:
        backoff = min(settings.callback_backoff_seconds * 2 ** (done - 1), settings.callback_backoff_max_seconds)
        values.update(next_attempt_at=utcnow() + timedelta(seconds=backoff))
    async with session_factory() as session:
        await session.execute(
            update(CommitStatusDelivery)
            .where(and_(CommitStatusDelivery.id == delivery_id, CommitStatusDelivery.claimed_by == worker))
            .values(**values)
        )
        await session.commit()
    log = logger.info if error is None else logger.warning
    log("commit status %s attempt %s: %s", delivery_id, done, error or status_code)
    return 1


async def _verdict(session: AsyncSession, delivery: CommitStatusDelivery) -> tuple[str, str, str | None]:
    """The run's final status, a one-line summary and its report page (absolute only with PUBLIC_URL)."""
    base = (get_settings().public_url or "").rstrip("/")
    if delivery.run_id is not None:
        run = await session.get(ScenarioRun, delivery.run_id)
        if run is None:
            return "error", "the run was deleted", None
        passed = run.requests_passed
        total = passed + run.requests_failed + run.requests_error + run.requests_skipped
        description = f"Exile run {run.id}: {run.status} ({passed}/{total} requests passed)"
        page = f"{base}/api/v1/scenario-runs/{run.id}/report?format=html" if base else None
        return str(run.status), description, page
    plan_run = await session.get(PlanRun, delivery.plan_run_id) if delivery.plan_run_id else None
    if plan_run is None:
        return "error", "the plan run was deleted", None
    description = (
        f"Exile plan run {plan_run.id}: {plan_run.status} "
        f"({plan_run.scenarios_passed}/{plan_run.scenarios_total} scenarios passed)"
    )
    page = f"{base}/api/v1/plan-runs/{plan_run.id}" if base else None
    return str(plan_run.status), description, page


def _request(
    trigger: CodeHostTrigger, verdict: str, description: str, target_url: str | None, token: str | None
) -> tuple[dict[str, Any], dict[str, str]]:
    context = f"exile/{trigger.name}"[:100]
    headers = {"Content-Type": "application/json", "User-Agent": "exile-commit-status"}
    if trigger.provider == "github":
        body: dict[str, Any] = {
            "state": GITHUB_STATES.get(verdict, "error"),
            "description": description[:140],
            "context": context,
        }
        headers["Accept"] = "application/vnd.github+json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
    else:
        body = {"state": GITLAB_STATES.get(verdict, "failed"), "description": description[:255], "name": context}
        if token:
            headers["PRIVATE-TOKEN"] = token
    if target_url:
        body["target_url"] = target_url
    return body, headers


async def _post(
    url: str, body: dict[str, Any], headers: dict[str, str], masker: Masker
) -> tuple[int | None, str | None]:
    """One POST: (status code, error or None). Redirects are not followed."""
    timeout = get_settings().callback_timeout_seconds
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            http.post(url, json=body, headers=headers, allow_redirects=False) as response,
        ):
            if 200 <= response.status < 300:
                return response.status, None
            answer = (await response.content.read(300)).decode("utf-8", "replace")
            return response.status, masker.text(f"answered {response.status}: {answer}")
    except TimeoutError:
        return None, f"no answer within {timeout:g} s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return None, masker.text(f"{type(exc).__name__}: {exc}")
