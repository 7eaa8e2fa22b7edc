"""Schedules and triggers on a test plan: the plan run starts with the tick or the commit as its trigger."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from app.core.db import get_session_factory
from app.models import PlanRun, ScenarioRun, ScheduleFire
from app.models.schedule import FireOutcome
from app.runs.dispatch import wait_for_inline_runs
from app.schedules import firing
from app.schedules.hooks import github_signature
from tests.factories import create
from tests.schedules.conftest import Flow, Target, make_flow
from tests.schedules.test_hooks import SHA, github_push


async def two_scenario_plan(api: httpx.AsyncClient, flow: Flow, target: Target) -> dict[str, Any]:
    second = await create(api, "/api/v1/scenarios", {"project_id": flow.project_id, "name": "second"})
    steps = await api.put(f"/api/v1/scenarios/{second['id']}/steps", json=[{"case_id": flow.case_id}])
    assert steps.status_code == 200, steps.text
    return await create(
        api,
        "/api/v1/test-plans",
        {
            "project_id": flow.project_id,
            "name": "regression",
            "selection": {"scenario_ids": [flow.scenario_id, second["id"]]},
            "environment_id": flow.environment_id,
        },
    )


async def plan_runs() -> list[PlanRun]:
    async with get_session_factory()() as session:
        return list(await session.scalars(select(PlanRun).order_by(PlanRun.id)))


async def test_a_signed_github_push_starts_the_plan_with_the_commit_recorded(
    api: httpx.AsyncClient, client: httpx.AsyncClient, target: Target
) -> None:
    flow = await make_flow(api, target)
    plan = await two_scenario_plan(api, flow, target)
    created = await api.post(
        f"/api/v1/projects/{flow.project_id}/triggers", json={"name": "ci", "provider": "github", "plan_id": plan["id"]}
    )
    assert created.status_code == 201, created.text
    trigger = created.json()
    body = json.dumps(github_push()).encode()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(trigger["secret"], body)}
    bad = await client.post(trigger["hook_url"], content=body, headers={**headers, "X-Hub-Signature-256": "sha256=0"})
    assert bad.status_code == 401 and await plan_runs() == []
    answer = await client.post(trigger["hook_url"], content=body, headers=headers)
    assert answer.status_code == 202 and answer.json()["status"] == "started", answer.text
    await wait_for_inline_runs()
    [plan_run] = await plan_runs()
    assert plan_run.id == answer.json()["plan_run_id"] and plan_run.plan_id == plan["id"]
    assert plan_run.trigger["type"] == "webhook" and plan_run.trigger["commit"] == SHA
    assert plan_run.trigger["branch"] == "main" and plan_run.trigger["repository"] == "acme/shop"
    shown = (await api.get(f"/api/v1/plan-runs/{plan_run.id}")).json()
    assert shown["status"] == "passed", shown
    async with get_session_factory()() as session:
        children = list(await session.scalars(select(ScenarioRun).where(ScenarioRun.plan_run_id == plan_run.id)))
    assert len(children) == 2 and {child.ci["commit"] for child in children} == {SHA}


async def test_a_scheduled_plan_fires_a_plan_run_recorded_with_its_tick(api: httpx.AsyncClient, target: Target) -> None:
    flow = await make_flow(api, target)
    plan = await two_scenario_plan(api, flow, target)
    schedule = await create(
        api, "/api/v1/schedules", {"name": "nightly", "plan_id": plan["id"], "cron": "0 3 * * *", "timezone": "UTC"}
    )
    tick = datetime.fromisoformat(schedule["next_fire_at"])
    assert (await firing.fire_due(get_session_factory(), now=tick)).outcomes == {FireOutcome.FIRED: 1}
    await wait_for_inline_runs()
    [plan_run] = await plan_runs()
    assert plan_run.trigger["type"] == "schedule" and plan_run.trigger["schedule_id"] == schedule["id"]
    async with get_session_factory()() as session:
        [fire] = list(await session.scalars(select(ScheduleFire)))
    assert fire.plan_run_id == plan_run.id and fire.run_id is None
