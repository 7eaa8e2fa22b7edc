from __future__ import annotations

from typing import Any

from pydantic import Field

from app.core.merge_patch import MERGE_PATCH_HELP
from app.core.schemas import InputModel, Name, PatchModel, Timestamps, VariableMap


class DatasetCreate(InputModel):
    name: Name
    variables: VariableMap = Field(default_factory=dict)
    enabled: bool = True


class DatasetUpdate(PatchModel):
    name: Name | None = None
    variables: VariableMap | None = Field(None, description=f"Variables to change. {MERGE_PATCH_HELP}")
    enabled: bool | None = None
    position: int | None = Field(None, ge=0)


class DatasetRead(Timestamps):
    id: int
    case_id: int
    name: str
    variables: dict[str, Any]
    enabled: bool
    position: int
    version: int
