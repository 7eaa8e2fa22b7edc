from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from app.audit import service as audit
from app.auth.dependencies import CurrentAdmin, CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.pagination import Page, PageDep, page_of
from app.models import User
from app.users import service
from app.users.schemas import UserCreate, UserRead

router = APIRouter(prefix="/users", tags=["users"], responses=error_responses(*SIGNED_IN, 403))


@router.post("", response_model=UserRead, status_code=201, responses=error_responses(*WITH_BODY, 409))
async def create_user(body: UserCreate, session: SessionDep, _admin: CurrentAdmin, principal: CurrentPrincipal) -> User:
    """Site admins add accounts (people sign in with email and password)."""
    user = await service.create_user(session, body)
    await audit.created(session, principal, "user", user)
    await session.commit()
    return user


@router.get("", response_model=Page[UserRead])
async def list_users(session: SessionDep, _admin: CurrentAdmin, params: PageDep) -> dict[str, object]:
    return await page_of(session, select(User).order_by(User.id), params)
