from __future__ import annotations

from fastapi import APIRouter, Response

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.pagination import Page, PageDep, page_of
from app.core.schemas import PathId
from app.models import Project
from app.projects import service
from app.projects.schemas import ProjectCreate, ProjectRead, ProjectUpdate

router = APIRouter(prefix="/projects", tags=["projects"], responses=error_responses(*SIGNED_IN))


@router.post("", response_model=ProjectRead, status_code=201, responses=error_responses(*WITH_BODY, 403, 409))
async def create_project(body: ProjectCreate, session: SessionDep, principal: CurrentPrincipal) -> Project:
    """Any signed-in person may start a project and becomes its owner."""
    project = await service.create_project(session, principal, body)
    await session.commit()
    return project


@router.get("", response_model=Page[ProjectRead])
async def list_projects(session: SessionDep, principal: CurrentPrincipal, params: PageDep) -> dict[str, object]:
    """The projects you belong to (all of them for a site admin)."""
    return await page_of(session, await service.visible_projects(session, principal), params)


@router.get("/{project_id}", response_model=ProjectRead, responses=error_responses(404))
async def get_project(project_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Project:
    return await service.get_project(session, principal, project_id)


@router.patch("/{project_id}", response_model=ProjectRead, responses=error_responses(*WITH_BODY, 403, 404, 409))
async def update_project(
    project_id: PathId, body: ProjectUpdate, session: SessionDep, principal: CurrentPrincipal
) -> Project:
    """Project admins rename it or set its retention (a snapshot limit above the row limit is a 422)."""
    project = await service.update_project(session, principal, project_id, body)
    await session.commit()
    return project


@router.delete("/{project_id}", status_code=204, responses=error_responses(403, 404, 409))
async def delete_project(project_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.delete_project(session, principal, project_id)
    await session.commit()
    return Response(status_code=204)
