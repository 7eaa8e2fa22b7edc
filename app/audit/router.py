from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import CurrentPrincipal
from app.auth.principal import require_project
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, InvalidInput, error_responses
from app.core.pagination import Page, PageDep, page_of
from app.core.roles import at_least
from app.core.schemas import MAX_ID, QueryDateTime, QueryId, QueryText, ReadModel
from app.models import AuditLog

router = APIRouter(prefix="/audit", tags=["audit"], responses=error_responses(*SIGNED_IN))


class AuditEntryRead(ReadModel):
    id: int
    at: datetime
    actor: str
    actor_id: int | None
    action: str
    entity: str
    entity_id: int | None
    project_id: int | None
    changes: dict[str, Any]
    ip: str | None


@router.get("", response_model=Page[AuditEntryRead], responses=error_responses(403, 404))
async def list_audit(
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    project_id: QueryId = None,
    actor: Annotated[QueryText, Query(max_length=400, description="an email (or part of one) or a user id")] = None,
    entity: Annotated[QueryText, Query(max_length=32)] = None,
    action: Annotated[QueryText, Query(max_length=32)] = None,
    since: QueryDateTime = None,
    until: QueryDateTime = None,
) -> dict[str, object]:
    """Project admins read their projects' trail; site admins read everything. Newest first; read only.

    A project's trail starts after the last deletion of a project with the same id: should an id ever come
    back, the new project's admins never read what the deleted one held.
    """
    statement = select(AuditLog)
    if project_id is not None:
        await require_project(session, principal, project_id, "manage")
        statement = statement.where(await _trails_of(session, [project_id]))
    elif not principal.is_site_admin:
        roles = await principal.roles(session)
        managed = [p for p, r in roles.items() if at_least(r, "admin")]
        statement = statement.where(await _trails_of(session, managed))
    if actor:
        statement = statement.where(_actor_filter(actor))
    if entity:
        statement = statement.where(AuditLog.entity == entity)
    if action:
        statement = statement.where(AuditLog.action == action)
    if since:
        statement = statement.where(AuditLog.at >= since)
    if until:
        statement = statement.where(AuditLog.at < until)
    return await page_of(session, statement.order_by(AuditLog.id.desc()), params)


async def _trails_of(session: AsyncSession, project_ids: list[int]) -> ColumnElement[bool]:
    """Entries of these projects written after the last `delete` of a project with the same id.

    Audit ids only grow and the delete entry commits with the deletion, before any new row can take the id:
    the bound holds whatever the clocks of several servers say (a time bound would not).
    """
    if not project_ids:
        return false()
    deleted = await session.execute(
        select(AuditLog.project_id, func.max(AuditLog.id))
        .where(AuditLog.project_id.in_(project_ids), AuditLog.entity == "project", AuditLog.action == "delete")
        .group_by(AuditLog.project_id)
    )
    last_deletion: dict[int | None, int] = {project: last for project, last in deleted.all()}
    never_deleted = [p for p in project_ids if p not in last_deletion]
    return or_(
        AuditLog.project_id.in_(never_deleted),
        *(and_(AuditLog.project_id == p, AuditLog.id > last) for p, last in last_deletion.items()),
    )


def _actor_filter(actor: str) -> Any:
    """ASCII digits are a user id (`²` is a digit to str.isdigit, not to int); anything else is email text."""
    if not (actor.isascii() and actor.isdigit()):
        return AuditLog.actor.icontains(actor, autoescape=True)
    if not 1 <= int(actor) <= MAX_ID:
        raise InvalidInput(f"actor: a user id is between 1 and {MAX_ID}", loc=["query", "actor"])
    return AuditLog.actor_id == int(actor)
