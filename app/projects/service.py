"""Projects: a team's shared library. Deleting one removes everything it holds, in an order every database accepts."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.crud import apply_changes, check_version, get_or_404
from app.models import (
    ApiRequest,
    ApiRequestDataset,
    Environment,
    Project,
    TestScenario,
    TestScenarioCase,
    User,
)
from app.projects.schemas import ProjectCreate, ProjectUpdate


async def get_project(session: AsyncSession, project_id: int) -> Project:
    return await get_or_404(session, Project, project_id, "project")


async def create_project(session: AsyncSession, user: User, data: ProjectCreate) -> Project:
    project = Project(name=data.name, description=data.description, owner_id=user.id)
    session.add(project)
    await session.flush()
    return project


async def update_project(session: AsyncSession, project_id: int, data: ProjectUpdate) -> Project:
    project = await get_project(session, project_id)
    check_version(project, data.version, "project")
    apply_changes(project, data.changes())
    await session.flush()
    return project


async def delete_project(session: AsyncSession, project_id: int) -> None:
    project = await get_project(session, project_id)
    scenario_ids = select(TestScenario.id).where(TestScenario.project_id == project.id)
    case_ids = select(ApiRequest.id).where(ApiRequest.project_id == project.id)
    # Steps first: they hold the only link (no cascade) that would block deleting the cases.
    await session.execute(delete(TestScenarioCase).where(TestScenarioCase.scenario_id.in_(scenario_ids)))
    await session.execute(delete(TestScenario).where(TestScenario.project_id == project.id))
    await session.execute(delete(ApiRequestDataset).where(ApiRequestDataset.case_id.in_(case_ids)))
    await session.execute(delete(ApiRequest).where(ApiRequest.project_id == project.id))
    await session.execute(delete(Environment).where(Environment.project_id == project.id))
    await session.delete(project)
    await session.flush()
