"""Writes StepResults in batches: one bulk insert and one counts UPDATE per batch, never per request.

The writes run in a background task, so the iterations keep sending while a batch is stored; at most
`max_pending` full batches wait for the database (backpressure: memory stays bounded on a slow database).

Each database gets its fastest way in, in one short transaction with the counts UPDATE:

- SQLite: one `INSERT ... VALUES (...), (...)` of up to 1638 rows handed to aiosqlite's thread as it is (one
  call, one GIL handover, no SQLAlchemy parameter processing), never an executemany: aiosqlite runs the
  driver in its own thread, and executemany takes the GIL back once per row, each time waiting for the busy
  event-loop thread to let go of it (up to the 5 ms switch interval). Measured on the order-flow benchmark at
  16 in flight: about 0.8 s per 500-row batch as executemany, a few tens of ms as one statement.
- PostgreSQL: `COPY ... FROM STDIN (FORMAT binary)` through asyncpg's `copy_records_to_table` on the
  session's own connection (inside its transaction), skipping SQLAlchemy's per-row parameter building.
- MariaDB: one `COM_STMT_BULK_EXECUTE` of a prepared INSERT (asyncmy's binary bulk path): the values go
  in binary form, without the text protocol's escaping of every string. A MySQL server (no bulk command)
  or rows the bulk path cannot type take SQLAlchemy's INSERT instead.

`DatabaseSink(..., bulk=False)` keeps SQLAlchemy's INSERT on every backend (the benchmark compares them; on
SQLite that is a multi-row `INSERT ... RETURNING id` through SQLAlchemy's "insertmanyvalues").
benchmarks/sink_write.py measures both; tests/runs/test_sink_bulk.py proves every path stores the same rows.

The JSON columns are serialized when a result is put, not when its batch is written: a buffered row is then
a handful of strings and numbers instead of ~30 nested dicts and lists that survive into the garbage
collector's oldest generation. On the order-flow benchmark (16 in flight) that took the garbage collector's
share from about 24 us to 3 us per request. Every path stores that text as is (SQLAlchemy's JSON type
would store the same text; `None` included, as JSON null).

A buffered row reaches the database within `flush_seconds` even when the batch is not full: that bounds
what a killed executor loses (README, "What a killed executor loses"). A reference that vanished while
the run went on never costs the batch: records outlive their case (case_id set to NULL, the name kept),
and a run whose own row was deleted (its project was) stops quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

import asyncmy.errors
import asyncpg
import orjson
from sqlalchemy import JSON, Insert, Table, Text, bindparam, cast, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.core.db import hide_driver_row_values
from app.core.text import storable
from app.engine.results import StepResult
from app.engine.statuses import ResultStatus
from app.models import ApiRequest, ApiRequestRun, ScenarioRun
from app.reports.rollups import RunSums

logger = logging.getLogger("exile.runs")
# A batch that fails is tried this many more times (0.2, 0.4, 0.8, 1.6 s apart) before its run ends in error.
WRITE_RETRIES = 4

_COUNTED: tuple[str, ...] = tuple(ResultStatus)  # a requests_<status> count column each
_TABLE: Table = ApiRequestRun.__table__  # type: ignore[assignment]
_JSON_COLUMNS = ("request", "dataset", "response", "assertions", "extracted")
# A buffered row is a list of these columns' values, in this order (JSON columns as their JSON text).
_COLUMNS = (
    "scenario_run_id", "case_id", "step_id", "dataset_id", "step_key", "name", "iteration", "attempt",
    "iteration_attempt", "is_final", "flaky", "status", "started_at", "duration_ms", "error", *_JSON_COLUMNS,
)  # fmt: skip
# SQLAlchemy's statement binds the JSON text under its own names (the column names would be JSON-typed).
_PARAMS = tuple(f"{name}_json" if name in _JSON_COLUMNS else name for name in _COLUMNS)
_CASE_ID = _COLUMNS.index("case_id")
_STEP_KEY, _DATASET_ID, _ITERATION = (_COLUMNS.index(n) for n in ("step_key", "dataset_id", "iteration"))
_IS_FINAL, _FLAKY, _STATUS, _DURATION_MS = (_COLUMNS.index(n) for n in ("is_final", "flaky", "status", "duration_ms"))
_STARTED_AT = _COLUMNS.index("started_at")
_TEXT = tuple(i for i, name in enumerate(_COLUMNS) if name in ("error", *_JSON_COLUMNS))
# Nullable columns whose value can be NULL in every row of a batch: MariaDB's bulk command needs a concrete
# type per parameter, so such a column is left out of that batch's INSERT (it defaults to NULL).
_NULLABLE = tuple(_COLUMNS.index(name) for name in ("case_id", "step_id", "dataset_id", "error"))
# Characters of text per MariaDB bulk command: at most 4 bytes each in utf8mb4, so one command stays
# well below max_allowed_packet (16 MiB by default) whatever the bodies hold.
_BULK_CHARS = 2_000_000
_INTEGRITY_ERRORS = (
    IntegrityError,
    sqlite3.IntegrityError,
    asyncpg.IntegrityConstraintViolationError,
    asyncmy.errors.IntegrityError,
)


# Rows per SQLite statement: at most 32766 bound values since SQLite 3.32 (999 before), 20 a row.
_SQLITE_ROWS = (32766 if sqlite3.sqlite_version_info >= (3, 32) else 999) // len(_COLUMNS)


@functools.cache
def _sqlite_insert(rows: int) -> str:
    names = ", ".join(f'"{name}"' for name in _COLUMNS)
    values = "(" + ", ".join("?" * len(_COLUMNS)) + ")"
    return f'INSERT INTO "{_TABLE.name}" ({names}) VALUES ' + ", ".join([values] * rows)


def _json(value: Any) -> str:
    """What app.core.db's json_serializer makes of a JSON column's value."""
    return orjson.dumps(value).decode()


class _Batch:
    __slots__ = ("counts", "done", "rows")

    def __init__(self, rows: list[list[Any]], counts: dict[str, int]) -> None:
        self.rows = rows
        self.counts = counts
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class DatabaseSink:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        run_id: int,
        batch_size: int = 500,
        max_pending: int = 4,
        flush_seconds: float = 0.5,
        run_gone: asyncio.Event | None = None,
        bulk: bool = True,
        guard: Callable[[AsyncSession], Awaitable[bool]] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._run_id = run_id
        self._batch_size = batch_size
        self._max_pending = max(1, max_pending)
        self._flush_seconds = flush_seconds
        self._bulk = bulk  # False: SQLAlchemy's INSERT on every backend (the path before COPY and bulk execute)
        self._timer: asyncio.TimerHandle | None = None
        # Set when the run's own row is gone (its project was deleted), or when `guard` says these records are
        # no longer wanted (a chunk taken from a stalled executor): the executor stops, nothing more is kept.
        self.run_gone = run_gone or asyncio.Event()
        # Asked in each batch's transaction, before anything is written: False drops the batch, atomically.
        self._guard = guard
        self._rows: list[list[Any]] = []
        self._counts = dict.fromkeys((*_COUNTED, "flaky"), 0)
        self._batches: deque[_Batch] = deque()
        self._writer: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        self._statement: Insert | None = None
        self.written = 0
        # The roll-up sums of what this sink stored (app.reports.rollups.RunSums), when its part keeps them.
        self.sums: RunSums | None = None

    async def put(self, result: StepResult) -> None:
        self._raise_error()
        if self.run_gone.is_set():
            return
        started_at = result.started_at
        if started_at.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use an aware datetime")
        if not self._rows and self._timer is None:  # the first row of a batch starts the time bound
            self._timer = asyncio.get_running_loop().call_later(self._flush_seconds, self._submit)
        self._rows.append(
            [
                self._run_id,
                result.case_id,
                result.step_id,
                result.dataset_id,
                result.step_key,
                result.name[:200],
                result.iteration,
                result.attempt,
                result.iteration_attempt,
                bool(result.is_final),
                bool(result.flaky),
                result.status,
                started_at.astimezone(UTC),
                float(result.duration_ms),
                None if result.error is None else storable(result.error),
                _json(result.request),
                _json(result.dataset),
                _json(result.response),
                _json(result.assertions),
                _json(result.extracted),
            ]
        )
        if result.is_final:
            self._counts[result.status] += 1
            if result.flaky:
                self._counts["flaky"] += 1
        if len(self._rows) >= self._batch_size:
            self._submit()
            while len(self._batches) > self._max_pending:  # the database is behind: wait for the oldest batch
                await asyncio.shield(self._batches[0].done)
            self._raise_error()

    async def flush(self) -> None:
        """Returns when everything put so far is committed (batches put later may still be on their way)."""
        last = self._submit()
        if last is not None:
            await asyncio.shield(last.done)  # a cancelled caller never cancels the write itself
        self._raise_error()

    def _submit(self) -> _Batch | None:
        """Queue the rows buffered so far; returns the newest queued batch (None when nothing is pending)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._rows:
            self._batches.append(_Batch(self._rows, self._counts))
            self._rows, self._counts = [], dict.fromkeys(self._counts, 0)
        if self._batches and (self._writer is None or self._writer.done()):
            self._writer = asyncio.ensure_future(self._write_all())
        return self._batches[-1] if self._batches else None

    def _raise_error(self) -> None:
        """A failed write is raised to every later put and flush: the run must end saying its records are lost."""
        if self._error is not None:
            raise self._error

    async def _write_all(self) -> None:
        while self._batches:
            batch = self._batches[0]
            try:
                self.written += await self._write(batch.rows, batch.counts)
            except Exception as exc:
                if self._error is None:
                    self._error = exc
            finally:
                self._batches.popleft()
                if not batch.done.done():
                    batch.done.set_result(None)

    async def _write(self, rows: list[list[Any]], counts: dict[str, int]) -> int:
        """Store one batch; returns how many rows were stored."""
        if self.run_gone.is_set():
            return 0
        try:
            await self._write_once(rows, counts)
        except _INTEGRITY_ERRORS:
            # A reference vanished between the delete guard and this write (a deleted case or run).
            if not await self._detach_vanished(rows):
                return 0
            await self._write_once(rows, counts)
        except Exception as exc:  # transient: a deadlock with a concurrent delete or writer, a dropped connection
            for attempt in range(1, WRITE_RETRIES + 1):
                # InnoDB picks a deadlock's victim anew each time: a sharded run whose chunk is taken back while
                # the others write lost a chunk to two deadlocks in a row in CI (MariaDB). Keep going a while.
                logger.warning(
                    "writing results of run %s failed (attempt %d of %d), retrying: %s: %s",
                    self._run_id, attempt, WRITE_RETRIES + 1, type(exc).__name__, exc,
                )  # fmt: skip
                await asyncio.sleep(0.1 * 2**attempt)
                if not await self._detach_vanished(rows):
                    return 0
                try:
                    await self._write_once(rows, counts)
                    break
                except Exception as again:
                    if attempt == WRITE_RETRIES:
                        raise
                    exc = again
        if self.run_gone.is_set():
            return 0
        if self.sums is not None:  # as stored (a vanished case's id is NULL in the record and here)
            add = self.sums.add_values
            for row in rows:
                if row[_IS_FINAL]:
                    add(row[_CASE_ID], row[_STEP_KEY], row[_DATASET_ID], row[_ITERATION], row[_STATUS], row[_FLAKY],
                        row[_DURATION_MS])  # fmt: skip
        return len(rows)

    async def _detach_vanished(self, rows: list[list[Any]]) -> bool:
        """Null the case ids that no longer exist; False when the run's own row is gone (nothing to keep)."""
        case_ids = {row[_CASE_ID] for row in rows if row[_CASE_ID] is not None}
        async with self._session_factory() as session:
            run_exists = await session.scalar(select(ScenarioRun.id).where(ScenarioRun.id == self._run_id))
            existing = set(await session.scalars(select(ApiRequest.id).where(ApiRequest.id.in_(case_ids))))
        if run_exists is None:
            logger.info("run %s was deleted while it ran; its remaining results are dropped", self._run_id)
            self.run_gone.set()
            return False
        for row in rows:
            if row[_CASE_ID] is not None and row[_CASE_ID] not in existing:
                row[_CASE_ID] = None  # the record keeps the case's name in `name`
        return True

    async def _write_once(self, rows: list[list[Any]], counts: dict[str, int]) -> None:
        async with self._session_factory() as session:
            if self._guard is not None and not await self._guard(session):
                self.run_gone.set()
                return
            connection = await session.connection()
            deltas = {
                f"requests_{name}": getattr(ScenarioRun, f"requests_{name}") + count
                for name, count in counts.items()
                if count
            }
            # The counts first: on PostgreSQL this statement opens the transaction the COPY then joins.
            if deltas:
                await session.execute(update(ScenarioRun).where(ScenarioRun.id == self._run_id).values(**deltas))
            backend = connection.dialect.name
            try:
                if self._bulk and backend == "postgresql":
                    await self._copy(connection, rows)
                elif self._bulk and backend == "sqlite":
                    await self._multirow_insert(connection, rows)
                else:
                    if self._bulk and backend in ("mysql", "mariadb"):
                        rows = await self._bulk_execute(connection, rows)
                    if rows:
                        params = [dict(zip(_PARAMS, row, strict=True)) for row in rows]
                        await session.execute(self._insert(session), params)
            except (asyncpg.PostgresError, asyncmy.errors.Error) as exc:
                hide_driver_row_values(exc)  # called directly, the driver's error skipped app.core.db's scrubbing
                raise
            await session.commit()

    async def _copy(self, connection: AsyncConnection, rows: list[list[Any]]) -> None:
        """PostgreSQL: one binary COPY. The JSON text goes as is (the json codec takes text); timestamps are
        aware, and asyncpg sends them as UTC."""
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # asyncpg's Connection
        await driver.copy_records_to_table(_TABLE.name, records=rows, columns=_COLUMNS)

    async def _multirow_insert(self, connection: AsyncConnection, rows: list[list[Any]]) -> None:
        """SQLite: one `INSERT ... VALUES (...), (...)` per _SQLITE_ROWS rows, sent to aiosqlite's thread as it is.

        The values are what SQLAlchemy would bind: the timestamp as naive UTC text in its DATETIME format.
        """
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # aiosqlite's Connection
        for start in range(0, len(rows), _SQLITE_ROWS):
            chunk = rows[start : start + _SQLITE_ROWS]
            params = []
            for row in chunk:
                row = row.copy()
                at = row[_STARTED_AT]
                row[_STARTED_AT] = f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond:06d}"
                params.extend(row)
            cursor = await driver.execute(_sqlite_insert(len(chunk)), params)
            await cursor.close()

    async def _bulk_execute(self, connection: AsyncConnection, rows: list[list[Any]]) -> list[list[Any]]:
        """MariaDB: the rows in COM_STMT_BULK_EXECUTE commands of at most _BULK_CHARS characters of text each.

        Returns the rows it did not send: all of them when the server has no bulk command (MySQL), a chunk
        whose values the command cannot type (it checks before sending anything).
        """
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # asyncmy's Connection
        if not getattr(driver, "_bulk_supported", True):  # known after the handshake
            return rows
        chunks: list[list[list[Any]]] = [[]]
        size = 0
        for row in rows:
            chars = sum(len(row[i]) for i in _TEXT if row[i] is not None)
            if chunks[-1] and size + chars > _BULK_CHARS:
                chunks.append([])
                size = 0
            chunks[-1].append(row)
            size += chars
        unsent: list[list[Any]] = []
        for chunk in chunks:
            # A column NULL in every row has no type to send: left out, it defaults to NULL.
            keep = [i for i in range(len(_COLUMNS)) if i not in _NULLABLE or any(row[i] is not None for row in chunk)]
            # MariaDB's DATETIME has no zone: naive UTC, as app.models.base.UTCDateTime stores it.
            values = [tuple(row[i].replace(tzinfo=None) if i == _STARTED_AT else row[i] for i in keep) for row in chunk]
            names = ", ".join(f"`{_COLUMNS[i]}`" for i in keep)
            marks = ", ".join("?" * len(keep))
            statement = await driver.prepare(f"INSERT INTO `{_TABLE.name}` ({names}) VALUES ({marks})")
            try:
                await statement.execute_bulk(values)
            except (ValueError, asyncmy.errors.NotSupportedError):  # raised before anything was sent
                unsent.extend(chunk)
            finally:
                with contextlib.suppress(Exception):  # deallocation only; a broken connection fails the commit
                    await statement.close()
        return unsent

    def _insert(self, session: AsyncSession) -> Insert:
        if self._statement is None:
            dialect = session.sync_session.get_bind().dialect
            serialized = {}
            for name in _JSON_COLUMNS:  # already JSON text (see put): bound as text, not serialized again
                text = bindparam(f"{name}_json", type_=Text())
                serialized[name] = cast(text, JSON) if dialect.name == "postgresql" else text
            # Core, not the ORM bulk path: the rows are plain column values.
            statement = insert(_TABLE).values(serialized)
            if dialect.name == "sqlite" and dialect.insert_returning and dialect.use_insertmanyvalues:
                statement = statement.returning(_TABLE.c.id)  # one multi-row INSERT per page of rows
            self._statement = statement
        return self._statement
