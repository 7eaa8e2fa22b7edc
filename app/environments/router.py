from __future__ import annotations

from fastapi import APIRouter, Response

from app.auth.dependencies import CurrentUser
from app.core.db import SessionDep
from app.environments import service
from app.environments.schemas import EnvironmentCreate, EnvironmentRead, EnvironmentUpdate
from app.models import Environment

router = APIRouter(tags=["environments"])


@router.post("/projects/{project_id}/environments", response_model=EnvironmentRead, status_code=201)
async def create_environment(
    project_id: int, body: EnvironmentCreate, session: SessionDep, _user: CurrentUser
) -> Environment:
    environment = await service.create_environment(session, project_id, body)
    await session.commit()
    return environment


@router.get("/projects/{project_id}/environments", response_model=list[EnvironmentRead])
async def list_environments(project_id: int, session: SessionDep, _user: CurrentUser) -> list[Environment]:
    return await service.list_environments(session, project_id)


@router.get("/environments/{environment_id}", response_model=EnvironmentRead)
async def get_environment(environment_id: int, session: SessionDep, _user: CurrentUser) -> Environment:
    return await service.get_environment(session, environment_id)


@router.patch("/environments/{environment_id}", response_model=EnvironmentRead)
async def update_environment(
    environment_id: int, body: EnvironmentUpdate, session: SessionDep, _user: CurrentUser
) -> Environment:
    environment = await service.update_environment(session, environment_id, body)
    await session.commit()
    return environment


@router.delete("/environments/{environment_id}", status_code=204)
async def delete_environment(environment_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    await service.delete_environment(session, environment_id)
    await session.commit()
    return Response(status_code=204)
