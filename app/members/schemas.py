from __future__ import annotations

from datetime import datetime

from app.core.roles import Role
from app.core.schemas import InputModel, ReadModel
from app.users.schemas import Email


class MemberCreate(InputModel):
    email: Email
    role: Role


class MemberUpdate(InputModel):
    role: Role


class MemberRead(ReadModel):
    user_id: int
    email: str
    full_name: str
    role: str
    created_at: datetime
