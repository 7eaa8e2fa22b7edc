"""Who is calling: every /api/v1 path but the token endpoint needs a bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized
from app.core.security import decode_access_token
from app.models import User

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def current_user(session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> User:
    if not token:
        raise Unauthorized("Not signed in: send 'Authorization: Bearer <token>' (get one from POST /api/v1/auth/token)")
    claims = decode_access_token(token)
    if claims is None:
        raise Unauthorized("The bearer token is invalid or has expired; sign in again")
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise Unauthorized("The bearer token is invalid or has expired; sign in again") from None
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The account behind this token no longer exists or is disabled")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def current_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("Only a site admin may do this")
    return user


CurrentAdmin = Annotated[User, Depends(current_admin)]
