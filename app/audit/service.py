"""The audit trail: who did what to which entity, when, from where, and the fields that changed.

Entries are inserted in the same transaction as the change they describe, so a change and its entry
commit or vanish together. Secret values never reach an entry.

Large values are kept by size and hash, not copied: a value whose compact JSON is over VALUE_LIMIT bytes
becomes `{"omitted": true, "size": <bytes of its compact UTF-8 JSON>, "sha256": "<hex of those bytes>"}`.
An object or list over the limit keeps its parts (each bounded the same way) when they fit in PARTS_LIMIT,
so a scenario's steps still show one by one; and a whole entry stays under ENTRY_LIMIT (its largest fields
are hashed first). Which fields changed is always said; a 30 MB dataset no longer leaves 30 MB here.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import inspect as orm_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.models import AuditLog
from app.models.base import utcnow

MASK = "******"
VALUE_LIMIT = 4096  # bytes of JSON kept as written
PARTS_LIMIT = 8 * VALUE_LIMIT  # an object or list over VALUE_LIMIT shows its (bounded) parts up to this
ENTRY_LIMIT = 64 * 1024  # a whole entry's `changes`
# Columns whose values are never written to the trail.
SECRET_COLUMNS = frozenset({"secret_variables", "token_hash", "password_hash"})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def snapshot(entity: Any, **extra: Any) -> dict[str, Any]:
    """An entity's column values as JSON, secrets masked."""
    state: dict[str, Any] = {}
    for column in orm_inspect(type(entity)).columns:
        value = getattr(entity, column.key)
        if column.key in SECRET_COLUMNS:
            value = dict.fromkeys(value, MASK) if isinstance(value, dict) else MASK
        state[column.key] = _plain(value)
    state.update(extra)
    return state


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Only the fields that changed, as {"before": {...}, "after": {...}}."""
    ignored = {"updated_at", "version"}
    keys = [k for k in after if k not in ignored and before.get(k) != after.get(k)]
    return {"before": {k: before.get(k) for k in keys}, "after": {k: after.get(k) for k in keys}}


def _json(value: Any) -> bytes:
    return orjson.dumps(value, default=str)


def _digest(text: bytes) -> dict[str, Any]:
    return {"omitted": True, "size": len(text), "sha256": hashlib.sha256(text).hexdigest()}


def bounded(value: Any, depth: int = 0) -> Any:
    """The value as the trail keeps it: small values as written, large ones by size and sha256.

    Depth 0 is `changes` and depth 1 its `before`/`after`: those always keep their parts (the field names)."""
    text = _json(value)
    if len(text) <= VALUE_LIMIT:
        return value
    parts: Any
    if isinstance(value, dict) and depth < 5:
        parts = {key: bounded(item, depth + 1) for key, item in value.items()}
    elif isinstance(value, list) and depth < 5:
        parts = [bounded(item, depth + 1) for item in value]
    else:
        return _digest(text)
    if depth <= 1 or len(_json(parts)) <= PARTS_LIMIT:
        return parts
    return _digest(text)


def fit(changes: dict[str, Any]) -> dict[str, Any]:
    """Hash the largest fields of `before`/`after` (or of `changes` itself) until the entry fits ENTRY_LIMIT."""
    if len(_json(changes)) <= ENTRY_LIMIT:
        return changes
    changes = {key: dict(side) if isinstance(side, dict) else side for key, side in changes.items()}
    sides = [side for side in changes.values() if isinstance(side, dict)] or [changes]
    fields = sorted(
        ((len(_json(item)), side, key) for side in sides for key, item in side.items()), key=lambda f: -f[0]
    )
    for _size, side, key in fields:
        side[key] = _digest(_json(side[key]))
        if len(_json(changes)) <= ENTRY_LIMIT:
            break
    return changes


async def record(
    session: AsyncSession,
    principal: Principal,
    action: str,
    entity: str,
    entity_id: int | None,
    project_id: int | None,
    changes: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditLog(
            at=utcnow(),
            actor_id=principal.user.id,
            actor=principal.label,
            action=action,
            entity=entity,
            entity_id=entity_id,
            project_id=project_id,
            changes=fit(bounded(changes or {})),
            ip=principal.ip,
        )
    )


async def created(
    session: AsyncSession,
    principal: Principal,
    entity_name: str,
    entity: Any,
    project_id: int | None = None,
    **extra: Any,
) -> None:
    await session.flush()
    await record(
        session,
        principal,
        "create",
        entity_name,
        entity.id,
        project_id or _project_of(entity),
        {"after": snapshot(entity, **extra)},
    )


async def updated(
    session: AsyncSession,
    principal: Principal,
    entity_name: str,
    entity: Any,
    before: dict[str, Any],
    project_id: int | None = None,
    **extra: Any,
) -> None:
    """`before` is the snapshot taken before the change; only differing fields are kept."""
    await session.flush()
    changes = diff(before, snapshot(entity, **extra))
    await record(session, principal, "update", entity_name, entity.id, project_id or _project_of(entity), changes)


async def deleted(
    session: AsyncSession,
    principal: Principal,
    entity_name: str,
    entity: Any,
    project_id: int | None = None,
    **extra: Any,
) -> None:
    """Keeps the entity's last content, so what was lost can be found and restored by hand."""
    await record(
        session,
        principal,
        "delete",
        entity_name,
        entity.id,
        project_id or _project_of(entity),
        {"before": snapshot(entity, **extra)},
    )


def _project_of(entity: Any) -> int | None:
    project_id = getattr(entity, "project_id", None)
    if project_id is None and type(entity).__name__ == "Project":
        return int(entity.id)
    return project_id
