"""Schedules, their fires, and code-host triggers: what the API takes and answers."""

from __future__ import annotations

import re
import string
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints

from app.core.schemas import EntityId, InputModel, Name, PatchModel, ReadModel, VariableMap
from app.models.schedule import FireOutcome
from app.schedules import cron, hooks

MASK = "******"
Provider = Literal["github", "gitlab"]
HookEvent = Literal["push", "pull_request"]


def _check_branch_pattern(value: str) -> str:
    try:
        hooks.branch_pattern(value.removeprefix("!"))
    except re.error as exc:  # a reversed range: [z-a]
        raise ValueError(f"not a branch filter: {exc}") from None
    return value


BranchPattern = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_check_branch_pattern)
]
GraceSeconds = Annotated[int, Field(ge=0, le=7 * 86400, description="How late a tick may be found and still run.")]
# What a commit-status URL template may use, each URL-encoded (repository_path keeps its slashes).
STATUS_URL_FIELDS = ("repository", "repository_path", "repository_id", "commit", "branch")


def _check_cron(value: str) -> str:
    try:
        return cron.parse(value, "UTC").expression
    except cron.CronError as exc:
        raise ValueError(str(exc)) from None


def _check_zone(value: str) -> str:
    try:
        return cron.zone_of(value).key
    except cron.CronError as exc:
        raise ValueError(str(exc)) from None


CronExpression = Annotated[
    str,
    Field(
        max_length=cron.MAX_EXPRESSION,
        description="5 fields (minute hour day month weekday), or 6 with seconds first, or @daily and the like.",
        examples=["0 2 * * *", "*/10 * * * * *"],
    ),
    AfterValidator(_check_cron),
]
TimeZone = Annotated[
    str,
    Field(max_length=cron.MAX_ZONE, description="An IANA time zone name.", examples=["UTC", "Europe/Berlin"]),
    AfterValidator(_check_zone),
]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


BranchFilters = Annotated[list[BranchPattern], Field(min_length=1, max_length=50)]


def _some_branches(patterns: list[str]) -> list[str]:
    if all(pattern.startswith("!") for pattern in patterns):
        raise ValueError("only patterns that leave branches out (!): add one that takes some, such as **")
    return _unique(patterns)


