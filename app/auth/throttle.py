"""Sign-in (and password-change) guessing protection, shared by every server process through the database.

Every attempt is counted before the password is checked, with one atomic upsert per key, so parallel
guesses cannot all slip past the limit. Two kinds of key:
- an account (`email:` for sign-in, `password:` for a password change): after a few failures within a
  window it is locked for a short time that doubles with each further failure, capped at LOCK_CAP. An
  attacker can slow a user down, never lock them out for good, and a correct password clears the account.
- an address (`ip:`): past its threshold each attempt from it waits before the password is checked, a
  delay that doubles with each further failure up to SIGN_IN_SLOWDOWN_MAX_SECONDS. It is never locked: one
  person failing behind a shared address (an office, a NAT) must not lock everyone behind it out, so a
  correct password for an account that is not itself locked always gets in, at worst after that delay.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import is_write_conflict
from app.models import LoginThrottle
from app.models.base import utcnow

WINDOW = timedelta(minutes=15)
LOCK_BASE = timedelta(seconds=30)
LOCK_CAP = timedelta(minutes=15)
THRESHOLDS = {"email": 5, "password": 5, "ip": 20}
LOCKING = frozenset({"email", "password"})  # an address is slowed down, never locked
SLOWDOWN_BASE = 0.5  # seconds: the first attempt past an address's threshold waits this long, then doubles


def keys_for(email: str, ip: str | None) -> list[str]:
    """A sign-in's keys: the account first, then the address."""
    keys = [f"email:{email.strip().lower()[:320]}"]
    if ip:
        keys.append(f"ip:{ip}")
    return keys


def keys_for_password_change(user_id: int, ip: str | None) -> list[str]:
    """A password change's keys: its own account key (a stolen session guessing the current password must
    not lock the owner's sign-in), then the address, shared with sign-ins."""
    return [f"password:{user_id}"] + ([f"ip:{ip}"] if ip else [])


def _kind(key: str) -> str:
    return key.split(":", 1)[0]


def threshold(key: str) -> int:
    return THRESHOLDS[_kind(key)]


def _locking(keys: list[str]) -> list[str]:
    return [key for key in keys if _kind(key) in LOCKING]


def slowdown(counts: dict[str, int], max_seconds: float) -> float:
    """Seconds this attempt waits: 0 until an address passes its threshold, then 0.5, 1, 2, ... up to the cap."""
    excess = max((count - threshold(key) for key, count in counts.items() if _kind(key) not in LOCKING), default=0)
    if excess <= 0:
        return 0.0
    return float(min(SLOWDOWN_BASE * 2 ** min(excess - 1, 30), max_seconds))


async def slow_down(seconds: float) -> None:
    """Wait before the password is checked (no database connection is held meanwhile)."""
    if seconds > 0:
        await asyncio.sleep(seconds)


async def locked_for(session: AsyncSession, keys: list[str]) -> int:
    """Seconds until the longest active lock on any account key ends (0 = not locked)."""
    now = utcnow()
    rows = await session.scalars(select(LoginThrottle.locked_until).where(LoginThrottle.key.in_(_locking(keys))))
    remaining = [(until - now).total_seconds() for until in rows if until is not None and until > now]
    return int(max(remaining) + 0.999) if remaining else 0


def _upsert(dialect: str, key: str, now: datetime) -> Any:
    """INSERT the first attempt, or add one to the count (restarting it once the window has passed)."""
    table = cast(Table, LoginThrottle.__table__)
    expired = and_(
        table.c.first_failure_at < now - WINDOW, or_(table.c.locked_until.is_(None), table.c.locked_until <= now)
    )
    count = case((expired, 1), else_=table.c.failures + 1)
    row = {"key": key, "failures": 1, "allowed": threshold(key), "first_failure_at": now}
    if dialect in ("mysql", "mariadb"):
        # LAST_INSERT_ID(expr) hands this connection the count its own update produced (MySQL's counter idiom);
        # assignments apply left to right, so first_failure_at (read by `expired`) goes last.
        return (
            mysql_insert(table)
            .values(**row)
            .on_duplicate_key_update(
                [
                    ("failures", func.last_insert_id(count)),
                    ("allowed", case((expired, threshold(key)), else_=table.c.allowed)),
                    ("first_failure_at", case((expired, now), else_=table.c.first_failure_at)),
                ]
            )
        )
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    values = {
        "failures": count,
        "allowed": case((expired, threshold(key)), else_=table.c.allowed),
        "first_failure_at": case((expired, now), else_=table.c.first_failure_at),
    }
    return (
        insert(table)
        .values(**row)
        .on_conflict_do_update(index_elements=[table.c.key], set_=values)
        .returning(table.c.failures)
    )


