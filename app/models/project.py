from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import (
    Base,
    BigId,
    ExactString,
    JSONValue,
    LongText,
    TimestampMixin,
    UTCDateTime,
    VersionedMixin,
)


class Project(VersionedMixin, TimestampMixin, Base):
    """A team's shared library of cases, scenarios and environments."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(LongText, nullable=False, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    # Retention (None: keep): request runs' bodies for N days, their rows for M days; roll-ups are kept.
    retention_body_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    retention_row_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # How far pruning has gone, so reports can say their raw rows are gone.
    bodies_pruned_before: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rows_pruned_before: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # AI assistance (app.ai): off until a project admin turns it on (and the server has a model configured);
    # tokens per calendar month, None: the server's AI_MONTHLY_TOKEN_BUDGET.
    ai_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    ai_monthly_token_budget: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Environment(VersionedMixin, TimestampMixin, Base):
    """Where a run sends requests: a base URL and variables (secret ones never leave through the API)."""

    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    base_url: Mapped[str] = mapped_column(String(2048), nullable=False, default="")
    variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    secret_variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    verify_tls: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    proxy: Mapped[str | None] = mapped_column(String(2048), nullable=True)
