"""Schedules, code-host triggers and the webhook they receive, under /api/v1 (issue 13, docs/schedules.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.pagination import Page, PageDep, page_of
from app.core.schemas import PathId, QueryId
from app.models import CodeHostTrigger
from app.models.schedule import FireOutcome
from app.schedules import service, targets, triggers
from app.schedules.schemas import (
    HookAnswer,
    ScheduleCreate,
    ScheduleDetail,
    ScheduleFireRead,
    ScheduleRead,
    ScheduleUpdate,
    TriggerCreate,
    TriggerRead,
    TriggerSecrets,
    TriggerUpdate,
)

router = APIRouter()
schedules = APIRouter(prefix="/schedules", tags=["schedules"], responses=error_responses(*SIGNED_IN))
project_triggers = APIRouter(
    prefix="/projects/{project_id}/triggers", tags=["triggers"], responses=error_responses(*SIGNED_IN, 403, 404)
)
hooks = APIRouter(tags=["triggers"])


# ---- schedules ---------------------------------------------------------------------------------------------
@schedules.post("", response_model=ScheduleDetail, status_code=201, responses=error_responses(*WITH_BODY, 403))
async def create_schedule(body: ScheduleCreate, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Schedule a scenario or plan (editors); it runs as you, with your rights at each tick."""
    schedule = await service.create_schedule(session, principal, body)
    await session.commit()
    return service.detail(schedule)


@schedules.get("", response_model=Page[ScheduleRead])
async def list_schedules(
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    project_id: QueryId = None,
    scenario_id: QueryId = None,
    plan_id: QueryId = None,
    enabled: bool | None = None,
) -> dict[str, object]:
    statement = await service.visible_schedules(
        session, principal, project_id=project_id, scenario_id=scenario_id, plan_id=plan_id, enabled=enabled
    )
    return await page_of(session, statement, params)


@schedules.get("/{schedule_id}", response_model=ScheduleDetail, responses=error_responses(404))
async def get_schedule(schedule_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """The schedule with its next 5 fire times (UTC, and in its time zone)."""
    return service.detail(await service.get_schedule(session, principal, schedule_id))


@schedules.patch("/{schedule_id}", response_model=ScheduleDetail, responses=error_responses(*WITH_BODY, 403, 404, 409))
async def update_schedule(
    schedule_id: PathId, body: ScheduleUpdate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Change a schedule (editors); you become its owner, so it runs with your rights from now on."""
    schedule = await service.update_schedule(session, principal, schedule_id, body)
    await session.commit()
    return service.detail(schedule)


@schedules.delete("/{schedule_id}", status_code=204, responses=error_responses(403, 404))
async def delete_schedule(schedule_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.delete_schedule(session, principal, schedule_id)
    await session.commit()
    return Response(status_code=204)


@schedules.get("/{schedule_id}/fires", response_model=Page[ScheduleFireRead], responses=error_responses(404))
async def list_fires(
    schedule_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    outcome: FireOutcome | None = None,
) -> dict[str, object]:
    """Each tick and what became of it (fired with its run, missed, skipped_overlap, refused, error), newest first."""
    return await page_of(session, await service.fires_query(session, principal, schedule_id, outcome), params)


# ---- triggers (project admins) -----------------------------------------------------------------------------
def _secrets(trigger: CodeHostTrigger, token: str, secret: str) -> dict[str, Any]:
    return {**triggers.trigger_read(trigger), "hook_url": triggers.hook_url(token), "token": token, "secret": secret}


@project_triggers.post("", response_model=TriggerSecrets, status_code=201, responses=error_responses(*WITH_BODY))
async def create_trigger(
    project_id: PathId, body: TriggerCreate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """A webhook trigger; the hook URL and secret to give the code host are in this answer only."""
    trigger, token, secret = await triggers.create_trigger(session, principal, project_id, body)
    await session.commit()
    return _secrets(trigger, token, secret)


@project_triggers.get("", response_model=list[TriggerRead])
async def list_triggers(project_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    return [triggers.trigger_read(t) for t in await triggers.list_triggers(session, principal, project_id)]


@project_triggers.get("/{trigger_id}", response_model=TriggerRead)
async def get_trigger(
    project_id: PathId, trigger_id: PathId, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    return triggers.trigger_read(await triggers.get_trigger(session, principal, project_id, trigger_id))


@project_triggers.patch("/{trigger_id}", response_model=TriggerRead, responses=error_responses(*WITH_BODY, 409))
async def update_trigger(
    project_id: PathId, trigger_id: PathId, body: TriggerUpdate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Change a trigger; you become its owner, so its runs start with your rights from now on."""
    trigger = await triggers.update_trigger(session, principal, project_id, trigger_id, body)
    await session.commit()
    return triggers.trigger_read(trigger)


@project_triggers.post("/{trigger_id}/rotate", response_model=TriggerSecrets)
async def rotate_trigger(
    project_id: PathId, trigger_id: PathId, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """A new hook URL and secret (shown once); the old ones stop working at once."""
    trigger, token, secret = await triggers.rotate_trigger(session, principal, project_id, trigger_id)
    await session.commit()
    return _secrets(trigger, token, secret)


@project_triggers.delete("/{trigger_id}", status_code=204)
async def delete_trigger(
    project_id: PathId, trigger_id: PathId, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    await triggers.delete_trigger(session, principal, project_id, trigger_id)
    await session.commit()
    return Response(status_code=204)


# ---- the webhook (no sign-in: the token picks the trigger, the signature proves the sender) -----------------
@hooks.post(
    "/hooks/{token}",
    response_model=HookAnswer,
    status_code=202,
    responses=error_responses(400, 401, 403, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A GitHub (push, pull_request) or GitLab (Push Hook, Merge Request Hook) delivery.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_hook(token: str, request: Request, session: SessionDep) -> JSONResponse:
    """A code host's delivery: 401 unless signed with the trigger's secret; 202 `started` or `ignored` (why)."""
    body = await request.body()
    answer, started = await triggers.receive(session, token, request.headers, body)
    await session.commit()
    if started is not None:
        await targets.hand_over(started)
    return JSONResponse(HookAnswer.model_validate(answer).model_dump(mode="json"), status_code=202)


router.include_router(schedules)
router.include_router(project_triggers)
router.include_router(hooks)
