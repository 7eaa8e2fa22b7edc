from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime

# The natural key of a roll-up: keys are 0 where there is none (a unique key treats NULLs as all different).
ROLLUP_KEY = ("project_id", "granularity", "bucket_start", "scope", "scenario_key", "case_key", "environment_key")
# Its unique index, in the order reports read it (project, granularity, scope, then a range of buckets), so the
# one index serves both the upserts and every report query (MariaDB chose badly between two such indexes).
ROLLUP_INDEX = ("project_id", "granularity", "scope", "bucket_start", "scenario_key", "case_key", "environment_key")


class ReportRollup(Base):
    """What the runs of one bucket (an hour or a day) added up to, written with each run's end.

    Trends, hotspots, flaky rankings and dashboards read these (O(buckets) rows), never the request runs.
    `scope` "run" rows count whole runs (case_key is the case of a one-case run, else 0); "case" rows count
    the requests of one case within the runs of one scenario.
    """

    __tablename__ = "report_rollups"
    __table_args__ = (UniqueConstraint(*ROLLUP_INDEX, name="uq_report_rollups_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    granularity: Mapped[str] = mapped_column(String(8), nullable=False)  # hour | day
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    scope: Mapped[str] = mapped_column(String(8), nullable=False)  # run | case
    scenario_key: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    case_key: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    environment_key: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    runs_passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    runs_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    runs_error: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    runs_cancelled: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    runs_interrupted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_error: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requests_flaky: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Final results whose pass/fail differs from the same step, row and iteration in the run before.
    flips: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    compared: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Whole microseconds: integer sums are the same in whatever order runs are added (float sums are not).
    duration_sum_us: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    duration_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ReportRollupDuration(Base):
    """A roll-up's request durations as a log-scale histogram: counts add up across buckets, percentiles
    are read off the sum (to within 5 %), which a stored p95 could not give."""

    __tablename__ = "report_rollup_durations"
    __table_args__ = (UniqueConstraint(*ROLLUP_INDEX, "bin", name="uq_report_rollup_durations_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    granularity: Mapped[str] = mapped_column(String(8), nullable=False)
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    scope: Mapped[str] = mapped_column(String(8), nullable=False)
    scenario_key: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    case_key: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    environment_key: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bin: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class FailureClusterLabel(Base):
    """A name and ticket a user gave a failure cluster, kept by its stable key across recomputations."""

    __tablename__ = "failure_cluster_labels"
    __table_args__ = (UniqueConstraint("project_id", "cluster_key", name="uq_failure_cluster_labels_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    cluster_key: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ticket_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
