"""Projects: a team's shared library. The creator is its owner; deleting it removes everything it holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal, require_project
from app.core.crud import apply_changes, check_version
from app.core.errors import Forbidden, InvalidInput
from app.models import (
    ApiRequest,
    ApiRequestDataset,
    Environment,
    Project,
    ProjectMember,
    TestScenario,
    TestScenarioCase,
)
from app.projects.schemas import ProjectCreate, ProjectUpdate
from app.runs import guard


async def get_project(session: AsyncSession, principal: Principal, project_id: int, action: str = "read") -> Project:
    return await require_project(session, principal, project_id, action)


async def visible_projects(session: AsyncSession, principal: Principal) -> Select[Any]:
    return select(Project).where(await principal.member_project_filter(session)).order_by(Project.id)


async def create_project(session: AsyncSession, principal: Principal, data: ProjectCreate) -> Project:
    if principal.token is not None:
        raise Forbidden("an API token works inside its project; it cannot create projects")
    project = Project(name=data.name, description=data.description, owner_id=principal.user.id)
    session.add(project)
    await session.flush()
    session.add(ProjectMember(project_id=project.id, user_id=principal.user.id, role="owner"))
    await audit.created(session, principal, "project", project)
    return project


async def update_project(session: AsyncSession, principal: Principal, project_id: int, data: ProjectUpdate) -> Project:
    project = await get_project(session, principal, project_id, "manage")
    check_version(project, data.version, "project")
    changes = data.changes()
    _check_retention(project, changes)
    before = audit.snapshot(project)
    apply_changes(project, changes)
    await audit.updated(session, principal, "project", project, before)
    return project


def _check_retention(project: Project, changes: dict[str, Any]) -> None:
    """Snapshots cannot outlive their rows: body days <= row days, judged on the values the patch leaves."""
    body_days = changes.get("retention_body_days", project.retention_body_days)
    row_days = changes.get("retention_row_days", project.retention_row_days)
    if body_days is None or row_days is None or body_days <= row_days:
        return
    field = "retention_body_days" if "retention_body_days" in changes else "retention_row_days"
    raise InvalidInput(
        f"{field}: snapshots would be kept {body_days} days but their rows only {row_days}; "
        "retention_body_days must be at most retention_row_days",
        loc=["body", field],
    )


async def delete_project(session: AsyncSession, principal: Principal, project_id: int) -> None:
    project = await get_project(session, principal, project_id, "own")
    await guard.check_project(session, project)
    await audit.deleted(session, principal, "project", project)
    scenario_ids = select(TestScenario.id).where(TestScenario.project_id == project.id)
    case_ids = select(ApiRequest.id).where(ApiRequest.project_id == project.id)
    # Steps first: they hold the only link (no cascade) that would block deleting the cases.
    await session.execute(delete(TestScenarioCase).where(TestScenarioCase.scenario_id.in_(scenario_ids)))
    await session.execute(delete(TestScenario).where(TestScenario.project_id == project.id))
    await session.execute(delete(ApiRequestDataset).where(ApiRequestDataset.case_id.in_(case_ids)))
    await session.execute(delete(ApiRequest).where(ApiRequest.project_id == project.id))
    await session.execute(delete(Environment).where(Environment.project_id == project.id))
    await session.execute(delete(ProjectMember).where(ProjectMember.project_id == project.id))
    await session.delete(project)
    await session.flush()
