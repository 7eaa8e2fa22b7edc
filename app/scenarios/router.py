from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.library import LibraryFiltersDep
from app.core.pagination import Page, PageDep, page_of
from app.core.schemas import PathId
from app.models import TestScenario, TestScenarioCase, TestScenarioDataset
from app.scenarios import service
from app.scenarios.schemas import (
    RowList,
    ScenarioCloneRequest,
    ScenarioCreate,
    ScenarioRead,
    ScenarioRowRead,
    ScenarioUpdate,
    StepList,
    StepRead,
)

router = APIRouter(prefix="/scenarios", tags=["scenarios"], responses=error_responses(*SIGNED_IN))
VersionGuard = Annotated[
    int | None, Query(ge=1, description="If given, the scenario version you read; a stale one gets 409.")
]


@router.post("", response_model=ScenarioRead, status_code=201, responses=error_responses(*WITH_BODY, 403, 404, 409))
async def create_scenario(body: ScenarioCreate, session: SessionDep, principal: CurrentPrincipal) -> TestScenario:
    scenario = await service.create_scenario(session, principal, body)
    await session.commit()
    return await service.get_scenario(session, principal, scenario.id)


@router.get("", response_model=Page[ScenarioRead])
async def list_scenarios(
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    filters: LibraryFiltersDep,
) -> dict[str, object]:
    return await page_of(session, await service.visible_scenarios(session, principal, filters), params)


@router.get("/{scenario_id}", response_model=ScenarioRead, responses=error_responses(404))
async def get_scenario(scenario_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> TestScenario:
    return await service.get_scenario(session, principal, scenario_id)


@router.patch("/{scenario_id}", response_model=ScenarioRead, responses=error_responses(*WITH_BODY, 403, 404, 409))
async def update_scenario(
    scenario_id: PathId, body: ScenarioUpdate, session: SessionDep, principal: CurrentPrincipal
) -> TestScenario:
    scenario = await service.update_scenario(session, principal, scenario_id, body)
    await session.commit()
    return scenario


@router.delete("/{scenario_id}", status_code=204, responses=error_responses(403, 404, 409))
async def delete_scenario(scenario_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.delete_scenario(session, principal, scenario_id)
    await session.commit()
    return Response(status_code=204)


@router.post(
    "/{scenario_id}/clone",
    response_model=ScenarioRead,
    status_code=201,
    responses=error_responses(*WITH_BODY, 403, 404, 409),
)
async def clone_scenario(
    scenario_id: PathId, session: SessionDep, principal: CurrentPrincipal, body: ScenarioCloneRequest | None = None
) -> TestScenario:
    clone = await service.clone_scenario(session, principal, scenario_id, body or ScenarioCloneRequest())
    await session.commit()
    return await service.get_scenario(session, principal, clone.id)


@router.get("/{scenario_id}/steps", response_model=list[StepRead], responses=error_responses(404))
async def list_steps(scenario_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> list[TestScenarioCase]:
    return await service.list_steps(session, principal, scenario_id)


@router.put("/{scenario_id}/steps", response_model=list[StepRead], responses=error_responses(*WITH_BODY, 403, 404, 409))
async def replace_steps(
    scenario_id: PathId,
    steps: Annotated[StepList, Body()],
    session: SessionDep,
    principal: CurrentPrincipal,
    version: VersionGuard = None,
) -> list[TestScenarioCase]:
    """Set the ordered step list: items with `id` stay (updated in place), others are added, the rest removed."""
    result = await service.replace_steps(session, principal, scenario_id, steps, version)
    await session.commit()
    return result


@router.get("/{scenario_id}/datasets", response_model=list[ScenarioRowRead], responses=error_responses(404))
async def list_rows(scenario_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> list[TestScenarioDataset]:
    return await service.list_rows(session, principal, scenario_id)


@router.put(
    "/{scenario_id}/datasets",
    response_model=list[ScenarioRowRead],
    responses=error_responses(*WITH_BODY, 403, 404, 409),
)
async def replace_rows(
    scenario_id: PathId,
    rows: Annotated[RowList, Body()],
    session: SessionDep,
    principal: CurrentPrincipal,
    version: VersionGuard = None,
) -> list[TestScenarioDataset]:
    """Set the scenario's data rows (one iteration each), keeping the ids of rows that stay."""
    result = await service.replace_rows(session, principal, scenario_id, rows, version)
    await session.commit()
    return result
