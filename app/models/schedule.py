"""Schedules (cron in a time zone), the record of each tick, and triggers from code hosts (app.schedules)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, JSONValue, StatusString, TimestampMixin, UTCDateTime, VersionedMixin


class FireOutcome(StrEnum):
    """What became of one tick of a schedule."""

    FIRED = "fired"  # a run was started
    MISSED = "missed"  # found later than the grace period allows (everything was down), not run
    SKIPPED_OVERLAP = "skipped_overlap"  # the previous run was still going and overlap is not allowed
    REFUSED = "refused"  # the owner may no longer run the target, or the target cannot run (no steps, gone)
    ERROR = "error"  # starting or handing over the run failed


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Schedule(VersionedMixin, TimestampMixin, Base):
    """Runs a scenario or a plan at the ticks of a cron expression, as its owner (whoever last changed it).

    `next_fire_at` is the tick the firing loops wait for; a loop claims it by inserting the tick's
    ScheduleFire (unique per schedule and tick) and moving `next_fire_at` on from the value it read, in
    one transaction with the run it starts, so each tick is handled once however many loops race for it.
    """

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_enabled_next_fire_at", "enabled", "next_fire_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    scenario_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_scenarios.id", ondelete="CASCADE"), nullable=True, index=True
    )
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_plans.id", ondelete="CASCADE"), nullable=True, index=True
    )
    cron: Mapped[str] = mapped_column(String(200), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    environment_id: Mapped[int | None] = mapped_column(
        ForeignKey("environments.id", ondelete="SET NULL"), nullable=True
    )
    variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    allow_overlap: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # A tick found at most this late (plus SCHEDULE_TOLERANCE_SECONDS) still runs; later it is recorded missed.
    grace_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=300)
    # None while disabled.
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ScheduleFire(Base):
    """One tick of a schedule and what became of it; the unique (schedule, tick) is the claim."""

    __tablename__ = "schedule_fires"
    __table_args__ = (UniqueConstraint("schedule_id", "tick_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False)
    tick_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    outcome: Mapped[FireOutcome] = mapped_column(StatusString(FireOutcome, 20), nullable=False)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("scenario_runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    plan_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    detail: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    # When it was recorded, and by which process (host:pid of an API process or a Celery worker).
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(200), nullable=False)


class CodeHostTrigger(VersionedMixin, TimestampMixin, Base):
    """A GitHub or GitLab webhook (POST /api/v1/hooks/{token}) that starts a scenario or plan on matching pushes.

    The token in the hook URL picks the trigger (stored as its SHA-256); the secret verifies the delivery
    (GitHub's HMAC signature, GitLab's token header) and is sealed with app.core.secret_box. Both are shown
    once. Runs start as the trigger's owner (whoever last changed it), with that person's current rights.
    """

    __tablename__ = "code_host_triggers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    provider: Mapped[str] = mapped_column(String(16), nullable=False)  # github | gitlab
    events: Mapped[list[str]] = mapped_column(JSONValue, nullable=False, default=list)  # push | pull_request
    branches: Mapped[list[str]] = mapped_column(JSONValue, nullable=False, default=list)  # glob patterns
    scenario_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_scenarios.id", ondelete="CASCADE"), nullable=True, index=True
    )
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_plans.id", ondelete="CASCADE"), nullable=True, index=True
    )
    environment_id: Mapped[int | None] = mapped_column(
        ForeignKey("environments.id", ondelete="SET NULL"), nullable=True
    )
    variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    sealed_secret: Mapped[str] = mapped_column(String(512), nullable=False)
    # Commit status: POSTed to this URL template when a run it started ends ({repository}, {commit}, ...).
    status_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    sealed_status_token: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    last_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_outcome: Mapped[str | None] = mapped_column(String(500), nullable=True)


class CommitStatusDelivery(Base):
    """A commit status to POST back to the code host when the run a trigger started ends: claimed, retried."""

    __tablename__ = "commit_status_deliveries"
    __table_args__ = (Index("ix_commit_status_deliveries_state_next_attempt_at", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    trigger_id: Mapped[int] = mapped_column(
        ForeignKey("code_host_triggers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("scenario_runs.id", ondelete="CASCADE"), nullable=True, unique=True
    )
    plan_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_runs.id", ondelete="CASCADE"), nullable=True, unique=True
    )
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    state: Mapped[DeliveryState] = mapped_column(
        StatusString(DeliveryState), nullable=False, default=DeliveryState.PENDING
    )
    sent_status: Mapped[str | None] = mapped_column(String(16), nullable=True)  # success | failure | error ...
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
