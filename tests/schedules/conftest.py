"""A real target on 127.0.0.1 for scheduled and triggered runs, a fake code host for commit statuses, and a
project with a one-step scenario to schedule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.conftest import UserFactory, bearer
from tests.factories import create, project
from tests.local_server import serving


@dataclass
class Target:
    """GET /ok answers at once; GET /gate holds each request until `release` is set (a run that goes on)."""

    url: str = ""
    hits: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    statuses: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    notified: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ok", self.ok)
        app.router.add_get("/gate", self.gate)
        app.router.add_post("/repos/{owner}/{repo}/statuses/{sha}", self.status)
        app.router.add_post("/api/v4/projects/{project}/statuses/{sha}", self.status)
        app.router.add_post("/notify", self.notify)
        return app

    async def ok(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.json_response({"code": 0})

    async def gate(self, request: web.Request) -> web.Response:
        self.hits += 1
        self.arrived.set()
        await self.release.wait()
        return web.json_response({"code": 0})

    async def notify(self, request: web.Request) -> web.Response:
        """A notification channel's webhook receiver."""
        self.notified.append(await request.json())
        return web.json_response({"ok": True})

    async def status(self, request: web.Request) -> web.Response:
        """A code host's commit-status API: records the path, headers and JSON body."""
        self.statuses.append((request.path, dict(request.headers), await request.json()))
        return web.json_response({"state": "ok"}, status=201)


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    found = Target()
    async with serving(found.app()) as found.url:
        yield found
    found.release.set()


@dataclass
class Flow:
    project_id: int
    scenario_id: int
    case_id: int
    environment_id: int


async def make_flow(api: httpx.AsyncClient, target: Target, path: str = "/ok", name: str = "nightly") -> Flow:
    """A project with an environment on the target and a one-step scenario calling `path`."""
    proj = await project(api)
    env = await create(api, f"/api/v1/projects/{proj['id']}/environments", {"name": "local", "base_url": target.url})
    case = await create(
        api,
        "/api/v1/cases",
        {
            "project_id": proj["id"],
            "name": "ping",
            "method": "GET",
            "url": path,
            "assertions": [{"source": "status_code", "op": "eq", "expected": 200}],
        },
    )
    scenario = await create(api, "/api/v1/scenarios", {"project_id": proj["id"], "name": name})
    steps = await api.put(f"/api/v1/scenarios/{scenario['id']}/steps", json=[{"case_id": case["id"]}])
    assert steps.status_code == 200, steps.text
    return Flow(proj["id"], scenario["id"], case["id"], env["id"])


@pytest.fixture
async def flow(api: httpx.AsyncClient, target: Target) -> Flow:
    return await make_flow(api, target)


async def add_member(
    api: httpx.AsyncClient, make_user: UserFactory, project_id: int, role: str, email: str
) -> dict[str, str]:
    """A new user with `role` in the project; their bearer header."""
    user = await make_user(email=email)
    added = await api.post(f"/api/v1/projects/{project_id}/members", json={"email": email, "role": role})
    assert added.status_code == 201, added.text
    return bearer(user)
