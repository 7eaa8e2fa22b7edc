"""Run callbacks: a project's signing secret, and what was sent for a run."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter

from app.auth.dependencies import CurrentPrincipal
from app.callbacks import service
from app.callbacks.schemas import CallbackDeliveryRead, CallbackSecretCreated, CallbackSecretState
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, error_responses
from app.core.schemas import PathId
from app.models import CallbackDelivery
from app.runs.service import get_run

router = APIRouter(tags=["callbacks"], responses=error_responses(*SIGNED_IN, 404))


@router.post(
    "/projects/{project_id}/callback-secret",
    response_model=CallbackSecretCreated,
    status_code=201,
    responses=error_responses(403),
)
async def rotate_callback_secret(
    project_id: PathId, session: SessionDep, principal: CurrentPrincipal
) -> CallbackSecretCreated:
    """Create or rotate the key that signs the project's run callbacks (admins); it is in this answer only."""
    row, raw = await service.rotate_secret(session, principal, project_id)
    await session.commit()
    return CallbackSecretCreated(project_id=project_id, set=True, rotated_at=row.rotated_at, secret=raw)


@router.get("/projects/{project_id}/callback-secret", response_model=CallbackSecretState)
async def callback_secret_state(
    project_id: PathId, session: SessionDep, principal: CurrentPrincipal
) -> CallbackSecretState:
    """Whether callbacks are signed and when the secret was last rotated; never the secret."""
    row = await service.secret_state(session, principal, project_id)
    return CallbackSecretState(project_id=project_id, set=row is not None, rotated_at=row.rotated_at if row else None)


def _read(delivery: CallbackDelivery) -> dict[str, Any]:
    fields = {column: getattr(delivery, column) for column in CallbackDelivery.__table__.columns.keys()}
    fields["payload"] = orjson.loads(delivery.payload)
    return fields


@router.get("/scenario-runs/{run_id}/callbacks", response_model=list[CallbackDeliveryRead])
async def list_run_callbacks(run_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The run's callback delivery with every attempt (status code, error, the start of the answer)."""
    run = await get_run(session, principal, run_id)
    return [_read(delivery) for delivery in await service.deliveries_of_run(session, run.id)]
