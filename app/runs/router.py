from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import CurrentPrincipal
from app.callbacks.service import deliver_in_background
from app.core.config import get_settings
from app.core.db import SessionDep, get_session_factory
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.pagination import Page, PageDep, page_of, paginate
from app.core.schemas import PathId, QueryId
from app.engine.statuses import FINISHED, ResultStatus, RunStatus
from app.models import ApiRequestRun, ScenarioRun
from app.runs import service
from app.runs.dispatch import dispatch, start_inline, wait_until_ended
from app.runs.schemas import (
    ApiRequestRunDetail,
    ApiRequestRunRead,
    CaseRunCreate,
    CaseRunResult,
    RerunCreate,
    ScenarioRunCreate,
    ScenarioRunRead,
)

router = APIRouter(tags=["runs"], responses=error_responses(*SIGNED_IN))


def _run_json(run: ScenarioRun) -> dict[str, Any]:
    return ScenarioRunRead.model_validate(service.run_read(run)).model_dump(mode="json")


async def _queued(session: AsyncSession, run: ScenarioRun) -> JSONResponse:
    """Commit the run's row, then dispatch it, then answer 202: the executor and the client both find it."""
    await session.commit()
    await dispatch(run)
    return JSONResponse(_run_json(run), status_code=202)


@router.post(
    "/scenarios/{scenario_id}/runs",
    response_model=ScenarioRunRead,
    status_code=202,
    responses=error_responses(*WITH_BODY, 403, 404, 409),
)
async def run_scenario(
    scenario_id: PathId, session: SessionDep, principal: CurrentPrincipal, body: ScenarioRunCreate | None = None
) -> JSONResponse:
    """Queue a run; the row is committed before it is dispatched and before this answers."""
    run = await service.start_scenario_run(session, principal, scenario_id, body or ScenarioRunCreate())
    return await _queued(session, run)


@router.post(
    "/cases/{case_id}/run",
    response_model=CaseRunResult,
    responses={
        202: {"model": ScenarioRunRead, "description": "more rows than answer at once: queued"},
        **error_responses(*WITH_BODY, 403, 404, 409),
    },
)
async def run_case(
    case_id: PathId, session: SessionDep, principal: CurrentPrincipal, body: CaseRunCreate | None = None
) -> JSONResponse:
    """The "Send" button: up to CASE_RUN_SYNC_LIMIT rows answer with their results, more run in the background.

    With Celery the run goes to the workers like any other, and this waits up to CASE_RUN_WAIT_SECONDS
    for it to end (202 with the run when it has not), so the record's executor is the one that ran it.
    """
    settings = get_settings()
    run = await service.start_case_run(session, principal, case_id, body or CaseRunCreate())
    if service.rows_of_case_run(run) > settings.case_run_sync_limit:
        return await _queued(session, run)
    await session.commit()
    if run.executor == "celery":
        await dispatch(run)
        if not await wait_until_ended(run.id, settings.case_run_wait_seconds):
            await session.refresh(run)
            return JSONResponse(_run_json(run), status_code=202)
    else:
        # Shielded: a client that goes away must not take the run down half-recorded and still `running`.
        await asyncio.shield(asyncio.wrap_future(start_inline(run.id, "send")))
    await session.refresh(run)
    items = await session.scalars(
        select(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run.id).order_by(ApiRequestRun.id)
    )
    result = {
        "run": service.run_read(run),
        "items": [ApiRequestRunDetail.model_validate(item) for item in items],
    }
    return JSONResponse(CaseRunResult.model_validate(result).model_dump(mode="json"), status_code=200)


@router.get("/scenario-runs", response_model=Page[ScenarioRunRead])
async def list_runs(
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    scenario_id: QueryId = None,
    case_id: QueryId = None,
    project_id: QueryId = None,
    status: RunStatus | None = None,
    kind: Literal["scenario", "case"] | None = None,
) -> dict[str, object]:
    statement = select(ScenarioRun).where(await service.run_visibility(session, principal))
    for column, value in (
        (ScenarioRun.scenario_id, scenario_id),
        (ScenarioRun.case_id, case_id),
        (ScenarioRun.project_id, project_id),
        (ScenarioRun.status, status),
        (ScenarioRun.kind, kind),
    ):
        if value is not None:
            statement = statement.where(column == value)
    items, total = await paginate(session, statement.order_by(ScenarioRun.id.desc()), params)
    return {
        "items": [service.run_read(r) for r in items],
        "total": total,
        "page": params.page,
        "page_size": params.page_size,
    }


@router.get("/scenario-runs/{run_id}", response_model=ScenarioRunRead, responses=error_responses(404))
async def get_run(run_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Status, live counts and timings."""
    return service.run_read(await service.get_run(session, principal, run_id))


@router.post("/scenario-runs/{run_id}/cancel", response_model=ScenarioRunRead, responses=error_responses(403, 404, 409))
async def cancel_run(run_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Works whichever process executes the run: the executor polls the flag in the database."""
    run = await service.cancel_run(session, principal, run_id)
    await session.commit()
    if run.status in FINISHED:  # a queued run ended here: send its callback (a running one's executor does)
        deliver_in_background(get_session_factory(), run.id)
    return service.run_read(run)


@router.post(
    "/scenario-runs/{run_id}/rerun",
    response_model=ScenarioRunRead,
    status_code=202,
    responses=error_responses(*WITH_BODY, 403, 404, 409),
)
async def rerun(
    run_id: PathId, session: SessionDep, principal: CurrentPrincipal, body: RerunCreate | None = None
) -> JSONResponse:
    """A new run, linked to this one, of the iterations that did not pass (or all of them)."""
    run = await service.rerun(session, principal, run_id, body or RerunCreate())
    return await _queued(session, run)


@router.get(
    "/scenario-runs/{run_id}/request-runs", response_model=Page[ApiRequestRunRead], responses=error_responses(404)
)
async def list_run_requests(
    run_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    status: ResultStatus | None = None,
    case_id: QueryId = None,
    iteration: Annotated[int | None, Query(ge=-1, le=2**31 - 1)] = None,
    final: bool | None = None,
) -> dict[str, object]:
    await service.get_run(session, principal, run_id)
    filters = [ApiRequestRun.scenario_run_id == run_id]
    if status is not None:
        filters.append(ApiRequestRun.status == status)
    if case_id is not None:
        filters.append(ApiRequestRun.case_id == case_id)
    if iteration is not None:
        filters.append(ApiRequestRun.iteration == iteration)
    if final is not None:
        filters.append(ApiRequestRun.is_final.is_(final))
    statement = await service.request_runs_query(session, principal, filters=filters)
    return await page_of(session, statement, params)


@router.get("/request-runs", response_model=Page[ApiRequestRunRead])
async def list_request_runs(
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    case_id: QueryId = None,
    scenario_run_id: QueryId = None,
    status: ResultStatus | None = None,
) -> dict[str, object]:
    filters = []
    if scenario_run_id is not None:
        filters.append(ApiRequestRun.scenario_run_id == scenario_run_id)
    if status is not None:
        filters.append(ApiRequestRun.status == status)
    statement = await service.request_runs_query(session, principal, filters=filters, case_id=case_id)
    return await page_of(session, statement, params)


@router.get("/request-runs/{request_run_id}", response_model=ApiRequestRunDetail, responses=error_responses(404))
async def get_request_run(request_run_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> ApiRequestRun:
    """One attempt with its request, data and response snapshots and assertion results."""
    return await service.get_request_run(session, principal, request_run_id)
