"""Sending recorded notifications: after the commit that recorded them, in the background, claimed, retried.

The machinery of run callbacks (app.callbacks.service), for channels:
- Recording happens in the transaction of the event (app.notifications.events); `send_after_commit` asks for the
  deliveries to be sent once that transaction commits (nothing is sent for a transaction that rolls back), by a
  task on the running event loop, if that loop keeps running (the API process's), retrying with backoff for up
  to NOTIFY_HOLD_SECONDS.
- What such a task could not finish (its process died) and what was recorded where no loop keeps running (a
  Celery task's or a run pool process's loop runs only while its task does) is sent by `resume_pending`, which
  every API process and Celery worker runs at start and then every reaper interval, one due attempt per delivery
  per sweep.
- An attempt is sent only under a lease (`claimed_until`) taken by a conditional UPDATE, so two processes never
  send the same attempt; a process that dies mid-send loses its lease and the attempt is made again.
- Each attempt renders the frozen message in the channel's current format, with the channel's current URL and
  secrets (fixing a wrong URL rescues the retries), and a fresh timestamp and signature.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import aiosmtplib
import orjson
from sqlalchemy import event, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from yarl import URL

from app.core.config import get_settings
from app.core.leased_delivery import Attempt, attempt_while_held, new_owner, record_attempt
from app.core.loops import wait_for_tasks
from app.core.secret_box import unseal
from app.core.text import bounded
from app.engine.masking import Masker
from app.models import NotificationChannel, NotificationDelivery
from app.models.base import utcnow
from app.models.notification import ChannelType, NotificationStatus
from app.notifications import formats

logger = logging.getLogger("exile.notifications")

RESPONSE_KEEP = 512  # bytes of a receiver's answer kept with an attempt; the rest is never read
LEASE_MARGIN_SECONDS = 30.0  # a sending process's lease: the timeout plus this
SWEEP_BATCH = 100
SENDING_AT_ONCE = 8

Outcome = tuple[int | None, str | None, str]  # (HTTP status or SMTP reply code, error or None, start of the answer)


def lease_seconds() -> float:
    return get_settings().notify_timeout_seconds + LEASE_MARGIN_SECONDS


def _backoff(attempts_done: int) -> float:
    settings = get_settings()
    return float(min(settings.notify_backoff_seconds * 2 ** (attempts_done - 1), settings.notify_backoff_max_seconds))


# ---- the channel's secrets, and what they must never show as ---------------------------------------------------
def _unsealed(channel: NotificationChannel) -> dict[str, str]:
    """The channel's URL, signing secret and password in the clear; ValueError when SECRET_KEY changed."""
    return {name: unseal(value) for name, value in (channel.sealed or {}).items()}


def secret_masker(secrets: dict[str, str]) -> Masker:
    """Masks the secrets and the parts of the URL that carry a token (query values, the path of a Slack hook)."""
    values = list(secrets.values())
    if secrets.get("url"):
        try:
            url = URL(secrets["url"])
            values += [value for value in url.query.values()] + [url.path, url.raw_path]
            values += [url.password or "", url.raw_query_string]
        except ValueError:
            pass
    return Masker([value for value in values if value and value != "/"])


# ---- one attempt -------------------------------------------------------------------------------------------------
async def _post(outgoing: formats.Outgoing, channel_type: ChannelType, masker: Masker) -> Outcome:
    """One POST; redirects are never followed (a robot URL that redirects is wrong, and a 302 could leak)."""
    timeout = get_settings().notify_timeout_seconds
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            http.post(
                URL(outgoing.url, encoded=True), data=outgoing.body, headers=outgoing.headers, allow_redirects=False
            ) as response,
        ):
            answer = masker.text((await response.content.read(RESPONSE_KEEP)).decode("utf-8", "replace"))
            if 300 <= response.status < 400:
                where = masker.text(response.headers.get("Location", "?"))[:300]
                return response.status, f"answered {response.status}, a redirect to {where}: not followed", answer
            if not 200 <= response.status < 300:
                return response.status, f"answered {response.status}", answer
            return response.status, formats.platform_error(channel_type, answer), answer
    except TimeoutError:
        return None, f"no answer within {timeout:g} s", ""
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return None, masker.text(f"{type(exc).__name__}: {exc}"), ""


async def _mail(config: dict[str, Any], password: str | None, message: dict[str, Any], masker: Masker) -> Outcome:
    """One SMTP conversation; the reply code of the accepted message is the status."""
    settings = get_settings()
    mail = formats.email(message, config["from_address"], list(config["to"]))
    security = config.get("security", "starttls")
    try:
        _refused, reply = await aiosmtplib.send(
            mail,
            hostname=config["host"],
            port=int(config["port"]),
            username=config.get("username") or None,
            password=password if config.get("username") else None,
            use_tls=security == "tls",
            start_tls=True if security == "starttls" else False,
            validate_certs=bool(config.get("verify_tls", True)),
            timeout=settings.notify_timeout_seconds,
        )
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, masker.text(f"the SMTP server answered {exc.code}: {exc.message}"), ""
    except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
        return None, masker.text(f"{type(exc).__name__}: {exc}"), ""
    code = reply.split(" ", 1)[0]
    return (int(code) if code.isdigit() else 250), None, masker.text(reply)[:RESPONSE_KEEP]


