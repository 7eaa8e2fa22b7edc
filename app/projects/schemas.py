from __future__ import annotations

from pydantic import Field

from app.core.schemas import Description, InputModel, Name, PatchModel, Timestamps


class ProjectCreate(InputModel):
    name: Name
    description: Description = ""


class ProjectUpdate(PatchModel):
    name: Name | None = None
    description: Description | None = None


class ProjectRead(Timestamps):
    id: int
    name: str
    description: str
    owner_id: int
    version: int = Field(description="Send it back with PATCH.")
