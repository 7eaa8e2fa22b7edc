"""Secrets through the API (issue 7 items 6 and 7): what a run stores never spells a secret or a value derived
from one, a secret too short to mask is refused when saved, and run variables cannot send a secret elsewhere.

The records are read back the way a user reads them (GET /scenario-runs/{id}, its request-runs and each
request-run's detail) and searched with tests.secret_traces.assert_no_trace. A real echoing target on
127.0.0.1 answers what it was sent; a second one plays the attacker's host and counts what reached it.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import update

from app.core.db import get_session_factory
from app.core.secret_box import seal
from app.models import Environment
from tests.conftest import assert_error
from tests.factories import create, project
from tests.local_server import serving
from tests.runs.conftest import wait_until_finished
from tests.secret_traces import as_text, assert_no_trace

API = "/api/v1"
API_KEY = "Zq7-Api-Key/0042"
PASSWORD = "p@ss w/rd+é&x=1"


class Echo:
    """Answers what it was sent (path, query, headers, body) and remembers every request."""

    def __init__(self) -> None:
        self.url = ""
        self.seen: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.echo)
        return app

    async def echo(self, request: web.Request) -> web.Response:
        seen = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": await request.text(),
        }
        self.seen.append(seen)
        return web.json_response(seen)


async def _serve() -> AsyncIterator[Echo]:
    echo = Echo()
    async with serving(echo.app()) as echo.url:
        yield echo


@pytest.fixture(scope="module")
async def echo_server() -> AsyncIterator[Echo]:
    async for echo in _serve():
        yield echo


@pytest.fixture(scope="module")
async def attacker_server() -> AsyncIterator[Echo]:
    async for echo in _serve():
        yield echo


@pytest.fixture
def echo(echo_server: Echo) -> Echo:
    echo_server.seen.clear()
    return echo_server


@pytest.fixture
def attacker(attacker_server: Echo) -> Echo:
    attacker_server.seen.clear()
    return attacker_server


async def new_case(api: httpx.AsyncClient, project_id: int, name: str, **request: Any) -> int:
    request.setdefault("method", "GET")
    return (await create(api, f"{API}/cases", {"project_id": project_id, "name": name, **request}))["id"]


async def scenario_of(api: httpx.AsyncClient, project_id: int, steps: list[dict[str, Any]], **fields: Any) -> int:
    fields.setdefault("settings", {"stop_on_failure": False})
    flow = await create(api, f"{API}/scenarios", {"project_id": project_id, "name": "leaks", **fields})
    assert (await api.put(f"{API}/scenarios/{flow['id']}/steps", json=steps)).status_code == 200
    return flow["id"]


async def run_and_read(
    api: httpx.AsyncClient, scenario_id: int, env_id: int, **body: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start a run, wait for it, and read back the run and the detail of every request-run it stored."""
    started = await api.post(f"{API}/scenarios/{scenario_id}/runs", json={"environment_id": env_id, **body})
    assert started.status_code == 202, started.text
    run = await wait_until_finished(api, started.json()["id"])
    listed = await api.get(f"{API}/scenario-runs/{run['id']}/request-runs", params={"size": 100})
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    details = [(await api.get(f"{API}/request-runs/{item['id']}")).json() for item in items]
    return run, sorted(details, key=lambda d: (d["iteration"], d["step_key"], d["attempt"]))


