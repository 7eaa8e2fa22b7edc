from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import select

from app.auth.dependencies import CurrentUser
from app.core.db import SessionDep
from app.core.pagination import Page, PageDep, paginate
from app.models import Project
from app.projects import service
from app.projects.schemas import ProjectCreate, ProjectRead, ProjectUpdate

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", response_model=ProjectRead, status_code=201)
async def create_project(body: ProjectCreate, session: SessionDep, user: CurrentUser) -> Project:
    project = await service.create_project(session, user, body)
    await session.commit()
    return project


@router.get("", response_model=Page[ProjectRead])
async def list_projects(session: SessionDep, _user: CurrentUser, params: PageDep) -> dict[str, object]:
    items, total = await paginate(session, select(Project).order_by(Project.id), params)
    return {"items": items, "total": total, "page": params.page, "page_size": params.page_size}


@router.get("/{project_id}", response_model=ProjectRead)
async def get_project(project_id: int, session: SessionDep, _user: CurrentUser) -> Project:
    return await service.get_project(session, project_id)


@router.patch("/{project_id}", response_model=ProjectRead)
async def update_project(project_id: int, body: ProjectUpdate, session: SessionDep, _user: CurrentUser) -> Project:
    project = await service.update_project(session, project_id, body)
    await session.commit()
    return project


@router.delete("/{project_id}", status_code=204)
async def delete_project(project_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    await service.delete_project(session, project_id)
    await session.commit()
    return Response(status_code=204)
