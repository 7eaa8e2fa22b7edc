"""A real callback receiver (and the target the runs call) on 127.0.0.1, and a one-step scenario to run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from app.core.config import get_settings
from tests.factories import create, project
from tests.local_server import serving


@dataclass
class Call:
    name: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST to /hook/{name}; `plans[name]` scripts its answers (a status, "slow", or a redirect)."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    plans: dict[str, list[Any]] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook/{name}", self.hook)
        app.router.add_get("/ok", self.ok)
        app.router.add_get("/slow", self.slow)
        return app

    async def hook(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.calls.append(Call(name, dict(request.headers), await request.read()))
        plan = self.plans.get(name) or []
        action = plan.pop(0) if plan else 200
        if action == "slow":
            await asyncio.sleep(2)
            return web.Response(status=200)
        if isinstance(action, str) and action.startswith("redirect:"):
            raise web.HTTPFound(action.removeprefix("redirect:"))
        return web.Response(status=action, text="x" * 5000 if action >= 500 else "thanks")

    async def ok(self, request: web.Request) -> web.Response:
        return web.json_response({"code": 0})

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "5")))
        return web.json_response({"code": 0})

    def of(self, name: str) -> list[Call]:
        return [call for call in self.calls if call.name == name]


@pytest.fixture(scope="session")
async def receiver_server() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serving(receiver.app()) as receiver.url:
        yield receiver


@pytest.fixture
async def receiver(receiver_server: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    """A fresh receiver, and retries short enough for a test (the schedule's shape is the same)."""
    receiver_server.calls.clear()
    receiver_server.plans.clear()
    settings = get_settings()
    monkeypatch.setattr(settings, "callback_backoff_seconds", 0.05)
    monkeypatch.setattr(settings, "callback_timeout_seconds", 1.0)
    monkeypatch.setattr(settings, "callback_attempts", 5)
    return receiver_server


async def scenario_on(
    api: httpx.AsyncClient, receiver: Receiver, *, status: int = 200, path: str = "/ok"
) -> dict[str, int]:
    """A project, an environment on the receiver, and a one-step scenario that passes (or fails: `status`)."""
    proj = await project(api)
    env = await create(api, f"/api/v1/projects/{proj['id']}/environments", {"name": "local", "base_url": receiver.url})
    case = await create(
        api,
        "/api/v1/cases",
        {
            "project_id": proj["id"],
            "name": "health",
            "method": "GET",
            "url": path,
            "assertions": [{"source": "status_code", "op": "eq", "expected": status}],
        },
    )
    flow = await create(api, "/api/v1/scenarios", {"project_id": proj["id"], "name": "smoke"})
    assert (await api.put(f"/api/v1/scenarios/{flow['id']}/steps", json=[{"case_id": case["id"]}])).status_code == 200
    return {"project": proj["id"], "env": env["id"], "scenario": flow["id"]}
