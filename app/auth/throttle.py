"""Sign-in guessing protection, shared by every server process through the database.

After a few failures within a window, an account (or an address) is locked for a short time that doubles
with each further failure, capped at LOCK_CAP: an attacker can slow a user down, never lock them out for good,
and a correct sign-in after a lock clears it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LoginThrottle
from app.models.base import utcnow

WINDOW = timedelta(minutes=15)
LOCK_BASE = timedelta(seconds=30)
LOCK_CAP = timedelta(minutes=15)
THRESHOLDS = {"email": 5, "ip": 20}


def keys_for(email: str, ip: str | None) -> list[str]:
    keys = [f"email:{email.strip().lower()[:320]}"]
    if ip:
        keys.append(f"ip:{ip}")
    return keys


async def locked_for(session: AsyncSession, keys: list[str]) -> int:
    """Seconds until the longest active lock on any key ends (0 = not locked)."""
    now = utcnow()
    rows = await session.scalars(select(LoginThrottle.locked_until).where(LoginThrottle.key.in_(keys)))
    remaining = [(until - now).total_seconds() for until in rows if until is not None and until > now]
    return int(max(remaining) + 0.999) if remaining else 0


async def record_failure(session: AsyncSession, keys: list[str]) -> None:
    now = utcnow()
    for key in keys:
        row = await session.scalar(select(LoginThrottle).where(LoginThrottle.key == key))
        if row is None:
            try:
                async with session.begin_nested():
                    session.add(LoginThrottle(key=key, failures=1, first_failure_at=now))
                continue
            except IntegrityError:  # another process inserted it first
                row = await session.scalar(select(LoginThrottle).where(LoginThrottle.key == key))
                if row is None:
                    continue
        if now - row.first_failure_at > WINDOW and (row.locked_until is None or row.locked_until <= now):
            await session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.id == row.id)
                .values(failures=1, first_failure_at=now, locked_until=None)
            )
            continue
        await session.execute(
            update(LoginThrottle).where(LoginThrottle.id == row.id).values(failures=LoginThrottle.failures + 1)
        )
        await session.refresh(row)
        threshold = THRESHOLDS[key.split(":", 1)[0]]
        if row.failures >= threshold:
            row.locked_until = _lock_end(now, row.failures - threshold)
    await session.flush()


def _lock_end(now: datetime, over: int) -> datetime:
    return now + min(LOCK_BASE * (2 ** min(over, 20)), LOCK_CAP)


async def record_success(session: AsyncSession, keys: list[str]) -> None:
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys[0]))
