"""A value derived from a secret is itself secret (README "Secrets").

The runner keeps, per iteration, which run-time variables hold values derived from a secret (`names`,
masked whole in extracted values and dataset snapshots) and the derived texts (`pattern`, masked wherever
they appear while the iteration's results are built: app.engine.masking.CURRENT_TAINT). A value is derived
from a secret when:
- an expression or a `set` template read a variable holding secret data (TrackedScope notes the read),
  or read the response (body, text, headers) and gives another result once the response's secrets are masked;
- an extractor gives another value once the response's secrets are masked (it took a secret, or a piece);
- HTTP Basic credentials are built from a secret (their base64 is one more spelling of it).
A derived value shorter than MIN_SECRET_LENGTH cannot be masked wherever it goes (it would mask every
occurrence of those letters), so the step that derives one ends with an error instead. A boolean or null
result (a comparison, a skip_if) is not secret.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

from app.engine.masking import MIN_SECRET_LENGTH, Masker, compile_forms, encoded_forms
from app.engine.templates import as_text
from app.engine.transport import Response

BASIC_HEADERS = ("authorization", "proxy-authorization")


class SecretDerivationError(Exception):
    """A step would derive a value from a secret that is too short to be masked."""


class SecretInError(Exception):
    """An evaluation that read secret data failed; its message could spell the secret, so only its kind is kept."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(type(original).__name__)
        self.kind = type(original).__name__

    def __str__(self) -> str:
        return f"{self.kind} (details hidden: the expression read secret data)"


def describe(exc: BaseException) -> str:
    """An exception as an error text: `Type: message`, or only the type when the message could hold a secret."""
    return str(exc) if isinstance(exc, SecretInError) else f"{type(exc).__name__}: {exc}"


class Taint:
    """What one iteration derived from secrets; a child (a fan-out row, an iteration after setup) starts from a copy."""

    __slots__ = ("_forms", "longest", "names", "pattern", "values")

    def __init__(self, parent: Taint | None = None) -> None:
        self.names: set[str] = set(parent.names) if parent else set()
        self.values: set[str] = set(parent.values) if parent else set()
        self._forms: set[str] = set(parent._forms) if parent else set()
        self.pattern: re.Pattern[str] | None = parent.pattern if parent else None
        self.longest: int = parent.longest if parent else 0

    @classmethod
    def seeded(cls, names: list[str], texts: list[str]) -> Taint:
        """The taint a setup that ran elsewhere left (app.engine.specs.SetupState)."""
        taint = cls()
        taint.names.update(names)
        for text in texts:
            taint.add_text(text)
        return taint

    @property
    def active(self) -> bool:
        return bool(self.names) or self.pattern is not None

    def add_text(self, text: str) -> None:
        """Mask `text` (and its encoded forms) wherever it appears from now on in this iteration."""
        if text in self.values or len(text) < MIN_SECRET_LENGTH:
            return
        self.values.add(text)
        forms = encoded_forms(text)
        self._forms |= forms
        self.pattern = compile_forms(self._forms)
        self.longest = max(self.longest, max(map(len, forms), default=0))

    def derive(self, name: str | None, value: Any, what: str) -> None:
        """Record that `value` (stored as `name`, when it is stored) was derived from a secret."""
        if value is None or isinstance(value, bool):
            return  # one bit, and a comparison's answer shows in the record anyway
        if isinstance(value, dict | list):
            leaves = list(_text_leaves(value))
        else:
            leaves = [as_text(value)]
            if len(leaves[0]) < MIN_SECRET_LENGTH:
                raise SecretDerivationError(
                    f"{what} derives a {len(leaves[0])}-character value from a secret, too short to be masked "
                    f"(at least {MIN_SECRET_LENGTH}); use the secret only where the request sends it"
                )
        if name is not None:
            self.names.add(name)
        for leaf in leaves:
            self.add_text(leaf)

    def learn_basic_credentials(self, headers: list[tuple[str, str]], masker: Masker) -> None:
        """The base64 of `user:secret` is a new spelling of a secret: mask it wherever it shows (an echo)."""
        for name, value in headers:
            if value[:6].lower() != "basic " or name.lower() not in BASIC_HEADERS:
                continue
            encoded = value[6:].strip()
            if encoded in self.values:
                continue
            try:
                credentials = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
            if masker.finds(credentials):
                self.add_text(encoded)


def _text_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _text_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _text_leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield as_text(value)


class TrackedScope(Mapping[str, Any]):
    """The variables as an expression (`vars`) or a template sees them, noting the first read of secret data."""

    __slots__ = ("_masker", "_scope", "_taint", "secret_read")

    def __init__(self, scope: Mapping[str, Any], masker: Masker, taint: Taint) -> None:
        self._scope = scope
        self._masker = masker
        self._taint = taint
        self.secret_read: str | None = None  # the name whose value held secret data

    def __getitem__(self, key: str) -> Any:
        value = self._scope[key]
        if self.secret_read is None and (key in self._taint.names or self._masker.finds(value)):
            self.secret_read = key
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._scope)

    def __len__(self) -> int:
        return len(self._scope)

    def __contains__(self, key: object) -> bool:
        return key in self._scope


def holds_secret(response: Response, masker: Masker) -> bool:
    """Whether the response shows a secret (an echoing target) in its body or headers."""
    return masker.finds(response.text) or any(masker.finds(value) for _, value in response.headers)


def masked_response(response: Response, masker: Masker) -> Response:
    """The same response with its secrets masked: what it says without them (for the derivation checks)."""
    charset = response._charset()
    return dataclasses.replace(
        response,
        headers=[(name, masker.text(value)) for name, value in response.headers],
        body=masker.text(response.text).encode(charset, errors="replace"),
        _lower=None,
    )
