"""Postman-compatible `{{name}}` templates, compiled once per run and rendered per request.

A string that is exactly one `{{name}}` keeps the variable's type when it stands as a JSON value
(`"qty": "{{qty}}"` gives a number); inside a longer string the value is rendered as text. An unknown
variable raises UnknownVariable naming it, never an empty string.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

TEMPLATE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")

DYNAMIC_VALUES: dict[str, Callable[[], Any]] = {
    "$guid": lambda: str(uuid.uuid4()),
    "$randomUUID": lambda: str(uuid.uuid4()),
    "$timestamp": lambda: int(time.time()),
    "$isoTimestamp": lambda: datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    "$randomInt": lambda: random.randint(0, 1000),
}

Scope = Mapping[str, Any]
Renderer = Callable[[Scope], Any]


class UnknownVariable(KeyError):
    """A template names a variable that no scope layer defines."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown variable '{self.name}'"


def as_text(value: Any) -> str:
    """How a value reads inside a longer string: JSON for structures and literals, plain for text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def lookup(scope: Scope, name: str) -> Any:
    try:
        return scope[name]
    except KeyError:
        dynamic = DYNAMIC_VALUES.get(name)
        if dynamic is None:
            raise UnknownVariable(name) from None
        return dynamic()


def compile_text(source: str) -> Renderer:
    """A renderer for a string; constant strings cost nothing per request."""
    parts = TEMPLATE.split(source)
    if len(parts) == 1:
        return lambda _scope: source
    literals, names = parts[0::2], parts[1::2]
    if len(names) == 1 and not literals[0] and not literals[1]:
        only = names[0]
        return lambda scope: as_text(lookup(scope, only))

    def render(scope: Scope) -> str:
        out = [literals[0]]
        for name, literal in zip(names, literals[1:], strict=True):
            out.append(as_text(lookup(scope, name)))
            out.append(literal)
        return "".join(out)

    return render


# Where a URL template's value lands, decided once per run when the URL compiles.
_ORIGIN, _PATH, _QUERY = 0, 1, 2
_URL_DELIMITER = re.compile(r"[/?#]")


def _after(literal: str, where: int) -> int:
    """Where the URL stands after a stretch of literal text (scheme://host, then path, then query)."""
    if where == _ORIGIN:
        scheme_end = literal.find("://")
        delimiter = _URL_DELIMITER.search(literal, scheme_end + 3 if scheme_end >= 0 else 0)
        if delimiter is None:
            return _ORIGIN
        where = _PATH if delimiter.group() == "/" else _QUERY
        literal = literal[delimiter.end() :]
    if where == _PATH and ("?" in literal or "#" in literal):
        where = _QUERY
    return where


def compile_url(source: str) -> Renderer:
    """A URL template whose values cannot change its structure.

    A value in the path is percent-encoded as one path segment, a value in the query (or fragment) as one
    query value, so `&`, `#`, `/`, `?` or a space in `{{pw}}` stays inside it. A value before the path
    starts (`{{base_url}}/x`, `http://{{host}}/x`) provides the origin and is taken as written, and so is
    the literal text. The encoding of each value is decided here, once; rendering only applies it.
    """
    parts = TEMPLATE.split(source)
    if len(parts) == 1:
        return lambda _scope: source
    literals, names = parts[0::2], parts[1::2]
    encoded: list[bool] = []
    where = _ORIGIN
    for literal in literals[:-1]:
        where = _after(literal, where)
        encoded.append(where != _ORIGIN)
    pieces = list(zip(names, encoded, literals[1:], strict=True))
    head = literals[0]

    def render(scope: Scope) -> str:
        out = [head]
        for name, encode, literal in pieces:
            text = as_text(lookup(scope, name))
            out.append(quote(text, safe="") if encode else text)
            out.append(literal)
        return "".join(out)

    return render


def compile_value(value: Any) -> Renderer:
    """A renderer for a JSON value: exact `{{name}}` strings keep the variable's type."""
    if isinstance(value, str):
        match = TEMPLATE.fullmatch(value.strip())
        if match:
            name = match.group(1)
            return lambda scope: lookup(scope, name)
        return compile_text(value)
    if isinstance(value, dict):
        if not has_template(value):
            return lambda _scope: value
        items = [(compile_text(key), compile_value(item)) for key, item in value.items()]
        return lambda scope: {key(scope): item(scope) for key, item in items}
    if isinstance(value, list):
        if not has_template(value):
            return lambda _scope: value
        elements = [compile_value(item) for item in value]
        return lambda scope: [element(scope) for element in elements]
    return lambda _scope: value


def has_template(value: Any) -> bool:
    """Whether a JSON-like value holds a `{{...}}` anywhere (a value without one renders as itself, for free)."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(has_template(k) or has_template(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_template(item) for item in value)
    return False


def names_in(value: Any) -> set[str]:
    """Every variable a value's templates read (for warnings and checks)."""
    if isinstance(value, str):
        return set(TEMPLATE.findall(value))
    if isinstance(value, dict):
        return set().union(*(names_in(k) | names_in(v) for k, v in value.items())) if value else set()
    if isinstance(value, list):
        return set().union(*(names_in(item) for item in value)) if value else set()
    return set()
