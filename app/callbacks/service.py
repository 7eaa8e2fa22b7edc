"""Run callbacks: a finished run's summary POSTed to its callback_url, signed, retried, every attempt recorded.

How it holds together (docs/ci.md describes it for receivers):
- Recording: whoever gives a run its final status calls `record_for_run` (or, for a bulk end like the
  reaper's, `record_ended_at`) in the same transaction, so a run never ends without its delivery row and a
  crash right after the commit loses nothing. The payload is frozen then: every attempt sends the same bytes.
- Sending: the process that ended the run sends it at once (`deliver`, retrying with backoff for up to
  CALLBACK_HOLD_SECONDS);
  a delivery left pending (its process died, or it was recorded by the reaper or a cancel) is picked up by
  `resume_pending`, which every API process and Celery worker runs at start and then periodically.
- Claiming: an attempt is sent only under a lease (`claimed_until`) taken by a conditional UPDATE, so two
  processes never send the same attempt; a process that dies mid-send loses its lease and the attempt is
  made again by the next one (at least once, like every webhook).
- Signing: `X-Exile-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>` with the unix time
  in `X-Exile-Timestamp`, so a receiver can refuse a replayed old delivery. A project without a secret gets
  its callbacks unsigned (no signature header; `signed: false` on the delivery): a key generated behind the
  user's back could never be shown to them, so nobody could verify with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import orjson
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from app.audit import service as audit
from app.auth.principal import Principal, require_project
from app.core.config import get_settings
from app.core.leased_delivery import Attempt, attempt_while_held, new_owner, record_attempt
from app.core.loops import wait_for_tasks
from app.core.secret_box import seal, unseal
from app.core.text import bounded
from app.engine.masking import Masker
from app.engine.statuses import FINISHED
from app.environments.secrets import environment_masker
from app.models import CallbackDelivery, ProjectCallbackSecret, ScenarioRun, TestScenario
from app.models.base import utcnow
from app.models.callback import DeliveryStatus

logger = logging.getLogger("exile.callbacks")

SIGNATURE_HEADER = "X-Exile-Signature"
TIMESTAMP_HEADER = "X-Exile-Timestamp"
DELIVERY_HEADER = "X-Exile-Delivery"
SECRET_PREFIX = "whsec_"
ERROR_LIMIT = 2000  # the run's error in a payload
RESPONSE_KEEP = 512  # bytes of a receiver's answer kept with an attempt; the rest is never read
LEASE_MARGIN_SECONDS = 30.0  # a sending process's lease: the timeout plus this
SWEEP_BATCH = 100


# ---- signing ---------------------------------------------------------------------------------------------
def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Exile-Signature value: the timestamp is covered, so an old delivery cannot be replayed as new."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str, timestamp: str, signature: str, body: bytes, *, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """What a receiver does (docs/ci.md): a fresh timestamp and a signature that matches, compared in constant time."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# ---- the project's secret --------------------------------------------------------------------------------
async def rotate_secret(
    session: AsyncSession, principal: Principal, project_id: int
) -> tuple[ProjectCallbackSecret, str]:
    """A new signing secret for the project (project admins); the old one stops verifying at once."""
    await require_project(session, principal, project_id, "manage")
    raw = new_secret()
    now = utcnow()
    row = await session.scalar(select(ProjectCallbackSecret).where(ProjectCallbackSecret.project_id == project_id))
    rotated = row is not None
    if row is None:
        row = ProjectCallbackSecret(project_id=project_id, sealed_secret=seal(raw), rotated_at=now)
        session.add(row)
    else:
        row.sealed_secret, row.rotated_at = seal(raw), now
    row.rotated_by_id = principal.user.id
    await session.flush()
    # The secret itself never reaches the trail; that it changed, and when, does.
    await audit.record(
        session,
        principal,
        "rotate" if rotated else "create",
        "callback_secret",
        project_id,
        project_id,
        {"after": {"rotated_at": now.isoformat(), "callback_secret": audit.MASK}},
    )
    return row, raw


