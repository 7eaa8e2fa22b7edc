"""The attempt loop that run callbacks and notifications share: a delivery row is claimed under a lease (so one
process sends it), attempted, and retried by the same process only while the backoff keeps it within its hold;
later attempts are left to the sweep that every process runs."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.text import bounded
from app.models.base import utcnow

logger = logging.getLogger(__name__)

Status = TypeVar("Status")


async def attempt_while_held(
    claim: Callable[[], Awaitable[tuple[Any, Any] | None]],
    attempt: Callable[[Any, Any, bool], Awaitable[tuple[Status, datetime | None]]],
    backoff: Callable[[int], float],
    *,
    hold_seconds: float,
    keep_going: bool,
    pending: Status,
) -> Status | None:
    """The final status of this caller's attempts, or None when the delivery was not this caller's to send.

    `claim()` gives (delivery, what the attempt needs) or None; `attempt(delivery, needs, keep_lease)` gives the
    status and, while pending, when the next attempt is due.
    """
    started = time.monotonic()
    while True:
        claimed = await claim()
        if claimed is None:
            return None
        delivery, needs = claimed
        waited = time.monotonic() - started
        keep = keep_going and waited + backoff(delivery.attempts + 1) <= hold_seconds
        status, next_at = await attempt(delivery, needs, keep)
        if status != pending or not keep or next_at is None:
            return status
        # Until the recorded time (plus a hair), so the claim finds the attempt due.
        await asyncio.sleep(max(0.0, (next_at - utcnow()).total_seconds()) + 0.005)


LAST_ERROR_LIMIT = 1000  # an attempt's error (the column's size)


def new_owner() -> str:
    """A lease holder's name: which process, and which sending of it."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Attempt:
    """What one attempt of a delivery gave, as its row records it."""

    status_code: int | None
    error: str | None
    response: str
    duration_ms: float


async def record_attempt(
    session_factory: async_sessionmaker[AsyncSession],
    delivery: Any,
    owner: str,
    attempt: Attempt,
    *,
    statuses: Any,
    max_attempts: int,
    backoff: Callable[[int], float],
    lease_seconds: float,
    keep_lease: bool,
    retry: bool = True,
    extra: dict[str, Any] | None = None,
    entry_extra: dict[str, Any] | None = None,
) -> tuple[Any, datetime | None]:
    """Record a claimed delivery's attempt and its next state: delivered, failed (out of attempts, or not to be
    retried) or pending until the backoff's end, with the lease kept through it if asked. Only the lease's holder
    records: an attempt made after the lease ran out (another process may have taken it) is logged, not saved.

    `statuses` is the delivery's status enum (PENDING, DELIVERED, FAILED); returns its status and the next
    attempt's time while pending."""
    now = utcnow()
    done = delivery.attempts + 1
    error = bounded(attempt.error, LAST_ERROR_LIMIT)
    entry = {
        "attempt": done,
        "at": now.isoformat(),
        "duration_ms": attempt.duration_ms,
        "status_code": attempt.status_code,
        "error": error,
        "response": attempt.response,
        **(entry_extra or {}),
    }
    values: dict[str, Any] = {
        "attempts": done,
        "attempt_log": [*(delivery.attempt_log or []), entry][-(max_attempts + 5) :],
        "last_status_code": attempt.status_code,
        "last_error": error,
        "updated_at": now,
        **(extra or {}),
    }
    next_at: datetime | None = None
    if attempt.error is None:
        status = statuses.DELIVERED
        values.update(delivered_at=now, next_attempt_at=None, claimed_until=None, claimed_by=None)
    elif done >= max_attempts or not retry:
        status = statuses.FAILED
        values.update(next_attempt_at=None, claimed_until=None, claimed_by=None)
    else:
        status = statuses.PENDING
        next_at = now + timedelta(seconds=backoff(done))
        lease_end = next_at + timedelta(seconds=lease_seconds)
        values.update(
            next_attempt_at=next_at,
            claimed_until=lease_end if keep_lease else None,
            claimed_by=owner if keep_lease else None,
        )
    values["status"] = status
    model = type(delivery)
    async with session_factory() as session:
        saved = await session.execute(
            update(model).where(model.id == delivery.id, model.claimed_by == owner).values(**values)
        )
        await session.commit()
    if not saved.rowcount:  # type: ignore[attr-defined]
        logger.warning(
            "%s %s: attempt %s was sent after its lease ran out; not recorded", model.__tablename__, delivery.id, done
        )
    return status, next_at
