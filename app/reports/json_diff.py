"""What changed between two response bodies, for "why did this step start failing" next to the last passing run.

Ids, timestamps, uuids and tokens change on every run: a value that is volatile (`is_volatile`) on both sides and
kept its JSON type is not reported, so what is left is what changed in substance. Lists are compared index by
index; a list whose length changed is reported at its own path first (so a cut-short diff still says it), then
each index it gained or lost. Values in the entries are kept small and JSON-safe: strings cut at 200 characters,
objects and arrays shown as `{"type": "object"|"array", "size": n}`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from app.reports.normalise import is_volatile

MAX_STRING = 200
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def summary(value: Any) -> Any:
    """A value small enough for a diff entry, and always JSON-safe."""
    if isinstance(value, dict):
        return {"type": "object", "size": len(value)}
    if isinstance(value, list | tuple):
        return {"type": "array", "size": len(value)}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_STRING else text[: MAX_STRING - 1] + "…"


def child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


def _entry(path: str, change: str, before: Any = None, after: Any = None) -> dict[str, Any]:
    return {"path": path, "change": change, "before": summary(before), "after": summary(after)}


def _changes(before: Any, after: Any) -> Iterator[dict[str, Any]]:
    """Every change, depth first in the order of the documents' keys (an explicit stack: no recursion limit)."""
    # (path, key the values are under, before, after); a list's items are under the list's own key.
    stack: list[tuple[str, str | None, Any, Any]] = [("$", None, before, after)]
    while stack:
        path, key, old, new = stack.pop()
        old_type, new_type = json_type(old), json_type(new)
        if old_type != new_type:
            yield _entry(path, "type_changed", old, new)
        elif old_type == "object":
            children: list[tuple[str, str | None, Any, Any]] = []
            for name, value in old.items():
                if name in new:
                    children.append((child_path(path, name), name, value, new[name]))
                else:
                    yield _entry(child_path(path, name), "removed", value)
            for name, value in new.items():
                if name not in old:
                    yield _entry(child_path(path, name), "added", after=value)
            stack.extend(reversed(children))
        elif old_type == "array":
            if len(old) != len(new):
                yield _entry(path, "changed", old, new)
                for index in range(len(new), len(old)):
                    yield _entry(child_path(path, index), "removed", old[index])
                for index in range(len(old), len(new)):
                    yield _entry(child_path(path, index), "added", after=new[index])
            shared = [
                (child_path(path, index), key, old[index], new[index]) for index in range(min(len(old), len(new)))
            ]
            stack.extend(reversed(shared))
        elif old != new and not (is_volatile(key, old) and is_volatile(key, new)):
            yield _entry(path, "changed", old, new)


def json_diff(before: Any, after: Any, *, limit: int = 200) -> list[dict[str, Any]]:
    """The structural changes from `before` to `after`, at most `limit` of them.

    Entries: `{"path": "$.a.b[0]", "change": "added"|"removed"|"changed"|"type_changed", "before", "after"}`
    (an added value's `before` and a removed one's `after` are null). When there are more, a last entry
    `{"path": <the first one left out>, "change": "truncated", "more": <how many were left out>}` says so.
    """
    entries: list[dict[str, Any]] = []
    more = 0
    first_left_out = ""
    for entry in _changes(before, after):
        if len(entries) < limit:
            entries.append(entry)
        else:
            if not more:
                first_left_out = entry["path"]
            more += 1
    if more:
        entries.append({"path": first_left_out, "change": "truncated", "more": more})
    return entries