async def secret_state(session: AsyncSession, principal: Principal, project_id: int) -> ProjectCallbackSecret | None:
    """Whether the project has a secret and when it was last rotated (never the secret)."""
    await require_project(session, principal, project_id, "read")
    return await session.scalar(select(ProjectCallbackSecret).where(ProjectCallbackSecret.project_id == project_id))


async def _project_secret(session: AsyncSession, project_id: int) -> str | None:
    sealed = await session.scalar(
        select(ProjectCallbackSecret.sealed_secret).where(ProjectCallbackSecret.project_id == project_id)
    )
    return unseal(sealed) if sealed else None


# ---- recording (inside the transaction that ends the run) ----------------------------------------------------
def report_urls(run_id: int) -> dict[str, str]:
    base = (get_settings().public_url or "").rstrip("/")
    path = f"{base}/api/v1/scenario-runs/{run_id}"
    return {
        "run": path,
        "json": f"{path}/report?format=json",
        "junit": f"{path}/report?format=junit",
        "html": f"{path}/report?format=html",
        "callbacks": f"{path}/callbacks",
    }


async def build_payload(session: AsyncSession, run: ScenarioRun) -> dict[str, Any]:
    """The summary a receiver gets: who, what, the verdict, counts, timings, report links and the CI metadata."""
    from app.runs.service import run_read  # the same counts the API shows (a late import: runs imports this)

    read = run_read(run)
    scenario_name = None
    if run.scenario_id is not None:
        scenario_name = await session.scalar(select(TestScenario.name).where(TestScenario.id == run.scenario_id))
    masker = await environment_masker(session, run.environment_id)
    error = bounded(masker.text(run.error), ERROR_LIMIT) if run.error else None
    return {
        "event": "run.finished",
        "run_id": run.id,
        "project_id": run.project_id,
        "scenario_id": run.scenario_id,
        "scenario_name": scenario_name,
        "kind": run.kind,
        "status": str(run.status),
        "trigger": run.trigger,
        "iterations": read["iterations"],
        "requests": read["requests"],
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_ms": read["duration_ms"],
        "error": error,
        "reports": report_urls(run.id),
        "ci": run.ci or {},
    }


