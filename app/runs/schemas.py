from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from app.core.schemas import EntityId, InputModel, ReadModel, VariableMap
from app.engine.statuses import ResultStatus, RunStatus


def _check_callback(value: str | None) -> str | None:
    if value is not None and not value.lower().startswith(("http://", "https://")):
        raise ValueError("callback_url must be an http:// or https:// URL")
    return value


Trigger = Literal["manual", "api", "ci", "schedule"]
CallbackUrl = Annotated[str | None, Field(max_length=2048), AfterValidator(_check_callback)]


class CiInfo(InputModel):
    commit: Annotated[str, Field(max_length=200)] | None = None
    branch: Annotated[str, Field(max_length=500)] | None = None
    build_url: Annotated[str, Field(max_length=2048)] | None = None


class ScenarioRunCreate(InputModel):
    environment_id: EntityId | None = None
    variables: VariableMap = Field(default_factory=dict)
    concurrency: int | None = Field(None, ge=1, le=256)
    trigger: Trigger | None = None
    ci: CiInfo = Field(default_factory=CiInfo)
    callback_url: CallbackUrl = None


class CaseRunCreate(InputModel):
    environment_id: EntityId | None = None
    variables: VariableMap = Field(default_factory=dict)
    dataset_ids: list[EntityId] | None = Field(None, max_length=100_000)


class RerunCreate(InputModel):
    only: Literal["failed", "all"] = "failed"


class RunCounts(ReadModel):
    """passed + failed + error + skipped = total (flaky counts some of the passed)."""

    total: int | None = None
    passed: int
    failed: int
    error: int
    skipped: int = 0
    flaky: int = 0


class IterationCounts(RunCounts):
    """passed + failed + error + not_run = total."""

    not_run: int = 0


class ScenarioRunRead(ReadModel):
    id: int
    project_id: int
    scenario_id: int | None
    case_id: int | None
    kind: str
    status: RunStatus
    trigger: str
    executor: str
    environment_id: int | None
    created_by_id: int | None
    variables: dict[str, Any]
    ci: dict[str, Any]
    callback_url: str | None
    settings: dict[str, Any]
    rerun_of_id: int | None
    only_iterations: list[int] | None
    iterations: IterationCounts
    requests: RunCounts
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    duration_ms: float | None
    cancel_requested: bool
    error: str | None


class ApiRequestRunRead(ReadModel):
    id: int
    scenario_run_id: int
    case_id: int | None
    step_id: int | None
    dataset_id: int | None
    step_key: str
    name: str
    iteration: int
    attempt: int
    iteration_attempt: int
    is_final: bool
    flaky: bool
    status: ResultStatus
    started_at: datetime
    duration_ms: float
    error: str | None
    assertions: list[Any]
    extracted: dict[str, Any]


class ApiRequestRunDetail(ApiRequestRunRead):
    request: dict[str, Any] | None
    dataset: dict[str, Any] | None
    response: dict[str, Any] | None


class CaseRunResult(ReadModel):
    run: ScenarioRunRead
    items: list[ApiRequestRunDetail]
