"""Runs always end with their real cause, keep what they recorded, and have counts that add up."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError

from app.core.config import get_settings
from app.core.db import get_session_factory
from app.engine.results import StepResult
from app.models import ApiRequest, ApiRequestRun, ScenarioRun
from app.models.base import utcnow
from app.runs.executor import execute_run, reap_stale_runs
from app.runs.sink import DatabaseSink
from tests.conftest import assert_error
from tests.factories import create
from tests.runs.conftest import order_flow, set_rows, wait_until_finished

API = "/api/v1"


async def _run_row(project_id: int, **fields: Any) -> ScenarioRun:
    """A run row as an executor would leave it (no request sent): for guards and the reaper."""
    now = utcnow()
    values: dict[str, Any] = {"kind": "scenario", "status": "running", "executor": "inline", "created_at": now}
    values.update(fields)
    async with get_session_factory()() as session:
        run = ScenarioRun(project_id=project_id, heartbeat_at=now, **values)
        session.add(run)
        await session.commit()
        return run


def _result(case_id: int | None, name: str, iteration: int = 0) -> StepResult:
    return StepResult(
        step_key="step:0",
        case_id=case_id,
        step_id=None,
        dataset_id=None,
        iteration=iteration,
        attempt=1,
        iteration_attempt=1,
        is_final=True,
        flaky=False,
        status="passed",
        started_at=datetime.now(UTC),
        duration_ms=1.0,
        name=name,
    )


async def _records(run_id: int) -> list[ApiRequestRun]:
    async with get_session_factory()() as session:
        rows = await session.scalars(
            select(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run_id).order_by(ApiRequestRun.id)
        )
        return list(rows)


async def _slow_flow(api, target, rows: int, ms: int = 150, **scenario: Any) -> dict[str, Any]:
    """A scenario slow -> login over `rows` data rows."""
    ids = await order_flow(api, target)
    slow = await create(
        api, f"{API}/cases", {"project_id": ids["project"], "name": "slow", "method": "GET", "url": f"/slow?ms={ms}"}
    )
    flow = await create(api, f"{API}/scenarios", {"project_id": ids["project"], "name": "slow flow", **scenario})
    steps = [{"case_id": slow["id"]}, {"case_id": ids["login"], "variables": {"username": "u"}}]
    assert (await api.put(f"{API}/scenarios/{flow['id']}/steps", json=steps)).status_code == 200
    await set_rows(api, flow["id"], [{} for _ in range(rows)])
    return {**ids, "slow": slow["id"], "slow_flow": flow["id"]}


def _adds_up(run: dict[str, Any]) -> None:
    iterations, requests = run["iterations"], run["requests"]
    assert (
        iterations["passed"] + iterations["failed"] + iterations["error"] + iterations["not_run"] == iterations["total"]
    ), iterations
    assert requests["passed"] + requests["failed"] + requests["error"] + requests["skipped"] == requests["total"]


# ---- item 1: deleting what a run uses -------------------------------------------------------------
async def test_deleting_what_an_active_run_uses_is_refused_naming_the_run(api, target):
    ids = await order_flow(api, target)
    bare = await create(
        api, f"{API}/cases", {"project_id": ids["project"], "name": "bare", "method": "GET", "url": "/x"}
    )
    case_run = await _run_row(ids["project"], kind="case", case_id=bare["id"], status="queued")
    error = assert_error(await api.delete(f"{API}/cases/{bare['id']}"), 409, "in_use_by_active_run")
    assert f"run {case_run.id}" in error["message"] and "'bare'" in error["message"]
    assert error["details"][0]["run_id"] == case_run.id

    scenario_run = await _run_row(ids["project"], scenario_id=ids["scenario"], environment_id=ids["env"])
    for path in (f"scenarios/{ids['scenario']}", f"environments/{ids['env']}", f"cases/{ids['pay']}"):
        error = assert_error(await api.delete(f"{API}/{path}"), 409, "in_use_by_active_run")
        assert f"run {scenario_run.id}, which is running" in error["message"]
    error = assert_error(await api.delete(f"{API}/projects/{ids['project']}"), 409, "in_use_by_active_run")
    assert f"run {case_run.id}, which is queued" in error["message"]

    async with get_session_factory()() as session:  # the runs end: everything may go
        await session.execute(update(ScenarioRun).values(status="cancelled", finished_at=utcnow()))
        await session.commit()
    assert (await api.delete(f"{API}/cases/{bare['id']}")).status_code == 204
    assert (await api.delete(f"{API}/scenarios/{ids['scenario']}")).status_code == 204
    assert (await api.delete(f"{API}/environments/{ids['env']}")).status_code == 204
    assert (await api.delete(f"{API}/projects/{ids['project']}")).status_code == 204


async def test_a_case_in_the_setup_of_a_running_scenario_cannot_be_deleted(api, target):
    ids = await order_flow(api, target)
    setup_case = await create(
        api, f"{API}/cases", {"project_id": ids["project"], "name": "setup", "method": "GET", "url": "/x"}
    )
    flow = await create(
        api, f"{API}/scenarios", {"project_id": ids["project"], "name": "s2", "setup": [{"case_id": setup_case["id"]}]}
    )
    run = await _run_row(ids["project"], scenario_id=flow["id"])
    error = assert_error(await api.delete(f"{API}/cases/{setup_case['id']}"), 409, "in_use_by_active_run")
    assert f"run {run.id}" in error["message"]


async def test_records_outlive_a_case_deleted_while_the_run_writes(api, target):
    ids = await order_flow(api, target)
    doomed = await create(
        api, f"{API}/cases", {"project_id": ids["project"], "name": "doomed", "method": "GET", "url": "/x"}
    )
    run = await _run_row(ids["project"], kind="case", case_id=doomed["id"])
    sink = DatabaseSink(get_session_factory(), run.id, batch_size=100)
    await sink.put(_result(doomed["id"], "doomed"))
    await sink.put(_result(ids["login"], "login"))
    async with get_session_factory()() as session:  # the race: deleted between the guard and this write
        await session.execute(delete(ApiRequest).where(ApiRequest.id == doomed["id"]))
        await session.commit()
    await sink.flush()
    records = await _records(run.id)
    assert [(r.case_id, r.name) for r in records] == [(None, "doomed"), (ids["login"], "login")]
    async with get_session_factory()() as session:
        assert await session.scalar(select(ScenarioRun.requests_passed).where(ScenarioRun.id == run.id)) == 2


async def test_a_batch_that_meets_deadlocks_in_a_row_is_written_once_it_gets_through(api, target):
    # InnoDB may pick the same writer as a deadlock's victim again and again (a sharded run's chunk taken back
    # while the other chunks write): the batch is tried again until it is stored, once.
    ids = await order_flow(api, target)
    run = await _run_row(ids["project"], scenario_id=ids["scenario"])
    sink = DatabaseSink(get_session_factory(), run.id, batch_size=100)
    real, failures = sink._write_once, []

    async def deadlocked(rows, counts):
        if len(failures) < 3:
            failures.append(len(rows))
            raise OperationalError("UPDATE scenario_runs ...", {}, Exception("(1213, 'Deadlock found')"))
        await real(rows, counts)

    sink._write_once = deadlocked  # type: ignore[method-assign]
    await sink.put(_result(ids["login"], "login"))
    await sink.put(_result(ids["login"], "login again"))
    await sink.flush()
    assert failures == [2, 2, 2]
    assert [r.name for r in await _records(run.id)] == ["login", "login again"]
    async with get_session_factory()() as session:
        assert await session.scalar(select(ScenarioRun.requests_passed).where(ScenarioRun.id == run.id)) == 2


async def test_a_run_whose_project_is_deleted_stops_quietly(api, target, caplog, monkeypatch):
    monkeypatch.setattr(get_settings(), "run_heartbeat_seconds", 0.05)
    monkeypatch.setattr(get_settings(), "run_flush_seconds", 0.05)
    ids = await _slow_flow(api, target, rows=40, ms=50)
    run = await _run_row(ids["project"], scenario_id=ids["slow_flow"], environment_id=ids["env"], status="queued")
    caplog.set_level(logging.INFO, logger="exile")
    execution = asyncio.ensure_future(execute_run(get_session_factory(), run.id, "test"))
    while target.hits["slow"] < 3:  # noqa: ASYNC110 - the target runs in this loop
        await asyncio.sleep(0.02)
    async with get_session_factory()() as session:  # the race: the guard passed, then the run went on
        await session.execute(update(ScenarioRun).where(ScenarioRun.id == run.id).values(status="passed"))
        await session.commit()
    assert (await api.delete(f"{API}/projects/{ids['project']}")).status_code == 204
    assert await asyncio.wait_for(execution, 10) is None
    hits = target.hits["slow"]
    await asyncio.sleep(0.2)
    assert target.hits["slow"] == hits < 40  # it stopped sending
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


# ---- item 3: runs that nothing will ever claim ----------------------------------------------------
async def test_an_unclaimed_celery_run_is_ended_error_after_its_second_chance(api, target):
    ids = await order_flow(api, target)
    long_ago = utcnow() - timedelta(hours=2)
    run = await _run_row(
        ids["project"], scenario_id=ids["scenario"], status="queued", executor="celery", created_at=long_ago,
        redispatched_at=long_ago,
    )  # fmt: skip
    fresh = await _run_row(ids["project"], scenario_id=ids["scenario"], status="queued", executor="celery")
    assert await reap_stale_runs(get_session_factory(), stale_after_s=20, queued_timeout_s=600) == 1
    ended = (await api.get(f"{API}/scenario-runs/{run.id}")).json()
    assert ended["status"] == "error" and "no worker claimed the run within 600 s" in ended["error"]
    assert ended["finished_at"] is not None
    assert (await api.get(f"{API}/scenario-runs/{fresh.id}")).json()["status"] == "queued"


# ---- item 4: buffered results reach the database on a time bound ----------------------------------
async def test_buffered_results_are_written_within_the_flush_interval(api, target):
    ids = await order_flow(api, target)
    run = await _run_row(ids["project"], kind="case", case_id=ids["login"])
    sink = DatabaseSink(get_session_factory(), run.id, batch_size=500, flush_seconds=0.1)
    for iteration in range(3):
        await sink.put(_result(ids["login"], "login", iteration))
    await asyncio.sleep(0.6)  # no flush() and no full batch: only the time bound writes them
    assert len(await _records(run.id)) == 3


# ---- item 5: counts that add up, errors that say why -----------------------------------------------
async def test_counts_add_up_and_the_error_says_how_many_iterations_failed(api, target):
    ids = await order_flow(api, target)
    rows = [{"username": f"u{i}", "sku": "bad" if i in (1, 3) else f"s{i}", "qty": 1} for i in range(5)]
    await set_rows(api, ids["scenario"], rows)
    run = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})).json()
    run = await wait_until_finished(api, run["id"])
    assert run["status"] == "failed"
    assert run["requests"] == {"total": 15, "passed": 13, "failed": 2, "error": 0, "skipped": 0, "flaky": 0}
    assert run["iterations"]["not_run"] == 0
    _adds_up(run)
    assert run["error"].startswith("2 of 5 iterations failed (first: iteration ")
    assert "step 'pay' failed" in run["error"] and "DECLINED" in run["error"]


async def test_a_failed_setup_says_which_step_and_counts_the_iterations_never_run(api, target):
    ids = await order_flow(api, target)
    await api.patch(
        f"{API}/scenarios/{ids['scenario']}",
        json={
            "setup": [{"case_id": ids["login"], "variables": {"username": "amy", "password": "wrong"}}],
            "version": 2,
        },
    )
    await set_rows(api, ids["scenario"], [{"username": f"u{i}", "sku": "s", "qty": 1} for i in range(4)])
    run = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})).json()
    run = await wait_until_finished(api, run["id"])
    assert run["status"] == "failed"
    assert run["error"].startswith("setup step 'login' failed: ") and "no iteration ran" in run["error"]
    assert run["iterations"] == {
        "total": 4, "passed": 0, "failed": 0, "error": 0, "skipped": 0, "flaky": 0, "not_run": 4
    }  # fmt: skip
    _adds_up(run)


async def test_a_cancelled_run_records_the_steps_it_never_started_and_adds_up(api, target, monkeypatch):
    monkeypatch.setattr(get_settings(), "run_heartbeat_seconds", 0.05)
    ids = await _slow_flow(api, target, rows=20, ms=300)
    run = (await api.post(f"{API}/scenarios/{ids['slow_flow']}/runs", json={"environment_id": ids["env"]})).json()
    while target.hits["slow"] < 2:  # noqa: ASYNC110 - the target runs in this loop
        await asyncio.sleep(0.02)
    await api.post(f"{API}/scenario-runs/{run['id']}/cancel")
    run = await wait_until_finished(api, run["id"])
    assert run["status"] == "cancelled"
    _adds_up(run)
    assert run["iterations"]["not_run"] >= 18 and run["iterations"]["total"] == 20
    records = await _records(run["id"])
    abandoned = [r for r in records if r.status == "error"]
    assert [(r.name, r.error) for r in abandoned] == [("slow", "cancelled")]
    never_started = [r for r in records if r.iteration == abandoned[0].iteration and r.status == "skipped"]
    assert [(r.name, r.error) for r in never_started] == [("login", "not started: cancelled")]


async def test_a_run_timeout_records_the_steps_and_teardown_never_started(api, target):
    ids = await _slow_flow(api, target, rows=3, ms=400, settings={"timeout_ms": 200, "concurrency": 1})
    await api.patch(f"{API}/scenarios/{ids['slow_flow']}", json={"teardown": [{"case_id": ids["login"]}], "version": 3})
    run = (await api.post(f"{API}/scenarios/{ids['slow_flow']}/runs", json={"environment_id": ids["env"]})).json()
    run = await wait_until_finished(api, run["id"])
    assert run["status"] == "error" and run["error"] == "run timed out after 200 ms"
    _adds_up(run)
    assert run["iterations"]["not_run"] == 3
    records = await _records(run["id"])
    assert [(r.step_key, r.status, r.error) for r in records] == [
        ("step:0", "error", "run timed out after 200 ms"),
        ("step:1", "skipped", "not started: run timed out after 200 ms"),
        ("teardown:0", "skipped", "not started: run timed out after 200 ms"),
    ]


# ---- item 22: a run that would test nothing is refused -------------------------------------------
async def test_a_scenario_with_no_enabled_step_is_refused(api, target):
    ids = await order_flow(api, target)
    empty = await create(api, f"{API}/scenarios", {"project_id": ids["project"], "name": "empty"})
    error = assert_error(await api.post(f"{API}/scenarios/{empty['id']}/runs"), 422, "nothing_to_run")
    assert f"scenario {empty['id']} 'empty'" in error["message"]
    steps = [{"case_id": ids["login"], "enabled": False}]
    assert (await api.put(f"{API}/scenarios/{empty['id']}/steps", json=steps)).status_code == 200
    assert_error(await api.post(f"{API}/scenarios/{empty['id']}/runs"), 422, "nothing_to_run")
    async with get_session_factory()() as session:
        assert await session.scalar(select(func.count()).select_from(ScenarioRun)) == 0  # nothing was saved

    run = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})).json()
    await wait_until_finished(api, run["id"])
    steps = [{"case_id": ids["login"], "enabled": False}]
    assert (await api.put(f"{API}/scenarios/{ids['scenario']}/steps", json=steps)).status_code == 200
    assert_error(await api.post(f"{API}/scenario-runs/{run['id']}/rerun", json={"only": "all"}), 422, "nothing_to_run")


async def test_steps_disabled_after_the_run_was_queued_end_it_error_not_passed(api, target):
    ids = await order_flow(api, target)
    run = await _run_row(ids["project"], scenario_id=ids["scenario"], status="queued")
    steps = [{"case_id": ids["login"], "enabled": False}]
    assert (await api.put(f"{API}/scenarios/{ids['scenario']}/steps", json=steps)).status_code == 200
    assert await execute_run(get_session_factory(), run.id, "test") == "error"
    ended = (await api.get(f"{API}/scenario-runs/{run.id}")).json()
    assert ended["status"] == "error" and "nothing to run" in ended["error"]


@pytest.mark.parametrize("path", ["scenarios/{scenario}/runs", "scenario-runs/{run}/rerun", "cases/{login}/run"])
async def test_an_unreachable_broker_answers_503_and_the_run_ends_error(api, target, monkeypatch, path):
    ids = await order_flow(api, target)
    await set_rows(api, ids["scenario"], [{"username": "u", "sku": "s", "qty": 1}])
    first = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})).json()
    first = await wait_until_finished(api, first["id"])
    from app.tasks.celery_app import celery_app

    monkeypatch.setattr(get_settings(), "celery_broker_url", "redis://127.0.0.1:1/0")  # nothing listens there
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)  # earlier worker tests leave one on the real broker
    url = f"{API}/" + path.format(scenario=ids["scenario"], run=first["id"], login=ids["login"])
    body = {"only": "all"} if path.endswith("rerun") else {"environment_id": ids["env"]}
    error = assert_error(await api.post(url, json=body), 503, "broker_unavailable")
    async with get_session_factory()() as session:
        latest = await session.scalar(select(ScenarioRun).order_by(ScenarioRun.id.desc()).limit(1))
    assert latest is not None and latest.id != first["id"] and f"run {latest.id}" in error["message"]
    assert latest.status == "error" and latest.executor == "celery" and latest.finished_at is not None
    assert "task queue could not be reached" in (latest.error or "")


async def test_a_run_the_reaper_ended_stops_sending(api, target, monkeypatch):
    """An executor that stalled past the stale limit finds its run `interrupted` and stops, not goes on."""
    monkeypatch.setattr(get_settings(), "run_heartbeat_seconds", 0.05)
    ids = await _slow_flow(api, target, rows=40, ms=50)
    run = await _run_row(ids["project"], scenario_id=ids["slow_flow"], environment_id=ids["env"], status="queued")
    execution = asyncio.ensure_future(execute_run(get_session_factory(), run.id, "test"))
    while target.hits["slow"] < 2:  # noqa: ASYNC110 - the target runs in this loop
        await asyncio.sleep(0.02)
    async with get_session_factory()() as session:  # what the reaper does to a run whose heartbeat went stale
        await session.execute(
            update(ScenarioRun)
            .where(ScenarioRun.id == run.id)
            .values(status="interrupted", error="the executor stopped sending heartbeats")
        )
        await session.commit()
    await asyncio.wait_for(execution, 10)
    assert target.hits["slow"] < 40
    ended = (await api.get(f"{API}/scenario-runs/{run.id}")).json()
    assert ended["status"] == "interrupted"


async def test_a_send_whose_client_went_away_still_ends_and_keeps_its_record(api, target):
    ids = await order_flow(api, target)
    slow = await create(
        api, f"{API}/cases", {"project_id": ids["project"], "name": "slow", "method": "GET", "url": "/slow?ms=300"}
    )
    request = asyncio.ensure_future(api.post(f"{API}/cases/{slow['id']}/run", json={"environment_id": ids["env"]}))
    while target.hits["slow"] < 1:  # noqa: ASYNC110 - the target runs in this loop
        await asyncio.sleep(0.01)
    request.cancel()  # the client disconnects while the request is in flight
    await asyncio.gather(request, return_exceptions=True)
    from app.runs.dispatch import wait_for_inline_runs

    await wait_for_inline_runs()
    async with get_session_factory()() as session:
        run = await session.scalar(select(ScenarioRun).where(ScenarioRun.case_id == slow["id"]))
    assert run is not None and run.status == "passed"
    assert [r.status for r in await _records(run.id)] == ["passed"]
