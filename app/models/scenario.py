from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigId, ExactString, JSONValue, LongText, TimestampMixin, VersionedMixin


class TestScenario(VersionedMixin, TimestampMixin, Base):
    """A business flow: ordered steps, run once per data row, with setup and teardown around them."""

    __tablename__ = "test_scenarios"
    __test__ = False  # not a pytest class, despite the name users know

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(LongText, nullable=False, default="")
    variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active", index=True)
    visibility: Mapped[str] = mapped_column(String(16), nullable=False, default="project")
    settings: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    setup: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)
    teardown: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)

    tag_rows: Mapped[list[TestScenarioTag]] = relationship(
        lazy="raise", cascade="all, delete-orphan", passive_deletes=True, order_by="TestScenarioTag.tag"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]


class TestScenarioTag(Base):
    __tablename__ = "test_scenario_tags"
    __table_args__ = (UniqueConstraint("scenario_id", "tag"),)
    __test__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(
        ForeignKey("test_scenarios.id", ondelete="CASCADE"), nullable=False, index=True
    )
    tag: Mapped[str] = mapped_column(ExactString(64), nullable=False, index=True)


class TestScenarioCase(Base):
    """A step: one case at one position of a scenario, with its overrides and data fan-out."""

    __tablename__ = "test_scenario_cases"
    __test__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(
        ForeignKey("test_scenarios.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # No cascade: a case in use must not vanish from under a flow (the service answers 409 first).
    case_id: Mapped[int] = mapped_column(ForeignKey("api_requests.id"), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    alias: Mapped[str | None] = mapped_column(String(200), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    skip_if: Mapped[str | None] = mapped_column(Text, nullable=True)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    dataset_mode: Mapped[str] = mapped_column(String(16), nullable=False, default="none")
    dataset_ids: Mapped[list[int]] = mapped_column(JSONValue, nullable=False, default=list)


class TestScenarioDataset(Base):
    """A scenario data row: one iteration of the whole flow."""

    __tablename__ = "test_scenario_datasets"
    __test__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(
        ForeignKey("test_scenarios.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
