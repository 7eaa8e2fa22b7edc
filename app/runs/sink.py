"""Writes StepResults in batches: one multi-row INSERT and one counts UPDATE per batch, never per request."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.engine.results import StepResult
from app.models import ApiRequestRun, ScenarioRun

_COUNTED = ("passed", "failed", "error", "skipped")


class DatabaseSink:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], run_id: int, batch_size: int = 500) -> None:
        self._session_factory = session_factory
        self._run_id = run_id
        self._batch_size = batch_size
        self._rows: list[dict[str, Any]] = []
        self._counts = dict.fromkeys((*_COUNTED, "flaky"), 0)
        self._lock = asyncio.Lock()
        self.written = 0

    async def put(self, result: StepResult) -> None:
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
                "request": result.request,
                "dataset": result.dataset,
                "response": result.response,
                "error": result.error,
                "assertions": result.assertions,
                "extracted": result.extracted,
            }
        )
        if result.is_final:
            self._counts[result.status] += 1
            if result.flaky:
                self._counts["flaky"] += 1
        if len(self._rows) >= self._batch_size:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            rows, self._rows = self._rows, []
            counts, self._counts = self._counts, dict.fromkeys(self._counts, 0)
            if not rows:
                return
            async with self._session_factory() as session:
                await session.execute(insert(ApiRequestRun), rows)
                deltas = {
                    f"requests_{name}": getattr(ScenarioRun, f"requests_{name}") + count
                    for name, count in counts.items()
                    if count
                }
                if deltas:
                    await session.execute(update(ScenarioRun).where(ScenarioRun.id == self._run_id).values(**deltas))
                await session.commit()
            self.written += len(rows)
