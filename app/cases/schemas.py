from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

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
    Assertions,
    AuthSpec,
    BodySpec,
    Extractors,
    Headers,
    Method,
    PollSpec,
    PostProcessors,
    PreProcessors,
    Query,
    RequestSpec,
    RetrySpec,
    TimeoutMs,
    Url,
)


class CaseCreate(InputModel, RequestSpec):
    """A case: its request as the engine runs it (RequestSpec's fields and defaults), and where it lives."""

    project_id: EntityId
    name: Name
    description: Description = ""
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
