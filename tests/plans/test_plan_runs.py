"""Plan runs: one scenario run per selected scenario, `concurrency` at a time, summed, judged, reported, cancelled."""

from __future__ import annotations

import asyncio
import itertools
import json
import xml.etree.ElementTree as ET

from sqlalchemy import select

from app.core.db import get_session_factory
from app.models import ScenarioRun
from app.plans import launch, service
from app.runs.executor import reap_stale_runs
from tests.plans.conftest import API, start, wait_for_plan_run


async def _children(plan_run_id: int) -> list[ScenarioRun]:
    async with get_session_factory()() as session:
        rows = await session.scalars(
            select(ScenarioRun).where(ScenarioRun.plan_run_id == plan_run_id).order_by(ScenarioRun.id)
        )
        return list(rows)


async def test_a_plan_of_three_scenarios_with_one_failing_fails_95_percent_and_reports_three_testsuites(api, shop):
    login = await shop.scenario("login", ["/ok", "/ok"])
    checkout = await shop.scenario("checkout", ["/ok", "/broken"])
    search = await shop.scenario("search", ["/ok"])
    plan = await shop.plan([login, checkout, search], pass_criteria={"min_pass_rate": 0.95})
    assert plan["pass_criteria"] == {"min_pass_rate": 0.95, "basis": "scenario_runs"}

    started = await start(api, plan["id"])
    assert started["status"] == "running" and started["scenarios"]["total"] == 3
    ended = await wait_for_plan_run(api, started["id"])

    assert ended["status"] == "failed"
    assert ended["scenarios"] == {
        "total": 3, "passed": 2, "failed": 1, "error": 0, "cancelled": 0, "skipped": 0, "active": 0,
    }  # fmt: skip
    assert ended["requests"] == {"total": 5, "passed": 4, "failed": 1, "error": 0, "skipped": 0, "flaky": 0}
    assert ended["iterations"] == {"passed": 2, "failed": 1, "error": 0, "flaky": 0}
    assert abs(ended["pass_rate"] - 2 / 3) < 1e-9
    assert "66.7%" in ended["error"] and "95.0%" in ended["error"]
    assert [(item["scenario_id"], item["status"]) for item in ended["items"]] == [
        (login, "passed"),
        (checkout, "failed"),
        (search, "passed"),
    ]
    children = await _children(started["id"])
    assert [child.scenario_id for child in children] == [login, checkout, search]
    assert [item["run_id"] for item in ended["items"]] == [child.id for child in children]
    assert all(child.environment_id == shop.env and child.kind == "scenario" for child in children)

    response = await api.get(f"{API}/plan-runs/{started['id']}/report", params={"format": "junit"})
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.content)
    suites = root.findall("testsuite")
    assert len(suites) == 3
    assert ["login" in suites[0].get("name", ""), "checkout" in suites[1].get("name", "")] == [True, True]
    assert [suite.get("tests") for suite in suites] == ["2", "2", "1"]
    assert [suite.get("failures") for suite in suites] == ["0", "1", "0"]
    assert [len(suite.findall("testcase")) for suite in suites] == [2, 2, 1]
    assert len(suites[1].findall("testcase/failure")) == 1
    assert root.get("tests") == "5" and root.get("failures") == "1"

    report = (await api.get(f"{API}/plan-runs/{started['id']}/report", params={"format": "json"})).json()
    assert report["run"]["status"] == "failed" and len(report["steps"]) == 3
    assert report["stats"]["requests"]["failed"] == 1 and len(report["executions"]) == 5
    page = await api.get(f"{API}/plan-runs/{started['id']}/report", params={"format": "html"})
    assert page.status_code == 200 and "nightly" in page.text and "checkout" in page.text


async def test_concurrency_one_starts_each_scenario_after_the_previous_one_ended(api, shop, target):
    ids = [await shop.scenario(f"slow {n}", ["/slow?ms=30"], rows=3) for n in range(3)]
    plan = await shop.plan(ids)  # concurrency 1 by default
    started = await start(api, plan["id"])
    assert [item["status"] for item in started["items"]] == ["started", "pending", "pending"]
    ended = await wait_for_plan_run(api, started["id"])
    assert ended["status"] == "passed" and ended["scenarios"]["passed"] == 3
    children = await _children(started["id"])
    assert [child.scenario_id for child in children] == ids
    for earlier, later in itertools.pairwise(children):
        assert earlier.finished_at is not None and later.started_at is not None
        assert earlier.finished_at <= later.created_at <= later.started_at  # created only once the earlier ended
    assert target.most_in_flight == 1


async def test_concurrency_three_starts_three_at_once_and_counts_each_end_once(api, shop):
    ids = [await shop.scenario(f"s{n}", ["/ok", "/slow?ms=20"], rows=2) for n in range(7)]
    plan = await shop.plan(ids, concurrency=3)
    started = await start(api, plan["id"])
    assert [item["status"] for item in started["items"]].count("started") == 3
    ended = await wait_for_plan_run(api, started["id"])
    assert ended["status"] == "passed"
    assert ended["scenarios"]["passed"] == 7 and ended["requests"]["passed"] == 7 * 2 * 2
    children = await _children(started["id"])
    assert sorted(child.scenario_id for child in children) == sorted(ids)
    assert ended["iterations"]["passed"] == sum(child.iterations_passed for child in children) == 14


