"""The report queries' plans on PostgreSQL use the indexes made for them (seq scans turned off, so the test
asks whether an index can serve the query, not what the planner picks for a handful of rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from app.core.db import get_session_factory
from app.models import ApiRequestRun, ScenarioRun
from app.reports import repository
from app.reports.repository import Hidden, RollupFilter
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="the plans checked are PostgreSQL's")


class Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN " + compiler.process(element.statement, **kw)


async def _plan(statement: Any) -> str:
    async with get_session_factory()() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        return "\n".join(row[0] for row in await session.execute(Explain(statement)))


NOW = datetime(2026, 12, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (
            lambda: repository.rollup_sums_query(
                RollupFilter(1, "day", "run", NOW - timedelta(days=30), NOW, scenario_id=3), ["bucket_start"]
            ),
            "uq_report_rollups_key",
        ),
        (
            lambda: repository.histograms_query(
                RollupFilter(1, "hour", "case", NOW - timedelta(days=2), NOW, hidden=Hidden((5,), (6,))),
                ["case_key"],
            ),
            "uq_report_rollup_durations_key",
        ),
        (
            lambda: repository.final_results_query(7),
            # Either serves it: the step index avoids the sort, the status index is as selective on a run's rows.
            ("ix_api_request_runs_run_step", "ix_api_request_runs_scenario_run_id_status"),
        ),
        (
            lambda: repository.failures_query(1, NOW - timedelta(days=7), NOW, None, Hidden()),
            "ix_scenario_runs_project_id_created_at",
        ),
        (
            lambda: repository.last_passed_before_query(
                9, ScenarioRun.scenario_id == 2, ScenarioRun.environment_id == 1
            ),
            "ix_scenario_runs_scenario_env_finished",
        ),
        (
            lambda: select(ApiRequestRun.id).where(ApiRequestRun.case_id == 4).order_by(ApiRequestRun.id).limit(50),
            "ix_api_request_runs_case_id_id",
        ),
        (
            lambda: (
                select(ApiRequestRun.id)
                .where(ApiRequestRun.scenario_run_id == 4, ApiRequestRun.status == "failed")
                .order_by(ApiRequestRun.id)
                .limit(50)
            ),
            ("ix_api_request_runs_scenario_run_id_status", "ix_api_request_runs_run_step"),
        ),
    ],
    ids=["trends", "histograms", "compare", "clusters", "compare-default", "case-history", "run-failures"],
)
async def test_each_report_query_is_served_by_its_index(query: Any, index: str | tuple[str, ...]) -> None:
    plan = await _plan(query())
    assert any(name in plan for name in ((index,) if isinstance(index, str) else index)), plan
