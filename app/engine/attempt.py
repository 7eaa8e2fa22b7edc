"""Small values the parts of a run hand each other: where a step runs, and what one attempt of it produced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.engine.compiled import CompiledStep
from app.engine.exchange import IterationState
from app.engine.results import StepResult
from app.engine.specs import DatasetSpec
from app.engine.statuses import ResultStatus
from app.engine.transport import PreparedRequest, Response


@dataclass(slots=True, frozen=True)
class StepPosition:
    """Where a step runs: its iteration (-1 for setup and teardown), which attempt of that iteration, the dataset
    row of a fan-out, and `buffer`, where results wait while the iteration may still be retried (None: straight on).
    """

    step: CompiledStep
    iteration: int
    iteration_attempt: int
    buffer: list[StepResult] | None
    dataset: DatasetSpec | None = None


@dataclass(slots=True)
class IterationContext:
    """One attempt of one iteration (or of setup or teardown): where its steps record and what they share.

    `runtime` holds the values set or extracted at run time (the highest scope layer), `state` the iteration's
    cookies and what it derived from secrets, `layers` the scope layers below the steps' own, highest first.
    """

    iteration: int
    iteration_attempt: int
    buffer: list[StepResult] | None
    runtime: dict[str, Any]
    state: IterationState
    layers: list[Any]

    def at(self, step: CompiledStep, dataset: DatasetSpec | None = None) -> StepPosition:
        return StepPosition(step, self.iteration, self.iteration_attempt, self.buffer, dataset)


class Attempt:
    """What one send (with its polling) produced, before it becomes a StepResult."""

    __slots__ = (
        "assertions", "error", "extracted", "network_error", "prepared", "response", "response_secret", "status",
    )  # fmt: skip

    def __init__(self) -> None:
        self.prepared: PreparedRequest | None = None
        self.response: Response | None = None
        self.error: str | None = None
        self.network_error = False
        self.assertions: list[dict[str, Any]] = []
        self.extracted: dict[str, Any] = {}
        self.status = ResultStatus.PASSED
        self.response_secret: tuple[Response, bool] | None = None  # whether that response shows a secret

    def fail(self, status: ResultStatus, error: str) -> None:
        """The attempt ends here (an error, or a check that could not run)."""
        self.status, self.error = status, error