async def record_for_run(session: AsyncSession, run_id: int) -> int | None:
    """Record the delivery of a run that just reached its final status, in the caller's transaction.

    None when the run has no callback_url, is not finished, or already has its delivery.
    """
    run = await session.scalar(
        select(ScenarioRun).where(ScenarioRun.id == run_id).execution_options(populate_existing=True)
    )
    if run is None or not run.callback_url or run.status not in FINISHED:
        return None
    if await session.scalar(select(CallbackDelivery.id).where(CallbackDelivery.run_id == run_id)) is not None:
        return None
    try:
        payload = await build_payload(session, run)
    except Exception:  # never let a summary's detail stop a run from ending: send the essentials
        logger.exception("run %s: the callback payload could not be built in full", run_id)
        payload = {"event": "run.finished", "run_id": run.id, "project_id": run.project_id, "status": str(run.status)}
    now = utcnow()
    delivery = CallbackDelivery(
        run_id=run.id,
        project_id=run.project_id,
        url=run.callback_url,
        payload=orjson.dumps(payload).decode(),
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


async def record_ended_at(session: AsyncSession, finished_at: datetime) -> list[int]:
    """For a bulk end (the reaper): record the deliveries of the runs it just ended with `finished_at`."""
    run_ids = list(
        await session.scalars(
            select(ScenarioRun.id).where(
                ScenarioRun.finished_at == finished_at,
                ScenarioRun.status.in_(FINISHED),
                ScenarioRun.callback_url.is_not(None),
                ~select(CallbackDelivery.id).where(CallbackDelivery.run_id == ScenarioRun.id).exists(),
            )
        )
    )
    recorded = [await record_for_run(session, run_id) for run_id in run_ids]
    return [delivery_id for delivery_id in recorded if delivery_id is not None]


# ---- sending ---------------------------------------------------------------------------------------------
def _backoff(attempts_done: int) -> float:
    settings = get_settings()
    return float(
        min(settings.callback_backoff_seconds * 2 ** (attempts_done - 1), settings.callback_backoff_max_seconds)
    )


async def _claim(
    session_factory: async_sessionmaker[AsyncSession], delivery_id: int, owner: str
) -> tuple[CallbackDelivery, str | None] | None:
    """Take the lease for the next attempt when it is due and nobody else holds it (or it is already ours)."""
    now = utcnow()
    lease = get_settings().callback_timeout_seconds + LEASE_MARGIN_SECONDS
    async with session_factory() as session:
        taken = await session.execute(
            update(CallbackDelivery)
            .where(
                CallbackDelivery.id == delivery_id,
                CallbackDelivery.status == DeliveryStatus.PENDING,
                or_(CallbackDelivery.next_attempt_at.is_(None), CallbackDelivery.next_attempt_at <= now),
                or_(
                    CallbackDelivery.claimed_until.is_(None),
                    CallbackDelivery.claimed_until < now,
                    CallbackDelivery.claimed_by == owner,
                ),
            )
            .values(claimed_until=now + timedelta(seconds=lease), claimed_by=owner)
        )
        await session.commit()
        if not taken.rowcount:  # type: ignore[attr-defined]
            return None
        delivery = await session.get(CallbackDelivery, delivery_id)
        if delivery is None:
            return None
        return delivery, await _project_secret(session, delivery.project_id)


async def _post(
    url: str, headers: dict[str, str], body: bytes, secret_masker: Masker
) -> tuple[int | None, str | None, str]:
    """One POST: (status code or None, error or None, the start of the answer). Redirects are never followed."""
    timeout = get_settings().callback_timeout_seconds
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            http.post(url, data=body, headers=headers, allow_redirects=False) as response,
        ):
            answer = (await response.content.read(RESPONSE_KEEP)).decode("utf-8", "replace")
            answer = secret_masker.text(answer)
            if 200 <= response.status < 300:
                return response.status, None, answer
            if 300 <= response.status < 400:
                where = secret_masker.text(response.headers.get("Location", "?"))[:300]
                return (
                    response.status,
                    f"answered {response.status}, a redirect to {where}: redirects are not followed",
                    answer,
                )
            return response.status, f"answered {response.status}", answer
    except TimeoutError:
        return None, f"no answer within {timeout:g} s", ""
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return None, secret_masker.text(f"{type(exc).__name__}: {exc}"), ""


async def _attempt(
    session_factory: async_sessionmaker[AsyncSession],
    delivery: CallbackDelivery,
    secret: str | None,
    owner: str,
    keep_lease: bool,
) -> tuple[DeliveryStatus, datetime | None]:
    """Send one attempt of a claimed delivery and record it; the lease is kept through the backoff if asked."""
    settings = get_settings()
    body = delivery.payload.encode()
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp), DELIVERY_HEADER: str(delivery.id)}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    url_password = URL(delivery.url).password if "@" in delivery.url else None
    masker = Masker([value for value in (secret, url_password) if value])
    started = time.perf_counter()
    status_code, error, answer = await _post(delivery.url, headers, body, masker)
    attempt = Attempt(status_code, error, answer, round((time.perf_counter() - started) * 1000, 1))
    status, next_at = await record_attempt(
        session_factory,
        delivery,
        owner,
        attempt,
        statuses=DeliveryStatus,
        max_attempts=settings.callback_attempts,
        backoff=_backoff,
        lease_seconds=settings.callback_timeout_seconds + LEASE_MARGIN_SECONDS,
        keep_lease=keep_lease,
        extra={"signed": bool(secret)},
        entry_extra={"signed": bool(secret)},
    )
    log = logger.info if status == DeliveryStatus.DELIVERED else logger.warning
    log(
        "callback %s (run %s) attempt %s: %s", delivery.id, delivery.run_id, delivery.attempts + 1, error or status_code
    )
    return status, next_at


