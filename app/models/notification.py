"""Notification channels (where a project hears about its runs) and the deliveries made to them (app.notifications)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import (
    Base,
    BigId,
    ExactString,
    JSONValue,
    LongText,
    StatusString,
    TimestampMixin,
    UTCDateTime,
    VersionedMixin,
)


class ChannelType(StrEnum):
    WEBHOOK = "webhook"  # generic JSON, signed like run callbacks
    DINGTALK = "dingtalk"
    FEISHU = "feishu"
    WECOM = "wecom"
    SLACK = "slack"
    EMAIL = "email"


class NotificationEvent(StrEnum):
    """What a channel can ask to hear about."""

    RUN_FINISHED = "run_finished"
    RUN_FAILED = "run_failed"
    RUN_RECOVERED = "run_recovered"
    NEW_FAILURE_CLUSTER = "new_failure_cluster"
    PLAN_RUN_FINISHED = "plan_run_finished"
    SCHEDULE_MISSED = "schedule_missed"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    THROTTLED = "throttled"  # recorded, never sent: the channel's throttle was full for its subject


class NotificationChannel(VersionedMixin, TimestampMixin, Base):
    """A project's chat group, webhook or mailing list, and the rule of what it is sent.

    `config` holds what may be shown to members (an e-mail server, its recipients); `sealed` holds what may not
    (a robot's webhook URL carries its access token, a signing secret, an SMTP password), each value sealed with
    app.core.secret_box and never returned by the API.
    """

    __tablename__ = "notification_channels"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    type: Mapped[ChannelType] = mapped_column(StatusString(ChannelType), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    sealed: Mapped[dict[str, str]] = mapped_column(JSONValue, nullable=False, default=dict)
    # The rule: the events it wants, optional scenario and plan filters (None: all), and its throttle.
    events: Mapped[list[str]] = mapped_column(JSONValue, nullable=False, default=list)
    scenario_ids: Mapped[list[int] | None] = mapped_column(JSONValue, nullable=True)
    plan_ids: Mapped[list[int] | None] = mapped_column(JSONValue, nullable=True)
    throttle_max: Mapped[int] = mapped_column(Integer, nullable=False)
    throttle_window_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class NotificationDelivery(Base):
    """One message to one channel: recorded with the event (in its transaction), then sent, retried and kept.

    `message` is the platform-neutral message, frozen when recorded (masked and bounded); each attempt renders it
    in the channel's format with a fresh timestamp and signature. `claimed_until` is the lease of the process
    sending it, so two processes never send one attempt twice. `dedupe_key` makes recording idempotent (one
    message per channel per run, plan run or missed tick).
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("channel_id", "dedupe_key"),
        Index("ix_notification_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        # The throttle counts a channel's recent messages about one subject; the list reads a channel's newest.
        Index("ix_notification_deliveries_channel_subject_created", "channel_id", "subject_key", "created_at"),
        Index("ix_notification_deliveries_channel_id_id", "channel_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"), nullable=False)
    project_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    # What the throttle counts by: "scenario:12", "plan:3", "schedule:5" (None: never throttled, a test message).
    subject_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("scenario_runs.id", ondelete="SET NULL"), nullable=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    message: Mapped[str] = mapped_column(LongText, nullable=False)
    status: Mapped[NotificationStatus] = mapped_column(
        StatusString(NotificationStatus), nullable=False, default=NotificationStatus.PENDING
    )
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    # Every attempt, oldest first: {"attempt", "at", "duration_ms", "status_code", "error", "response"}.
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
