"""Accounts: created from the API (site admins), the shell (`exile users create`) and the first start."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict
from app.core.security import hash_password
from app.models import User
from app.users.schemas import UserCreate


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.strip().lower()))


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    if await get_by_email(session, data.email) is not None:
        raise Conflict(f"a user with email '{data.email}' already exists", code="email_taken")
    user = User(
        email=data.email,
        full_name=data.full_name,
        password_hash=await asyncio.to_thread(hash_password, data.password),
        is_admin=data.is_admin,
    )
    session.add(user)
    await session.flush()
    return user


async def count_users(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)
