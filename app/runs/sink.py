"""Writes StepResults in batches: one multi-row INSERT and one counts UPDATE per batch, never per request.

The writes run in a background task, so the iterations keep sending while a batch is stored; at most
`max_pending` full batches wait for the database (backpressure: memory stays bounded on a slow database).

On SQLite the batch goes out as one `INSERT ... VALUES (...), (...) RETURNING id` (SQLAlchemy's
"insertmanyvalues"), not as an executemany: aiosqlite runs the driver in its own thread, and executemany
takes the GIL back once per row, each time waiting for the busy event-loop thread to let go of it (up to
the 5 ms switch interval). Measured on the order-flow benchmark at 16 in flight: about 0.8 s per
500-row batch as executemany, a few tens of ms as one statement.

The JSON columns are serialized when a result is put, not when its batch is written: a buffered row is then
a handful of strings and numbers instead of ~30 nested dicts and lists that survive into the garbage
collector's oldest generation. On the order-flow benchmark (16 in flight) that took the garbage collector's
share from about 24 us to 3 us per request. The INSERT binds them as text (cast to JSON on PostgreSQL), stored exactly
as SQLAlchemy's JSON type would store them (`None` included, as JSON null).

A buffered row reaches the database within `flush_seconds` even when the batch is not full: that bounds
what a killed executor loses (README, "What a killed executor loses"). A reference that vanished while
the run went on never costs the batch: records outlive their case (case_id set to NULL, the name kept),
and a run whose own row was deleted (its project was) stops quietly.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import orjson
from sqlalchemy import JSON, Insert, Table, Text, bindparam, cast, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.engine.results import StepResult
from app.models import ApiRequest, ApiRequestRun, ScenarioRun

logger = logging.getLogger("exile.runs")

_COUNTED = ("passed", "failed", "error", "skipped")
_TABLE: Table = ApiRequestRun.__table__  # type: ignore[assignment]
_JSON_COLUMNS = ("request", "dataset", "response", "assertions", "extracted")


def _json(value: Any) -> str:
    """What app.core.db's json_serializer makes of a JSON column's value."""
    return orjson.dumps(value).decode()


class _Batch:
    __slots__ = ("counts", "done", "rows")

    def __init__(self, rows: list[dict[str, Any]], counts: dict[str, int]) -> None:
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
    ) -> None:
        self._session_factory = session_factory
        self._run_id = run_id
        self._batch_size = batch_size
        self._max_pending = max(1, max_pending)
        self._flush_seconds = flush_seconds
        self._timer: asyncio.TimerHandle | None = None
        # Set when the run's own row is gone (its project was deleted): the executor stops, nothing is kept.
        self.run_gone = run_gone or asyncio.Event()
        self._rows: list[dict[str, Any]] = []
        self._counts = dict.fromkeys((*_COUNTED, "flaky"), 0)
        self._batches: deque[_Batch] = deque()
        self._writer: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        self._statement: Insert | None = None
        self.written = 0

    async def put(self, result: StepResult) -> None:
        self._raise_error()
        if self.run_gone.is_set():
            return
        if not self._rows and self._timer is None:  # the first row of a batch starts the time bound
            self._timer = asyncio.get_running_loop().call_later(self._flush_seconds, self._submit)
        self._rows.append(
            {
                "scenario_run_id": self._run_id,
                "case_id": result.case_id,
                "step_id": result.step_id,
                "dataset_id": result.dataset_id,
                "step_key": result.step_key,
                "name": result.name[:200],
                "iteration": result.iteration,
                "attempt": result.attempt,
                "iteration_attempt": result.iteration_attempt,
                "is_final": result.is_final,
                "flaky": result.flaky,
                "status": result.status,
                "started_at": result.started_at,
                "duration_ms": result.duration_ms,
                "error": result.error,
                "request_json": _json(result.request),
                "dataset_json": _json(result.dataset),
                "response_json": _json(result.response),
                "assertions_json": _json(result.assertions),
                "extracted_json": _json(result.extracted),
            }
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

    async def _write(self, rows: list[dict[str, Any]], counts: dict[str, int]) -> int:
        """Store one batch; returns how many rows were stored."""
        if self.run_gone.is_set():
            return 0
        try:
            await self._write_once(rows, counts)
        except IntegrityError:
            # A reference vanished between the delete guard and this write (a deleted case or run).
            if not await self._detach_vanished(rows):
                return 0
            await self._write_once(rows, counts)
        except Exception as exc:  # transient (a deadlock with a concurrent delete, a dropped connection): once more
            logger.warning("writing results of run %s failed, retrying: %s: %s", self._run_id, type(exc).__name__, exc)
            await asyncio.sleep(0.2)
            if not await self._detach_vanished(rows):
                return 0
            await self._write_once(rows, counts)
        return len(rows)

    async def _detach_vanished(self, rows: list[dict[str, Any]]) -> bool:
        """Null the case ids that no longer exist; False when the run's own row is gone (nothing to keep)."""
        case_ids = {row["case_id"] for row in rows if row["case_id"] is not None}
        async with self._session_factory() as session:
            run_exists = await session.scalar(select(ScenarioRun.id).where(ScenarioRun.id == self._run_id))
            existing = set(await session.scalars(select(ApiRequest.id).where(ApiRequest.id.in_(case_ids))))
        if run_exists is None:
            logger.info("run %s was deleted while it ran; its remaining results are dropped", self._run_id)
            self.run_gone.set()
            return False
        for row in rows:
            if row["case_id"] is not None and row["case_id"] not in existing:
                row["case_id"] = None  # the record keeps the case's name in `name`
        return True

    async def _write_once(self, rows: list[dict[str, Any]], counts: dict[str, int]) -> None:
        async with self._session_factory() as session:
            await session.execute(self._insert(session), rows)
            deltas = {
                f"requests_{name}": getattr(ScenarioRun, f"requests_{name}") + count
                for name, count in counts.items()
                if count
            }
            if deltas:
                await session.execute(update(ScenarioRun).where(ScenarioRun.id == self._run_id).values(**deltas))
            await session.commit()

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
