from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.auth.dependencies import CurrentUser
from app.cases import repository, service
from app.cases.schemas import CaseCloneRequest, CaseCreate, CaseRead, CaseUpdate
from app.core.db import SessionDep
from app.core.pagination import Page, PageDep, paginate
from app.core.schemas import Status
from app.models import ApiRequest

router = APIRouter(prefix="/cases", tags=["cases"])


@router.post("", response_model=CaseRead, status_code=201)
async def create_case(body: CaseCreate, session: SessionDep, user: CurrentUser) -> ApiRequest:
    case = await service.create_case(session, user, body)
    await session.commit()
    return await service.get_case(session, case.id)


@router.get("", response_model=Page[CaseRead])
async def list_cases(
    session: SessionDep,
    _user: CurrentUser,
    params: PageDep,
    project_id: int | None = None,
    status: Status | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, object]:
    statement = repository.filtered_cases(project_id=project_id, status=status, tag=tag, text=q)
    items, total = await paginate(session, statement, params)
    return {"items": items, "total": total, "page": params.page, "page_size": params.page_size}


@router.get("/{case_id}", response_model=CaseRead)
async def get_case(case_id: int, session: SessionDep, _user: CurrentUser) -> ApiRequest:
    return await service.get_case(session, case_id)


@router.patch("/{case_id}", response_model=CaseRead)
async def update_case(case_id: int, body: CaseUpdate, session: SessionDep, _user: CurrentUser) -> ApiRequest:
    await service.update_case(session, case_id, body)
    await session.commit()
    return await service.get_case(session, case_id)


@router.delete("/{case_id}", status_code=204)
async def delete_case(case_id: int, session: SessionDep, _user: CurrentUser) -> Response:
    await service.delete_case(session, case_id)
    await session.commit()
    return Response(status_code=204)


@router.post("/{case_id}/clone", response_model=CaseRead, status_code=201)
async def clone_case(
    case_id: int, session: SessionDep, user: CurrentUser, body: CaseCloneRequest | None = None
) -> ApiRequest:
    clone = await service.clone_case(session, user, case_id, body or CaseCloneRequest())
    await session.commit()
    return await service.get_case(session, clone.id)
