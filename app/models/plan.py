"""Test plans (a named selection of scenarios run together) and plan runs (one execution of a plan)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, Double, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, JSONValue, LongText, StatusString, TimestampMixin, UTCDateTime, VersionedMixin


class PlanRunStatus(StrEnum):
    """Where a plan run is: queued or running while any of its scenario runs may still start or run."""

    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    CANCELLED = "cancelled"


PLAN_ACTIVE: tuple[PlanRunStatus, ...] = (PlanRunStatus.QUEUED, PlanRunStatus.RUNNING)


class TestPlan(VersionedMixin, TimestampMixin, Base):
    """Scenarios chosen by id and/or tag, run together with one environment, variables, concurrency and verdict."""

    __tablename__ = "test_plans"
    __test__ = False  # not a pytest class

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(LongText, nullable=False, default="")
    # {"scenario_ids": [ids, in run order], "tags": [names]}: the ids first, then active scenarios with a tag.
    selection: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    environment_id: Mapped[int | None] = mapped_column(
        ForeignKey("environments.id", ondelete="SET NULL"), nullable=True
    )
    variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    concurrency: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    stop_rules: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    pass_criteria: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active", index=True)
    visibility: Mapped[str] = mapped_column(String(16), nullable=False, default="project")


class PlanRun(Base):
    """One execution of a plan: the parent of one scenario run per selected scenario, with their summed counts.

    `items` is the plan's selection as it was resolved at the start, in run order, each with the scenario run
    it became once started: `{"scenario_id", "name", "run_id", "status"}` (status `pending` until it starts,
    `skipped` when a stop rule or a cancel kept it from starting, else its run's status). It and the counts
    change only under this row's lock (app.plans.progress), so two scenario runs ending at once count once each.
    """

    __tablename__ = "plan_runs"
    __table_args__ = (
        Index("ix_plan_runs_plan_id_id", "plan_id", "id"),
        Index("ix_plan_runs_project_id_created_at", "project_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # History outlives its plan: deleting the plan keeps its runs (with the plan's name as it was).
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("test_plans.id", ondelete="SET NULL"), nullable=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    plan_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    status: Mapped[PlanRunStatus] = mapped_column(
        StatusString(PlanRunStatus), nullable=False, default=PlanRunStatus.QUEUED, index=True
    )
    # Who or what started it: {"type": "manual|api|schedule|webhook", "user_id", ...; commit, branch, build_url}.
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    environment_id: Mapped[int | None] = mapped_column(
        ForeignKey("environments.id", ondelete="SET NULL"), nullable=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    callback_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    # Its callback rides on the callback machinery of runs (signing, retries, the sweep): a CallbackDelivery
    # recorded with the plan run's end on the row of its first scenario run, which never has a callback of its own.
    callback_delivery_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The plan's settings as they were at the start (a later edit of the plan does not change a run in flight).
    concurrency: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    stop_rules: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    pass_criteria: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, nullable=False, default=list)
    scenarios_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    scenarios_passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    scenarios_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    scenarios_error: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # error or interrupted
    scenarios_cancelled: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    scenarios_skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # never started
    iterations_passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    iterations_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    iterations_error: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    iterations_flaky: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_error: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_flaky: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # DOUBLE: MariaDB's FLOAT is single precision (2/3 would read back as 0.666667).
    pass_rate: Mapped[float | None] = mapped_column(Double, nullable=True)  # set with the final status
    stopped: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # a stop rule held
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    error: Mapped[str | None] = mapped_column(LongText, nullable=True)  # why it did not pass
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
