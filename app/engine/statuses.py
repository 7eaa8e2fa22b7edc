"""The status vocabularies, defined once: the engine, the sink, the models and the API schemas share them.

They are `StrEnum`s: a member is its value (``ResultStatus.PASSED == "passed"``), so it is stored in the
database's plain string columns, serialized in JSON and compared with stored values as the string itself.
"""

from __future__ import annotations

from enum import StrEnum


class ResultStatus(StrEnum):
    """How one attempt of one step ended (an `ApiRequestRun` row, a `StepResult`)."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    """Where a run is: queued and running while active, then one of the five ends (a `ScenarioRun` row)."""

    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


# A run in one of these may still write records; every other status is final.
ACTIVE: tuple[RunStatus, ...] = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED: tuple[RunStatus, ...] = tuple(status for status in RunStatus if status not in ACTIVE)
# Results that do not make their iteration fail.
NOT_FAILING: tuple[ResultStatus, ...] = (ResultStatus.PASSED, ResultStatus.SKIPPED)
FAILING: tuple[ResultStatus, ...] = (ResultStatus.FAILED, ResultStatus.ERROR)
