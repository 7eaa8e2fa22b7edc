"""Field types and base models shared by the domain schemas."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.core.text import UNSTORABLE
from app.engine.specs import check_variables

# Ids fit a signed 64-bit column everywhere; a larger number is a 422, not an overflow deep in a driver.
MAX_ID = 2**63 - 1
EntityId = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=20_000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Status = Literal["draft", "active", "archived"]
Visibility = Literal["private", "project", "public"]
RunPermission = Literal["owner", "editors", "members"]
VariableMap = Annotated[dict[str, Any], AfterValidator(check_variables)]


def _unique_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


Tags = Annotated[list[Tag], Field(max_length=50), AfterValidator(_unique_tags)]


# orjson, which writes every JSON value we store, takes integers from -2**63 to 2**64-1 (signed and unsigned
# 64-bit ids both round-trip); PostgreSQL refuses NUL in text and JSON; no UTF-8 encoder takes a lone surrogate.
MIN_INT, MAX_INT = -(2**63), 2**64 - 1
MAX_JSON_DEPTH = 64  # orjson refuses to write deeper than 254; no test data needs more than a few levels


def _string_problem(text: str) -> str | None:
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored"
    return "contains a lone surrogate (an invalid \\uD800-\\uDFFF escape), which is not valid Unicode"


def json_problem(value: Any) -> tuple[list[str | int], str] | None:
    """Where (path) and why a JSON value cannot be stored as sent, or None; walks without recursion."""
    pending: list[tuple[Any, list[str | int]]] = [(value, [])]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            problem = _string_problem(item)
            if problem:
                return path, problem
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not MIN_INT <= item <= MAX_INT:
                return path, "integer outside the 64-bit range JSON values are stored in (-2**63 to 2**64-1)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path, "must be a finite number (JSON has no NaN or Infinity)"
        elif isinstance(item, dict | list):
            if len(path) >= MAX_JSON_DEPTH:
                return path, f"nests deeper than {MAX_JSON_DEPTH} levels"
            if isinstance(item, list):
                pending.extend((child, [*path, index]) for index, child in enumerate(item))
                continue
            for key, child in item.items():
                if isinstance(key, str) and (problem := _string_problem(key)):
                    return [*path, key], f"the key {problem.removeprefix('contains ')}"
                pending.append((child, [*path, key]))
    return None


def check_json_safe(value: Any) -> Any:
    """Refuse a value the databases or orjson cannot store, naming where it is (a 422, never a 500 later)."""
    found = json_problem(value)
    if found is not None:
        path, problem = found
        raise PydanticCustomError("unstorable_value", "{problem}", {"problem": problem, "path": path})
    return value


def _storable_text(text: str | None) -> str | None:
    if text is not None and (problem := _string_problem(text)):
        raise ValueError(problem)
    return text


def _utc(value: datetime | None) -> datetime | None:
    """A time as aware UTC (naive means UTC); refused if UTC cannot hold it (year 1 at +14:00)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the years 1-9999 once converted to UTC") from None


# Query and form parameters: text that can be stored and compared anywhere, and times that convert to UTC.
StorableText = Annotated[str, AfterValidator(_storable_text)]
QueryText = Annotated[str | None, AfterValidator(_storable_text)]
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
QueryDateTime = Annotated[
    datetime | None, Query(description="ISO 8601; without an offset it is UTC"), AfterValidator(_utc)
]


class InputModel(BaseModel):
    """Unknown fields are refused: a typo like `assertion` must not be silently dropped.

    Whatever the client sends, typed or free-form JSON, is checked once, before parsing, for values no
    database can store (a 64-bit overflow, a NUL, a lone surrogate, NaN, absurd nesting).
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return check_json_safe(data)


class PatchModel(InputModel):
    """A partial update: only the fields sent change, and `version` must be the one the client read."""

    version: int = Field(ge=1, description="The version you read; a stale one gets 409.")
    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _no_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable_fields:
            raise ValueError(f"{info.field_name} cannot be null; leave it out to keep the current value")
        return value

    def changes(self) -> dict[str, Any]:
        """The sent fields as plain JSON-ready values (nested specs dumped as stored)."""
        return self.model_dump(mode="json", by_alias=True, include=self.model_fields_set - {"version"})


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Timestamps(ReadModel):
    created_at: datetime
    updated_at: datetime
