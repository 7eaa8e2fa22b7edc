"""follow_redirects per case through the API (issue 7 item 25): saved, read back, loaded into runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.factories import create, project
from tests.local_server import serving

API = "/api/v1"


@pytest.fixture(scope="module")
async def redirecting() -> AsyncIterator[str]:
    """/login answers 302 to /home with a session cookie; /home says which session it got."""

    async def login(_request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/home", "Set-Cookie": "session=s-1; Path=/"})

    async def home(request: web.Request) -> web.Response:
        return web.json_response({"session": request.cookies.get("session")})

    app = web.Application()
    app.router.add_get("/login", login)
    app.router.add_get("/home", home)
    async with serving(app) as url:
        yield url


async def test_a_case_can_stop_at_the_redirect_or_follow_it_with_the_hops_recorded(api, redirecting):
    proj = (await project(api))["id"]
    env = await create(api, f"{API}/projects/{proj}/environments", {"name": "e", "base_url": redirecting})
    case = await create(
        api,
        f"{API}/cases",
        {
            "project_id": proj,
            "name": "login",
            "method": "GET",
            "url": "/login",
            "follow_redirects": False,
            "assertions": [
                {"source": "status_code", "expected": 302},
                {"source": "header", "expression": "Location", "expected": "/home"},
            ],
        },
    )
    assert case["follow_redirects"] is False
    assert (await api.get(f"{API}/cases/{case['id']}")).json()["follow_redirects"] is False

    sent = (await api.post(f"{API}/cases/{case['id']}/run", json={"environment_id": env["id"]})).json()
    [item] = sent["items"]
    assert item["status"] == "passed", item["assertions"]
    assert item["response"]["status"] == 302 and item["response"]["redirects"] == []

    patched = await api.patch(
        f"{API}/cases/{case['id']}",
        json={
            "version": case["version"],
            "follow_redirects": True,
            "assertions": [{"source": "body", "expression": "$.session", "expected": "s-1"}],
        },
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["follow_redirects"] is True
    sent = (await api.post(f"{API}/cases/{case['id']}/run", json={"environment_id": env["id"]})).json()
    [item] = sent["items"]
    assert item["status"] == "passed", item["assertions"]  # the cookie set on the 302 reached /home
    assert item["response"]["status"] == 200
    assert item["response"]["redirects"] == [{"status": 302, "url": f"{redirecting}/login", "location": "/home"}]


async def test_follow_redirects_defaults_to_true(api):
    proj = (await project(api))["id"]
    case = await create(api, f"{API}/cases", {"project_id": proj, "name": "c", "method": "GET", "url": "/x"})
    assert case["follow_redirects"] is True
