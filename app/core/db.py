"""The async engine and sessions; backend quirks (SQLite pragmas, MySQL charset) are settled here."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends
from sqlalchemy import Executable, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.core.config import get_settings
from app.core.loops import new_event_loop

_engine: AsyncEngine | None = None
_session_factory: async_sessionmaker[AsyncSession] | None = None
T = TypeVar("T")


def build_engine(url: str, *, echo: bool = False, pool_size: int = 10, **extra: Any) -> AsyncEngine:
    """An engine configured the same way for the app, the CLI, Alembic and tests."""
    parsed = make_url(url)
    options: dict[str, Any] = {
        "echo": echo,
        "pool_pre_ping": True,
        # orjson: 5x faster than json for the run records written in bulk, and it knows datetimes.
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
        **extra,
        # Bound values are tokens, password hashes and secrets: never put them in an error message or a log.
        "hide_parameters": True,
    }
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            from pathlib import Path

            Path(database).parent.mkdir(parents=True, exist_ok=True)
        options.setdefault("connect_args", {"timeout": 30})
    elif "poolclass" not in options:
        options.setdefault("pool_size", pool_size)
        options.setdefault("max_overflow", pool_size)
        options.setdefault("pool_recycle", 1800)
    engine = create_async_engine(url, **options)
    event.listen(engine.sync_engine, "handle_error", _hide_row_values)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    return engine


# MySQL/MariaDB put the offending value in the message itself: "Duplicate entry 'exile_a1b2...' for key ...".
_VALUE_IN_MESSAGE = re.compile(r"(Duplicate entry |Incorrect \w+ value: |Data too long for column )'(?:[^'\\]|\\.)*'")


def _without_quoted_values(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_VALUE_IN_MESSAGE.sub(r"\1'<hidden>'", arg) if isinstance(arg, str) else arg for arg in args)


def hide_driver_row_values(error: BaseException) -> None:
    """Take row values out of a driver's error (and the errors it chains) before anyone logs it.

    hide_parameters only hides SQLAlchemy's own text. PostgreSQL's DETAIL says "Failing row contains (...,
    <token hash>, ...)" or "Key (x)=(value) already exists", and asyncpg prints it with the message; MariaDB
    quotes the duplicate value in the message. Also called by the run sink for the drivers it calls directly.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "detail", None):
            try:
                current.detail = "(hidden: it shows row values)"  # type: ignore[attr-defined]
            except AttributeError:
                pass
        if any(isinstance(arg, str) and _VALUE_IN_MESSAGE.search(arg) for arg in current.args):
            current.args = _without_quoted_values(current.args)
        current = current.__cause__ or current.__context__


def _hide_row_values(context: Any) -> None:
    """The engine's handle_error hook: the driver's error, then SQLAlchemy's wrapper of it."""
    hide_driver_row_values(context.original_exception)
    wrapped = context.sqlalchemy_exception
    if wrapped is not None and wrapped.orig is not None:
        wrapped.args = _without_quoted_values(wrapped.args)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers work while a run writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite's own lower() folds only A-Z; search must ignore the case of "Über" as MySQL/PostgreSQL do.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def is_write_conflict(exc: BaseException) -> bool:
    """A transaction the database rolled back because another one held what it needed: a deadlock (InnoDB
    picks a victim), a lock wait or lock timeout, a serialization failure, SQLite's busy lock. Nothing of it
    was applied, so doing it again is safe. Read down the chain of errors too: on MariaDB a deadlock inside a
    savepoint rolls back the whole transaction, and the ROLLBACK TO SAVEPOINT that follows fails on its own."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, DBAPIError) and any(sign in str(seen.orig).lower() for sign in _CONFLICT_SIGNS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_CONFLICT_SIGNS = ("deadlock", "serializ", "lock wait timeout", "lock timeout", "database is locked")
CONFLICT_ATTEMPTS = 5


async def retried_on_conflict(work: Callable[[], Awaitable[T]], attempts: int = CONFLICT_ATTEMPTS) -> T:
    """`work` (one whole transaction: it opens its session and commits) again while the database rolls it back
    for a conflict with a concurrent writer, with a short growing pause; any other error, or the last, is raised.

    On MariaDB a run's claim, a new run's INSERT and the reaper's UPDATEs meet on scenario_runs' status index and
    InnoDB ends one of them as a deadlock victim: a claim that failed so left its run `queued` until the reaper
    sent it again, minutes later."""
    for attempt in range(1, attempts):
        try:
            return await work()
        except DBAPIError as exc:
            if not is_write_conflict(exc):
                raise
            await asyncio.sleep(0.02 * 2**attempt)
    return await work()


async def changed_a_row(session_factory: async_sessionmaker[AsyncSession], statement: Executable) -> bool:
    """One conditional write (a claim, an end) in a transaction of its own, made again when the database rolls it
    back for a conflict; True when it changed a row (False: its conditions no longer held)."""

    async def write() -> bool:
        async with session_factory() as session:
            result = await session.execute(statement)
            await session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    return await retried_on_conflict(write)


def get_engine() -> AsyncEngine:
    global _engine, _session_factory
    if _engine is None:
        settings = get_settings()
        _engine = build_engine(settings.resolved_database_url, echo=settings.db_echo, pool_size=settings.db_pool_size)
        _session_factory = async_sessionmaker(_engine, expire_on_commit=False, autoflush=False)
    return _engine


def get_session_factory() -> async_sessionmaker[AsyncSession]:
    get_engine()
    assert _session_factory is not None
    return _session_factory


# Each worker thread (a Celery thread, a process of the inline run pool) owns an event loop and a pooled engine:
# an asyncpg or asyncmy connection must never cross event loops. Pooled, not NullPool: a run opens a session
# per result batch and per heartbeat, and a new connection for each cost a Celery worker ~5 % more CPU per
# request than the API process (benchmarks/celery_vs_inline.py).
_thread = threading.local()
THREAD_POOL_SIZE = 4  # a run holds at most a few sessions at once (sink, heartbeat): threads x pool stays modest


def thread_database(
    pool_size: int = THREAD_POOL_SIZE,
) -> tuple[asyncio.AbstractEventLoop, async_sessionmaker[AsyncSession]]:
    """This thread's own event loop and session factory, made on first use (with `pool_size` connections and as
    many more at a peak: the inline runs thread, where every inline run of the process works, takes the API's)."""
    if not hasattr(_thread, "loop"):
        _thread.loop = new_event_loop()
        engine = build_engine(get_settings().resolved_database_url, pool_size=pool_size)
        _thread.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    return _thread.loop, _thread.sessions


async def dispose_engine() -> None:
    global _engine, _session_factory
    if _engine is not None:
        await _engine.dispose()
    _engine = None
    _session_factory = None


async def get_session() -> AsyncIterator[AsyncSession]:
    """One session per request; the router commits once before answering, anything else rolls back."""
    async with get_session_factory()() as session:
        try:
            yield session
        finally:
            if session.in_transaction():
                await session.rollback()


SessionDep = Annotated[AsyncSession, Depends(get_session)]
