from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from app.auth.dependencies import CurrentPrincipal
from app.auth.principal import require_project
from app.core.db import SessionDep
from app.core.pagination import Page, PageDep, page_of
from app.core.roles import at_least
from app.core.schemas import QueryId, ReadModel
from app.models import AuditLog

router = APIRouter(prefix="/audit", tags=["audit"])


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


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.get("", response_model=Page[AuditEntryRead])
async def list_audit(
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    project_id: QueryId = None,
    actor: Annotated[str | None, Query(max_length=400, description="an email (or part of one) or a user id")] = None,
    entity: Annotated[str | None, Query(max_length=32)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, object]:
    """Project admins read their projects' trail; site admins read everything. Newest first; read only."""
    statement = select(AuditLog)
    if project_id is not None:
        await require_project(session, principal, project_id, "manage")
        statement = statement.where(AuditLog.project_id == project_id)
    elif not principal.is_site_admin:
        roles = await principal.roles(session)
        statement = statement.where(AuditLog.project_id.in_([p for p, r in roles.items() if at_least(r, "admin")]))
    if actor:
        statement = statement.where(
            AuditLog.actor_id == int(actor) if actor.isdigit() else AuditLog.actor.icontains(actor, autoescape=True)
        )
    if entity:
        statement = statement.where(AuditLog.entity == entity)
    if action:
        statement = statement.where(AuditLog.action == action)
    if since:
        statement = statement.where(AuditLog.at >= _utc(since))
    if until:
        statement = statement.where(AuditLog.at < _utc(until))
    return await page_of(session, statement.order_by(AuditLog.id.desc()), params)
