"""Who is calling: every /api/v1 path but the token endpoint needs a bearer token (sign-in JWT or API token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.security import OAuth2PasswordBearer

from app.auth.client_address import client_address, trusted_proxies
from app.auth.principal import Principal
from app.core.config import get_settings
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized
from app.core.schemas import StorableText
from app.core.security import decode_access_token
from app.models import User
from app.tokens import service as tokens

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class SignInForm:
    """The OAuth2 password form (`username` is the email), whose username no database refuses to compare."""

    def __init__(
        self,
        username: Annotated[StorableText, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret


def client_ip(request: Request) -> str | None:
    """The caller's address: the peer, or what a proxy in FORWARDED_ALLOW_IPS says (app/auth/client_address.py)."""
    proxies = trusted_proxies(get_settings().forwarded_allow_ips)
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), proxies)


async def current_principal(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    if not token:
        raise Unauthorized("Not signed in: send 'Authorization: Bearer <token>' (get one from POST /api/v1/auth/token)")
    if tokens.looks_like_api_token(token):
        found = await tokens.authenticate(session, token)
        if found is None:
            raise Unauthorized("The API token is unknown, revoked or expired")
        api_token, creator = found
        return Principal(user=creator, token=api_token, ip=client_ip(request))
    claims = decode_access_token(token)
    if claims is None:
        raise Unauthorized("The bearer token is invalid or has expired; sign in again")
    user = await session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The account behind this token no longer exists or is disabled")
    if user.password_changed_at is not None:
        if claims.issued_ms < int(user.password_changed_at.timestamp() * 1000):
            raise Unauthorized("The password changed after this token was issued; sign in again")
    return Principal(user=user, ip=client_ip(request))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def current_user(principal: CurrentPrincipal) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(current_user)]


async def current_admin(principal: CurrentPrincipal) -> User:
    if not principal.is_site_admin:
        raise Forbidden("Only a site admin may do this")
    return principal.user


CurrentAdmin = Annotated[User, Depends(current_admin)]
