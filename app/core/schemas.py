"""Field types and base models shared by the domain schemas."""

from __future__ import annotations

from datetime import datetime
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
)

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


class InputModel(BaseModel):
    """Unknown fields are refused: a typo like `assertion` must not be silently dropped."""

    model_config = ConfigDict(extra="forbid")


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
