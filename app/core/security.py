"""Password hashing (argon2, via argon2-cffi) and signed, expiring access tokens (PyJWT, HS256)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.config import get_settings

TOKEN_ALGORITHM = "HS256"


@lru_cache
def _hasher() -> PasswordHasher:
    settings = get_settings()
    return PasswordHasher(time_cost=settings.password_hash_time_cost, memory_cost=settings.password_hash_memory_kib)


@lru_cache
def _signing_key() -> str:
    return get_settings().signing_key()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against this keeps a sign-in for an unknown email as slow as one for a known email.
_DUMMY_HASH: str | None = None


def burn_password_check(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password("exile-timing-equaliser")
    verify_password(password, _DUMMY_HASH)


def create_access_token(user_id: int, *, expires_minutes: int | None = None) -> str:
    minutes = expires_minutes if expires_minutes is not None else get_settings().access_token_expire_minutes
    now = datetime.now(UTC)
    payload = {
        "sub": str(user_id),
        "iat": now,
        "iat_ms": int(now.timestamp() * 1000),  # `iat` is whole seconds; a password change needs finer
        "exp": now + timedelta(minutes=minutes),
        "typ": "access",
    }
    return jwt.encode(payload, _signing_key(), algorithm=TOKEN_ALGORITHM)


def decode_access_token(token: str) -> dict[str, Any] | None:
    """The token's claims, or None if it is forged, expired or not an access token."""
    try:
        claims = jwt.decode(token, _signing_key(), algorithms=[TOKEN_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == "access" else None