async def _count_one(session: AsyncSession, dialect: str, key: str, now: datetime) -> int:
    """Add this attempt to `key` and return the count as this attempt made it (not as others since made it)."""
    result = await session.execute(_upsert(dialect, key, now))
    if dialect in ("mysql", "mariadb"):
        if result.rowcount == 1:  # type: ignore[attr-defined]  # a fresh row: this is the first attempt
            return 1
        return int(await session.scalar(select(func.last_insert_id())) or 0)
    return int(result.scalar_one())


async def _each_key(session: AsyncSession, keys: list[str], step: Any) -> None:
    """One short transaction per key, keys in one order: parallel sign-ins never wait on each other in a cycle."""
    for key in sorted(keys):
        for attempt in range(5):
            try:
                await step(key)
                await session.commit()
                break
            except DBAPIError as exc:  # a deadlock or serialization failure: the work is small, do it again
                await session.rollback()
                if attempt == 4 or not is_write_conflict(exc):
                    raise


async def count_attempt(session: AsyncSession, keys: list[str]) -> tuple[int, dict[str, int]]:
    """Count this attempt on every key before the password is checked.

    Returns the seconds to wait when an account key is past what it allows (such an attempt is not checked and
    gives its count back, so guesses sent in parallel cannot slip past the limit), and this attempt's
    count per key.
    """
    now = utcnow()
    dialect = session.get_bind().dialect.name
    counts: dict[str, int] = {}

    async def count(key: str) -> None:
        counts[key] = await _count_one(session, dialect, key, now)

    await _each_key(session, keys, count)
    rows = (
        await session.execute(
            select(LoginThrottle.key, LoginThrottle.allowed, LoginThrottle.locked_until).where(
                LoginThrottle.key.in_(keys)
            )
        )
    ).all()
    await session.commit()
    # Past its allowance, an attempt is refused. So is one that slipped past the check before counting
    # while a parallel attempt set a lock: a lock raises the allowance by one try, which is for after it.
    refused = [
        key
        for key, allowed, until in rows
        if _kind(key) in LOCKING
        and (counts.get(key, 0) > allowed or (until is not None and until > now and counts.get(key, 0) >= allowed))
    ]
    if not refused:
        return 0, counts

    async def refuse(key: str) -> None:
        await session.execute(
            update(LoginThrottle).where(LoginThrottle.key == key).values(failures=LoginThrottle.failures - 1)
        )

    await _each_key(session, keys, refuse)
    return await locked_for(session, keys) or int(LOCK_BASE.total_seconds()), counts


async def _lock(session: AsyncSession, key: str, failures: int, now: datetime) -> None:
    until = now + min(LOCK_BASE * 2 ** min(max(failures - threshold(key), 0), 20), LOCK_CAP)
    longer = or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < until)
    await session.execute(update(LoginThrottle).where(LoginThrottle.key == key, longer).values(locked_until=until))


async def record_failure(session: AsyncSession, keys: list[str], counts: dict[str, int]) -> None:
    """Lock each account key whose allowance this attempt used up (judged by this attempt's own count, not
    by attempts still in flight); once that lock ends, one more try is allowed. The address keeps its count."""
    now = utcnow()

    async def lock_if_spent(key: str) -> None:
        allowed = await session.scalar(select(LoginThrottle.allowed).where(LoginThrottle.key == key))
        if allowed is not None and counts.get(key, 0) >= allowed:
            await _lock(session, key, counts[key], now)
            await session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key, LoginThrottle.allowed <= counts[key])
                .values(allowed=counts[key] + 1)
            )

    await _each_key(session, _locking(keys), lock_if_spent)


async def record_success(session: AsyncSession, keys: list[str]) -> None:
    """A right password clears the account; the address gives back the attempt it was charged."""

    async def clear(key: str) -> None:
        if key == keys[0]:
            await session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
        else:
            await session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key, LoginThrottle.failures > 0)
                .values(failures=LoginThrottle.failures - 1)
            )

    await _each_key(session, keys, clear)
