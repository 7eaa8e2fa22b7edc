"""The audit trail: who did what to which entity, when, from where, and the fields that changed.

Entries are inserted in the same transaction as the change they describe, so a change and its entry
commit or vanish together. Secret values never reach an entry.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import inspect as orm_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.models import AuditLog
from app.models.base import utcnow

MASK = "******"
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
            changes=changes or {},
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