async def deliver(
    session_factory: async_sessionmaker[AsyncSession], delivery_id: int, *, keep_going: bool = True
) -> DeliveryStatus | None:
    """Send a pending delivery: its attempts until it is delivered or failed, or until retrying would hold this
    process past CALLBACK_HOLD_SECONDS (`keep_going`; the sweep makes the later attempts), or just the one due.

    None when it was not this caller's to send (another process holds it, it is not due, or it is done).
    Never raises: a callback's trouble must not become the run's.
    """
    owner = new_owner()
    try:
        # Retries that would keep this process (a Celery thread, the reaper's loop) past the hold are left to the
        # sweep, which every process runs every reaper interval.
        return await attempt_while_held(
            lambda: _claim(session_factory, delivery_id, owner),
            lambda delivery, secret, keep: _attempt(session_factory, delivery, secret, owner, keep_lease=keep),
            _backoff,
            hold_seconds=get_settings().callback_hold_seconds,
            keep_going=keep_going,
            pending=DeliveryStatus.PENDING,
        )
    except Exception:
        logger.exception("callback %s could not be sent; a later sweep tries again", delivery_id)
        return None


async def deliver_for_run(session_factory: async_sessionmaker[AsyncSession], run_id: int) -> DeliveryStatus | None:
    """Send the pending delivery of a run, if it has one (after a cancel, say)."""
    async with session_factory() as session:
        delivery_id = await session.scalar(
            select(CallbackDelivery.id).where(
                CallbackDelivery.run_id == run_id, CallbackDelivery.status == DeliveryStatus.PENDING
            )
        )
    return await deliver(session_factory, delivery_id) if delivery_id is not None else None


_background: set[asyncio.Task[Any]] = set()


def deliver_in_background(session_factory: async_sessionmaker[AsyncSession], run_id: int) -> None:
    """Send a run's delivery without holding up the request that ended it (a cancel)."""
    task = asyncio.get_running_loop().create_task(deliver_for_run(session_factory, run_id))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def wait_for_background() -> None:
    """For tests and shutdown: let deliveries started in the background finish."""
    while _background:
        await wait_for_tasks(list(_background))


async def resume_pending(session_factory: async_sessionmaker[AsyncSession]) -> int:
    """Send the attempt that is due of every pending delivery nobody holds: what a dead process left, at start-up
    and then periodically. One attempt each (the next sweep makes the next one); returns how many were sent."""
    now = utcnow()
    async with session_factory() as session:
        due = list(
            await session.scalars(
                select(CallbackDelivery.id)
                .where(
                    CallbackDelivery.status == DeliveryStatus.PENDING,
                    or_(CallbackDelivery.next_attempt_at.is_(None), CallbackDelivery.next_attempt_at <= now),
                    or_(CallbackDelivery.claimed_until.is_(None), CallbackDelivery.claimed_until < now),
                )
                .order_by(CallbackDelivery.next_attempt_at, CallbackDelivery.id)
                .limit(SWEEP_BATCH)
            )
        )
    limit = asyncio.Semaphore(8)

    async def one(delivery_id: int) -> DeliveryStatus | None:
        async with limit:
            return await deliver(session_factory, delivery_id, keep_going=False)

    sent = await asyncio.gather(*(one(delivery_id) for delivery_id in due))
    return sum(1 for status in sent if status is not None)


# ---- reading ---------------------------------------------------------------------------------------------
async def deliveries_of_run(session: AsyncSession, run_id: int) -> list[CallbackDelivery]:
    return list(
        await session.scalars(
            select(CallbackDelivery).where(CallbackDelivery.run_id == run_id).order_by(CallbackDelivery.id)
        )
    )
