from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth import throttle
from app.auth.dependencies import CurrentPrincipal, CurrentUser, SignInForm, client_ip
from app.core.bootstrap import forget_initial_admin_password
from app.core.config import get_settings
from app.core.db import SessionDep
from app.core.errors import WITH_BODY, AppError, Forbidden, InvalidInput, Unauthorized, error_responses
from app.core.schemas import InputModel
from app.core.security import burn_password_check, create_access_token, hash_password, verify_password
from app.models import User
from app.models.base import utcnow
from app.users.schemas import Password, UserRead
from app.users.service import get_by_email

router = APIRouter(prefix="/auth", tags=["auth"], responses=error_responses(401, 503))


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"


class TooManyAttempts(AppError):
    status_code, code = 429, "too_many_attempts"

    def __init__(self, wait: int, field: str) -> None:
        super().__init__(
            f"Too many failed attempts; try again in {wait} seconds",
            details=[{"loc": ["body", field], "msg": "temporarily locked", "retry_after": wait}],
            headers={"Retry-After": str(wait)},
        )


async def _guard(session: AsyncSession, keys: list[str], field: str) -> dict[str, int]:
    """Count this attempt before the password is checked: 429 while the account is locked; an address past its
    threshold only waits. Returns this attempt's counts, for record_failure."""
    wait, counts = await throttle.locked_for(session, keys), dict[str, int]()
    if not wait:
        wait, counts = await throttle.count_attempt(session, keys)
    if wait:
        raise TooManyAttempts(wait, field)
    await throttle.slow_down(throttle.slowdown(counts, get_settings().sign_in_slowdown_max_seconds))
    return counts


class PasswordChange(InputModel):
    current_password: str
    new_password: Password


@router.post("/token", response_model=TokenRead, responses=error_responses(*WITH_BODY, 429))
async def issue_token(
    request: Request, form: Annotated[SignInForm, Depends()], session: SessionDep, response: Response
) -> TokenRead:
    """OAuth2 password flow: `username` is the email. One message for every failure, so emails do not leak."""
    keys = throttle.keys_for(form.username, client_ip(request))
    counts = await _guard(session, keys, "username")
    user = await get_by_email(session, form.username)
    if user is None:
        await asyncio.to_thread(burn_password_check, form.password)
    right = user is not None and await asyncio.to_thread(verify_password, form.password, user.password_hash)
    if user is None or not right or not user.is_active:
        await throttle.record_failure(session, keys, counts)
        await session.commit()
        raise Unauthorized("Incorrect email or password", code="invalid_credentials")
    await throttle.record_success(session, keys)
    await session.commit()
    return TokenRead(access_token=create_access_token(user.id))


@router.get("/me", response_model=UserRead)
async def me(user: CurrentUser) -> User:
    return user


@router.post("/password", status_code=204, responses=error_responses(*WITH_BODY, 403, 429))
async def change_password(body: PasswordChange, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """Change your own password; every token issued before now stops working.

    Wrong current passwords are throttled like sign-ins (a stolen session must not be a way to guess it)."""
    if principal.token is not None:
        raise Forbidden("an API token cannot change a password; sign in as a person")
    user = await session.get(User, principal.user.id)
    assert user is not None
    keys = throttle.keys_for_password_change(user.id, principal.ip)
    counts = await _guard(session, keys, "current_password")
    if not await asyncio.to_thread(verify_password, body.current_password, user.password_hash):
        await throttle.record_failure(session, keys, counts)
        await session.commit()
        raise InvalidInput("current_password is not your current password", loc=["body", "current_password"])
    await throttle.record_success(session, keys)
    if body.new_password == body.current_password:
        raise InvalidInput("new_password must differ from the current one", loc=["body", "new_password"])
    user.password_hash = hash_password(body.new_password)
    user.password_changed_at = utcnow()
    await audit.record(session, principal, "password_change", "user", user.id, None)
    await session.commit()
    forget_initial_admin_password(get_settings(), user.email)
    return Response(status_code=204)
