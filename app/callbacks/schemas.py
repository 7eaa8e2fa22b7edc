from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from app.core.schemas import ReadModel
from app.models.callback import DeliveryStatus


class CallbackSecretState(ReadModel):
    """Whether the project signs its callbacks, and since when; the secret itself is never shown again."""

    project_id: int
    set: bool
    rotated_at: datetime | None = None


class CallbackSecretCreated(CallbackSecretState):
    secret: str = Field(description="Shown once: keep it in your CI's secret store to verify X-Exile-Signature.")
    signature_scheme: str = "X-Exile-Signature: sha256=hex(HMAC-SHA256(secret, X-Exile-Timestamp + '.' + body))"


class CallbackAttemptRead(ReadModel):
    attempt: int
    at: datetime
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    response: str = ""
    signed: bool = False


class CallbackDeliveryRead(ReadModel):
    id: int
    run_id: int
    url: str
    status: DeliveryStatus
    signed: bool
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The exact JSON body sent with every attempt.")
    attempt_log: list[CallbackAttemptRead]
