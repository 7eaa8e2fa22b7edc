from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.auth.dependencies import CurrentPrincipal
from app.cases import service
from app.cases.schemas import CaseCloneRequest, CaseCreate, CaseRead, CaseUpdate
from app.core.db import SessionDep
from app.core.pagination import Page, PageDep, paginate
from app.core.schemas import PathId, QueryId, Status
from app.models import ApiRequest

router = APIRouter(prefix="/cases", tags=["cases"])


@router.post("", response_model=CaseRead, status_code=201)
async def create_case(body: CaseCreate, session: SessionDep, principal: CurrentPrincipal) -> ApiRequest:
    case = await service.create_case(session, principal, body)
    await session.commit()
    return await service.get_case(session, principal, case.id)


@router.get("", response_model=Page[CaseRead])
async def list_cases(
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    project_id: QueryId = None,
    status: Status | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, object]:
    """Cases you may see: your projects' shared ones, your private ones, and public ones."""
    statement = await service.visible_cases(session, principal, project_id=project_id, status=status, tag=tag, text=q)
    items, total = await paginate(session, statement, params)
    return {"items": items, "total": total, "page": params.page, "page_size": params.page_size}


@router.get("/{case_id}", response_model=CaseRead)
async def get_case(case_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> ApiRequest:
    return await service.get_case(session, principal, case_id)


@router.patch("/{case_id}", response_model=CaseRead)
async def update_case(
    case_id: PathId, body: CaseUpdate, session: SessionDep, principal: CurrentPrincipal
) -> ApiRequest:
    case = await service.update_case(session, principal, case_id, body)
    await session.commit()
    return case


@router.delete("/{case_id}", status_code=204)
async def delete_case(case_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.delete_case(session, principal, case_id)
    await session.commit()
    return Response(status_code=204)


@router.post("/{case_id}/clone", response_model=CaseRead, status_code=201)
async def clone_case(
    case_id: PathId, session: SessionDep, principal: CurrentPrincipal, body: CaseCloneRequest | None = None
) -> ApiRequest:
    clone = await service.clone_case(session, principal, case_id, body or CaseCloneRequest())
    await session.commit()
    return await service.get_case(session, principal, clone.id)
