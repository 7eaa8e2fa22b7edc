"""API tokens for CI and scripts: shown once, stored as a SHA-256 hash, revocable, never above their creator."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal, require_project
from app.core.errors import Forbidden, NotFound
from app.core.roles import at_least
from app.models import ApiToken, User
from app.models.base import utcnow
from app.tokens.schemas import TokenCreate

TOKEN_PREFIX = "exl_"
# Writing last_used_at on every request would turn each read into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def looks_like_api_token(raw: str) -> bool:
    return raw.startswith(TOKEN_PREFIX)


async def create_token(
    session: AsyncSession, principal: Principal, project_id: int, data: TokenCreate
) -> tuple[ApiToken, str]:
    if principal.token is not None:
        raise Forbidden("an API token cannot create API tokens; sign in as a person")
    await require_project(session, principal, project_id, "manage")
    # A token acts with its creator's membership (never with site-admin power): that role is the cap.
    own_role = (await principal.roles(session)).get(project_id)
    if own_role is None:
        raise Forbidden(
            f"you are not a member of project {project_id}; a token acts with its creator's role there, "
            "so join the project first"
        )
    if not at_least(own_role, data.role):
        raise Forbidden(
            f"a token cannot be more powerful than its creator: your role is '{own_role}', you asked for '{data.role}'",
            details=[{"loc": ["body", "role"], "msg": f"at most '{own_role}'"}],
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        project_id=project_id,
        created_by_id=principal.user.id,
        name=data.name,
        role=data.role,
        token_hash=_hash(raw),
        prefix=raw[:12],
        created_at=utcnow(),
        expires_at=data.expires_at,
    )
    session.add(token)
    await audit.created(session, principal, "token", token)
    return token, raw


async def list_tokens(session: AsyncSession, principal: Principal, project_id: int) -> list[ApiToken]:
    await require_project(session, principal, project_id, "manage")
    rows = await session.scalars(select(ApiToken).where(ApiToken.project_id == project_id).order_by(ApiToken.id))
    return list(rows)


async def revoke_token(session: AsyncSession, principal: Principal, token_id: int) -> None:
    token = await session.get(ApiToken, token_id)
    role = await principal.role_in(session, token.project_id) if token else None
    if token is None or role is None:
        raise NotFound(f"token {token_id} not found")
    if token.created_by_id != principal.user.id or principal.token is not None:
        await require_project(session, principal, token.project_id, "manage")
    if token.revoked_at is None:
        before = audit.snapshot(token)
        token.revoked_at = utcnow()
        await audit.record(
            session,
            principal,
            "revoke",
            "token",
            token.id,
            token.project_id,
            {"before": before, "after": {"revoked_at": token.revoked_at.isoformat()}},
        )


async def authenticate(session: AsyncSession, raw: str) -> tuple[ApiToken, User] | None:
    """The live token and its creator, or None if unknown, revoked, expired or the creator is disabled."""
    token = await session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(raw)))
    now = utcnow()
    if token is None or token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        return None
    user = await session.get(User, token.created_by_id)
    if user is None or not user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        await session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        await session.commit()
        token.last_used_at = now
    return token, user
