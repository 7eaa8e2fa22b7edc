"""Notifications under /api/v1 (issue 13): a project's channels, their rules, their deliveries and a test send."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep, get_session_factory
from app.core.errors import SIGNED_IN, WITH_BODY, NotFound, error_responses
from app.core.pagination import Page, PageDep, paginate
from app.core.schemas import PathId
from app.models import NotificationDelivery
from app.notifications import delivery as sending
from app.notifications import service
from app.notifications.schemas import (
    ChannelCreate,
    ChannelRead,
    ChannelUpdate,
    DeliveryEventFilter,
    DeliveryRead,
    DeliveryStatusFilter,
)

router = APIRouter(tags=["notifications"], responses=error_responses(*SIGNED_IN))


@router.post(
    "/projects/{project_id}/channels",
    response_model=ChannelRead,
    status_code=201,
    responses=error_responses(*WITH_BODY, 403, 404, 409),
)
async def create_channel(
    project_id: PathId, body: ChannelCreate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Add a channel and its rule (project admins); its URL, secret and password are write-only."""
    channel = await service.create_channel(session, principal, project_id, body)
    await session.commit()
    return service.channel_read(channel)


@router.get("/projects/{project_id}/channels", response_model=list[ChannelRead], responses=error_responses(404))
async def list_channels(project_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The project's channels, for every member, without their secrets."""
    return [service.channel_read(channel) for channel in await service.list_channels(session, principal, project_id)]


@router.get("/channels/{channel_id}", response_model=ChannelRead, responses=error_responses(404))
async def get_channel(channel_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return service.channel_read(await service.get_channel(session, principal, channel_id))


@router.patch(
    "/channels/{channel_id}", response_model=ChannelRead, responses=error_responses(*WITH_BODY, 403, 404, 409)
)
async def update_channel(
    channel_id: PathId, body: ChannelUpdate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Change a channel or its rule (admins) with the `version` read; a secret left out stays as it is."""
    channel = await service.update_channel(session, principal, channel_id, body)
    await session.commit()
    return service.channel_read(channel)


@router.delete("/channels/{channel_id}", status_code=204, responses=error_responses(403, 404))
async def delete_channel(channel_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """Remove a channel and its delivery records (admins)."""
    await service.delete_channel(session, principal, channel_id)
    await session.commit()
    return Response(status_code=204)


@router.get("/channels/{channel_id}/deliveries", response_model=Page[DeliveryRead], responses=error_responses(404))
async def list_deliveries(
    channel_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    status: Annotated[DeliveryStatusFilter | None, Query()] = None,
    event: Annotated[DeliveryEventFilter | None, Query()] = None,
) -> dict[str, Any]:
    """What the channel was sent (or not: throttled, failed), newest first, with every attempt."""
    channel = await service.get_channel(session, principal, channel_id)
    items, total = await paginate(session, service.deliveries_query(channel.id, status, event), params)
    return {
        "items": [service.delivery_read(item) for item in items],
        "total": total,
        "page": params.page,
        "page_size": params.page_size,
    }


@router.post("/channels/{channel_id}/test", response_model=DeliveryRead, responses=error_responses(403, 404))
async def send_test(channel_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Send a test message now (admins) and answer with its outcome: `status` delivered or failed, and why."""
    delivery_id, owner = await service.record_test(session, principal, channel_id)
    await session.commit()
    await sending.deliver(get_session_factory(), delivery_id, keep_going=False, owner=owner)
    session.expunge_all()
    recorded = await session.get(NotificationDelivery, delivery_id)
    if recorded is None:  # the channel was deleted meanwhile, and its deliveries with it
        raise NotFound(f"channel {channel_id} not found")
    return service.delivery_read(recorded)
