"""Secret values never reach a snapshot: every occurrence is replaced by the mask.

A secret is also found in the forms it takes on the way out (percent-encoded in a URL or form, escaped in
JSON, inside HTTP Basic credentials) and is never half-shown where a snapshot is clipped.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

import orjson
from yarl import URL

MASK = "******"


def _encoded_forms(secret: str) -> set[str]:
    encoded = quote(secret, safe="")
    forms = {
        secret,
        encoded,  # query values (urlencode with quote)
        quote(secret),  # a path segment
        quote_plus(secret, safe=""),  # urlencoded bodies
        orjson.dumps(secret).decode()[1:-1],  # inside a JSON string
    }
    try:  # the client re-quotes URLs (yarl), so a response's URL may spell the secret yet another way
        url = URL(f"http://host/{encoded}?x={encoded}")
        forms |= {url.raw_path[1:], url.raw_query_string[2:]}
    except ValueError:
        pass
    return {form for form in forms if form}


class Masker:
    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if isinstance(secret, str) and secret:
                forms |= _encoded_forms(secret)
        values = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None
        self.longest = len(values[0]) if values else 0

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        return self._pattern.sub(MASK, value) if self._pattern is not None else value

    def clip(self, text: str, limit: int) -> str:
        """Mask, then cut to `limit` characters: a secret that straddles the cut is masked whole, not halved.

        `text` needs `limit + longest - 1` characters (when the full text has them) for that guarantee.
        """
        if len(text) <= limit:
            return self.text(text)
        return self.text(text[: limit + self.longest - 1])[:limit]

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
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self._pattern.sub(MASK, value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.value(v) for v in value)
        return value
