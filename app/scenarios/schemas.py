from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

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
from app.engine.specs import ScenarioSettings, check_safe_expression

SafeExpression = Annotated[str, Field(max_length=2000), AfterValidator(check_safe_expression)]
Alias = Annotated[str, Field(min_length=1, max_length=200)]


class SetupStep(InputModel):
    """A setup or teardown step: runs once per run, before or after all iterations."""

    case_id: EntityId
    alias: Alias | None = None
    enabled: bool = True
    skip_if: SafeExpression | None = None
    variables: VariableMap = Field(default_factory=dict)


class StepIn(SetupStep):
    id: EntityId | None = Field(None, description="Keep this step (update it in place); leave out to add a step.")
    position: int | None = Field(
        None, description="Ignored: the list's order is the order. Accepted so a GET can be sent back."
    )
    dataset_mode: Literal["none", "all", "selected"] = "none"
    dataset_ids: list[EntityId] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _datasets_fit_mode(self) -> StepIn:
        if self.dataset_mode == "selected" and not self.dataset_ids:
            raise ValueError("dataset_mode 'selected' needs at least one id in dataset_ids")
        if self.dataset_mode != "selected" and self.dataset_ids:
            raise ValueError(f"dataset_ids are only used with dataset_mode 'selected', not '{self.dataset_mode}'")
        if len(set(self.dataset_ids)) != len(self.dataset_ids):
            raise ValueError("dataset_ids lists an id twice")
        return self


class StepRead(ReadModel):
    id: int
    case_id: EntityId
    position: int
    alias: str | None
    enabled: bool
    skip_if: str | None
    variables: dict[str, Any]
    dataset_mode: str
    dataset_ids: list[int]


class ScenarioRowIn(InputModel):
    id: EntityId | None = Field(None, description="Keep this row (update it in place); leave out to add a row.")
    name: Annotated[str, Field(max_length=200)] = ""
    variables: VariableMap = Field(default_factory=dict)
    position: int | None = Field(None, description="Ignored: the list's order is the order.")


class ScenarioRowRead(ReadModel):
    id: int
    name: str
    variables: dict[str, Any]
    position: int


StepList = Annotated[list[StepIn], Field(max_length=500)]
RowList = Annotated[list[ScenarioRowIn], Field(max_length=100_000)]
SetupList = Annotated[list[SetupStep], Field(max_length=100)]


class ScenarioCreate(InputModel):
    project_id: EntityId
    name: Name
    description: Description = ""
    variables: VariableMap = Field(default_factory=dict)
    settings: ScenarioSettings = Field(default_factory=ScenarioSettings)
    setup: SetupList = Field(default_factory=list)
    teardown: SetupList = Field(default_factory=list)
    status: Status = "active"
    visibility: Visibility = "project"
    tags: Tags = Field(default_factory=list)


class ScenarioUpdate(PatchModel):
    name: Name | None = None
    description: Description | None = None
    variables: VariableMap | None = Field(None, description=f"Variables to change. {MERGE_PATCH_HELP}")
    settings: dict[str, Any] | None = Field(
        None,
        description=(
            f"Settings to change (concurrency, stop_on_failure, timeout_ms, retry, rate_limit). {MERGE_PATCH_HELP} "
            "The merged settings are checked as on create."
        ),
        examples=[{"stop_on_failure": False}, {"retry": {"max_attempts": 3}}],
    )
    setup: SetupList | None = None
    teardown: SetupList | None = None
    status: Status | None = None
    visibility: Visibility | None = None
    tags: Tags | None = None


class ScenarioRead(Timestamps):
    id: int
    project_id: EntityId
    owner_id: int
    name: str
    description: str
    variables: dict[str, Any]
    settings: dict[str, Any]
    setup: list[Any]
    teardown: list[Any]
    status: str
    visibility: str
    tags: list[str]
    version: int


class ScenarioCloneRequest(InputModel):
    name: Name | None = None
