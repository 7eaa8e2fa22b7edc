"""Plain results the engine streams to its caller's sink (the caller decides how to store them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from app.engine.statuses import ResultStatus, RunStatus


@dataclass(slots=True)
class StepResult:
    """One attempt of one step (or one fan-out row of it) in one iteration."""

    step_key: str  # "setup:0", "step:3", "teardown:1": where in the flow
    case_id: int | None
    step_id: int | None
    dataset_id: int | None
    iteration: int  # -1 for setup and teardown
    attempt: int
    iteration_attempt: int
    is_final: bool
    flaky: bool
    status: ResultStatus
    started_at: datetime
    duration_ms: float
    request: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    error: str | None = None
    assertions: list[dict[str, Any]] = field(default_factory=list)
    extracted: dict[str, Any] = field(default_factory=dict)
    name: str = ""


class ResultSink(Protocol):
    async def put(self, result: StepResult) -> None: ...


class ListSink:
    """Keeps every result in memory: for tests and small runs (a case's "Send")."""

    def __init__(self) -> None:
        self.results: list[StepResult] = []

    async def put(self, result: StepResult) -> None:
        self.results.append(result)


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    error: int = 0
    skipped: int = 0
    flaky: int = 0

    def add(self, status: ResultStatus, flaky: bool = False) -> None:
        setattr(self, status, getattr(self, status) + 1)
        if flaky:
            self.flaky += 1

    def as_dict(self) -> dict[str, int]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "error": self.error,
            "skipped": self.skipped,
            "flaky": self.flaky,
        }


def describe_iterations(iterations: Counts, first_failure: str) -> str:
    """Why a run's iterations did not all pass, as its error says it (a sharded run sums its chunks')."""
    counted = iterations.passed + iterations.failed + iterations.error
    parts = []
    if iterations.failed:
        parts.append(f"{iterations.failed} of {counted} iterations failed")
    if iterations.error:
        parts.append(f"{iterations.error} of {counted} iterations ended in error")
    return f"{', '.join(parts)} (first: {first_failure})"


@dataclass
class FlowOutcome:
    status: RunStatus  # passed | failed | error | cancelled
    iterations: Counts
    requests: Counts
    started_at: datetime
    finished_at: datetime
    error: str | None = None
    not_passed_iterations: list[int] = field(default_factory=list)
    first_failure: str | None = None  # the first failing step of the iterations, as the error names it
