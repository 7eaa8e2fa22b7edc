from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

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
    """Project admins read their projects' trail; site admins read everything. Newest first; read only."""
    statement = select(AuditLog)
    if project_id is not None:
        await require_project(session, principal, project_id, "manage")
        statement = statement.where(AuditLog.project_id == project_id)
    elif not principal.is_site_admin:
        roles = await principal.roles(session)
        statement = statement.where(AuditLog.project_id.in_([p for p, r in roles.items() if at_least(r, "admin")]))
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


def _actor_filter(actor: str) -> Any:
    """ASCII digits are a user id (`²` is a digit to str.isdigit, not to int); anything else is email text."""
    if not (actor.isascii() and actor.isdigit()):
        return AuditLog.actor.icontains(actor, autoescape=True)
    if not 1 <= int(actor) <= MAX_ID:
        raise InvalidInput(f"actor: a user id is between 1 and {MAX_ID}", loc=["query", "actor"])
    return AuditLog.actor_id == int(actor)
