"""Run callbacks: a project's signing secret and the deliveries of finished runs' summaries (app.callbacks)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, JSONValue, LongText, StatusString, UTCDateTime


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class ProjectCallbackSecret(Base):
    """The key that signs a project's callbacks: sealed (Fernet, app.core.secret_box), shown once, rotatable.

    A table of its own rather than columns on `projects`: a project's row is read everywhere, the key almost
    nowhere, and a rotation must not bump the project's optimistic-locking version.
    """

    __tablename__ = "project_callback_secrets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)  # ids are never reused (SQLite AUTOINCREMENT)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, unique=True)
    sealed_secret: Mapped[str] = mapped_column(String(512), nullable=False)
    rotated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    rotated_by_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class CallbackDelivery(Base):
    """One run's summary POSTed to its callback_url: recorded with the run's final status, then sent and retried.

    `payload` is the exact body sent on every attempt (only the timestamp and signature headers change);
    `claimed_until` is the lease of the process sending it, so two processes never send one attempt twice.
    """

    __tablename__ = "callback_deliveries"
    __table_args__ = (Index("ix_callback_deliveries_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # One delivery per run: a run reaches a final status once.
    run_id: Mapped[int] = mapped_column(ForeignKey("scenario_runs.id", ondelete="CASCADE"), nullable=False, unique=True)
    project_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    payload: Mapped[str] = mapped_column(LongText, nullable=False)
    status: Mapped[DeliveryStatus] = mapped_column(
        StatusString(DeliveryStatus), nullable=False, default=DeliveryStatus.PENDING
    )
    # Whether the project had a signing secret when the last attempt was sent (unsigned otherwise).
    signed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
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
