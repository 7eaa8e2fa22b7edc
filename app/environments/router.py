from __future__ import annotations

from fastapi import APIRouter, Response

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.schemas import PathId
from app.environments import service
from app.environments.schemas import EnvironmentCreate, EnvironmentRead, EnvironmentUpdate
from app.models import Environment

router = APIRouter(tags=["environments"], responses=error_responses(*SIGNED_IN))


@router.post(
    "/projects/{project_id}/environments",
    response_model=EnvironmentRead,
    status_code=201,
    responses=error_responses(*WITH_BODY, 403, 404, 409),
)
async def create_environment(
    project_id: PathId, body: EnvironmentCreate, session: SessionDep, principal: CurrentPrincipal
) -> Environment:
    environment = await service.create_environment(session, principal, project_id, body)
    await session.commit()
    return environment


@router.get("/projects/{project_id}/environments", response_model=list[EnvironmentRead], responses=error_responses(404))
async def list_environments(project_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> list[Environment]:
    return await service.list_environments(session, principal, project_id)


@router.get("/environments/{environment_id}", response_model=EnvironmentRead, responses=error_responses(404))
async def get_environment(environment_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Environment:
    return await service.get_environment(session, principal, environment_id)


@router.patch(
    "/environments/{environment_id}",
    response_model=EnvironmentRead,
    responses=error_responses(*WITH_BODY, 403, 404, 409),
)
async def update_environment(
    environment_id: PathId, body: EnvironmentUpdate, session: SessionDep, principal: CurrentPrincipal
) -> Environment:
    environment = await service.update_environment(session, principal, environment_id, body)
    await session.commit()
    return environment


@router.delete("/environments/{environment_id}", status_code=204, responses=error_responses(403, 404, 409))
async def delete_environment(environment_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.delete_environment(session, principal, environment_id)
    await session.commit()
    return Response(status_code=204)
