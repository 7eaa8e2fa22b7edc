from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from app.auth.dependencies import CurrentUser
from app.core.db import SessionDep
from app.core.errors import Unauthorized
from app.core.security import burn_password_check, create_access_token, verify_password
from app.models import User
from app.users.schemas import UserRead
from app.users.service import get_by_email

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"


@router.post("/token", response_model=TokenRead)
async def issue_token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep) -> TokenRead:
    """OAuth2 password flow: `username` is the email. One message for every failure, so emails do not leak."""
    user = await get_by_email(session, form.username)
    if user is None:
        burn_password_check(form.password)
        raise Unauthorized("Incorrect email or password", code="invalid_credentials")
    if not verify_password(form.password, user.password_hash) or not user.is_active:
        raise Unauthorized("Incorrect email or password", code="invalid_credentials")
    return TokenRead(access_token=create_access_token(user.id))


@router.get("/me", response_model=UserRead)
async def me(user: CurrentUser) -> User:
    return user
