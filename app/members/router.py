from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.schemas import PathId
from app.members import service
from app.members.schemas import MemberCreate, MemberRead, MemberUpdate

router = APIRouter(
    prefix="/projects/{project_id}/members", tags=["members"], responses=error_responses(*SIGNED_IN, 404)
)


@router.post("", response_model=MemberRead, status_code=201, responses=error_responses(*WITH_BODY, 403, 409))
async def add_member(
    project_id: PathId, body: MemberCreate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    member = await service.add_member(session, principal, project_id, body)
    await session.commit()
    return member


@router.get("", response_model=list[MemberRead])
async def list_members(project_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    return await service.list_members(session, principal, project_id)


@router.patch("/{user_id}", response_model=MemberRead, responses=error_responses(*WITH_BODY, 403, 409))
async def change_role(
    project_id: PathId, user_id: PathId, body: MemberUpdate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    member = await service.change_role(session, principal, project_id, user_id, body)
    await session.commit()
    return member


@router.delete("/{user_id}", status_code=204, responses=error_responses(403, 409))
async def remove_member(
    project_id: PathId, user_id: PathId, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    await service.remove_member(session, principal, project_id, user_id)
    await session.commit()
    return Response(status_code=204)
