"""The attempt loop that run callbacks and notifications share: a delivery row is claimed under a lease (so one
process sends it), attempted, and retried by the same process only while the backoff keeps it within its hold;
later attempts are left to the sweep that every process runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from app.models.base import utcnow

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