async def send_once(channel: NotificationChannel, message: dict[str, Any], delivery_id: int) -> tuple[Outcome, bool]:
    """Send a message to a channel once: the outcome, and whether retrying could ever help."""
    try:
        secrets = _unsealed(channel)
    except ValueError:
        return (None, "the channel's secrets cannot be decrypted (SECRET_KEY changed): set them again", ""), False
    masker = secret_masker(secrets)
    if channel.type == ChannelType.EMAIL:
        return await _mail(channel.config or {}, secrets.get("password"), message, masker), True
    outgoing = formats.render(
        channel.type, message, secrets["url"], secrets.get("secret"), now=time.time(), delivery_id=delivery_id
    )
    return await _post(outgoing, channel.type, masker), True


# ---- claiming and recording ----------------------------------------------------------------------------------
async def _claim(
    session_factory: async_sessionmaker[AsyncSession], delivery_id: int, owner: str
) -> tuple[NotificationDelivery, NotificationChannel] | None:
    """Take the lease for the next attempt when it is due and nobody else holds it (or it is already ours)."""
    now = utcnow()
    async with session_factory() as session:
        taken = await session.execute(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.id == delivery_id,
                NotificationDelivery.status == NotificationStatus.PENDING,
                or_(NotificationDelivery.next_attempt_at.is_(None), NotificationDelivery.next_attempt_at <= now),
                or_(
                    NotificationDelivery.claimed_until.is_(None),
                    NotificationDelivery.claimed_until < now,
                    NotificationDelivery.claimed_by == owner,
                ),
            )
            .values(claimed_until=now + timedelta(seconds=lease_seconds()), claimed_by=owner)
        )
        await session.commit()
        if not taken.rowcount:  # type: ignore[attr-defined]
            return None
        delivery = await session.get(NotificationDelivery, delivery_id)
        channel = await session.get(NotificationChannel, delivery.channel_id) if delivery is not None else None
        if delivery is None or channel is None:
            return None
        return delivery, channel


async def _attempt(
    session_factory: async_sessionmaker[AsyncSession],
    delivery: NotificationDelivery,
    channel: NotificationChannel,
    owner: str,
    keep_lease: bool,
) -> tuple[NotificationStatus, datetime | None]:
    """Send one attempt of a claimed delivery and record it; the lease is kept through the backoff if asked."""
    started = time.perf_counter()
    outcome: Outcome
    if not channel.enabled:  # turned off to stop a flood: what it had pending is not sent
        outcome, retry = (None, "the channel was disabled before this was sent", ""), False
    else:
        outcome, retry = await send_once(channel, orjson.loads(delivery.message), delivery.id)
    status_code, error, answer = outcome
    attempt = Attempt(status_code, error, bounded(answer, RESPONSE_KEEP) or "", _elapsed_ms(started))
    status, next_at = await record_attempt(
        session_factory,
        delivery,
        owner,
        attempt,
        statuses=NotificationStatus,
        max_attempts=delivery.max_attempts,
        backoff=_backoff,
        lease_seconds=lease_seconds(),
        keep_lease=keep_lease,
        retry=retry,
    )
    log = logger.info if status == NotificationStatus.DELIVERED else logger.warning
    log(
        "notification %s (%s to channel %s) attempt %s: %s",
        delivery.id,
        delivery.event,
        channel.id,
        delivery.attempts + 1,
        error or status_code,
    )
    return status, next_at


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def deliver(
    session_factory: async_sessionmaker[AsyncSession],
    delivery_id: int,
    *,
    keep_going: bool = True,
    owner: str | None = None,
) -> NotificationStatus | None:
    """Send a pending delivery: its attempts until it is delivered or failed, or until retrying would hold this
    process past NOTIFY_HOLD_SECONDS (`keep_going`; the sweep makes the later attempts), or just the one due.

    None when it was not this caller's to send (another process holds it, it is not due, or it is done).
    `owner`: the lease its recorder already took (a test message). Never raises.
    """
    lease = owner or new_owner()
    try:
        return await attempt_while_held(
            lambda: _claim(session_factory, delivery_id, lease),
            lambda delivery, channel, keep: _attempt(session_factory, delivery, channel, lease, keep_lease=keep),
            _backoff,
            hold_seconds=get_settings().notify_hold_seconds,
            keep_going=keep_going,
            pending=NotificationStatus.PENDING,
        )
    except Exception:
        logger.exception("notification %s could not be sent; a later sweep tries again", delivery_id)
        return None