def _check_status_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.lower().startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise ValueError(f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from None
    for name in names:
        if name not in STATUS_URL_FIELDS:
            raise ValueError(
                f"uses {{{name}}}; the template may use {', '.join('{' + n + '}' for n in STATUS_URL_FIELDS)}"
            )
    return value


StatusUrl = Annotated[
    str | None,
    Field(
        max_length=2048,
        description="Where to POST the commit status when a run ends; may use "
        + ", ".join("{" + n + "}" for n in STATUS_URL_FIELDS),
        examples=["https://api.github.com/repos/{repository_path}/statuses/{commit}"],
    ),
    AfterValidator(_check_status_url),
]
StatusToken = Annotated[str | None, Field(max_length=1000, description="Sent as the code host's token; write-only.")]


# ---- schedules -------------------------------------------------------------------------------------------
class ScheduleCreate(InputModel):
    name: Name
    scenario_id: EntityId | None = None
    plan_id: EntityId | None = None
    cron: CronExpression
    timezone: TimeZone = "UTC"
    environment_id: EntityId | None = None
    variables: VariableMap = Field(default_factory=dict)
    enabled: bool = True
    allow_overlap: bool = False
    grace_seconds: GraceSeconds = 300


class ScheduleUpdate(PatchModel):
    nullable_fields: ClassVar[frozenset[str]] = frozenset({"scenario_id", "plan_id", "environment_id"})

    name: Name | None = None
    scenario_id: EntityId | None = None
    plan_id: EntityId | None = None
    cron: CronExpression | None = None
    timezone: TimeZone | None = None
    environment_id: EntityId | None = None
    variables: dict[str, Any] | None = Field(None, description="JSON Merge Patch (RFC 7396) into the stored ones.")
    enabled: bool | None = None
    allow_overlap: bool | None = None
    grace_seconds: GraceSeconds | None = None


class ScheduleRead(ReadModel):
    id: int
    project_id: int
    owner_id: int
    name: str
    scenario_id: int | None
    plan_id: int | None
    cron: str
    timezone: str
    environment_id: int | None
    variables: dict[str, Any]
    enabled: bool
    allow_overlap: bool
    grace_seconds: int
    next_fire_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class ScheduleDetail(ScheduleRead):
    next_fire_times: list[datetime] = Field(description="The next 5 ticks, in UTC (also while disabled).")
    next_fire_times_local: list[str] = Field(description="The same ticks in the schedule's time zone, with offset.")


class ScheduleFireRead(ReadModel):
    id: int
    schedule_id: int
    tick_at: datetime
    outcome: FireOutcome
    run_id: int | None
    plan_run_id: int | None
    detail: str | None
    recorded_at: datetime
    recorded_by: str


# ---- code-host triggers ------------------------------------------------------------------------------------
class TriggerCreate(InputModel):
    name: Name
    provider: Provider
    events: Annotated[list[HookEvent], Field(min_length=1, max_length=2), AfterValidator(_unique)] = Field(
        default_factory=lambda: ["push"]  # type: ignore[arg-type]
    )
    branches: Annotated[BranchFilters, AfterValidator(_some_branches)] = Field(
        default_factory=lambda: ["**"],
        description=(
            "Branch filters as GitHub Actions reads them: `*` any characters but `/`, `**` any characters "
            "(`main`, `release/*`, `feature/**`; `**` is every branch); in order, `!` leaving out what matched "
            "before (`release/**`, `!release/**-alpha`); a pull request is matched by its target branch."
        ),
    )
    scenario_id: EntityId | None = None
    plan_id: EntityId | None = None
    environment_id: EntityId | None = None
    variables: VariableMap = Field(default_factory=dict)
    enabled: bool = True
    status_url: StatusUrl = None
    status_token: StatusToken = None


class TriggerUpdate(PatchModel):
    nullable_fields: ClassVar[frozenset[str]] = frozenset(
        {"scenario_id", "plan_id", "environment_id", "status_url", "status_token"}
    )

    name: Name | None = None
    events: Annotated[list[HookEvent], Field(min_length=1, max_length=2), AfterValidator(_unique)] | None = None
    branches: Annotated[BranchFilters, AfterValidator(_some_branches)] | None = None
    scenario_id: EntityId | None = None
    plan_id: EntityId | None = None
    environment_id: EntityId | None = None
    variables: dict[str, Any] | None = Field(None, description="JSON Merge Patch (RFC 7396) into the stored ones.")
    enabled: bool | None = None
    status_url: StatusUrl = None
    status_token: StatusToken = Field(None, description=f"'{MASK}' keeps the stored token; null removes it.")


class TriggerRead(ReadModel):
    id: int
    project_id: int
    owner_id: int
    name: str
    provider: Provider
    events: list[str]
    branches: list[str]
    scenario_id: int | None
    plan_id: int | None
    environment_id: int | None
    variables: dict[str, Any]
    enabled: bool
    token_prefix: str = Field(description="The start of the hook token, to tell triggers apart.")
    status_url: str | None
    status_token: str | None = Field(description=f"'{MASK}' when one is set (never shown).")
    last_delivery_at: datetime | None
    last_outcome: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class TriggerSecrets(TriggerRead):
    """Shown once, at creation or rotation: the hook URL (its token) and the secret to give the code host."""

    hook_url: str
    token: str
    secret: str


class HookAnswer(ReadModel):
    status: Literal["started", "ignored"]
    reason: str | None = None
    run_id: int | None = None
    plan_run_id: int | None = None
    run_url: str | None = None
