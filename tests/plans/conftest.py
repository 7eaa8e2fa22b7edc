"""A real HTTP target on 127.0.0.1 for plan runs, and builders for projects with scenarios that pass or fail."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.factories import create, project
from tests.local_server import serving

API = "/api/v1"


class Target:
    """GET /ok answers 200, GET /broken 500, GET /slow?ms= waits; it counts hits and requests in flight."""

    def __init__(self) -> None:
        self.url = ""
        self.hits: dict[str, int] = defaultdict(int)
        self.in_flight = 0
        self.most_in_flight = 0
        self.callbacks: list[dict[str, Any]] = []
        self.callback_headers: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ok", self.ok)
        app.router.add_get("/broken", self.broken)
        app.router.add_get("/slow", self.slow)
        app.router.add_post("/callback", self.callback)
        return app

    async def ok(self, request: web.Request) -> web.Response:
        self.hits["ok"] += 1
        return web.json_response({"code": 0})

    async def broken(self, request: web.Request) -> web.Response:
        self.hits["broken"] += 1
        return web.json_response({"code": 1}, status=500)

    async def slow(self, request: web.Request) -> web.Response:
        self.hits["slow"] += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(int(request.query.get("ms", "50")) / 1000)
        finally:
            self.in_flight -= 1
        return web.json_response({"code": 0})

    async def callback(self, request: web.Request) -> web.Response:
        self.callbacks.append(await request.json())
        self.callback_headers.append(dict(request.headers))
        return web.json_response({"ok": True})


@pytest.fixture(scope="session")
async def target_server() -> AsyncIterator[Target]:
    target = Target()
    async with serving(target.app()) as target.url:
        yield target


@pytest.fixture
async def target(target_server: Target) -> Target:
    target_server.hits.clear()
    target_server.in_flight = target_server.most_in_flight = 0
    target_server.callbacks.clear()
    target_server.callback_headers.clear()
    return target_server


class Shop:
    """A project with an environment pointing at the target, and helpers to add cases, scenarios and plans."""

    def __init__(self, api: httpx.AsyncClient, project_id: int, env_id: int) -> None:
        self.api = api
        self.project = project_id
        self.env = env_id
        self.cases: dict[str, int] = {}

    async def case(self, path: str) -> int:
        if path not in self.cases:
            body = {
                "project_id": self.project,
                "name": f"GET {path}",
                "method": "GET",
                "url": path,
                "assertions": [{"source": "status_code", "op": "eq", "expected": 200}],
            }
            self.cases[path] = (await create(self.api, f"{API}/cases", body))["id"]
        return self.cases[path]

    async def scenario(self, name: str, paths: list[str], rows: int = 0, **extra: Any) -> int:
        created = await create(self.api, f"{API}/scenarios", {"project_id": self.project, "name": name, **extra})
        steps = [{"case_id": await self.case(path)} for path in paths]
        response = await self.api.put(f"{API}/scenarios/{created['id']}/steps", json=steps)
        assert response.status_code == 200, response.text
        if rows:
            response = await self.api.put(f"{API}/scenarios/{created['id']}/datasets", json=[{} for _ in range(rows)])
            assert response.status_code == 200, response.text
        return int(created["id"])

    async def plan(self, scenario_ids: list[int] | None = None, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "project_id": self.project,
            "name": "nightly",
            "selection": {"scenario_ids": scenario_ids or []},
            "environment_id": self.env,
            **extra,
        }
        return await create(self.api, f"{API}/test-plans", body)


@pytest.fixture
async def shop(api: httpx.AsyncClient, target: Target) -> Shop:
    proj = await project(api)
    env = await create(api, f"{API}/projects/{proj['id']}/environments", {"name": "local", "base_url": target.url})
    return Shop(api, proj["id"], env["id"])


async def start(api: httpx.AsyncClient, plan_id: int, **body: Any) -> dict[str, Any]:
    response = await api.post(f"{API}/test-plans/{plan_id}/runs", json=body)
    assert response.status_code == 202, response.text
    return response.json()


async def wait_for_plan_run(api: httpx.AsyncClient, plan_run_id: int, seconds: float = 60) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        plan_run = (await api.get(f"{API}/plan-runs/{plan_run_id}")).json()
        if plan_run["status"] not in ("queued", "running"):
            return plan_run
        assert loop.time() < deadline, f"plan run {plan_run_id} still {plan_run['status']}: {plan_run['items']}"
        await asyncio.sleep(0.05)
