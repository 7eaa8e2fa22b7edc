from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, Field

from app.core.schemas import (
    Description,
    EntityId,
    InputModel,
    Name,
    PatchModel,
    RunPermission,
    Status,
    Tags,
    Timestamps,
    Visibility,
)
from app.engine.specs import (
    HTTP_METHODS,
    Assertion,
    AuthSpec,
    BodySpec,
    Extractor,
    NoAuth,
    PollSpec,
    Processor,
    RetrySpec,
    check_headers,
    check_url,
)


def _method(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip().upper()
        if value not in HTTP_METHODS:
            raise ValueError(f"'{value}' is not an HTTP method; use one of {', '.join(HTTP_METHODS)}")
    return value


def _pre_processors(processors: list[Any]) -> list[Any]:
    for index, processor in enumerate(processors):
        if processor.type in ("extract", "assert_expression"):
            raise ValueError(f"item {index}: '{processor.type}' needs a response; put it in post_processors")
    return processors


def _unique_extractor_names(extractors: list[Extractor]) -> list[Extractor]:
    seen: set[str] = set()
    for index, extractor in enumerate(extractors):
        if extractor.name in seen:
            raise ValueError(f"item {index}: another extractor already sets '{extractor.name}'")
        seen.add(extractor.name)
    return extractors


Method = Annotated[str, BeforeValidator(_method)]
Url = Annotated[str, Field(max_length=8192), AfterValidator(check_url)]
Headers = Annotated[dict[str, str], AfterValidator(check_headers)]
QueryValue = str | int | float | bool | list[str | int | float | bool]
Query = dict[str, QueryValue]
Extractors = Annotated[list[Extractor], Field(max_length=200), AfterValidator(_unique_extractor_names)]
Assertions = Annotated[list[Assertion], Field(max_length=500)]
PreProcessors = Annotated[list[Processor], Field(max_length=100), AfterValidator(_pre_processors)]
PostProcessors = Annotated[list[Processor], Field(max_length=100)]
TimeoutMs = Annotated[int, Field(ge=1, le=600_000)]


class CaseCreate(InputModel):
    project_id: EntityId
    name: Name
    description: Description = ""
    method: Method
    url: Url
    headers: Headers = Field(default_factory=dict)
    query: Query = Field(default_factory=dict)
    body: BodySpec = Field(default_factory=BodySpec)
    auth: AuthSpec = Field(default_factory=NoAuth)
    extractors: Extractors = Field(default_factory=list)
    assertions: Assertions = Field(default_factory=list)
    pre_processors: PreProcessors = Field(default_factory=list)
    post_processors: PostProcessors = Field(default_factory=list)
    poll: PollSpec | None = None
    timeout_ms: TimeoutMs = 10_000
    follow_redirects: bool = True
    retry: RetrySpec = Field(default_factory=RetrySpec)
    status: Status = "active"
    visibility: Visibility = "project"
    run_permission: RunPermission = "members"
    tags: Tags = Field(default_factory=list)


class CaseUpdate(PatchModel):
    nullable_fields: ClassVar[frozenset[str]] = frozenset({"poll"})

    name: Name | None = None
    description: Description | None = None
    method: Method | None = None
    url: Url | None = None
    headers: Headers | None = None
    query: Query | None = None
    body: BodySpec | None = None
    auth: AuthSpec | None = None
    extractors: Extractors | None = None
    assertions: Assertions | None = None
    pre_processors: PreProcessors | None = None
    post_processors: PostProcessors | None = None
    poll: PollSpec | None = None
    timeout_ms: TimeoutMs | None = None
    follow_redirects: bool | None = None
    retry: RetrySpec | None = None
    status: Status | None = None
    visibility: Visibility | None = None
    run_permission: RunPermission | None = None
    tags: Tags | None = None


class CaseRead(Timestamps):
    id: int
    project_id: EntityId
    owner_id: int
    name: str
    description: str
    method: str
    url: str
    headers: dict[str, Any]
    query: dict[str, Any]
    body: dict[str, Any]
    auth: dict[str, Any]
    extractors: list[Any]
    assertions: list[Any]
    pre_processors: list[Any]
    post_processors: list[Any]
    poll: dict[str, Any] | None
    timeout_ms: int
    follow_redirects: bool
    retry: dict[str, Any]
    status: str
    visibility: str
    run_permission: str
    tags: list[str]
    version: int


class CaseCloneRequest(InputModel):
    name: Name | None = None
    include_datasets: bool = True
