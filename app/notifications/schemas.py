"""Channels, their rules and their deliveries as the API takes and shows them (docs/notifications.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator
from yarl import URL

from app.core.schemas import EntityId, InputModel, Name, PatchModel, ReadModel, Timestamps
from app.engine.masking import MASK, MIN_SECRET_LENGTH
from app.models.notification import ChannelType, NotificationEvent, NotificationStatus
from app.users.schemas import Email

DEFAULT_EVENTS = [NotificationEvent.RUN_FAILED, NotificationEvent.RUN_RECOVERED]
# A flapping scenario (pass, fail, pass, ...) sends at most this many messages per channel per window.
DEFAULT_THROTTLE_MAX = 5
DEFAULT_THROTTLE_WINDOW_SECONDS = 3600
# Types whose messages go to a URL, and those whose URL may carry a signing secret beside it.
URL_TYPES = frozenset(
    {ChannelType.WEBHOOK, ChannelType.DINGTALK, ChannelType.FEISHU, ChannelType.WECOM, ChannelType.SLACK}
)
SIGNED_TYPES = frozenset({ChannelType.WEBHOOK, ChannelType.DINGTALK, ChannelType.FEISHU})


def check_url(value: str) -> str:
    """An absolute http(s) URL with a host: where a webhook or robot message is POSTed."""
    value = value.strip()
    if any(ch.isspace() for ch in value):
        raise ValueError("url contains whitespace")
    if not value.lower().startswith(("http://", "https://")):
        raise ValueError("url must start with http:// or https://")
    try:
        parsed = URL(value)
    except ValueError:
        raise ValueError("url is not a valid URL") from None
    if not parsed.host:
        raise ValueError("url has no host")
    if parsed.fragment:
        raise ValueError("url must not have a #fragment")
    return value


def _check_secret(value: str) -> str:
    if len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"a secret needs at least {MIN_SECRET_LENGTH} characters, so that it can be masked")
    if value == MASK:
        raise ValueError(f"the secret is the mask '{MASK}'; send the real value")
    return value


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


WebhookUrl = Annotated[str, Field(max_length=2048), AfterValidator(check_url)]
Secret = Annotated[str, Field(max_length=512), AfterValidator(_check_secret)]
Host = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\s/@]+$")]
Events = Annotated[list[NotificationEvent], Field(min_length=1, max_length=10), AfterValidator(_unique)]
Ids = Annotated[list[EntityId], Field(max_length=500), AfterValidator(_unique)]
Recipients = Annotated[list[Email], Field(min_length=1, max_length=50), AfterValidator(_unique)]


class Throttle(InputModel):
    """At most `max_messages` per channel per subject (a scenario, a plan, a schedule) in `window_seconds`."""

    max_messages: int = Field(default=DEFAULT_THROTTLE_MAX, ge=1, le=10_000)
    window_seconds: int = Field(default=DEFAULT_THROTTLE_WINDOW_SECONDS, ge=1, le=30 * 86400)


class EmailSettings(InputModel):
    """An SMTP server and the message's envelope. `security`: tls (implicit, port 465), starttls or none."""

    host: Host
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: Annotated[str, Field(min_length=1, max_length=320)] | None = None
    password: Annotated[str, Field(min_length=1, max_length=1024)] | None = Field(
        None, description=f"Write-only. On PATCH, leave it out or send '{MASK}' to keep the stored one."
    )
    from_address: Email
    to: Recipients
    verify_tls: bool = True


class ChannelCreate(InputModel):
    name: Name
    type: ChannelType
    enabled: bool = True
    url: WebhookUrl | None = Field(
        None, description="Where messages are POSTed (all types but email). Write-only: it carries the robot's token."
    )
    secret: Secret | None = Field(
        None,
        description="Write-only signing secret: webhook (X-Exile-Signature), dingtalk (SEC...), feishu (signature).",
    )
    email: EmailSettings | None = None
    events: Events = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    scenario_ids: Ids | None = Field(None, description="Only these scenarios' runs (null: every scenario).")
    plan_ids: Ids | None = Field(None, description="Only these plans' runs (null: every plan).")
    throttle: Throttle = Field(default_factory=Throttle)


class ChannelUpdate(PatchModel):
    nullable_fields: ClassVar[frozenset[str]] = frozenset({"secret", "scenario_ids", "plan_ids"})

    name: Name | None = None
    enabled: bool | None = None
    url: WebhookUrl | None = Field(None, description="A new URL; the masked one shown on reads keeps the stored one.")
    secret: Secret | None = Field(None, description="A new signing secret; null removes it.")
    email: EmailSettings | None = Field(
        None, description=f"Replaces the settings; a password left out or '{MASK}' stays."
    )
    events: Events | None = None
    scenario_ids: Ids | None = None
    plan_ids: Ids | None = None
    throttle: Throttle | None = None

    @field_validator("email", mode="before")
    @classmethod
    def _mask_keeps_password(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("password") == MASK:
            return {key: item for key, item in value.items() if key != "password"}
        return value


class EmailSettingsRead(ReadModel):
    host: str
    port: int
    security: str
    username: str | None = None
    password_set: bool = False
    from_address: str
    to: list[str]
    verify_tls: bool = True


class ThrottleRead(ReadModel):
    max_messages: int
    window_seconds: int


class ChannelRead(Timestamps):
    id: int
    project_id: int
    name: str
    type: ChannelType
    enabled: bool
    url: str | None = Field(None, description=f"Scheme and host only; the rest is '{MASK}' (it holds the token).")
    secret_set: bool
    email: EmailSettingsRead | None = None
    events: list[str]
    scenario_ids: list[int] | None
    plan_ids: list[int] | None
    throttle: ThrottleRead
    version: int


class AttemptRead(ReadModel):
    attempt: int
    at: datetime
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    response: str = ""


class DeliveryRead(ReadModel):
    id: int
    channel_id: int
    event: str
    subject_key: str | None
    run_id: int | None
    title: str
    status: NotificationStatus
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None = Field(description="HTTP status, or the SMTP server's reply code.")
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    message: dict[str, Any] = Field(description="The platform-neutral message (masked); each format renders it.")
    attempt_log: list[AttemptRead]


DeliveryStatusFilter = Literal["pending", "delivered", "failed", "throttled"]
DeliveryEventFilter = Literal[
    "run_finished", "run_failed", "run_recovered", "new_failure_cluster", "plan_run_finished", "schedule_missed", "test"
]
