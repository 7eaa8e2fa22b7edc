from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field, field_validator

from app.core.roles import Role
from app.core.schemas import InputModel, Name, ReadModel, UtcDateTime


class TokenCreate(InputModel):
    name: Name
    role: Role = "runner"
    expires_at: UtcDateTime | None = Field(None, description="ISO 8601; none = until revoked.")

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value <= datetime.now(UTC):
            raise ValueError("expires_at must be in the future")
        return value


class TokenRead(ReadModel):
    id: int
    project_id: int
    name: str
    role: str
    prefix: str
    created_by_id: int
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The secret. Shown once: store it now.")
