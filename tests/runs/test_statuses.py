"""One status vocabulary from the engine to the API: what the DB stores, the API answers and the OpenAPI lists.

Every `RunStatus` and `ResultStatus` value is written (through the ORM and through the sink's bulk path),
read back raw from the table (the plain string), through the ORM (the member) and through the API (the string).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from app.core.db import get_session_factory
from app.engine.results import StepResult
from app.engine.statuses import ResultStatus, RunStatus
from app.main import app
from app.models import ApiRequestRun, ScenarioRun
from app.models.base import utcnow
from app.runs.sink import DatabaseSink
from tests.conftest import assert_error
from tests.factories import project

API = "/api/v1"


async def _run_row(project_id: int, status: str) -> int:
    async with get_session_factory()() as session:
        run = ScenarioRun(project_id=project_id, kind="scenario", status=status, executor="inline", created_at=utcnow())
        session.add(run)
        await session.commit()
        return run.id


def _result(status: ResultStatus, iteration: int) -> StepResult:
    return StepResult(
        step_key="step:0",
        case_id=None,
        step_id=None,
        dataset_id=None,
        iteration=iteration,
        attempt=1,
        iteration_attempt=1,
        is_final=True,
        flaky=False,
        status=status,
        started_at=datetime.now(UTC),
        duration_ms=1.0,
        name=f"row {iteration}",
    )


async def test_every_run_status_round_trips_through_the_row_and_the_api(api):
    proj = await project(api)
    ids = {status: await _run_row(proj["id"], status) for status in RunStatus}
    async with get_session_factory()() as session:
        stored = {row[0]: row[1] for row in await session.execute(text("SELECT id, status FROM scenario_runs"))}
        loaded = {run.id: run.status for run in await session.scalars(select(ScenarioRun))}
    assert {stored[run_id] for run_id in ids.values()} == {s.value for s in RunStatus}
    assert all(type(stored[run_id]) is str for run_id in ids.values())  # the column holds the plain value
    assert all(loaded[run_id] is status for status, run_id in ids.items())  # the ORM gives the member back
    for status, run_id in ids.items():
        answered = await api.get(f"{API}/scenario-runs/{run_id}")
        assert answered.status_code == 200 and answered.json()["status"] == status.value
        assert f'"status":"{status.value}"' in answered.text
        listed = await api.get(f"{API}/scenario-runs", params={"project_id": proj["id"], "status": status.value})
        assert [item["id"] for item in listed.json()["items"]] == [run_id]


async def test_every_result_status_round_trips_through_the_sink_and_the_api(api):
    proj = await project(api)
    run_id = await _run_row(proj["id"], RunStatus.RUNNING)
    sink = DatabaseSink(get_session_factory(), run_id, batch_size=100)
    for index, status in enumerate(ResultStatus):
        await sink.put(_result(status, index))
    await sink.flush()
    async with get_session_factory()() as session:
        stored = [tuple(row) for row in await session.execute(text("SELECT iteration, status FROM api_request_runs"))]
        loaded = list(await session.scalars(select(ApiRequestRun).order_by(ApiRequestRun.iteration)))
    assert sorted(stored) == [(i, s.value) for i, s in enumerate(ResultStatus)]
    assert [row.status for row in loaded] == list(ResultStatus) and all(type(r.status) is ResultStatus for r in loaded)
    run = (await api.get(f"{API}/scenario-runs/{run_id}")).json()
    assert {status: run["requests"][status] for status in ResultStatus} == dict.fromkeys(ResultStatus, 1)
    for index, status in enumerate(ResultStatus):
        for path in (f"{API}/scenario-runs/{run_id}/request-runs", f"{API}/request-runs"):
            listed = (await api.get(path, params={"status": status.value})).json()["items"]
            assert [(item["iteration"], item["status"]) for item in listed] == [(index, status.value)]


async def test_a_status_outside_the_vocabulary_is_refused_before_it_reaches_the_table(api):
    proj = await project(api)
    with pytest.raises(StatementError, match="'finished' is not a valid RunStatus"):
        await _run_row(proj["id"], "finished")


async def test_a_status_the_filters_do_not_know_is_a_422_naming_the_field(api):
    for path in (f"{API}/scenario-runs", f"{API}/request-runs"):
        error = assert_error(await api.get(path, params={"status": "finished"}), 422)
        assert any(detail["loc"][-1] == "status" for detail in error["details"]), error


def _enum_of(schema: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """The enum values a (possibly nullable, possibly $ref'd) schema allows."""
    for option in schema.get("anyOf", [schema]):
        if "$ref" in option:
            option = spec["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]]
        if "enum" in option:
            return list(option["enum"])
    raise AssertionError(f"no enum in {schema}")


def test_the_openapi_lists_exactly_the_enum_values():
    spec = app.openapi()
    runs = [s.value for s in RunStatus]
    results = [s.value for s in ResultStatus]
    components = spec["components"]["schemas"]
    assert _enum_of(components["ScenarioRunRead"]["properties"]["status"], spec) == runs
    assert _enum_of(components["ApiRequestRunRead"]["properties"]["status"], spec) == results
    assert _enum_of(components["ApiRequestRunDetail"]["properties"]["status"], spec) == results
    parameters = {
        path: next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "status")
        for path in ("/api/v1/scenario-runs", "/api/v1/scenario-runs/{run_id}/request-runs", "/api/v1/request-runs")
    }
    assert _enum_of(parameters["/api/v1/scenario-runs"]["schema"], spec) == runs
    assert _enum_of(parameters["/api/v1/scenario-runs/{run_id}/request-runs"]["schema"], spec) == results
    assert _enum_of(parameters["/api/v1/request-runs"]["schema"], spec) == results
