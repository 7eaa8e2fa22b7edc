"""What a file proposes to add to a project, in one shape for every format.

Each format module (curl, har, postman, openapi, the Exile file) reads its file into a ProjectContent;
one service applies it through the normal services (validation, permissions, audit) or, on a dry run,
only checks it; exports and `exile run` start from the same shape. The content is checked with the same
models the API checks (a case is a CaseCreate without its project), so an import can never store what
the API would refuse, and everything a format could not translate is listed with where it is in the
source file: nothing is dropped silently.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.cases.schemas import CaseCreate
from app.core.schemas import EntityId, InputModel, VariableMap
from app.engine.specs import ScenarioSettings
from app.environments.schemas import EnvironmentCreate
from app.scenarios.schemas import SetupStep


def add_query_value(query: dict[str, Any], key: str, value: str) -> None:
    """A query parameter into a case's `query`: a key seen again becomes a list, in order."""
    if key not in query:
        query[key] = value
    elif isinstance(query[key], list):
        query[key].append(value)
    else:
        query[key] = [query[key], value]


class UnreadableFile(ValueError):
    """The file cannot be read at all: nothing is created. `where` is a path into the document."""

    def __init__(self, where: str, expected: str) -> None:
        super().__init__(f"{where}: {expected}")
        self.where = where
        self.expected = expected


class NotTranslated(BaseModel):
    """A part of the source that has no equivalent here (yet), and why."""

    location: str  # a path into the source: "item[2].event[test].script.exec[4]", "option -o"
    source: str = Field(max_length=2000)  # the text as it is in the file
    reason: str


class DatasetContent(InputModel):
    name: str = Field(max_length=200)
    variables: VariableMap = Field(default_factory=dict)
    enabled: bool = True


class CaseContent(CaseCreate):
    """A case as the API would create it; `key` is how the file's steps refer to it."""

    project_id: EntityId | None = None  # type: ignore[assignment]  # given when it is applied
    key: str = Field(min_length=1, max_length=200)
    datasets: list[DatasetContent] = Field(default_factory=list)


class StepContent(SetupStep):
    case_id: EntityId | None = None  # type: ignore[assignment]  # resolved from `case` when applied
    case: str = Field(min_length=1, max_length=200)  # the key of a case in the same content
    # A step's fan-out over its case's datasets (steps only; setup and teardown run once): "selected" names
    # the datasets by name, since their ids exist only once the file is applied.
    dataset_mode: Literal["none", "all", "selected"] = "none"
    datasets: list[str] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _datasets_fit_mode(self) -> StepContent:
        if self.dataset_mode == "selected" and not self.datasets:
            raise ValueError("dataset_mode 'selected' needs at least one dataset name in datasets")
        if self.dataset_mode != "selected" and self.datasets:
            raise ValueError(f"datasets are only used with dataset_mode 'selected', not '{self.dataset_mode}'")
        if len(set(self.datasets)) != len(self.datasets):
            raise ValueError("datasets names a dataset twice")
        return self


class ScenarioContent(InputModel):
    key: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    variables: VariableMap = Field(default_factory=dict)
    settings: ScenarioSettings = Field(default_factory=ScenarioSettings)
    steps: list[StepContent] = Field(default_factory=list)
    setup: list[StepContent] = Field(default_factory=list)
    teardown: list[StepContent] = Field(default_factory=list)
    rows: list[VariableMap] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class EnvironmentContent(EnvironmentCreate):
    pass


class ProjectContent(BaseModel):
    """Everything one file proposes, and everything it held that could not be translated."""

    model_config = ConfigDict(extra="forbid")

    kind: str  # the format it was read from
    cases: list[CaseContent] = Field(default_factory=list)
    scenarios: list[ScenarioContent] = Field(default_factory=list)
    environments: list[EnvironmentContent] = Field(default_factory=list)
    not_translated: list[NotTranslated] = Field(default_factory=list)

    def case(self, key: str) -> CaseContent:
        return next(case for case in self.cases if case.key == key)

    def skip(self, location: str, source: Any, reason: str) -> None:
        self.not_translated.append(NotTranslated(location=location, source=str(source)[:2000], reason=reason))
