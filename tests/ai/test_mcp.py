"""The MCP server as an agent meets it: the SDK's own client, over /mcp (the app over ASGI) and over stdio
(`exile mcp` in a subprocess), against real local targets, acting with real tokens."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from aiohttp import web
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent

from app.main import app
from app.models import ApiRequest, TestScenario
from tests.conftest import TEST_DATA_DIR, TEST_DATABASE_URL, assert_error, bearer, count_rows
from tests.factories import create, project
from tests.local_server import serving

API = "/api/v1"
LIST_PROJECTS = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "list_projects", "arguments": {}},
}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}
AGENT_ADDRESS = "203.0.113.7"
TOOLS = {
    "list_projects",
    "list_environments",
    "list_cases",
    "get_case",
    "create_case",
    "list_scenarios",
    "get_scenario",
    "create_scenario",
    "start_scenario_run",
    "wait_for_run",
    "get_run_report",
    "get_failure_clusters",
}


class Target:
    """A service under test: /ping passes, /boom answers 500, /hold waits until the test lets it go."""

    def __init__(self) -> None:
        self.url = ""
        self.release = asyncio.Event()

    def app(self) -> web.Application:
        target = web.Application()
        target.router.add_get("/ping", self.ping)
        target.router.add_get("/boom", self.boom)
        target.router.add_get("/hold", self.hold)
        return target

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def boom(self, request: web.Request) -> web.Response:
        return web.json_response({"error": "stock service unavailable"}, status=500)

    async def hold(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.json_response({"ok": True})


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    service = Target()
    async with serving(service.app()) as service.url:
        try:
            yield service
        finally:
            service.release.set()  # a held request ends before the server stops


def over_http(token: str | None, mode: str = "auto") -> Any:
    """The SDK's client over /mcp of the app in this process (no network), sending `token` if given.

    `auto` speaks the newest protocol; `legacy` the initialize handshake most agents still use.
    """

    @asynccontextmanager
    async def connected() -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx2.ASGITransport(app=app, client=(AGENT_ADDRESS, 4711))
        async with httpx2.AsyncClient(transport=transport, headers=headers, timeout=120) as http:
            async with Client(streamable_http_client("http://exile.test/mcp", http_client=http), mode=mode) as client:
                yield client

    return connected()


def text_of(result: CallToolResult) -> str:
    [content] = result.content
    assert isinstance(content, TextContent)
    return content.text


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """A tool's JSON answer; the call must succeed."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return json.loads(text_of(result))


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    """A tool's error text; the call must fail as a tool error (never a protocol error)."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, text_of(result)
    return text_of(result)


async def api_token(api: httpx.AsyncClient, project_id: int, role: str) -> str:
    created = await create(api, f"{API}/projects/{project_id}/tokens", {"name": f"agent-{role}", "role": role})
    return created["token"]


async def project_with_target(api: httpx.AsyncClient, target: Target) -> tuple[int, int]:
    proj = await project(api)
    env = await create(api, f"{API}/projects/{proj['id']}/environments", {"name": "local", "base_url": target.url})
    return proj["id"], env["id"]


async def test_an_agent_builds_a_flow_runs_it_and_reads_what_failed(api, user, target):
    project_id, env_id = await project_with_target(api, target)
    async with over_http(bearer(user)["Authorization"].removeprefix("Bearer ")) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS

        projects = await call(client, "list_projects")
        assert [item["id"] for item in projects["items"]] == [project_id] and projects["total"] == 1
        [environment] = await call(client, "list_environments", project_id=project_id)
        assert environment["base_url"] == target.url

        ping = await call(
            client,
            "create_case",
            project_id=project_id,
            name="ping",
            url="/ping",
            assertions=[{"source": "body", "expression": "$.ok", "op": "eq", "expected": True}],
        )
        boom = await call(
            client,
            "create_case",
            project_id=project_id,
            name="reserve stock",
            method="GET",
            url="/boom",
            assertions=[{"source": "status_code", "op": "eq", "expected": 200}],
            more={"timeout_ms": 5000},
        )
        assert ping["owner_id"] == user.id and boom["timeout_ms"] == 5000
        assert (await call(client, "get_case", case_id=boom["id"]))["url"] == "/boom"
        listed = await call(client, "list_cases", project_id=project_id)
        assert {item["name"] for item in listed["items"]} == {"ping", "reserve stock"}

        created = await call(
            client,
            "create_scenario",
            project_id=project_id,
            name="checkout",
            settings={"stop_on_failure": False},
            steps=[{"case_id": ping["id"]}, {"case_id": boom["id"], "alias": "reserve"}],
        )
        scenario_id = created["scenario"]["id"]
        shown = await call(client, "get_scenario", scenario_id=scenario_id)
        assert [step["case_id"] for step in shown["steps"]] == [ping["id"], boom["id"]]
        assert (await call(client, "list_scenarios", project_id=project_id))["total"] == 1

        started = await call(client, "start_scenario_run", scenario_id=scenario_id, environment_id=env_id)
        assert started["status"] == "queued" and started["scenario_id"] == scenario_id
        ended = await call(client, "wait_for_run", run_id=started["id"], timeout_seconds=120)
        assert ended["finished"] is True and ended["status"] == "failed"
        assert ended["requests"]["passed"] == 1 and ended["requests"]["failed"] == 1

        report = await call(client, "get_run_report", run_id=started["id"])
        assert report["run"]["status"] == "failed" and report["failed_steps_total"] == 1
        [failure] = report["failed_steps"]
        assert failure["case_id"] == boom["id"] and failure["status"] == "failed"
        [check] = failure["failed_checks"]
        assert check["source"] == "status_code" and check["expected"] == 200 and check["actual"] == 500
        assert failure["request"] == {"method": "GET", "url": f"{target.url}/boom"}
        assert failure["response"]["status"] == 500
        assert "stock service unavailable" in failure["response"]["body_excerpt"]

        clusters = await call(client, "get_failure_clusters", project_id=project_id)
        assert [cluster["case_ids"] for cluster in clusters["clusters"]] == [[boom["id"]]]

    # Done as the token's user, so the audit trail names them, and the agent's address.
    trail = (await api.get(f"{API}/audit", params={"project_id": project_id, "entity": "case"})).json()["items"]
    assert len(trail) == 2
    assert {(entry["actor"], entry["ip"]) for entry in trail} == {(user.email, AGENT_ADDRESS)}


async def test_a_viewer_token_reads_but_its_writes_come_back_with_the_apis_refusal(api, target):
    project_id, _ = await project_with_target(api, target)
    viewer = await api_token(api, project_id, "viewer")
    async with over_http(viewer, mode="legacy") as client:
        assert (await call(client, "list_projects"))["items"][0]["id"] == project_id
        message = await refused(client, "create_case", project_id=project_id, name="nope", url="/ping")
        assert "HTTP 403 forbidden" in message
        assert f"your role in project {project_id} is 'viewer'" in message
        message = await refused(client, "create_scenario", project_id=project_id, name="nope")
        assert "HTTP 403 forbidden" in message
    assert await count_rows(ApiRequest) == 0 and await count_rows(TestScenario) == 0


async def test_bad_input_and_unknown_ids_answer_with_the_apis_message_naming_the_field(api, user):
    proj = await project(api)
    async with over_http(bearer(user)["Authorization"].removeprefix("Bearer ")) as client:
        message = await refused(client, "create_case", project_id=proj["id"], name="x", url="/x", method="FETCH")
        assert "HTTP 422 validation_error" in message and "body.method" in message
        assert "HTTP 404 not_found: case 987654 not found" in await refused(client, "get_case", case_id=987654)
        assert "Traceback" not in message
        # Out of the tool's own bounds: refused before the API is asked.
        assert "page_size" in await refused(client, "list_cases", page_size=500)


async def test_a_scenario_whose_steps_are_refused_is_not_left_behind(api, user):
    proj = await project(api)
    async with over_http(bearer(user)["Authorization"].removeprefix("Bearer ")) as client:
        message = await refused(
            client, "create_scenario", project_id=proj["id"], name="flow", steps=[{"case_id": 424242}]
        )
        assert "nothing was created" in message and "424242" in message
    assert await count_rows(TestScenario) == 0


async def test_long_values_are_cut_and_say_how_much_was_hidden(api, user):
    proj = await project(api)
    long_text = "x" * 30_000
    case = await create(
        api,
        f"{API}/cases",
        {
            "project_id": proj["id"],
            "name": "big",
            "method": "POST",
            "url": "/big",
            "body": {"mode": "raw", "content": long_text},
        },
    )
    async with over_http(bearer(user)["Authorization"].removeprefix("Bearer ")) as client:
        result = await client.call_tool("get_case", {"case_id": case["id"]})
        shown = json.loads(text_of(result))
        assert shown["body"]["content"].endswith(f"… [{30_000 - 2_000} more characters]")
        assert len(text_of(result)) < 10_000


async def test_waiting_is_bounded_and_says_when_the_run_has_not_ended(api, user, target):
    project_id, env_id = await project_with_target(api, target)
    hold = await create(
        api, f"{API}/cases", {"project_id": project_id, "name": "hold", "method": "GET", "url": "/hold"}
    )
    async with over_http(bearer(user)["Authorization"].removeprefix("Bearer ")) as client:
        created = await call(
            client, "create_scenario", project_id=project_id, name="slow", steps=[{"case_id": hold["id"]}]
        )
        run = await call(client, "start_scenario_run", scenario_id=created["scenario"]["id"], environment_id=env_id)
        waited = await call(client, "wait_for_run", run_id=run["id"], timeout_seconds=0.5)
        assert waited["finished"] is False and waited["status"] in ("queued", "running")
        running = await call(client, "get_run_report", run_id=run["id"])
        assert running["note"].startswith("the run is still")
        target.release.set()
        ended = await call(client, "wait_for_run", run_id=run["id"], timeout_seconds=120)
        assert ended["finished"] is True and ended["status"] == "passed"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-jwt", "Bearer exl_unknown-token", "Basic cXFAZXhhbXBsZS5jb206eA=="],
)
async def test_mcp_over_http_without_a_valid_token_is_401_before_any_tool_runs(client, authorization):
    headers = {**MCP_ACCEPT, **({"Authorization": authorization} if authorization else {})}
    response = await client.post("/mcp", json=LIST_PROJECTS, headers=headers)
    assert_error(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_mcp_over_http_is_post_only_since_it_keeps_no_session(client, user):
    for method in ("GET", "DELETE"):
        response = await client.request(method, "/mcp", headers={**MCP_ACCEPT, **bearer(user)})
        assert_error(response, 405, "method_not_allowed")
        assert response.headers["allow"] == "POST"


async def test_a_revoked_token_is_refused_on_the_next_request(api, client, target):
    project_id, _ = await project_with_target(api, target)
    raw = await api_token(api, project_id, "editor")
    [listed] = (await api.get(f"{API}/projects/{project_id}/tokens")).json()
    async with over_http(raw) as agent:
        assert (await call(agent, "list_projects"))["total"] == 1
        assert (await api.delete(f"{API}/tokens/{listed['id']}")).status_code == 204
        with pytest.raises(MCPError):  # the SDK's client reports the HTTP refusal as an error response
            await agent.call_tool("list_projects", {})
    response = await client.post("/mcp", json=LIST_PROJECTS, headers={**MCP_ACCEPT, "Authorization": f"Bearer {raw}"})
    error = assert_error(response, 401, "not_authenticated")
    assert error["message"] == "The API token is unknown, revoked or expired"


# --- stdio: `exile mcp` as a subprocess --------------------------------------------------------------------------


EXILE = str(Path(sys.executable).with_name("exile"))


def stdio_env(**extra: str) -> dict[str, str]:
    """The subprocess's settings: the test database and key, nothing inherited that could point elsewhere."""
    return {
        "DATABASE_URL": TEST_DATABASE_URL,
        "EXILE_DATA_DIR": TEST_DATA_DIR,
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "ENVIRONMENT": "development",
        "RETENTION_INTERVAL_SECONDS": "0",
        **extra,
    }


