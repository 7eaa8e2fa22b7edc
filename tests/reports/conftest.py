"""Report tests run real scenarios against a real HTTP target (the run tests' one, and a phased one here)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import delete, select, update

from app.core.db import get_session_factory
from app.models import ReportRollup, ReportRollupDuration, ScenarioRun
from tests.factories import create, project
from tests.local_server import serving
from tests.runs.conftest import target, target_server, wait_until_finished  # noqa: F401  (fixtures)

API = "/api/v1"


class Phased:
    """Four endpoints whose answers change by phase: /a breaks then is fixed, /b breaks later, /c gains a
    field, /d changes only its ids and timestamps."""

    def __init__(self) -> None:
        self.phase = 0

    def app(self) -> web.Application:
        app = web.Application()
        for name in "abcd":
            app.router.add_get(f"/{name}", self.answer)
        return app

    async def answer(self, request: web.Request) -> web.Response:
        name, phase = request.path.strip("/"), self.phase
        if (name == "a" and phase == 1) or (name == "b" and phase == 2):
            return web.json_response({"ok": False, "error": f"order {uuid.uuid4()} not found"}, status=500)
        body: dict[str, Any] = {"ok": True, "total": 3}
        if name == "c" and phase == 2:
            body["discount"] = 0.1
        if name == "d":
            body |= {"id": str(uuid.uuid4()), "created_at": datetime.now(UTC).isoformat()}
        return web.json_response(body)


@pytest.fixture
async def phased() -> AsyncIterator[Phased]:
    answering = Phased()
    async with serving(answering.app()) as answering.url:  # type: ignore[attr-defined]
        yield answering


async def phased_flow(api: httpx.AsyncClient, base_url: str, **scenario: Any) -> dict[str, int]:
    proj = await project(api)
    env = await create(api, f"{API}/projects/{proj['id']}/environments", {"name": "local", "base_url": base_url})
    steps = []
    ids = {}
    for name in "abcd":
        case = await create(
            api,
            f"{API}/cases",
            {
                "project_id": proj["id"],
                "name": f"step {name}",
                "method": "GET",
                "url": f"/{name}",
                "assertions": [
                    {"source": "status_code", "expected": 200},
                    {"source": "body", "expression": "$.ok", "expected": True},
                ],
            },
        )
        ids[name] = case["id"]
        steps.append({"case_id": case["id"]})
    flow = await create(
        api,
        f"{API}/scenarios",
        {"project_id": proj["id"], "name": "phased", "settings": {"stop_on_failure": False}, **scenario},
    )
    assert (await api.put(f"{API}/scenarios/{flow['id']}/steps", json=steps)).status_code == 200
    return {"project": proj["id"], "env": env["id"], "scenario": flow["id"], **ids}


async def run_to_end(api: httpx.AsyncClient, ids: dict[str, int]) -> dict[str, Any]:
    response = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    assert response.status_code == 202, response.text
    return await wait_until_finished(api, response.json()["id"])


async def rollup_table_rows() -> list[tuple[Any, ...]]:
    rows = []
    async with get_session_factory()() as session:
        for model in (ReportRollup, ReportRollupDuration):
            columns = [c for c in model.__table__.columns if c.name != "id"]
            rows += [(model.__tablename__, *row) for row in await session.execute(select(*columns))]
    return sorted(rows, key=repr)


async def forget_rollups() -> None:
    """No roll-up rows and no run counted: what a rebuild starts from."""
    async with get_session_factory()() as session:
        await session.execute(delete(ReportRollup))
        await session.execute(delete(ReportRollupDuration))
        await session.execute(update(ScenarioRun).values(rolled_up=False))
        await session.commit()
