"""Test plans: CRUD with the roles, visibility and audit of scenarios; bad input is a 422 naming the field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.models import AuditLog, PlanRun, ScenarioRun, TestPlan
from tests.conftest import assert_error, bearer, count_rows
from tests.factories import create, project
from tests.plans.conftest import API, Shop, start, wait_for_plan_run


async def _member(api: httpx.AsyncClient, make_user: Any, project_id: int, role: str) -> dict[str, str]:
    person = await make_user(email=f"{role}-{project_id}@example.com")
    response = await api.post(f"{API}/projects/{project_id}/members", json={"email": person.email, "role": role})
    assert response.status_code == 201, response.text
    return bearer(person)


async def _writes() -> tuple[int, int, int, int]:
    return (
        await count_rows(TestPlan),
        await count_rows(PlanRun),
        await count_rows(ScenarioRun),
        await count_rows(AuditLog),
    )


async def test_create_read_update_delete_with_versions_and_audit(api, shop):
    ids = [await shop.scenario("a", ["/ok"], tags=["smoke"]), await shop.scenario("b", ["/ok"])]
    plan = await shop.plan([ids[1]], description="every night", selection={"scenario_ids": [ids[1]], "tags": ["smoke"]})
    assert plan["selection"] == {"scenario_ids": [ids[1]], "tags": ["smoke"]}
    assert (plan["concurrency"], plan["stop_rules"], plan["version"]) == (1, {"stop_on_first_failure": False}, 1)
    assert (await api.get(f"{API}/test-plans/{plan['id']}")).json() == plan

    patch = {"version": 1, "concurrency": 4, "pass_criteria": {"min_pass_rate": 0.9}, "variables": {"x": 1}}
    updated = (await api.patch(f"{API}/test-plans/{plan['id']}", json=patch)).json()
    assert updated["version"] == 2 and updated["concurrency"] == 4
    assert updated["pass_criteria"] == {"min_pass_rate": 0.9, "basis": "scenario_runs"}
    stale = await api.patch(f"{API}/test-plans/{plan['id']}", json={"version": 1, "name": "late"})
    assert_error(stale, 409, "version_conflict")
    missing_version = await api.patch(f"{API}/test-plans/{plan['id']}", json={"name": "x"})
    assert_error(missing_version, 422)

    listed = (await api.get(f"{API}/test-plans", params={"project_id": shop.project, "q": "nightly"})).json()
    assert [item["id"] for item in listed["items"]] == [plan["id"]] and listed["total"] == 1

    started = await start(api, plan["id"])
    assert [item["scenario_id"] for item in started["items"]] == [ids[1], ids[0]]  # listed ids, then by tag
    await wait_for_plan_run(api, started["id"])

    assert (await api.delete(f"{API}/test-plans/{plan['id']}")).status_code == 204
    assert (await api.get(f"{API}/test-plans/{plan['id']}")).status_code == 404
    trail = (await api.get(f"{API}/audit", params={"entity": "test_plan"})).json()["items"]
    assert [entry["action"] for entry in trail] == ["delete", "run", "update", "create"]
    assert trail[2]["changes"]["after"]["concurrency"] == 4


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"selection": {}}, ["body", "selection"]),
        ({"selection": {"scenario_ids": [], "tags": []}}, ["body", "selection"]),
        ({"selection": {"tags": ["nothing-has-this"]}}, ["body", "selection"]),
        ({"selection": {"scenario_ids": [987654]}}, ["body", "selection", "scenario_ids", 0]),
        ({"selection": {"scenario_ids": [1, 1]}}, ["body", "selection", "scenario_ids"]),
        ({"selection": {"scenario_ids": [1], "colour": "red"}}, ["body", "selection", "colour"]),
        ({"pass_criteria": {"min_pass_rate": 95}}, ["body", "pass_criteria", "min_pass_rate"]),
        ({"pass_criteria": {"min_pass_rate": -0.1}}, ["body", "pass_criteria", "min_pass_rate"]),
        ({"pass_criteria": {"basis": "vibes"}}, ["body", "pass_criteria", "basis"]),
        ({"pass_criteria": {"pass_rate": 0.9}}, ["body", "pass_criteria", "pass_rate"]),
        ({"stop_rules": {"stop_on_first_failure": "maybe"}}, ["body", "stop_rules", "stop_on_first_failure"]),
        ({"concurrency": 0}, ["body", "concurrency"]),
        ({"concurrency": 21}, ["body", "concurrency"]),
        ({"environment_id": 987654}, ["body", "environment_id"]),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(api, shop, body, loc):
    scenario_id = await shop.scenario("a", ["/ok"])
    payload: dict[str, Any] = {
        "project_id": shop.project,
        "name": "p",
        "selection": {"scenario_ids": [scenario_id]},
        **body,
    }
    if payload["selection"].get("scenario_ids") == [1, 1]:
        payload["selection"]["scenario_ids"] = [scenario_id, scenario_id]
    if payload["selection"].get("scenario_ids") == [1]:
        payload["selection"]["scenario_ids"] = [scenario_id]
    before = await _writes()
    error = assert_error(await api.post(f"{API}/test-plans", json=payload), 422)
    assert any(detail["loc"] == loc for detail in error["details"]), error
    assert await _writes() == before


async def test_a_scenario_of_another_project_is_not_selectable(api, shop):
    other = await project(api, "other")
    foreign = await create(api, f"{API}/scenarios", {"project_id": other["id"], "name": "foreign"})
    mine = await shop.scenario("mine", ["/ok"])
    before = await _writes()
    body = {"project_id": shop.project, "name": "p", "selection": {"scenario_ids": [mine, foreign["id"]]}}
    error = assert_error(await api.post(f"{API}/test-plans", json=body), 422)
    assert error["details"][0]["loc"] == ["body", "selection", "scenario_ids", 1]
    assert f"scenario {foreign['id']} is not a scenario of project {shop.project}" in error["message"]
    assert await _writes() == before


async def test_bad_patches_are_refused_whole(api, shop):
    plan = await shop.plan([await shop.scenario("a", ["/ok"])])
    before = await _writes()
    for patch, loc in (
        ({"selection": {"tags": ["none"]}}, ["body", "selection"]),
        ({"pass_criteria": {"min_pass_rate": 2}}, ["body", "pass_criteria", "min_pass_rate"]),
        ({"stop_rules": {"stop_after": 3}}, ["body", "stop_rules", "stop_after"]),
        ({"environment_id": 987654}, ["body", "environment_id"]),
        ({"concurrency": None}, ["body", "concurrency"]),
    ):
        error = assert_error(await api.patch(f"{API}/test-plans/{plan['id']}", json={"version": 1, **patch}), 422)
        assert error["details"][0]["loc"] == loc, error
    assert await _writes() == before
    assert (await api.get(f"{API}/test-plans/{plan['id']}")).json() == plan


async def test_bad_run_input_is_refused_and_starts_nothing(api, shop):
    plan = await shop.plan([await shop.scenario("a", ["/ok"])])
    before = await _writes()
    for body, loc in (
        ({"environment_id": 987654}, ["body", "environment_id"]),
        ({"callback_url": "ftp://x"}, ["body", "callback_url"]),
        ({"variables": {" padded ": 1}}, ["body", "variables"]),
        ({"concurrency": 3}, ["body", "concurrency"]),
    ):
        error = assert_error(await api.post(f"{API}/test-plans/{plan['id']}/runs", json=body), 422)
        assert error["details"][0]["loc"][:2] == loc[:2], error
    assert await _writes() == before


async def test_roles_a_viewer_reads_a_runner_runs_an_editor_writes(api, shop, make_user):
    plan = await shop.plan([await shop.scenario("a", ["/ok"])])
    viewer = await _member(api, make_user, shop.project, "viewer")
    runner = await _member(api, make_user, shop.project, "runner")
    outsider = bearer(await make_user(email="outsider@example.com"))
    before = await _writes()

    assert (await api.get(f"{API}/test-plans/{plan['id']}", headers=viewer)).status_code == 200
    assert_error(await api.post(f"{API}/test-plans/{plan['id']}/runs", headers=viewer), 403, "forbidden")
    assert_error(await api.patch(f"{API}/test-plans/{plan['id']}", json={"version": 1}, headers=runner), 403)
    body = {"project_id": shop.project, "name": "x", "selection": {"scenario_ids": plan["selection"]["scenario_ids"]}}
    assert_error(await api.post(f"{API}/test-plans", json=body, headers=runner), 403)
    assert_error(await api.get(f"{API}/test-plans/{plan['id']}", headers=outsider), 404)
    assert_error(await api.post(f"{API}/test-plans/{plan['id']}/runs", headers=outsider), 404)
    assert await _writes() == before

    started = (await api.post(f"{API}/test-plans/{plan['id']}/runs", headers=runner)).json()
    assert started["trigger"]["type"] == "manual" and started["created_by_id"] is not None
    ended = await wait_for_plan_run(api, started["id"])
    assert ended["status"] == "passed"
    assert (await api.get(f"{API}/plan-runs/{started['id']}", headers=viewer)).status_code == 200
    assert_error(await api.post(f"{API}/plan-runs/{started['id']}/cancel", headers=viewer), 403)
    assert_error(await api.get(f"{API}/plan-runs/{started['id']}", headers=outsider), 404)
    listed = (await api.get(f"{API}/plan-runs", headers=outsider)).json()
    assert listed["total"] == 0


async def test_private_scenarios_of_others_are_not_selectable(api, shop, make_user):
    colleague_headers = await _member(api, make_user, shop.project, "editor")
    colleague = Shop(httpx.AsyncClient(transport=api._transport, base_url=str(api.base_url)), shop.project, shop.env)
    colleague.api.headers.update(colleague_headers)
    theirs = await colleague.scenario("their secret flow", ["/ok"], visibility="private", tags=["smoke"])
    mine_private = await shop.scenario("my private flow", ["/ok"], visibility="private", tags=["smoke"])
    shared = await shop.scenario("shared flow", ["/ok"], tags=["smoke"])
    before = await _writes()

    body = {"project_id": shop.project, "name": "p", "selection": {"scenario_ids": [theirs]}}
    error = assert_error(await api.post(f"{API}/test-plans", json=body), 422)
    assert error["details"][0]["loc"] == ["body", "selection", "scenario_ids", 0]
    assert "their secret flow" not in error["message"]  # not even its name is revealed
    # My own private scenario: not in a plan others see, only in my private plan.
    body["selection"] = {"scenario_ids": [mine_private]}
    error = assert_error(await api.post(f"{API}/test-plans", json=body), 422)
    assert "private" in error["message"] and error["details"][0]["loc"] == ["body", "selection", "scenario_ids", 0]
    assert await _writes() == before
    private_plan = await create(api, f"{API}/test-plans", {**body, "visibility": "private"})
    share = await api.patch(f"{API}/test-plans/{private_plan['id']}", json={"version": 1, "visibility": "project"})
    assert assert_error(share, 422)["details"][0]["loc"] == ["body", "visibility"]

    # Tags select what the plan may select: never another's private scenario.
    tagged = await create(api, f"{API}/test-plans", {**body, "name": "smoke", "selection": {"tags": ["smoke"]}})
    started = await start(api, tagged["id"])
    assert [item["scenario_id"] for item in started["items"]] == [shared]
    private_tagged = await create(
        api, f"{API}/test-plans", {**body, "name": "mine", "visibility": "private", "selection": {"tags": ["smoke"]}}
    )
    started_private = await start(api, private_tagged["id"])
    assert [item["scenario_id"] for item in started_private["items"]] == [mine_private, shared]
    # The colleague cannot see my private plan at all.
    assert_error(await colleague.api.get(f"{API}/test-plans/{private_plan['id']}"), 404)
    assert_error(await colleague.api.get(f"{API}/plan-runs/{started_private['id']}"), 404)
    await wait_for_plan_run(api, started["id"])
    await wait_for_plan_run(api, started_private["id"])
    await colleague.api.aclose()


async def test_a_plan_whose_scenarios_lost_their_tag_refuses_to_run(api, shop):
    scenario_id = await shop.scenario("a", ["/ok"], tags=["nightly"])
    plan = await shop.plan(selection={"tags": ["nightly"]})
    scenario = (await api.get(f"{API}/scenarios/{scenario_id}")).json()
    response = await api.patch(f"{API}/scenarios/{scenario_id}", json={"version": scenario["version"], "tags": []})
    assert response.status_code == 200, response.text
    before = await _writes()
    error = assert_error(await api.post(f"{API}/test-plans/{plan['id']}/runs"), 422)
    assert error["details"][0]["loc"] == ["plan", "selection"]
    assert await _writes() == before


async def test_an_archived_plan_does_not_run(api, shop):
    plan = await shop.plan([await shop.scenario("a", ["/ok"])], status="archived")
    assert_error(await api.post(f"{API}/test-plans/{plan['id']}/runs"), 409, "plan_archived")


async def test_a_case_only_its_owner_may_run_keeps_others_from_starting_the_plan(api, shop, make_user):
    guarded = await create(
        api,
        f"{API}/cases",
        {"project_id": shop.project, "name": "owner only", "method": "GET", "url": "/ok", "run_permission": "owner"},
    )
    flow = await create(api, f"{API}/scenarios", {"project_id": shop.project, "name": "guarded"})
    await api.put(f"{API}/scenarios/{flow['id']}/steps", json=[{"case_id": guarded["id"]}])
    plan = await shop.plan([flow["id"]])
    runner = await _member(api, make_user, shop.project, "runner")
    before = await _writes()
    error = assert_error(await api.post(f"{API}/test-plans/{plan['id']}/runs", headers=runner), 403)
    assert f"case {guarded['id']}" in error["message"]
    assert await _writes() == before
