from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from app.core.schemas import InputModel, ReadModel

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError(f"'{value[:100]}' is not an email address")
    return value


def check_password_strength(value: str) -> str:
    if len(value) < 8:
        raise ValueError("password must be at least 8 characters")
    if len(value) > 1024:
        raise ValueError("password must be at most 1024 characters")
    return value


Email = Annotated[str, AfterValidator(normalise_email)]
Password = Annotated[str, AfterValidator(check_password_strength)]


class UserCreate(InputModel):
    email: Email
    password: Password
    full_name: str = Field("", max_length=200)
    is_admin: bool = False


class UserRead(ReadModel):
    id: int
    email: str
    full_name: str
    is_admin: bool
    is_active: bool
    created_at: datetime
