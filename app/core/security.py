"""Password hashing (argon2, via argon2-cffi) and signed, expiring access tokens (PyJWT, HS256)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.config import get_settings

TOKEN_ALGORITHM = "HS256"
MAX_USER_ID = 2**63 - 1  # ids are signed 64-bit; a larger `sub` must not reach the database


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


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    issued_ms: int  # when it was signed, in ms since the epoch (0 if unknown)


def _as_int(value: object) -> int | None:
    """An integer claim as an int: JSON ints, or digit strings like `sub`; never bool, float or `²`."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


def decode_access_token(token: str) -> AccessClaims | None:
    """The token's claims, or None if it is forged, expired, not an access token, or its claims are out of range.

    Even a validly signed token is only trusted as far as its claims make sense: a `sub` that is not an id
    a user could have is refused here, not by the database driver.
    """
    try:
        claims = jwt.decode(token, _signing_key(), algorithms=[TOKEN_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    user_id = _as_int(claims.get("sub"))
    if claims.get("typ") != "access" or user_id is None or not 1 <= user_id <= MAX_USER_ID:
        return None
    issued_ms = _as_int(claims.get("iat_ms"))
    if issued_ms is None:
        issued_ms = (_as_int(claims.get("iat")) or 0) * 1000
    return AccessClaims(user_id=user_id, issued_ms=issued_ms)
