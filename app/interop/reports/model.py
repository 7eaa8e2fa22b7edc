"""What every reporter is given: a run's summary and a way to stream its results.

The server builds these from a ScenarioRun and its ApiRequestRun rows, `exile run` from the engine's
results as they come; a reporter never knows which, and never needs all results in memory at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.engine.results import Counts, StepResult


@dataclass
class StepSummary:
    """One step of the flow ("setup:0", "step:3", "teardown:0"), counted over its final results."""

    key: str
    name: str
    counts: Counts = field(default_factory=Counts)
    duration_ms: float = 0.0


@dataclass
class ReportRun:
    title: str  # the scenario's or the collection's name
    run_id: int | None  # None for a serverless `exile run`
    status: str  # the run's final status (passed | failed | error | cancelled | interrupted)
    started_at: datetime
    finished_at: datetime | None
    requests: Counts
    iterations: Counts
    steps: list[StepSummary]  # in flow order: setup, steps, teardown
    error: str | None = None
    ci: dict[str, Any] = field(default_factory=dict)  # trigger and CI metadata as the run was started with
    links: dict[str, str] = field(default_factory=dict)  # report URLs, when the run lives on a server
    # Names that label a result (JUnit testcase names, the HTML page): a case dataset's id -> its name (fan-out
    # rows), and an iteration -> its data row's name. Optional: a result without one is labelled by numbers.
    dataset_names: dict[int, str] = field(default_factory=dict)
    row_names: dict[int, str] = field(default_factory=dict)


# Called once per reporter (so it may be called more than once); yields the run's final results
# (StepResult.is_final) ordered by the step's place in `ReportRun.steps`, then by iteration.
RecordSource = Callable[[], Iterator[StepResult]]
