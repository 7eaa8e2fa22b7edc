"""Test plans and plan runs as the API reads and writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from app.core.merge_patch import MERGE_PATCH_HELP
from app.core.schemas import (
    Description,
    EntityId,
    InputModel,
    Name,
    PatchModel,
    ReadModel,
    Status,
    Tags,
    Timestamps,
    VariableMap,
    Visibility,
)
from app.models.plan import PlanRunStatus
from app.runs.schemas import CallbackUrl, CiInfo

MAX_SCENARIOS = 500  # scenarios one plan run may start (ids listed, or matched by tags)
MAX_CONCURRENCY = 20


class Selection(InputModel):
    """Which scenarios a plan runs: the listed ids in their order, then the active scenarios with any of the tags."""

    scenario_ids: list[EntityId] = Field(default_factory=list, max_length=MAX_SCENARIOS)
    tags: Tags = Field(default_factory=list)

    @field_validator("scenario_ids")
    @classmethod
    def _unique(cls, ids: list[int]) -> list[int]:
        if len(set(ids)) != len(ids):
            raise ValueError("lists a scenario id twice")
        return ids


class StopRules(InputModel):
    """When a plan run stops starting scenarios (the ones running finish; the rest are `skipped`)."""

    stop_on_first_failure: bool = Field(
        False, description="After the first scenario run that does not pass, start no more (the plan fails)."
    )


class PassCriteria(InputModel):
    """The verdict of an ended plan run: passed when its pass rate is at least `min_pass_rate`.

    basis `scenario_runs`: passed scenario runs / scenarios selected (a scenario never started counts as not
    passed). basis `requests`: passed / (passed + failed + error) over the final request results of all its
    scenario runs (skipped steps do not count; a flaky pass is a pass).
    """

    min_pass_rate: float = Field(1.0, ge=0.0, le=1.0, description="A fraction: 0.95 is 95 %.")
    basis: Literal["scenario_runs", "requests"] = "scenario_runs"


class PlanCreate(InputModel):
    project_id: EntityId
    name: Name
    description: Description = ""
    selection: Selection
    environment_id: EntityId | None = None
    variables: VariableMap = Field(default_factory=dict)
    concurrency: int = Field(1, ge=1, le=MAX_CONCURRENCY, description="Scenario runs of one plan run at once.")
    stop_rules: StopRules = Field(default_factory=StopRules)
    pass_criteria: PassCriteria = Field(default_factory=PassCriteria)
    status: Status = "active"
    visibility: Visibility = "project"


class PlanUpdate(PatchModel):
    nullable_fields = frozenset({"environment_id"})

    name: Name | None = None
    description: Description | None = None
    selection: Selection | None = Field(None, description="Replaces the whole selection.")
    environment_id: EntityId | None = None
    variables: VariableMap | None = Field(None, description=f"Variables to change. {MERGE_PATCH_HELP}")
    concurrency: int | None = Field(None, ge=1, le=MAX_CONCURRENCY)
    stop_rules: dict[str, Any] | None = Field(None, description=f"{MERGE_PATCH_HELP} Checked as on create.")
    pass_criteria: dict[str, Any] | None = Field(None, description=f"{MERGE_PATCH_HELP} Checked as on create.")
    status: Status | None = None
    visibility: Visibility | None = None


class PlanRead(Timestamps):
    id: int
    project_id: int
    owner_id: int
    name: str
    description: str
    selection: dict[str, Any]
    environment_id: int | None
    variables: dict[str, Any]
    concurrency: int
    stop_rules: dict[str, Any]
    pass_criteria: dict[str, Any]
    status: str
    visibility: str
    version: int


class PlanRunCreate(InputModel):
    environment_id: EntityId | None = Field(None, description="Instead of the plan's environment.")
    variables: VariableMap = Field(default_factory=dict, description="Over the plan's variables, key by key.")
    ci: CiInfo = Field(default_factory=CiInfo, description="Commit, branch and build URL, given to every run.")
    callback_url: CallbackUrl = None


class PlanRunItem(ReadModel):
    """One selected scenario: `pending` until it starts, `skipped` if it never will, else its run's status."""

    scenario_id: int
    name: str
    run_id: int | None
    status: str


class ScenarioCounts(ReadModel):
    """passed + failed + error + cancelled + skipped + active = total (error includes interrupted)."""

    total: int
    passed: int
    failed: int
    error: int
    cancelled: int
    skipped: int
    active: int


class PlanIterationCounts(ReadModel):
    passed: int
    failed: int
    error: int
    flaky: int


class PlanRequestCounts(ReadModel):
    total: int
    passed: int
    failed: int
    error: int
    skipped: int
    flaky: int


class PlanRunRead(ReadModel):
    id: int
    plan_id: int | None
    project_id: int
    plan_name: str
    status: PlanRunStatus
    trigger: dict[str, Any]
    environment_id: int | None
    created_by_id: int | None
    variables: dict[str, Any]
    callback_url: str | None
    callback_delivery_id: int | None
    concurrency: int
    stop_rules: dict[str, Any]
    pass_criteria: dict[str, Any]
    scenarios: ScenarioCounts
    iterations: PlanIterationCounts
    requests: PlanRequestCounts
    pass_rate: float | None
    stopped: bool
    cancel_requested: bool
    error: str | None
    items: list[PlanRunItem]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    links: dict[str, str]
