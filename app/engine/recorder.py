"""Turns what the steps did into StepResults and hands them on (an iteration's buffer, or the caller's sink)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from app.engine.attempt import Attempt, StepPosition
from app.engine.clock import Clock
from app.engine.compiled import CompiledStep
from app.engine.results import Counts, ResultSink, StepResult
from app.engine.snapshots import Snapshots
from app.engine.statuses import FAILING, ResultStatus


class Recorder:
    """Builds every StepResult of a run, counts the final ones and keeps each part's first failure."""

    def __init__(self, sink: ResultSink, snapshots: Snapshots, clock: Clock) -> None:
        self.sink = sink
        self.snapshots = snapshots
        self.clock = clock
        self.requests = Counts()
        # The first final failed/error result of each part ("setup", "step", "teardown"): the run's error names it.
        self.first_failure: dict[str, StepResult] = {}

    def result(
        self,
        at: StepPosition,
        attempt: int,
        scope: Mapping[str, Any],
        outcome: Attempt,
        started_at: datetime,
        duration_ms: float,
    ) -> StepResult:
        """One attempt's result: snapshots JSON-safe, masked and bounded here, so the sink can never fail on them."""
        snapshots, step, dataset = self.snapshots, at.step, at.dataset
        return StepResult(
            step_key=step.key,
            case_id=step.spec.case.id,
            step_id=step.spec.step_id,
            dataset_id=dataset.id if dataset else None,
            iteration=at.iteration,
            attempt=attempt,
            iteration_attempt=at.iteration_attempt,
            is_final=True,
            flaky=False,
            status=outcome.status,
            started_at=started_at,
            duration_ms=round(duration_ms, 3),
            request=snapshots.request(outcome.prepared) if outcome.prepared is not None else None,
            dataset=snapshots.dataset(dataset, scope),
            response=snapshots.response(outcome.response) if outcome.response is not None else None,
            error=snapshots.text(outcome.error) if outcome.error else None,
            assertions=snapshots.checks(outcome.assertions),
            extracted=snapshots.values(outcome.extracted),
            name=step.name,
        )

    async def without_request(self, at: StepPosition, status: ResultStatus, why: str) -> None:
        """A result with no request: skipped, or an error before anything could be sent."""
        step, dataset = at.step, at.dataset
        result = StepResult(
            step_key=step.key,
            case_id=step.spec.case.id,
            step_id=step.spec.step_id,
            dataset_id=dataset.id if dataset else None,
            iteration=at.iteration,
            attempt=1,
            iteration_attempt=at.iteration_attempt,
            is_final=True,
            flaky=False,
            status=status,
            started_at=self.clock.wall(),
            duration_ms=0.0,
            error=self.snapshots.text(why),
            name=step.name,
        )
        await self.emit(result, at.buffer)

    async def skipped(self, at: StepPosition, why: str) -> None:
        await self.without_request(at, ResultStatus.SKIPPED, why)

    async def not_started(
        self,
        steps: Iterable[CompiledStep],
        iteration: int,
        iteration_attempt: int,
        buffer: list[StepResult] | None,
        why: str,
    ) -> None:
        """Steps a cancel or timeout kept from starting, recorded as skipped so the records add up."""
        for step in steps:
            if step.spec.enabled:
                await self.skipped(StepPosition(step, iteration, iteration_attempt, buffer), f"not started: {why}")

    async def emit(self, result: StepResult, buffer: list[StepResult] | None = None) -> None:
        """Into the buffer while the iteration may be retried; else counted (when final) and to the sink."""
        if buffer is not None:
            buffer.append(result)
            return
        if result.is_final:
            self.requests.add(result.status, result.flaky)
            if result.status in FAILING:
                self.first_failure.setdefault(result.step_key.split(":", 1)[0], result)
        await self.sink.put(result)
