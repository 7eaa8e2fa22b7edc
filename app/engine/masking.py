"""Secret values never reach a snapshot: every occurrence is replaced by the mask.

A secret is also found in the forms it takes on the way out (percent-encoded in a URL or form, escaped in
JSON, lower-cased in a URL's host, inside HTTP Basic credentials) and is never half-shown where a snapshot
is clipped. Values an iteration derives from a secret (app.engine.taint) are masked the same way while that
iteration's results are built. Values shorter than MIN_SECRET_LENGTH are never masked: masking a one-letter
"secret" would turn every record into asterisks (environments refuse such secrets when saved).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import orjson
from yarl import URL

if TYPE_CHECKING:
    from app.engine.taint import Taint

MASK = "******"
MIN_SECRET_LENGTH = 6  # the one minimum: environments refuse shorter secrets, the masker ignores them

# The taint of the iteration whose results are being built (set by the runner per iteration, per task).
CURRENT_TAINT: ContextVar[Taint | None] = ContextVar("exile_current_taint", default=None)


def encoded_forms(secret: str) -> set[str]:
    """Every spelling of `secret` that Exile's own encoders (and the client's re-quoting) can produce."""
    encoded = quote(secret, safe="")
    forms = {
        secret,
        encoded,  # query values (urlencode with quote)
        quote(secret),  # a path segment
        quote_plus(secret, safe=""),  # urlencoded bodies
        quote_plus(secret),
        orjson.dumps(secret).decode()[1:-1],  # inside a JSON string
        json.dumps(secret)[1:-1],  # JSON with non-ASCII escaped (Python's json, most echo servers)
        json.dumps(secret)[1:-1].replace("/", "\\/"),  # encoders that escape the slash
        secret.lower(),  # a URL's host is lower-cased (connection errors, response.url)
        repr(secret)[1:-1],  # an error message quoting a value (KeyError, jsonschema) escapes it the Python way
    }
    try:
        forms.add(secret.encode("idna").decode())  # a non-ASCII host, as the client spells it
    except UnicodeError:
        pass
    try:  # the client re-quotes URLs (yarl), so a response's URL may spell the secret yet another way
        url = URL(f"http://host/{encoded}?x={encoded}")
        forms |= {url.raw_path[1:], url.raw_query_string[2:]}
    except ValueError:
        pass
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def compile_forms(forms: Iterable[str]) -> re.Pattern[str] | None:
    values = sorted(set(forms), key=len, reverse=True)
    return re.compile("|".join(re.escape(v) for v in values)) if values else None


class Masker:
    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
                forms |= encoded_forms(secret)
        self._pattern = compile_forms(forms)
        self._longest = max(map(len, forms), default=0)

    @property
    def active(self) -> bool:
        taint = CURRENT_TAINT.get()
        return self._pattern is not None or (taint is not None and taint.active)

    @property
    def longest(self) -> int:
        taint = CURRENT_TAINT.get()
        return max(self._longest, taint.longest) if taint is not None else self._longest

    def text(self, value: str) -> str:
        taint = CURRENT_TAINT.get()
        if taint is not None and taint.pattern is not None:
            value = taint.pattern.sub(MASK, value)  # first: a derived value may hold a whole secret
        return self._pattern.sub(MASK, value) if self._pattern is not None else value

    def finds(self, value: Any) -> bool:
        """Whether a value (a string, or strings inside JSON-like data) holds a secret or a derived one."""
        if isinstance(value, str):
            taint = CURRENT_TAINT.get()
            if taint is not None and taint.pattern is not None and taint.pattern.search(value):
                return True
            return self._pattern is not None and self._pattern.search(value) is not None
        if isinstance(value, dict):
            return any(self.finds(k) or self.finds(v) for k, v in value.items())
        if isinstance(value, list | tuple):
            return any(self.finds(v) for v in value)
        return False

    def variables(self, values: dict[str, Any]) -> dict[str, Any]:
        """Run-time values for a snapshot: those derived from a secret are masked whole, the rest as text."""
        taint = CURRENT_TAINT.get()
        if taint is not None and taint.names:
            values = {k: MASK if k in taint.names else v for k, v in values.items()}
        return self.value(values)

    def clip(self, text: str, limit: int) -> str:
        """Mask, then cut to `limit` characters: a secret that straddles the cut is masked whole, not halved.

        `text` needs `limit + longest - 1` characters (when the full text has them) for that guarantee.
        """
        if len(text) <= limit:
            return self.text(text)
        return self.text(text[: limit + max(self.longest - 1, 0)])[:limit]

    def headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Header values masked; Basic credentials that hide a secret in base64 are masked whole."""
        masked = []
        for name, value in headers:
            if value[:6].lower() == "basic " and name.lower() in ("authorization", "proxy-authorization"):
                try:
                    credentials = base64.b64decode(value[6:], validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    credentials = ""
                if credentials and self.text(credentials) != credentials:
                    masked.append((name, f"{value[:6]}{MASK}"))
                    continue
            masked.append((name, self.text(value)))
        return masked

    def value(self, value: Any) -> Any:
        """Masks strings anywhere inside a JSON-like value (tuples stay tuples)."""
        if not self.active:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.value(v) for v in value)
        return value
