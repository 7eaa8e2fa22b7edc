"""What a record may hold: every value JSON-safe, masked, then bounded (the engine's result boundary).

The caller writes records as JSON, so a value JSON cannot hold (a set, bytes, `headers.items()`, an integer
beyond 64 bits, NaN) would fail the whole run at the sink, and a 20 MB value would be copied into every record
that shows it. Here each value becomes JSON, secrets are masked before anything is cut (a secret is never
half-shown), and a value over the limit is replaced by one marker shape that keeps its full size:

    {"truncated": true, "size": <characters in the whole value>, "preview": "<its first `limit` characters>"}

`size` counts the characters of a string, or of the JSON text of anything else (`preview` is a prefix of the
same text). Text fields of a record (error, message, url) stay strings: they are cut and end with
`… [clipped: N characters]`. Only the record is clipped; the runtime value that later steps use stays whole.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import ItemsView, KeysView, Mapping, ValuesView
from typing import Any

import orjson

from app.engine.masking import Masker

DEFAULT_VALUE_LIMIT = 4096
MAX_DEPTH = 32  # deeper nesting is shown by repr: a record is for reading, not for a faithful copy
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1  # orjson's integer range
_MAX_INT_BITS = 13_000  # below Python's 4300-digit str() guard, so showing an integer never raises


def _short_repr(limit: int) -> reprlib.Repr:
    shown = reprlib.Repr()
    shown.maxstring = shown.maxother = max(limit, 16)
    shown.maxlevel = 4
    return shown


def _int(value: int) -> int | str:
    if _INT64_MIN <= value <= _UINT64_MAX:
        return value
    if value.bit_length() > _MAX_INT_BITS:
        return f"<integer of {value.bit_length()} bits>"
    return str(value)


def _float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return orjson.dumps(key).decode()
    if isinstance(key, int | float):
        return str(_int(key) if isinstance(key, int) else _float(key))
    return repr(key)[:256]


def json_safe(value: Any, depth: int = 0) -> Any:
    """The value as plain JSON data: lists for tuples, sets and dict views, text for bytes, repr for the rest."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return _int(value)
    if isinstance(value, float):
        return _float(value)
    if depth >= MAX_DEPTH:
        return _short_repr(DEFAULT_VALUE_LIMIT).repr(value)
    if isinstance(value, Mapping):
        return {_key(key): json_safe(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | KeysView | ValuesView | ItemsView):
        return [json_safe(item, depth + 1) for item in value]
    if isinstance(value, set | frozenset):
        items: list[Any] = [json_safe(item, depth + 1) for item in value]
        try:  # a set has no order: sort it so the same set always reads the same
            return sorted(items, key=orjson.dumps)
        except TypeError:
            return items
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return _short_repr(DEFAULT_VALUE_LIMIT).repr(value)


def _marker(text: str, limit: int, mask: Masker) -> dict[str, Any]:
    return {"truncated": True, "size": len(text), "preview": mask.clip(text, limit)}


def _bounded(value: Any, limit: int, mask: Masker) -> Any:
    if isinstance(value, str):
        return mask.text(value) if len(value) <= limit else _marker(value, limit, mask)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        safe = _int(value) if isinstance(value, int) else _float(value)
        return _bounded(safe, limit, mask) if isinstance(safe, str) else safe
    try:  # the common case, already JSON: measured at C speed, walked only when small
        text = orjson.dumps(value)
    except TypeError:
        value = json_safe(value)
        text = orjson.dumps(value)
    if len(text) > limit:  # bytes >= characters, so a value that fits in bytes surely fits
        decoded = text.decode()
        if len(decoded) > limit:
            return _marker(decoded, limit, mask)
    safe = json_safe(value)  # small: also turns a NaN nested in it into text, not null
    return mask.value(safe) if mask.active else safe


def record_value(value: Any, *, limit: int, mask: Masker) -> Any:
    """A value as a record keeps it: JSON-safe, masked, and at most `limit` characters (or the marker).

    Never raises: a value that cannot be shown at all is recorded as a short note saying so.
    """
    try:
        return _bounded(value, limit, mask)
    except Exception as exc:
        return f"<{type(value).__name__} that could not be recorded: {type(exc).__name__}>"


def record_text(text: str, *, limit: int, mask: Masker) -> str:
    """A text field of a record (error, message, url): masked, then cut with its full length said."""
    if not isinstance(text, str):
        text = str(record_value(text, limit=limit, mask=mask))
    if len(text) <= limit:
        return mask.text(text)
    return f"{mask.clip(text, limit)}… [clipped: {len(text)} characters]"


def _as_is(value: Any, limit: int) -> bool:
    """Whether a record keeps the value exactly as it is when nothing is masked: a short string, null, a boolean,
    an integer in orjson's range, a finite float (what record_value and record_text return unchanged)."""
    kind = type(value)
    if kind is str:
        return len(value) <= limit
    if kind is int:
        return _INT64_MIN <= value <= _UINT64_MAX
    if kind is float:
        return math.isfinite(value)
    return value is None or kind is bool


def record_mapping(values: Mapping[str, Any] | None, *, limit: int, mask: Masker) -> dict[str, Any] | None:
    """Each value of a mapping bounded on its own, so a large variable does not hide the small ones."""
    if values is None:
        return None
    if not mask.active:  # the hot path: plain values need no walk
        return {
            _key(name): value if _as_is(value, limit) else record_value(value, limit=limit, mask=mask)
            for name, value in values.items()
        }
    return {_key(name): record_value(value, limit=limit, mask=mask) for name, value in values.items()}


def record_check(check: Mapping[str, Any], *, limit: int, mask: Masker) -> dict[str, Any]:
    """An assertion (or extractor) result: expected and actual as values, the other strings as text.

    A result that is already what a record keeps (nothing to mask, every value plain and short, as most passing
    checks are) is returned itself: built once by the engine, not copied.
    """
    if type(check) is dict and not mask.active and all(_as_is(value, limit) for value in check.values()):
        return check
    recorded: dict[str, Any] = {}
    for key, value in check.items():
        if key in ("expected", "actual") or not isinstance(value, str):
            recorded[key] = record_value(value, limit=limit, mask=mask)
        else:
            recorded[key] = record_text(value, limit=limit, mask=mask)
    return recorded
