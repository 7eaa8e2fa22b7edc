"""Running cases and scenarios through the API against a real local target, recorded in the database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update

from app.core.config import get_settings
from app.core.db import get_session_factory
from app.models import ApiRequestRun, AuditLog, ScenarioRun
from app.models.base import utcnow
from app.runs.executor import execute_run, reap_stale_runs
from tests.conftest import assert_error, bearer
from tests.factories import create
from tests.runs.conftest import order_flow, set_rows, wait_until_finished

API = "/api/v1"


async def test_send_a_case_answers_with_its_results_and_masks_secrets(api, target):
    ids = await order_flow(api, target)
    response = await api.post(
        f"{API}/cases/{ids['login']}/run", json={"environment_id": ids["env"], "variables": {"username": "amy"}}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["run"]["kind"] == "case" and result["run"]["status"] == "passed"
    assert result["run"]["requests"]["passed"] == 1
    [item] = result["items"]
    assert item["status"] == "passed" and item["extracted"] == {"token": "tok-amy"}
    assert item["request"]["url"] == f"{target.url}/login"
    assert '"password":"******"' in item["request"]["body"]  # the environment's secret never reaches a record
    assert item["response"]["status"] == 200 and item["response"]["size"] > 0 and len(item["response"]["sha256"]) == 64
    assert [a["passed"] for a in item["assertions"]] == [True, True]
    assert target.hits["login"] == 1


async def test_send_runs_every_enabled_dataset_or_the_chosen_ones(api, target):
    ids = await order_flow(api, target)
    names = ["ann", "ben", "cat"]
    datasets = [
        await create(api, f"{API}/cases/{ids['login']}/datasets", {"name": n, "variables": {"username": n}})
        for n in names
    ]
    await api.patch(f"{API}/datasets/{datasets[2]['id']}", json={"enabled": False, "version": 1})
    every = (await api.post(f"{API}/cases/{ids['login']}/run", json={"environment_id": ids["env"]})).json()
    assert sorted(i["extracted"]["token"] for i in every["items"]) == ["tok-ann", "tok-ben"]
    assert {i["dataset_id"] for i in every["items"]} == {datasets[0]["id"], datasets[1]["id"]}
    chosen = (
        await api.post(
            f"{API}/cases/{ids['login']}/run", json={"environment_id": ids["env"], "dataset_ids": [datasets[2]["id"]]}
        )
    ).json()
    assert [i["extracted"]["token"] for i in chosen["items"]] == ["tok-cat"]


async def test_send_with_many_rows_is_queued_and_answers_202(api, target, monkeypatch):
    monkeypatch.setattr(get_settings(), "case_run_sync_limit", 1)
    ids = await order_flow(api, target)
    for name in ("a", "b"):
        await create(api, f"{API}/cases/{ids['login']}/datasets", {"name": name, "variables": {"username": name}})
    response = await api.post(f"{API}/cases/{ids['login']}/run", json={"environment_id": ids["env"]})
    assert response.status_code == 202 and response.json()["status"] == "queued"
    run = await wait_until_finished(api, response.json()["id"])
    assert run["status"] == "passed" and run["requests"]["passed"] == 2


async def test_a_scenario_run_is_committed_queued_then_runs_every_row(api, target):
    ids = await order_flow(api, target, settings={"concurrency": 4})
    await set_rows(api, ids["scenario"], [{"username": f"u{i}", "sku": f"s{i}", "qty": i} for i in range(10)])
    response = await api.post(
        f"{API}/scenarios/{ids['scenario']}/runs",
        json={"environment_id": ids["env"], "ci": {"commit": "abc123", "branch": "main"}},
    )
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "queued" and started["iterations"]["total"] == 10
    assert started["ci"] == {"commit": "abc123", "branch": "main"} and started["trigger"] == "manual"
    run = await wait_until_finished(api, started["id"])
    assert run["status"] == "passed"
    assert run["iterations"] == {
        "total": 10, "passed": 10, "failed": 0, "error": 0, "skipped": 0, "flaky": 0, "not_run": 0
    }  # fmt: skip
    assert run["requests"]["passed"] == 30 and run["duration_ms"] > 0
    records = (await api.get(f"{API}/scenario-runs/{run['id']}/request-runs?iteration=3")).json()
    assert [r["name"] for r in records["items"]] == ["login", "create order", "pay"]
    order = (await api.get(f"{API}/request-runs/{records['items'][1]['id']}")).json()
    assert order["request"]["body"] == '{"sku":"s3","qty":3}'  # "{{qty}}" kept its type
    assert order["dataset"]["values"]["token"] == "tok-u3"


async def test_failures_are_recorded_and_a_rerun_repeats_only_the_iterations_that_failed(api, target):
    ids = await order_flow(api, target, settings={"stop_on_failure": True})
    rows = [{"username": f"u{i}", "sku": "bad" if i in (1, 3) else f"s{i}", "qty": 1} for i in range(5)]
    await set_rows(api, ids["scenario"], rows)
    first = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})).json()
    first = await wait_until_finished(api, first["id"])
    assert first["status"] == "failed"
    assert first["iterations"]["passed"] == 3 and first["iterations"]["failed"] == 2
    failed = (await api.get(f"{API}/scenario-runs/{first['id']}/request-runs?status=failed")).json()
    assert sorted(r["iteration"] for r in failed["items"]) == [1, 3]
    assertion = failed["items"][0]["assertions"][0]
    assert assertion["actual"] == "DECLINED" and assertion["expected"] == "PAID" and "DECLINED" in assertion["message"]

    again = await api.post(f"{API}/scenario-runs/{first['id']}/rerun", json={"only": "failed"})
    assert again.status_code == 202, again.text
    rerun = await wait_until_finished(api, again.json()["id"])
    assert rerun["rerun_of_id"] == first["id"] and rerun["only_iterations"] == [1, 3]
    iterations = (await api.get(f"{API}/scenario-runs/{rerun['id']}/request-runs?page_size=200")).json()
    assert sorted({r["iteration"] for r in iterations["items"]}) == [1, 3]


async def test_nothing_to_rerun_when_everything_passed(api, target):
    ids = await order_flow(api, target)
    await set_rows(api, ids["scenario"], [{"username": "u", "sku": "s", "qty": 1}])
    run = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})).json()
    await wait_until_finished(api, run["id"])
    assert_error(await api.post(f"{API}/scenario-runs/{run['id']}/rerun"), 409, "nothing_to_rerun")


async def test_cancel_stops_a_running_run_and_records_the_request_in_flight(api, target, monkeypatch):
    monkeypatch.setattr(get_settings(), "run_heartbeat_seconds", 0.05)
    ids = await order_flow(api, target)
    slow = await create(
        api,
        f"{API}/cases",
        {"project_id": ids["project"], "name": "slow", "method": "GET", "url": "/slow?ms=400", "timeout_ms": 5000},
    )
    flow = await create(api, f"{API}/scenarios", {"project_id": ids["project"], "name": "slow flow"})
    await api.put(f"{API}/scenarios/{flow['id']}/steps", json=[{"case_id": slow["id"]}])
    await set_rows(api, flow["id"], [{} for _ in range(20)])
    run = (await api.post(f"{API}/scenarios/{flow['id']}/runs", json={"environment_id": ids["env"]})).json()
    while target.hits["slow"] < 2:  # noqa: ASYNC110 - the target runs in this loop; poll its counter
        await asyncio.sleep(0.02)
    cancelled = await api.post(f"{API}/scenario-runs/{run['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["cancel_requested"] is True
    final = await wait_until_finished(api, run["id"])
    assert final["status"] == "cancelled"
    hits_at_end = target.hits["slow"]
    await asyncio.sleep(0.5)
    assert target.hits["slow"] == hits_at_end < 20  # no new requests after the cancel
    records = (await api.get(f"{API}/scenario-runs/{run['id']}/request-runs?status=error")).json()
    assert [r["error"] for r in records["items"]] == ["cancelled"]
    assert_error(await api.post(f"{API}/scenario-runs/{run['id']}/cancel"), 409, "run_finished")


async def test_a_retried_step_records_every_attempt_and_is_marked_flaky(api, target):
    ids = await order_flow(api, target)
    flaky = await create(
        api,
        f"{API}/cases",
        {
            "project_id": ids["project"],
            "name": "flaky",
            "method": "GET",
            "url": "/flaky/k1?fail=2",
            "retry": {"max_attempts": 3, "backoff_ms": 1},
            "assertions": [{"source": "status_code", "expected": 200}],
        },
    )
    result = (await api.post(f"{API}/cases/{flaky['id']}/run", json={"environment_id": ids["env"]})).json()
    assert [(i["attempt"], i["is_final"], i["status"]) for i in result["items"]] == [
        (1, False, "failed"),
        (2, False, "failed"),
        (3, True, "passed"),
    ]
    assert target.flaky_calls["k1"] == 3
    assert result["items"][-1]["flaky"] is True
    assert result["run"]["requests"] == {"total": 1, "passed": 1, "failed": 0, "error": 0, "skipped": 0, "flaky": 1}


async def test_run_permission_is_enforced_on_every_way_to_run(api, target, make_user):
    ids = await order_flow(api, target)
    runner = await make_user(email="runner@example.com")
    await api.post(f"{API}/projects/{ids['project']}/members", json={"email": runner.email, "role": "runner"})
    as_runner = {**bearer(runner)}
    assert (
        await api.post(f"{API}/cases/{ids['login']}/run", json={"environment_id": ids["env"]}, headers=as_runner)
    ).status_code == 200
    await api.patch(f"{API}/cases/{ids['pay']}", json={"run_permission": "editors", "version": 1})
    error = assert_error(await api.post(f"{API}/cases/{ids['pay']}/run", headers=as_runner), 403)
    assert "editors" in error["message"]
    error = assert_error(await api.post(f"{API}/scenarios/{ids['scenario']}/runs", headers=as_runner), 403)
    assert "'pay'" in error["message"]
    async with get_session_factory()() as session:
        runs = await session.scalar(select(func.count()).select_from(ScenarioRun))
        audited = await session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "run"))
    assert runs == 1 and audited == 1  # refused runs leave no run and no audit entry


async def test_an_environment_of_another_project_is_refused(api, target):
    ids = await order_flow(api, target)
    other = await order_flow(api, target)
    error = assert_error(
        await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": other["env"]}), 422
    )
    assert error["details"][0]["loc"] == ["body", "environment_id"]


async def test_a_run_is_claimed_once_so_a_redelivery_records_nothing_twice(api, target):
    ids = await order_flow(api, target)
    await set_rows(api, ids["scenario"], [{"username": "u", "sku": "s", "qty": 1}])
    run = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})).json()
    await wait_until_finished(api, run["id"])
    assert await execute_run(get_session_factory(), run["id"], "second-worker") is None
    async with get_session_factory()() as session:
        count = await session.scalar(
            select(func.count()).select_from(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run["id"])
        )
    assert count == 3


async def test_the_reaper_ends_runs_whose_executor_went_silent(api, target):
    ids = await order_flow(api, target)
    async with get_session_factory()() as session:
        stale = ScenarioRun(
            project_id=ids["project"],
            scenario_id=ids["scenario"],
            kind="scenario",
            status="running",
            executor="celery",
            created_at=utcnow(),
            started_at=utcnow(),
            heartbeat_at=utcnow(),
            owner="celery:gone:1",
        )
        session.add(stale)
        await session.commit()
        await session.execute(update(ScenarioRun).values(heartbeat_at=utcnow().replace(year=2000)))
        await session.commit()
    assert await reap_stale_runs(get_session_factory(), stale_after_s=60) == 1
    run = (await api.get(f"{API}/scenario-runs/{stale.id}")).json()
    assert run["status"] == "interrupted" and "heartbeats" in run["error"]


async def test_runs_and_their_records_are_listed_and_filtered(api, target):
    ids = await order_flow(api, target)
    await api.post(
        f"{API}/cases/{ids['login']}/run", json={"environment_id": ids["env"], "variables": {"username": "z"}}
    )
    scenario_run = (
        await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    ).json()
    await wait_until_finished(api, scenario_run["id"])
    kinds = (await api.get(f"{API}/scenario-runs?kind=case")).json()
    assert kinds["total"] == 1 and kinds["items"][0]["case_id"] == ids["login"]
    by_scenario = (await api.get(f"{API}/scenario-runs?scenario_id={ids['scenario']}")).json()
    assert [r["id"] for r in by_scenario["items"]] == [scenario_run["id"]]
    by_case = (await api.get(f"{API}/request-runs?case_id={ids['login']}")).json()
    assert by_case["total"] == 2
    assert_error(await api.get(f"{API}/scenario-runs?status=finished"), 422)
    assert_error(await api.get(f"{API}/request-runs/999999"), 404)


async def test_a_case_history_leaves_out_the_runs_of_scenarios_the_caller_may_not_see(api, client, target, make_user):
    ids = await order_flow(api, target, visibility="private")
    started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    await wait_until_finished(api, started.json()["id"])
    await api.post(f"{API}/cases/{ids['login']}/run", json={"environment_id": ids["env"]})
    mine = (await api.get(f"{API}/request-runs?case_id={ids['login']}")).json()
    assert mine["total"] == 2  # the private scenario's login and the one-case run
    member, stranger = await make_user("member@example.com"), await make_user("stranger@example.com")
    added = await api.post(f"{API}/projects/{ids['project']}/members", json={"email": member.email, "role": "viewer"})
    assert added.status_code == 201, added.text
    theirs = (await client.get(f"{API}/request-runs?case_id={ids['login']}", headers=bearer(member))).json()
    assert theirs["total"] == 1 and theirs["items"][0]["scenario_run_id"] != started.json()["id"]
    outside = (await client.get(f"{API}/request-runs?case_id={ids['login']}", headers=bearer(stranger))).json()
    assert outside["total"] == 0
    assert (await api.get(f"{API}/request-runs?case_id=999999")).json()["total"] == 0


async def test_an_inline_run_goes_to_its_end_while_the_apis_loop_is_held(api):
    """Inline runs execute on a loop of their own (app.runs.dispatch.RunsThread): a run's work never waits in line
    with the API's requests. Here the API's loop (the tests' loop) is held until the run has ended; on the API's
    loop the run could not have moved at all."""
    from app.runs import dispatch
    from tests.local_server import serving_aiohttp_in_thread
    from tests.runs.conftest import Target

    target = Target()
    with serving_aiohttp_in_thread(target.app()) as target.url:
        ids = await order_flow(api, target, settings={"concurrency": 4})
        await set_rows(api, ids["scenario"], [{"username": f"u{i}", "sku": f"s{i}", "qty": i} for i in range(12)])
        response = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
        assert response.status_code == 202, response.text
        [started] = list(dispatch._inline_runs)
        assert started.result(timeout=60) == "passed"  # blocks the API's loop until the run ended
    run = (await api.get(f"{API}/scenario-runs/{response.json()['id']}")).json()
    assert run["status"] == "passed" and run["requests"]["passed"] == 36
    assert target.hits == {"login": 12, "orders": 12, "pay": 12}


async def test_the_runs_thread_stopped_from_one_of_its_own_runs_winds_down_instead_of_waiting_on_itself():
    """What a plan's next child would do when the database changed: stop() on the runs thread, from that thread."""
    from app.runs import dispatch

    thread = dispatch.RunsThread()
    sleeper = asyncio.run_coroutine_threadsafe(asyncio.sleep(60), thread.loop)  # a run still going there

    async def stop_from_here() -> str:
        thread.stop(grace_s=0.2)  # returns at once: the wind-down runs once this step lets go of the loop
        await asyncio.sleep(0.6)  # the asking run goes on to its end, past the grace (spared: its end is written)
        return "ended"

    assert asyncio.run_coroutine_threadsafe(stop_from_here(), thread.loop).result(5) == "ended"
    await asyncio.to_thread(thread._thread.join, 10)
    assert not thread._thread.is_alive() and thread.loop.is_closed()
    assert sleeper.cancelled()


async def test_shutdown_stops_the_runs_thread_and_the_next_run_starts_a_new_one(api, target):
    """The API's shutdown cancels what still runs (the reaper ends it `interrupted`, as when the process dies);
    a run started afterwards gets a new runs thread and goes to its end."""
    from app.runs import dispatch

    ids = await order_flow(api, target)
    slow = await create(
        api,
        f"{API}/cases",
        {"project_id": ids["project"], "name": "slow", "method": "GET", "url": "/slow", "query": {"ms": "5000"}},
    )
    flow = await create(api, f"{API}/scenarios", {"project_id": ids["project"], "name": "slow flow"})
    await api.put(f"{API}/scenarios/{flow['id']}/steps", json=[{"case_id": slow["id"]}])
    started = (await api.post(f"{API}/scenarios/{flow['id']}/runs", json={"environment_id": ids["env"]})).json()
    for _ in range(500):  # until the slow request is at the target (10 s at most)
        if target.hits["slow"]:
            break
        await asyncio.sleep(0.02)
    assert target.hits["slow"] == 1
    before = dispatch.runs_thread()
    await asyncio.to_thread(dispatch.stop_runs_thread, 2.0)
    assert not dispatch._inline_runs and before.loop.is_closed()
    assert (await api.get(f"{API}/scenario-runs/{started['id']}")).json()["status"] == "running"
    assert await reap_stale_runs(get_session_factory(), stale_after_s=0) == 1
    assert (await api.get(f"{API}/scenario-runs/{started['id']}")).json()["status"] == "interrupted"

    await set_rows(api, ids["scenario"], [{"username": "amy", "sku": "s1", "qty": 1}])
    again = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})).json()
    assert (await wait_until_finished(api, again["id"]))["status"] == "passed"
    assert dispatch.runs_thread() is not before


async def test_the_runs_thread_has_as_many_database_connections_as_the_api():
    """Every inline run of the process works on the runs thread: its engine gets the API's pool, not the few
    connections a pool process or a Celery thread (one run at a time) has."""
    from app.runs import dispatch

    engine = dispatch.runs_thread().sessions.kw["bind"]
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite's engine has no sized pool")
    assert engine.pool.size() == get_settings().db_pool_size >= 10
