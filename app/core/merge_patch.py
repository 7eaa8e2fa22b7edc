"""JSON Merge Patch (RFC 7396) for the object fields a PATCH accepts (variables, secret_variables, settings).

Absent keys stay, `null` removes a key, an object merges into an object key by key, anything else
replaces. The algorithm is the RFC's own ten lines (section 2); a dependency would be larger than it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from app.core.errors import AppError, validation_details
from app.core.schemas import VariableMap

T = TypeVar("T")
VARIABLE_MAP: TypeAdapter[dict[str, Any]] = TypeAdapter(VariableMap)

MERGE_PATCH_HELP = (
    "JSON Merge Patch (RFC 7396): keys you leave out stay as they are, a key set to null is removed, "
    "a nested object is merged key by key; send {} to change nothing."
)


def merge_patch(target: Any, patch: Any) -> Any:
    """The RFC 7396 result of applying `patch` to `target` (neither is modified)."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def validate_merged(adapter: TypeAdapter[T], merged: Any, loc: Sequence[str | int]) -> T:
    """Check a merged value with the rules of create; a 422 names the field inside the merged result."""
    try:
        return adapter.validate_python(merged)
    except ValidationError as exc:
        details = validation_details(exc.errors())
        for detail in details:
            detail["loc"] = [*loc, *detail["loc"]]
        first = details[0]
        where = ".".join(str(part) for part in first["loc"])
        raise AppError(
            f"{where}: {first['msg']} (in the result of merging your patch into the stored value)",
            details=details,
            status_code=422,
            code="validation_error",
        ) from None
