"""A real HTTP target on 127.0.0.1 for run tests: login -> create order -> pay, plus slow and flaky paths."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from app.models import ApiRequestRun
from tests.factories import create, project
from tests.local_server import serving


class Target:
    def __init__(self) -> None:
        self.hits: dict[str, int] = defaultdict(int)
        self.flaky_calls: dict[str, int] = defaultdict(int)
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/login", self.login)
        app.router.add_post("/orders", self.orders)
        app.router.add_post("/pay", self.pay)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/flaky/{key}", self.flaky)
        app.router.add_post("/echo", self.echo)
        return app

    async def login(self, request: web.Request) -> web.Response:
        self.hits["login"] += 1
        body = await request.json()
        if body.get("password") != "pw-secret-1":
            return web.json_response({"code": 401, "message": "bad password"}, status=401)
        return web.json_response({"code": 0, "data": {"token": f"tok-{body.get('username')}"}})

    async def orders(self, request: web.Request) -> web.Response:
        self.hits["orders"] += 1
        if not request.headers.get("Authorization", "").startswith("Bearer tok-"):
            return web.json_response({"code": 403}, status=403)
        body = await request.json()
        return web.json_response({"code": 0, "data": {"order_id": f"o-{body.get('sku')}", "qty": body.get("qty")}})

    async def pay(self, request: web.Request) -> web.Response:
        self.hits["pay"] += 1
        body = await request.json()
        status = "DECLINED" if str(body.get("order_id", "")).endswith("-bad") else "PAID"
        return web.json_response({"code": 0, "data": {"status": status}})

    async def slow(self, request: web.Request) -> web.Response:
        self.hits["slow"] += 1
        await asyncio.sleep(int(request.query.get("ms", "200")) / 1000)
        return web.json_response({"code": 0})

    async def flaky(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        self.flaky_calls[key] += 1
        if self.flaky_calls[key] <= int(request.query.get("fail", "1")):
            return web.json_response({"code": 503}, status=503)
        return web.json_response({"code": 0})

    async def echo(self, request: web.Request) -> web.Response:
        return web.json_response({"headers": dict(request.headers), "body": await request.text()})


@pytest.fixture(scope="session")
async def target_server() -> AsyncIterator[Target]:
    target = Target()
    async with serving(target.app()) as target.url:
        yield target


@pytest.fixture
async def target(target_server: Target) -> Target:
    target_server.hits.clear()
    target_server.flaky_calls.clear()
    return target_server


async def order_flow(api: httpx.AsyncClient, target: Target, **scenario: Any) -> dict[str, Any]:
    """A project with an environment, three cases and a scenario login -> order -> pay; returns their ids."""
    proj = await project(api)
    env = await create(
        api,
        f"/api/v1/projects/{proj['id']}/environments",
        {"name": "local", "base_url": target.url, "secret_variables": {"password": "pw-secret-1"}},
    )
    login = await create(
        api,
        "/api/v1/cases",
        {
            "project_id": proj["id"],
            "name": "login",
            "method": "POST",
            "url": "/login",
            "body": {"mode": "json", "content": {"username": "{{username}}", "password": "{{password}}"}},
            "extractors": [{"name": "token", "source": "body", "expression": "$.data.token"}],
            "assertions": [
                {"source": "status_code", "expected": 200},
                {"source": "body", "expression": "$.code", "expected": 0},
            ],
        },
    )
    order = await create(
        api,
        "/api/v1/cases",
        {
            "project_id": proj["id"],
            "name": "create order",
            "method": "POST",
            "url": "/orders",
            "headers": {"Authorization": "Bearer {{token}}"},
            "body": {"mode": "json", "content": {"sku": "{{sku}}", "qty": "{{qty}}"}},
            "extractors": [{"name": "order_id", "source": "body", "expression": "$.data.order_id"}],
            "assertions": [{"source": "body", "expression": "$.data.order_id", "op": "type", "expected": "string"}],
        },
    )
    pay = await create(
        api,
        "/api/v1/cases",
        {
            "project_id": proj["id"],
            "name": "pay",
            "method": "POST",
            "url": "/pay",
            "body": {"mode": "json", "content": {"order_id": "{{order_id}}"}},
            "assertions": [{"source": "body", "expression": "$.data.status", "expected": "PAID"}],
        },
    )
    flow = await create(api, "/api/v1/scenarios", {"project_id": proj["id"], "name": "checkout", **scenario})
    steps = [{"case_id": login["id"]}, {"case_id": order["id"]}, {"case_id": pay["id"]}]
    assert (await api.put(f"/api/v1/scenarios/{flow['id']}/steps", json=steps)).status_code == 200
    return {
        "project": proj["id"],
        "env": env["id"],
        "login": login["id"],
        "order": order["id"],
        "pay": pay["id"],
        "scenario": flow["id"],
    }


async def set_rows(api: httpx.AsyncClient, scenario_id: int, rows: list[dict[str, Any]]) -> None:
    response = await api.put(f"/api/v1/scenarios/{scenario_id}/datasets", json=[{"variables": r} for r in rows])
    assert response.status_code == 200, response.text


async def wait_until_finished(api: httpx.AsyncClient, run_id: int, seconds: float = 30) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        run = (await api.get(f"/api/v1/scenario-runs/{run_id}")).json()
        if run["status"] not in ("queued", "running"):
            return run
        assert asyncio.get_running_loop().time() < deadline, f"run {run_id} still {run['status']}"
        await asyncio.sleep(0.05)


def comparable(record: ApiRequestRun) -> tuple[Any, ...]:
    """What two runs of the same scenario must record alike: everything but ids and timings."""
    response = record.response or {}
    return (
        record.iteration,
        record.step_key,
        record.attempt,
        record.is_final,
        record.status,
        (record.request or {}).get("url"),
        (record.request or {}).get("body"),
        response.get("status"),
        response.get("body"),
        [(a["source"], a["passed"], a["actual"]) for a in record.assertions],
        record.extracted,
        record.error,
    )