async def test_cancel_cancels_every_scenario_run_and_starts_no_more(api, shop, target):
    ids = [await shop.scenario(f"long {n}", ["/slow?ms=40"], rows=200) for n in range(3)]
    plan = await shop.plan(ids, concurrency=2)
    started = await start(api, plan["id"])
    while target.hits["slow"] < 2:  # noqa: ASYNC110 - the target runs in this loop
        await asyncio.sleep(0.02)
    response = await api.post(f"{API}/plan-runs/{started['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["cancel_requested"] is True
    ended = await wait_for_plan_run(api, started["id"])
    assert ended["status"] == "cancelled"
    assert [item["status"] for item in ended["items"]] == ["cancelled", "cancelled", "skipped"]
    assert ended["scenarios"]["cancelled"] == 2 and ended["scenarios"]["skipped"] == 1
    children = await _children(started["id"])
    assert len(children) == 2 and all(child.status == "cancelled" for child in children)
    assert target.hits["slow"] < 400
    again = await api.post(f"{API}/plan-runs/{started['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "run_finished"
    report = await api.get(f"{API}/plan-runs/{started['id']}/report", params={"format": "junit"})
    assert report.status_code == 200 and len(ET.fromstring(report.content).findall("testsuite")) == 2


async def test_a_report_is_refused_while_the_plan_run_goes_on(api, shop):
    plan = await shop.plan([await shop.scenario("long", ["/slow?ms=30"], rows=100)])
    started = await start(api, plan["id"])
    response = await api.get(f"{API}/plan-runs/{started['id']}/report", params={"format": "junit"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "run_not_finished"
    assert (await api.post(f"{API}/plan-runs/{started['id']}/cancel")).status_code == 200
    await wait_for_plan_run(api, started["id"])


async def test_stop_on_first_failure_skips_the_rest_and_fails(api, shop):
    ids = [
        await shop.scenario("first", ["/ok"]),
        await shop.scenario("breaks", ["/broken"]),
        await shop.scenario("never", ["/ok"]),
    ]
    plan = await shop.plan(ids, stop_rules={"stop_on_first_failure": True}, pass_criteria={"min_pass_rate": 0.5})
    ended = await wait_for_plan_run(api, (await start(api, plan["id"]))["id"])
    assert ended["status"] == "failed" and ended["stopped"] is True
    assert [item["status"] for item in ended["items"]] == ["passed", "failed", "skipped"]
    assert "stop_on_first_failure" in ended["error"] and "breaks" in ended["error"]
    assert ended["items"][2]["run_id"] is None


async def test_a_request_based_criterion_judges_the_request_results(api, shop):
    ids = [await shop.scenario("mostly fine", ["/ok", "/ok", "/ok", "/broken"])]
    lenient = await shop.plan(ids, pass_criteria={"min_pass_rate": 0.75, "basis": "requests"})
    strict = await shop.plan(ids, name="strict", pass_criteria={"min_pass_rate": 0.8, "basis": "requests"})
    passed = await wait_for_plan_run(api, (await start(api, lenient["id"]))["id"])
    failed = await wait_for_plan_run(api, (await start(api, strict["id"]))["id"])
    assert (passed["status"], passed["pass_rate"]) == ("passed", 0.75)
    assert (failed["status"], failed["pass_rate"]) == ("failed", 0.75)
    assert "3 of 4 request results" in failed["error"]


async def test_run_variables_environment_and_ci_reach_every_scenario_run(api, shop, target):
    ids = [await shop.scenario("a", ["/ok"]), await shop.scenario("b", ["/ok"])]
    plan = await shop.plan(ids, variables={"region": "eu", "tier": "gold"}, concurrency=2)
    started = await start(
        api,
        plan["id"],
        variables={"tier": "silver"},
        ci={"commit": "abc123", "branch": "main", "build_url": "https://ci.example/1"},
    )
    assert started["trigger"]["type"] == "ci" and started["trigger"]["commit"] == "abc123"
    await wait_for_plan_run(api, started["id"])
    for child in await _children(started["id"]):
        assert child.variables == {"region": "eu", "tier": "silver"}
        assert child.ci == {"commit": "abc123", "branch": "main", "build_url": "https://ci.example/1"}
        assert child.trigger == "ci" and child.environment_id == shop.env


async def test_the_callback_receives_the_plan_runs_summary_once(api, shop, target):
    plan = await shop.plan([await shop.scenario("a", ["/ok"]), await shop.scenario("b", ["/broken"])])
    started = await start(api, plan["id"], callback_url=f"{target.url}/callback")
    ended = await wait_for_plan_run(api, started["id"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not target.callbacks:
        assert loop.time() < deadline, "no callback"
        await asyncio.sleep(0.05)
    payload = target.callbacks[0]
    assert payload["event"] == "plan_run.finished" and payload["plan_run_id"] == started["id"]
    assert payload["status"] == "failed" and payload["scenarios"]["failed"] == 1
    assert payload["reports"]["junit"].endswith(f"/plan-runs/{started['id']}/report?format=junit")
    assert ended["callback_delivery_id"] is not None
    while True:  # the delivery is recorded as delivered (by the thread that sent it)
        delivery = (await api.get(f"{API}/scenario-runs/{ended['items'][0]['run_id']}/callbacks")).json()
        if delivery and delivery[0]["status"] == "delivered":
            break
        assert loop.time() < deadline, delivery
        await asyncio.sleep(0.05)
    assert len(target.callbacks) == 1


async def test_a_scenario_run_the_reaper_ends_moves_its_plan_run_on(api, shop, user):
    """A child lost with its process (never started) is ended by the reaper's bulk UPDATE; the plan goes on."""
    ids = [await shop.scenario("lost", ["/ok"]), await shop.scenario("next", ["/ok"])]
    plan = await shop.plan(ids)
    from app.auth.principal import Principal

    async with get_session_factory()() as session:
        plan_run = await service.start_plan_run(session, Principal(user=user), plan["id"])
        launch.forget_since(session, (0, 0))  # as if the process died between the commit and the dispatch
        await session.commit()
        plan_run_id = plan_run.id
    assert await reap_stale_runs(get_session_factory(), stale_after_s=0) == 1
    ended = await wait_for_plan_run(api, plan_run_id)
    assert [item["status"] for item in ended["items"]] == ["interrupted", "passed"]
    assert ended["status"] == "failed" and ended["scenarios"]["error"] == 1


async def test_a_deleted_plan_keeps_its_runs(api, shop):
    plan = await shop.plan([await shop.scenario("a", ["/ok"])])
    ended = await wait_for_plan_run(api, (await start(api, plan["id"]))["id"])
    assert (await api.delete(f"{API}/test-plans/{plan['id']}")).status_code == 204
    kept = (await api.get(f"{API}/plan-runs/{ended['id']}")).json()
    assert kept["plan_id"] is None and kept["plan_name"] == "nightly" and kept["status"] == "passed"
    listed = (await api.get(f"{API}/plan-runs", params={"project_id": shop.project})).json()
    assert [item["id"] for item in listed["items"]] == [ended["id"]]
    junit = await api.get(f"{API}/plan-runs/{ended['id']}/report", params={"format": "junit"})
    assert junit.status_code == 200 and json.dumps(junit.text).count("testsuite ") >= 1


async def test_reconcile_catches_up_a_plan_run_whose_scenario_run_ended_unseen(api, shop, user):
    """A scenario run ended without its plan's part (that part failed and was rolled back): reconcile counts it."""
    from sqlalchemy import update

    from app.auth.principal import Principal
    from app.models.base import utcnow
    from app.plans import progress

    plan = await shop.plan([await shop.scenario("first", ["/ok"]), await shop.scenario("second", ["/ok"])])
    async with get_session_factory()() as session:
        plan_run = await service.start_plan_run(session, Principal(user=user), plan["id"])
        launch.forget_since(session, (0, 0))  # not dispatched: this test ends it by hand
        await session.commit()
        plan_run_id, first_run = plan_run.id, plan_run.items[0]["run_id"]
    async with get_session_factory()() as session:
        await session.execute(
            update(ScenarioRun)
            .where(ScenarioRun.id == first_run)
            .values(status="error", finished_at=utcnow(), error="ended where the plan did not see it")
        )
        await session.commit()
    assert (await api.get(f"{API}/plan-runs/{plan_run_id}")).json()["items"][1]["status"] == "pending"
    assert await progress.reconcile(get_session_factory()) == 1
    ended = await wait_for_plan_run(api, plan_run_id)
    assert [item["status"] for item in ended["items"]] == ["error", "passed"]
    assert await progress.reconcile(get_session_factory()) == 0  # nothing left to catch up


async def test_a_scenario_sharded_over_the_run_pool_hands_on_to_the_next_scenario(api, shop, monkeypatch):
    """Its last chunk ends it in a pool process, whose loop stops with the chunk: the next one must still run."""
    from app.core.config import get_settings
    from app.runs.chunks import shutdown_pool

    settings = get_settings()
    monkeypatch.setattr(settings, "run_processes", 2)
    monkeypatch.setattr(settings, "run_chunk_rows", 3)
    monkeypatch.setattr(settings, "run_heartbeat_seconds", 0.2)
    try:
        big = await shop.scenario("big", ["/ok"], rows=8, settings={"concurrency": 2})
        after = await shop.scenario("after", ["/ok"], rows=2)
        plan = await shop.plan([big, after, await shop.scenario("last", ["/ok"])])
        ended = await wait_for_plan_run(api, (await start(api, plan["id"]))["id"])
    finally:
        shutdown_pool()
    assert [item["status"] for item in ended["items"]] == ["passed", "passed", "passed"]
    assert ended["requests"]["passed"] == 8 + 2 + 1
    children = await _children(ended["id"])
    assert children[0].chunks == 3  # it was sharded
