from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.engine.statuses import ResultStatus, RunStatus
from app.models.base import Base, BigId, JSONValue, LongText, StatusString, UTCDateTime


class ScenarioRun(Base):
    """One execution of a scenario, or of one case ("Send"), with who, where, why and live counts."""

    __tablename__ = "scenario_runs"
    __table_args__ = (
        Index("ix_scenario_runs_status_heartbeat_at", "status", "heartbeat_at"),
        # Reports: a project's runs in a window, and a scenario's runs in one environment by their end.
        Index("ix_scenario_runs_project_id_created_at", "project_id", "created_at"),
        Index("ix_scenario_runs_scenario_env_finished", "scenario_id", "environment_id", "status", "finished_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    # History outlives what it ran: deleting a scenario or case keeps its runs.
    scenario_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_scenarios.id", ondelete="SET NULL"), nullable=True, index=True
    )
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_requests.id", ondelete="SET NULL"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # scenario | case
    status: Mapped[RunStatus] = mapped_column(StatusString(RunStatus), nullable=False, default=RunStatus.QUEUED)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False, default="manual")
    executor: Mapped[str] = mapped_column(String(16), nullable=False, default="inline")
    environment_id: Mapped[int | None] = mapped_column(
        ForeignKey("environments.id", ondelete="SET NULL"), nullable=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    ci: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    callback_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    dataset_ids: Mapped[list[int] | None] = mapped_column(JSONValue, nullable=True)
    only_iterations: Mapped[list[int] | None] = mapped_column(JSONValue, nullable=True)
    rerun_of_id: Mapped[int | None] = mapped_column(ForeignKey("scenario_runs.id", ondelete="SET NULL"), nullable=True)
    # The plan run that started it (app.plans), if any; its end moves the plan run on.
    plan_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    iterations_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    iterations_passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    iterations_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    iterations_error: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    iterations_flaky: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_error: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_flaky: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the reaper sent an unclaimed run's task a second time (its first message was lost).
    redispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    error: Mapped[str | None] = mapped_column(LongText, nullable=True)
    # A sharded run (app.runs.chunks): how many chunks its rows were split into (0: not sharded), what its
    # setup left the chunks (sealed: it may hold secrets; cleared when the run ends), and who ends it.
    chunks: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    setup_state: Mapped[str | None] = mapped_column(LongText, nullable=True)
    finisher: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Counted in the report roll-ups (set once, in the transaction that ends the run; rebuild sets it too).
    rolled_up: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())


class ScenarioRunChunk(Base):
    """A slice of a sharded run's iterations that one process runs: claimed, heartbeated, re-run if it dies."""

    __tablename__ = "scenario_run_chunks"
    __table_args__ = (
        UniqueConstraint("run_id", "position"),
        Index("ix_scenario_run_chunks_status_heartbeat_at", "status", "heartbeat_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scenario_runs.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    # Iterations [first_iteration, end_iteration) of the run (end None: to the last row).
    first_iteration: Mapped[int] = mapped_column(Integer, nullable=False)
    end_iteration: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[RunStatus] = mapped_column(StatusString(RunStatus), nullable=False, default=RunStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    redispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    iterations_passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    iterations_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    iterations_error: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    iterations_flaky: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_failure: Mapped[str | None] = mapped_column(LongText, nullable=True)  # its first failing step
    error: Mapped[str | None] = mapped_column(LongText, nullable=True)  # why it did not run to the end
    # What its sink summed for the report roll-ups (app.reports.rollups.RunSums.to_json), set when it ends.
    result_sums: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)


class ApiRequestRun(Base):
    """One attempt of one step: what was sent, with which data, what came back, and every check."""

    __tablename__ = "api_request_runs"
    __table_args__ = (
        Index("ix_api_request_runs_scenario_run_id_iteration", "scenario_run_id", "iteration"),
        Index("ix_api_request_runs_scenario_run_id_status", "scenario_run_id", "status"),
        # A run's steps side by side with another run's (compare), and a case's history page by page.
        Index("ix_api_request_runs_run_step", "scenario_run_id", "step_key", "iteration", "id"),
        # scenario_run_id last: counting a case's history under the visibility filter reads the index only.
        Index("ix_api_request_runs_case_id_id", "case_id", "id", "scenario_run_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scenario_run_id: Mapped[int] = mapped_column(ForeignKey("scenario_runs.id", ondelete="CASCADE"), nullable=False)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("api_requests.id", ondelete="SET NULL"), nullable=True)
    step_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # steps are replaced; keep the id
    dataset_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    step_key: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    iteration: Mapped[int] = mapped_column(Integer, nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    iteration_attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    is_final: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    flaky: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[ResultStatus] = mapped_column(StatusString(ResultStatus), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    dataset: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    error: Mapped[str | None] = mapped_column(LongText, nullable=True)
    assertions: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)
    extracted: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
