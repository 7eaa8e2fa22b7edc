from __future__ import annotations

from fastapi import APIRouter, Response

from app.auth.dependencies import CurrentPrincipal
from app.cases import service
from app.cases.schemas import CaseCloneRequest, CaseCreate, CaseRead, CaseUpdate
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.library import LibraryFiltersDep
from app.core.pagination import Page, PageDep, page_of
from app.core.schemas import PathId
from app.models import ApiRequest

router = APIRouter(prefix="/cases", tags=["cases"], responses=error_responses(*SIGNED_IN))


@router.post("", response_model=CaseRead, status_code=201, responses=error_responses(*WITH_BODY, 403, 404, 409))
async def create_case(body: CaseCreate, session: SessionDep, principal: CurrentPrincipal) -> ApiRequest:
    case = await service.create_case(session, principal, body)
    await session.commit()
    return await service.get_case(session, principal, case.id)


@router.get("", response_model=Page[CaseRead])
async def list_cases(
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    filters: LibraryFiltersDep,
) -> dict[str, object]:
    """Cases you may see: your projects' shared ones, your private ones, and public ones."""
    return await page_of(session, await service.visible_cases(session, principal, filters), params)


@router.get("/{case_id}", response_model=CaseRead, responses=error_responses(404))
async def get_case(case_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> ApiRequest:
    return await service.get_case(session, principal, case_id)


@router.patch("/{case_id}", response_model=CaseRead, responses=error_responses(*WITH_BODY, 403, 404, 409))
async def update_case(
    case_id: PathId, body: CaseUpdate, session: SessionDep, principal: CurrentPrincipal
) -> ApiRequest:
    case = await service.update_case(session, principal, case_id, body)
    await session.commit()
    return case


@router.delete("/{case_id}", status_code=204, responses=error_responses(403, 404, 409))
async def delete_case(case_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.delete_case(session, principal, case_id)
    await session.commit()
    return Response(status_code=204)


@router.post(
    "/{case_id}/clone",
    response_model=CaseRead,
    status_code=201,
    responses=error_responses(*WITH_BODY, 403, 404, 409),
)
async def clone_case(
    case_id: PathId, session: SessionDep, principal: CurrentPrincipal, body: CaseCloneRequest | None = None
) -> ApiRequest:
    clone = await service.clone_case(session, principal, case_id, body or CaseCloneRequest())
    await session.commit()
    return await service.get_case(session, principal, clone.id)
