"""What may leave the server for a model: the project's secrets and anything that looks like one, masked.

Three nets, each catching what the others miss: the values of every environment's secret variables (in the
forms they take on the way out, app.engine.masking), whatever sits under a credential-like name (an
`Authorization` header, a `password` field, an `api_key` parameter), and strings shaped like credentials
(JWTs, bearer and basic credentials, cloud and code-host keys, long hex or base64 runs).
"""

from __future__ import annotations

import re
from typing import Any

from app.engine.masking import MASK, Masker
from app.interop.export import is_credential_name

SECRET_SHAPES = re.compile(
    r"eyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]{6,}"  # a JWT
    r"|(?i:bearer|basic|token|digest)\s+[\w.~+/=-]{8,}"  # credentials after their scheme
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|\b(?:sk|pk|rk)[-_](?:live[-_]|test[-_])?[A-Za-z0-9]{16,}"  # OpenAI / Stripe-style keys
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}|\bglpat-[\w-]{20,}|\bxox[abprs]-[\w-]{10,}"  # GitHub, GitLab, Slack tokens
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\b[0-9a-fA-F]{32,}\b"  # long hex: keys, digests of secrets
    r"|\b[A-Za-z0-9+/_-]{40,}={0,2}"  # long base64 runs
)

# A credential-named field inside text: JSON (quotes possibly escaped, as in a body kept as a string), a query
# string or a form (`password=...`), a header line (`Authorization: ...`).
_NAMED = r"password|passwd|pwd|secret|token|api[_-]?key|apikey|authorization|cookie|session|credential|private[_-]?key"
NAMED_IN_TEXT = re.compile(
    rf"""((?:\\*["'])?[\w.-]*(?:{_NAMED})[\w.-]*(?:\\*["'])?\s*[:=]\s*(?:\\*["'])?)([^"'\\&\s,;}}]+)""",
    re.IGNORECASE,
)


def mask_text(text: str, masker: Masker) -> str:
    text = SECRET_SHAPES.sub(MASK, masker.text(text))  # first: "Authorization: Bearer x" loses the whole credential
    return NAMED_IN_TEXT.sub(lambda match: match[1] + MASK, text)


def mask_outgoing(value: Any, masker: Masker) -> Any:
    """A JSON-like value with secrets masked: by value, under credential-like names, and by shape."""
    if isinstance(value, str):
        return mask_text(value, masker)
    if isinstance(value, dict):
        return {
            key: (
                MASK if is_credential_name(str(key)) and item not in (None, "", [], {}) else mask_outgoing(item, masker)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        if len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], str) and is_credential_name(value[0]):
            return [value[0], MASK]  # a (header, value) pair
        return [mask_outgoing(item, masker) for item in value]
    return value