@asynccontextmanager
async def exile_server() -> AsyncIterator[str]:
    """The app behind a real uvicorn on 127.0.0.1, for `exile mcp` with EXILE_URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    serve = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not serve.done(), serve.exception()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serve
        sock.close()


async def list_projects_over_stdio(env: dict[str, str]) -> dict[str, Any]:
    params = StdioServerParameters(command=EXILE, args=["mcp"], env=env, cwd=TEST_DATA_DIR)
    async with Client(params, read_timeout_seconds=120) as client:
        assert "create_case" in {tool.name for tool in (await client.list_tools()).tools}
        return await call(client, "list_projects")


async def test_exile_mcp_over_stdio_talks_to_a_running_server(api):
    proj = await project(api)
    token = await api_token(api, proj["id"], "editor")
    async with exile_server() as url:
        listed = await list_projects_over_stdio(stdio_env(EXILE_TOKEN=token, EXILE_URL=url))
    assert [item["name"] for item in listed["items"]] == ["shop"]


async def test_mcp_over_http_through_a_real_server(api, user):
    await project(api)
    async with exile_server() as url, httpx2.AsyncClient(headers=bearer(user), timeout=60) as http:
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as agent:
            listed = await call(agent, "list_projects")
    assert [item["name"] for item in listed["items"]] == ["shop"]


async def test_exile_mcp_over_stdio_runs_the_app_in_process_on_the_configured_database(api):
    proj = await project(api)
    token = await api_token(api, proj["id"], "viewer")
    listed = await list_projects_over_stdio(stdio_env(EXILE_TOKEN=token))
    assert [item["id"] for item in listed["items"]] == [proj["id"]]


async def run_exile_mcp(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        EXILE,
        "mcp",
        env={"PATH": os.environ["PATH"], **env},
        cwd=TEST_DATA_DIR,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert stdout == b""  # stdout is the agent's channel: a refusal says nothing there
    return process.returncode or 0, stderr.decode()


async def test_exile_mcp_without_a_token_says_so_and_exits_2():
    code, stderr = await run_exile_mcp(stdio_env())
    assert code == 2 and "EXILE_TOKEN is not set" in stderr


async def test_exile_mcp_with_a_refused_token_gives_the_apis_message_and_exits_2():
    async with exile_server() as url:
        code, stderr = await run_exile_mcp(stdio_env(EXILE_TOKEN="exl_not-a-real-token", EXILE_URL=url))
    assert code == 2
    assert "refused EXILE_TOKEN: HTTP 401 not_authenticated: The API token is unknown, revoked or expired" in stderr