async def deliver_all(
    session_factory: async_sessionmaker[AsyncSession], delivery_ids: list[int], *, keep_going: bool = True
) -> list[NotificationStatus | None]:
    """Send several deliveries side by side (at most SENDING_AT_ONCE at a time)."""
    limit = asyncio.Semaphore(SENDING_AT_ONCE)

    async def one(delivery_id: int) -> NotificationStatus | None:
        async with limit:
            return await deliver(session_factory, delivery_id, keep_going=keep_going)

    return list(await asyncio.gather(*(one(delivery_id) for delivery_id in delivery_ids)))


async def resume_pending(session_factory: async_sessionmaker[AsyncSession]) -> int:
    """Send the due attempt of every pending delivery nobody holds: what a dead process left, at start-up and
    then periodically. One attempt each (the next sweep makes the next one); returns how many were sent."""
    _long_lived.add(asyncio.get_running_loop())
    _left.pop(asyncio.get_running_loop(), None)  # what this loop recorded before is pending in the database: sent below
    now = utcnow()
    async with session_factory() as session:
        due = list(
            await session.scalars(
                select(NotificationDelivery.id)
                .where(
                    NotificationDelivery.status == NotificationStatus.PENDING,
                    or_(NotificationDelivery.next_attempt_at.is_(None), NotificationDelivery.next_attempt_at <= now),
                    or_(NotificationDelivery.claimed_until.is_(None), NotificationDelivery.claimed_until < now),
                )
                .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
                .limit(SWEEP_BATCH)
            )
        )
    sent = await deliver_all(session_factory, due, keep_going=False)
    return sum(1 for status in sent if status is not None)


# ---- after the recording transaction commits -------------------------------------------------------------------
_QUEUED = "exile_notifications_queued"
_BIND = "exile_notifications_bind"
_background: set[asyncio.Task[Any]] = set()
# Loops that keep running (the API process's; a Celery worker's sweeping thread): a task started on one goes on.
# A Celery task's or a run pool process's loop runs only while its task does, so a send started there would stall
# holding its lease: what such a loop's transactions record waits in `_left` until its task sends it before
# returning (send_left_here), and the sweep (every run_reaper_interval_seconds) makes any later attempt.
_long_lived: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_left: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[tuple[async_sessionmaker[AsyncSession], list[int]]]]
_left = weakref.WeakKeyDictionary()


def send_in_background_here() -> None:
    """Mark the running event loop as long-lived: deliveries recorded on it are sent by a task right after the
    commit. The sweep (resume_pending) marks its loop; tests mark theirs."""
    _long_lived.add(asyncio.get_running_loop())


def send_after_commit(session: AsyncSession, delivery_ids: list[int]) -> None:
    """Send these deliveries once the session's transaction commits (never if it rolls back)."""
    if not delivery_ids:
        return
    info = session.sync_session.info
    if _QUEUED not in info:
        event.listen(session.sync_session, "after_commit", _after_commit)
        event.listen(session.sync_session, "after_rollback", _after_rollback)
        info[_QUEUED] = []
    info[_BIND] = session.bind
    info[_QUEUED].extend(delivery_ids)


def _after_rollback(sync_session: Session) -> None:
    sync_session.info.get(_QUEUED, []).clear()


def _after_commit(sync_session: Session) -> None:
    queued: list[int] = sync_session.info.get(_QUEUED, [])
    delivery_ids, queued[:] = list(queued), []
    bind: AsyncEngine | None = sync_session.info.get(_BIND)
    if not delivery_ids or bind is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # committed outside an event loop: the sweep sends them
        return
    sessions = async_sessionmaker(bind, expire_on_commit=False, autoflush=False)
    if loop not in _long_lived:
        _left.setdefault(loop, []).append((sessions, delivery_ids))
        return
    task = loop.create_task(deliver_all(sessions, delivery_ids))
    _background.add(task)
    task.add_done_callback(_background.discard)


def left_on(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether `loop` holds deliveries for send_left_here: its task runs the loop again only then (a loop run
    again for nothing would also run what else waits on it, such as a task a failed chunk left behind)."""
    return bool(_left.get(loop))


async def send_left_here() -> int:
    """Send what this loop's transactions recorded while it was not long-lived (a Celery task's, a run pool
    process's): one attempt each, before the task returns, so a run ended on a worker is announced when it
    ends rather than at the next sweep. Returns how many were sent; never raises."""
    sent = 0
    for sessions, delivery_ids in _left.pop(asyncio.get_running_loop(), []):
        statuses = await deliver_all(sessions, delivery_ids, keep_going=False)
        sent += sum(1 for status in statuses if status is not None)
    return sent


async def wait_for_background() -> None:
    """For tests and shutdown: let the deliveries started after a commit finish."""
    while _background:
        await wait_for_tasks(list(_background))
