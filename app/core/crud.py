"""The few steps every entity's service repeats: load or 404, check the version, apply a patch."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from app.core.errors import NotFound, VersionConflict

M = TypeVar("M")


async def get_or_404(
    session: AsyncSession, model: type[M], entity_id: int, label: str, *load: InstrumentedAttribute[Any]
) -> M:
    options = [selectinload(rel) for rel in load]
    entity = await session.get(model, entity_id, options=options)
    if entity is None:
        raise NotFound(f"{label} {entity_id} not found")
    return entity


def check_version(entity: Any, sent: int, label: str, loc: tuple[str, ...] = ("body", "version")) -> None:
    if entity.version != sent:
        raise VersionConflict(
            f"{label} {entity.id} is at version {entity.version}, you sent version {sent}: "
            "someone changed it since you read it; reload and apply your change again",
            details=[{"loc": list(loc), "msg": f"current version is {entity.version}"}],
        )


def apply_changes(entity: Any, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(entity, name, value)


def touch(entity: Any) -> None:
    """Force an UPDATE (and so a version bump) when only child rows changed."""
    from app.models.base import utcnow

    entity.updated_at = utcnow()