def by_name(details: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {detail["name"]: detail for detail in details}


async def test_no_stored_record_spells_a_secret_or_a_value_derived_from_one(api, echo):
    proj = (await project(api))["id"]
    env = await create(
        api,
        f"{API}/projects/{proj}/environments",
        {"name": "prod", "base_url": echo.url, "secret_variables": {"api_key": API_KEY, "password": PASSWORD}},
    )
    derive = await new_case(
        api,
        proj,
        "derive",
        method="POST",
        url="/derive",
        query={"low": "{{lowered}}"},
        headers={"X-Rev": "{{reversed}}"},
        auth={"type": "basic", "username": "ann", "password": "{{password}}"},
        body={"mode": "json", "content": {"slice": "{{sliced}}", "key": "{{api_key}}"}},
        pre_processors=[
            {"type": "set", "name": "reversed", "expression": "vars['api_key'][::-1]"},
            {"type": "set", "name": "sliced", "expression": "vars['api_key'][2:10]"},
            {"type": "set", "name": "lowered", "expression": "vars['api_key'].lower()"},
        ],
        extractors=[
            {"name": "head", "source": "regex", "expression": r'"X-Rev": "(.{8})'},
            {"name": "tail", "source": "regex", "expression": r'"X-Rev": ".{8}(.{8})'},
            {"name": "auth", "source": "body", "expression": "$.headers.Authorization"},
        ],
        post_processors=[{"type": "set", "name": "upper", "expression": "body['query']['low'].upper()"}],
        assertions=[{"source": "body", "expression": "$.query.low", "op": "eq", "expected": "something else"}],
    )
    pieces = await new_case(
        api,
        proj,
        "send pieces",
        method="POST",
        url="/pieces?pw={{password}}",
        body={"mode": "urlencoded", "content": {"h": "{{head}}", "t": "{{tail}}", "u": "{{upper}}"}},
    )
    host = await new_case(api, proj, "secret host", url="http://{{api_key}}.exile-test.invalid/x")
    broken = await new_case(api, proj, "broken skip", url="/never")
    scenario = await scenario_of(
        api,
        proj,
        [
            {"case_id": derive},
            {"case_id": pieces},
            {"case_id": host},
            {"case_id": broken, "skip_if": "vars[vars['api_key'][::-1]] == 1"},
            {"case_id": broken, "skip_if": "vars[vars['password']] == 1"},
        ],
    )
    run, details = await run_and_read(api, scenario, env["id"])

    steps = by_name(details)
    assert steps["derive"]["status"] == "failed"  # sent, and its (masked) failed check recorded
    assert steps["derive"]["extracted"] == {"head": "******", "tail": "******", "auth": "******"}
    assert steps["send pieces"]["status"] == "passed"
    assert steps["secret host"]["status"] == "error" and "******" in steps["secret host"]["error"]
    assert [d["error"] for d in details if d["name"] == "broken skip"] == [
        "broken skip: skip_if could not be evaluated: KeyError (details hidden: the expression read secret data)"
    ] * 2
    # what the target received was the real thing
    first = echo.seen[0]
    assert first["query"] == {"low": API_KEY.lower()} and first["headers"]["X-Rev"] == API_KEY[::-1]
    assert first["headers"]["Authorization"] == "Basic " + base64.b64encode(f"ann:{PASSWORD}".encode()).decode()
    assert echo.seen[1]["query"] == {"pw": PASSWORD}

    derived = [API_KEY[::-1], API_KEY[2:10], API_KEY.upper(), API_KEY[::-1][:8], API_KEY[::-1][8:16]]
    for stored in [run, *details]:
        assert_no_trace(as_text(stored), API_KEY, PASSWORD, *derived)
    assert run["status"] in ("failed", "error") and run["error"]


async def test_a_secret_shorter_than_six_characters_is_refused_when_saved(api):
    proj = (await project(api))["id"]
    path = f"{API}/projects/{proj}/environments"
    error = assert_error(await api.post(path, json={"name": "e", "secret_variables": {"pin": "x"}}), 422)
    assert error["details"][0]["loc"] == ["body", "secret_variables", "pin"]
    assert "secret_variables.pin" in error["message"] and "at least 6 characters" in error["message"]
    assert "'x'" not in str(error)  # the refused value is not echoed back

    env = await create(api, path, {"name": "e", "secret_variables": {"pin": "123456", "token": "tok-000001"}})
    env_path = f"{API}/environments/{env['id']}"
    error = assert_error(await api.patch(env_path, json={"version": 1, "secret_variables": {"token": "abc"}}), 422)
    assert error["details"][0]["loc"] == ["body", "secret_variables", "token"]
    # the merge patch still works: the mask keeps, null removes, a long enough value replaces
    patched = await api.patch(
        env_path, json={"version": 1, "secret_variables": {"pin": "******", "token": None, "new": "new-secret"}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["secret_variables"] == {"pin": "******", "new": "******"}
    assert (await api.post(path, json={"name": "empty", "secret_variables": {"unset": ""}})).status_code == 201


async def test_a_run_with_a_secret_saved_before_the_minimum_sends_nothing(api, echo):
    proj = (await project(api))["id"]
    env = await create(
        api, f"{API}/projects/{proj}/environments", {"name": "old", "base_url": echo.url, "secret_variables": {}}
    )
    async with get_session_factory()() as session:  # as a database from before the rule could hold it
        await session.execute(
            update(Environment).where(Environment.id == env["id"]).values(secret_variables={"pin": seal("7")})
        )
        await session.commit()
    case = await new_case(api, proj, "uses pin", url="/x?pin={{pin}}")
    scenario = await scenario_of(api, proj, [{"case_id": case}])
    run, details = await run_and_read(api, scenario, env["id"])
    assert run["status"] == "error" and "secret 'pin' is shorter than 6 characters" in run["error"]
    assert details == [] and echo.seen == []


async def test_run_variables_cannot_send_the_environments_secret_to_their_host(api, echo, attacker):
    proj = (await project(api))["id"]
    env = await create(
        api,
        f"{API}/projects/{proj}/environments",
        {"name": "prod", "variables": {"host": echo.url}, "secret_variables": {"api_key": API_KEY}},
    )
    case = await new_case(api, proj, "call", url="{{host}}/orders", headers={"X-Api-Key": "{{api_key}}"})
    scenario = await scenario_of(api, proj, [{"case_id": case}])

    run, details = await run_and_read(api, scenario, env["id"], variables={"host": f"{attacker.url}/"})
    assert attacker.seen == [] and echo.seen == []  # nothing reached the attacker's host (nor anyone)
    [step] = details
    assert step["status"] == "error" and "the run's variables change where it goes" in step["error"]
    assert run["status"] != "passed" and "the run's variables change where it goes" in run["error"]
    assert_no_trace(as_text([run, *details]), API_KEY)

    # the environment's host works, and run variables that do not move the request are fine
    run, _ = await run_and_read(api, scenario, env["id"], variables={"note": "x"})
    assert run["status"] == "passed" and echo.seen[-1]["headers"]["X-Api-Key"] == API_KEY


async def test_a_host_the_scenario_gives_carries_the_secret(api, echo, attacker):
    proj = (await project(api))["id"]
    env = await create(
        api, f"{API}/projects/{proj}/environments", {"name": "prod", "secret_variables": {"api_key": API_KEY}}
    )
    case = await new_case(api, proj, "call", url="{{host}}/orders", headers={"X-Api-Key": "{{api_key}}"})
    scenario = await scenario_of(api, proj, [{"case_id": case}], variables={"host": echo.url})
    run, _ = await run_and_read(api, scenario, env["id"])
    assert run["status"] == "passed" and echo.seen[0]["headers"]["X-Api-Key"] == API_KEY
    run, _ = await run_and_read(api, scenario, env["id"], variables={"host": attacker.url})
    assert run["status"] != "passed" and attacker.seen == []
