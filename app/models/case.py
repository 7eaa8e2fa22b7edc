from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigId, ExactString, JSONValue, LongText, TimestampMixin, VersionedMixin


class ApiRequest(VersionedMixin, TimestampMixin, Base):
    """A test case: a reusable request template with its checks."""

    __tablename__ = "api_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(LongText, nullable=False, default="")
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    url: Mapped[str] = mapped_column(LongText, nullable=False)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    query: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    body: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    auth: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=lambda: {"type": "none"})
    extractors: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)
    assertions: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)
    pre_processors: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)
    post_processors: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)
    poll: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    timeout_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=10000)
    # False: a 3xx is the result, so its status and Location can be asserted.
    follow_redirects: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=true())
    retry: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active", index=True)
    visibility: Mapped[str] = mapped_column(String(16), nullable=False, default="project")
    run_permission: Mapped[str] = mapped_column(String(16), nullable=False, default="members")

    tag_rows: Mapped[list[ApiRequestTag]] = relationship(
        lazy="raise", cascade="all, delete-orphan", passive_deletes=True, order_by="ApiRequestTag.tag"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]


class ApiRequestTag(Base):
    """Tags in a table: JSON containment queries differ on every database."""

    __tablename__ = "api_request_tags"
    __table_args__ = (UniqueConstraint("case_id", "tag"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("api_requests.id", ondelete="CASCADE"), nullable=False, index=True)
    tag: Mapped[str] = mapped_column(ExactString(64), nullable=False, index=True)


class ApiRequestDataset(VersionedMixin, TimestampMixin, Base):
    """One parameter set for a case: one template, many runs."""

    __tablename__ = "api_request_datasets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("api_requests.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
