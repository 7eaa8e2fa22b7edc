"""Secret environment variables are encrypted at rest (Fernet, from `cryptography`), keyed from SECRET_KEY.

The API never returns them and the audit log never records them; the engine decrypts them for a run.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from app.core.config import get_settings

PREFIX = "enc:v1:"


@lru_cache
def _fernet() -> Fernet:
    digest = hashlib.sha256(b"exile-secret-variables:" + get_settings().signing_key().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(value: str) -> str:
    return PREFIX + _fernet().encrypt(value.encode()).decode()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def unseal(value: str) -> str:
    """The plain secret; raises ValueError when SECRET_KEY changed since it was stored."""
    if not is_sealed(value):
        return value
    try:
        return _fernet().decrypt(value.removeprefix(PREFIX).encode()).decode()
    except InvalidToken:
        raise ValueError("secret cannot be decrypted: SECRET_KEY changed since it was stored; set it again") from None
