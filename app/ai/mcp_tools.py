"""The MCP tools a coding agent uses on projects, cases, scenarios, runs and failure clusters (served over stdio
and HTTP by app/ai/mcp_server.py).

Every tool calls Exile's own REST API (`/api/v1`) with the caller's bearer token, so permissions, validation,
visibility and the audit log are the API's by construction, and an API error reaches the agent as a tool error
carrying the API's message. What a tool returns is compact JSON cut to a size an agent's context can take.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Annotated, Any

import httpx
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from app.engine.statuses import FINISHED

MAX_TEXT = 2_000  # characters kept of any one string in a result
MAX_ITEMS = 50  # items kept of any one list or object in a result
MAX_DEPTH = 12
MAX_RESULT = 40_000  # characters of a whole result
MAX_WAIT_SECONDS = 300
DETAILED_FAILURES = 5  # failed steps shown with their request and response
BODY_EXCERPT = 500

INSTRUCTIONS = (
    "Exile keeps API test cases, scenarios (ordered steps, each running a case) and their runs. A usual session: "
    "list_projects; list_environments (the base URL a case's relative url joins); list_cases / create_case; "
    "create_scenario with steps [{case_id}, ...]; start_scenario_run; wait_for_run (bounded; call again while "
    "finished is false); get_run_report for counts and failed steps; get_failure_clusters for recurring causes. "
    "You act as the token's user: what it may not do is refused with the API's message."
)


class ExileApi:
    """Exile's REST API as one caller: answers are JSON, errors are ToolErrors with the API's message."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """One request under /api/v1; query parameters that are None are left out."""
        query = {name: value for name, value in (params or {}).items() if value is not None}
        try:
            response = await self.http.request(
                method, f"/api/v1{path}", params=query, json=body if method in ("POST", "PUT", "PATCH") else None
            )
        except httpx.HTTPError as exc:
            raise ToolError(f"Exile did not answer: {type(exc).__name__}: {exc}"[:MAX_TEXT]) from None
        if response.status_code >= 400:
            raise ToolError(api_error_message(response))
        return response.json() if response.content else None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params)


def api_error_message(response: httpx.Response) -> str:
    """`HTTP 403 forbidden: <the API's message>; <field>: <why>`: what the API said, never a traceback."""
    try:
        error = response.json()["error"]
        message = f"HTTP {response.status_code} {error['code']}: {error['message']}"
        details = [item for item in error.get("details") or [] if isinstance(item, dict)]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:BODY_EXCERPT]}"
    reasons = [f"{'.'.join(str(part) for part in item.get('loc') or [])}: {item.get('msg')}" for item in details[:10]]
    if len(details) > 10:
        reasons.append(f"and {len(details) - 10} more")
    return (message + ("; " + "; ".join(reasons) if reasons else ""))[:MAX_TEXT]


# Who the current tool call acts for: set by app/ai/mcp_server.py per HTTP request (each runs its own MCP
# server loop, so the tasks it spawns inherit it) or once for a stdio process.
caller: ContextVar[ExileApi] = ContextVar("exile_mcp_caller")


def _api() -> ExileApi:
    try:
        return caller.get()
    except LookupError:
        raise ToolError("this MCP server is not connected to Exile with a caller's token") from None


def fit(value: Any, depth: int = 0) -> Any:
    """The value with long strings cut and long lists and objects shortened, each cut saying how much it hid."""
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else f"{value[:MAX_TEXT]}… [{len(value) - MAX_TEXT} more characters]"
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return "… [nested too deep to show]"
    if isinstance(value, dict):
        kept = {str(key): fit(item, depth + 1) for key, item in list(value.items())[:MAX_ITEMS]}
        if len(value) > MAX_ITEMS:
            kept["…"] = f"{len(value) - MAX_ITEMS} more keys"
        return kept
    if isinstance(value, list):
        items = [fit(item, depth + 1) for item in value[:MAX_ITEMS]]
        return items + ([f"… {len(value) - MAX_ITEMS} more items"] if len(value) > MAX_ITEMS else [])
    return value


def as_result(value: Any) -> str:
    """Compact JSON of the fitted value, and never more than MAX_RESULT characters."""
    text = json.dumps(fit(value), ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) > MAX_RESULT:
        text = f"{text[:MAX_RESULT]}… [result cut at {MAX_RESULT} of {len(text)} characters]"
    return text


def _pick(item: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {key: item.get(key) for key in keys}


def _page(found: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    keys = tuple(keys)
    return {
        "items": [_pick(item, keys) for item in found["items"]],
        "total": found["total"],
        "page": found["page"],
        "page_size": found["page_size"],
    }


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _quietly_built() -> MCPServer:
    # MCPServer() calls logging.basicConfig (INFO, a rich handler) on the root logger: Exile's process logging,
    # which this module is imported into, is not the SDK's to change.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return MCPServer("exile", instructions=INSTRUCTIONS, log_level="WARNING")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


mcp = _quietly_built()
READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)

Id = Annotated[int, Field(ge=1)]
PageNumber = Annotated[int, Field(ge=1, le=10_000, description="1-based page")]
PageSize = Annotated[int, Field(ge=1, le=MAX_ITEMS, description=f"items per page, at most {MAX_ITEMS}")]
JsonObject = dict[str, Any]

PROJECT_FIELDS = ("id", "name", "description", "updated_at")
CASE_FIELDS = ("id", "project_id", "name", "method", "url", "status", "visibility", "tags", "version", "updated_at")
SCENARIO_FIELDS = ("id", "project_id", "name", "description", "status", "visibility", "tags", "version", "updated_at")
RUN_FIELDS = (
    "id", "status", "kind", "project_id", "scenario_id", "case_id", "environment_id", "trigger", "requests",
    "iterations", "created_at", "started_at", "finished_at", "duration_ms", "error", "cancel_requested",
)  # fmt: skip


@mcp.tool(annotations=READS, structured_output=False)
async def list_projects(page: PageNumber = 1, page_size: PageSize = 20) -> str:
    """The projects you belong to: id, name, description."""
    return as_result(_page(await _api().get("/projects", page=page, page_size=page_size), PROJECT_FIELDS))


@mcp.tool(annotations=READS, structured_output=False)
async def list_environments(project_id: Id) -> str:
    """A project's environments: base_url (a case url starting with / joins it) and variables (secrets masked)."""
    environments = await _api().get(f"/projects/{project_id}/environments")
    keys = ("id", "name", "base_url", "variables", "secret_variables", "verify_tls")
    return as_result([_pick(environment, keys) for environment in environments])


@mcp.tool(annotations=READS, structured_output=False)
async def list_cases(
    project_id: Id | None = None,
    q: Annotated[str | None, Field(description="text in the name or description")] = None,
    tag: str | None = None,
    status: Annotated[str | None, Field(description="draft, active or archived")] = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> str:
    """Test cases you may see (newest first), in one project or all of yours; get_case shows one in full."""
    found = await _api().get(
        "/cases", project_id=project_id, q=q, tag=tag, status=status, page=page, page_size=page_size
    )
    return as_result(_page(found, CASE_FIELDS))


@mcp.tool(annotations=READS, structured_output=False)
async def get_case(case_id: Id) -> str:
    """One test case in full: request, extractors, assertions, processors, retry, poll."""
    return as_result(await _api().get(f"/cases/{case_id}"))


@mcp.tool(annotations=WRITES, structured_output=False)
async def create_case(
    project_id: Id,
    name: str,
    url: Annotated[str, Field(description="absolute, or starting with / to join the environment's base_url")],
    method: str = "GET",
    headers: dict[str, str] | None = None,
    query: JsonObject | None = None,
    body: Annotated[
        JsonObject | None, Field(description='{"mode": "none|json|raw|urlencoded|form", "content": ...}')
    ] = None,
    auth: Annotated[JsonObject | None, Field(description='{"type": "none|bearer|basic|api_key", ...}')] = None,
    extractors: Annotated[
        list[JsonObject] | None,
        Field(description='[{"name", "source": "body|header|cookie|status_code|regex|text", "expression"}]'),
    ] = None,
    assertions: Annotated[
        list[JsonObject] | None,
        Field(
            description='[{"source": "status_code|body|header|text|response_time_ms|json_schema|expression", '
            '"expression", "op": "eq|ne|gt|ge|lt|le|between|in|contains|regex|exists|type|length|...", "expected"}]'
        ),
    ] = None,
    description: str | None = None,
    tags: list[str] | None = None,
    visibility: Annotated[str | None, Field(description="private, project (default) or public")] = None,
    status: Annotated[str | None, Field(description="draft, active (default) or archived")] = None,
    more: Annotated[
        JsonObject | None,
        Field(
            description="other case fields: pre_processors, post_processors, poll, timeout_ms, retry, "
            "follow_redirects, run_permission (the named arguments win over the same keys here)"
        ),
    ] = None,
) -> str:
    """Create a test case (an HTTP request with checks) in a project you may edit; `{{name}}` templates work in
    url, headers, query, body and auth. Answers the case as stored."""
    fields = {
        **(more or {}),
        **_given(
            project_id=project_id, name=name, method=method, url=url, headers=headers, query=query, body=body,
            auth=auth, extractors=extractors, assertions=assertions, description=description, tags=tags,
            visibility=visibility, status=status,
        ),
    }  # fmt: skip
    return as_result(await _api().call("POST", "/cases", body=fields))


@mcp.tool(annotations=READS, structured_output=False)
async def list_scenarios(
    project_id: Id | None = None,
    q: Annotated[str | None, Field(description="text in the name or description")] = None,
    tag: str | None = None,
    status: Annotated[str | None, Field(description="draft, active or archived")] = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> str:
    """Scenarios (business flows) you may see, newest first; get_scenario shows one with its steps."""
    found = await _api().get(
        "/scenarios", project_id=project_id, q=q, tag=tag, status=status, page=page, page_size=page_size
    )
    return as_result(_page(found, SCENARIO_FIELDS))


@mcp.tool(annotations=READS, structured_output=False)
async def get_scenario(scenario_id: Id) -> str:
    """One scenario with its settings, variables, setup, teardown and ordered steps."""
    api = _api()
    scenario = await api.get(f"/scenarios/{scenario_id}")
    steps = await api.get(f"/scenarios/{scenario_id}/steps")
    return as_result({"scenario": scenario, "steps": steps})


@mcp.tool(annotations=WRITES, structured_output=False)
async def create_scenario(
    project_id: Id,
    name: str,
    steps: Annotated[
        list[JsonObject] | None,
        Field(
            description='ordered steps: [{"case_id", "alias"?, "enabled"?, "skip_if"?, "variables"?, '
            '"dataset_mode"?: "none|all|selected", "dataset_ids"?}]; each runs a case of the same project'
        ),
    ] = None,
    data_rows: Annotated[
        list[JsonObject] | None,
        Field(description='data rows, one iteration of the whole flow each: [{"name", "variables": {...}}]'),
    ] = None,
    description: str | None = None,
    variables: JsonObject | None = None,
    settings: Annotated[
        JsonObject | None,
        Field(description='{"concurrency", "stop_on_failure", "timeout_ms", "retry": {...}, "rate_limit": {...}}'),
    ] = None,
    setup: Annotated[list[JsonObject] | None, Field(description="steps run once before all iterations")] = None,
    teardown: Annotated[list[JsonObject] | None, Field(description="steps run once after all iterations")] = None,
    tags: list[str] | None = None,
    visibility: Annotated[str | None, Field(description="private, project (default) or public")] = None,
    status: Annotated[str | None, Field(description="draft, active (default) or archived")] = None,
) -> str:
    """Create a scenario with its steps and data rows in a project you may edit. All or nothing: when the API
    refuses the steps or rows, the scenario just created is deleted again and the refusal is the error."""
    api = _api()
    fields = _given(
        project_id=project_id, name=name, description=description, variables=variables, settings=settings,
        setup=setup, teardown=teardown, tags=tags, visibility=visibility, status=status,
    )  # fmt: skip
    scenario = await api.call("POST", "/scenarios", body=fields)
    scenario_id = scenario["id"]
    try:
        saved_steps = await api.call("PUT", f"/scenarios/{scenario_id}/steps", body=steps) if steps else []
        saved_rows = await api.call("PUT", f"/scenarios/{scenario_id}/datasets", body=data_rows) if data_rows else []
    except ToolError as refused:
        try:
            await api.call("DELETE", f"/scenarios/{scenario_id}")
        except ToolError as kept:
            raise ToolError(f"{refused}; scenario {scenario_id} was created and could not be deleted: {kept}") from None
        raise ToolError(f"{refused} (nothing was created)") from None
    if steps or data_rows:
        scenario = await api.get(f"/scenarios/{scenario_id}")  # its version moved with the steps and rows
    return as_result({"scenario": scenario, "steps": saved_steps, "data_rows": saved_rows})


@mcp.tool(annotations=WRITES, structured_output=False)
async def start_scenario_run(
    scenario_id: Id,
    environment_id: Id | None = None,
    variables: Annotated[JsonObject | None, Field(description="values for this run, over the scenario's")] = None,
    concurrency: Annotated[int | None, Field(ge=1, le=256, description="iterations at once")] = None,
) -> str:
    """Queue a run of a scenario you may run; answers the run (id, status). Follow it with wait_for_run."""
    run = await _api().call(
        "POST",
        f"/scenarios/{scenario_id}/runs",
        body=_given(environment_id=environment_id, variables=variables, concurrency=concurrency),
    )
    return as_result(_pick(run, RUN_FIELDS))


@mcp.tool(annotations=READS, structured_output=False)
async def wait_for_run(
    run_id: Id,
    timeout_seconds: Annotated[
        float, Field(gt=0, le=MAX_WAIT_SECONDS, description=f"how long to wait, at most {MAX_WAIT_SECONDS}")
    ] = 60,
) -> str:
    """Wait until a run ends or the timeout passes; answers its status and counts, with `finished` false when it
    is still queued or running (call again to keep waiting)."""
    api = _api()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    pause = 0.2
    while True:
        run = await api.get(f"/scenario-runs/{run_id}")
        left = deadline - loop.time()
        if run["status"] in FINISHED or left <= 0:
            return as_result({"finished": run["status"] in FINISHED, **_pick(run, RUN_FIELDS)})
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 1.5, 2.0)


def _failed_step(request_run: dict[str, Any], detail: dict[str, Any] | None) -> dict[str, Any]:
    step = _pick(request_run, ("id", "name", "step_key", "case_id", "iteration", "attempt", "status", "error"))
    checks = [check for check in request_run.get("assertions") or [] if not check.get("passed", True)]
    step["failed_checks"] = [
        _pick(check, ("source", "expression", "op", "expected", "actual", "message")) for check in checks[:10]
    ]
    if detail is not None:
        request, response = detail.get("request") or {}, detail.get("response") or {}
        step["request"] = _pick(request, ("method", "url"))
        body = response.get("body")
        step["response"] = {
            "status": response.get("status"),
            "body_excerpt": body[:BODY_EXCERPT] if isinstance(body, str) else body,
        }
    return step


@mcp.tool(annotations=READS, structured_output=False)
async def get_run_report(
    run_id: Id,
    max_failed_steps: Annotated[int, Field(ge=1, le=MAX_ITEMS, description="failed steps to list")] = 20,
) -> str:
    """A run's result: status, counts (iterations and requests) and its failed steps (final attempts that
    failed or erred) with the checks that failed; the first few also with their request and response."""
    api = _api()
    run = await api.get(f"/scenario-runs/{run_id}")
    failed: list[dict[str, Any]] = []
    failed_total = 0
    for status in ("failed", "error"):
        found = await api.get(
            f"/scenario-runs/{run_id}/request-runs", status=status, final="true", page_size=max_failed_steps
        )
        failed += found["items"]
        failed_total += found["total"]
    failed = sorted(failed, key=lambda item: item["id"])[:max_failed_steps]
    steps = []
    for number, request_run in enumerate(failed):
        detail = await api.get(f"/request-runs/{request_run['id']}") if number < DETAILED_FAILURES else None
        steps.append(_failed_step(request_run, detail))
    report: dict[str, Any] = {
        "run": _pick(run, RUN_FIELDS),
        "failed_steps_total": failed_total,
        "failed_steps": steps,
        "full_report": f"/api/v1/scenario-runs/{run_id}/report?format=json",
    }
    if run["status"] not in FINISHED:
        report["note"] = f"the run is still {run['status']}: counts and failures so far"
    if failed_total > len(steps):
        report["note_failures"] = f"showing {len(steps)} of {failed_total} failed steps"
    return as_result(report)


@mcp.tool(annotations=READS, structured_output=False)
async def get_failure_clusters(
    project_id: Id,
    since: Annotated[str | None, Field(description="ISO 8601 time; default: 7 days ago")] = None,
    until: Annotated[str | None, Field(description="ISO 8601 time; default: now")] = None,
    scenario_id: Id | None = None,
    limit: Annotated[int, Field(ge=1, le=MAX_ITEMS, description="clusters to show, largest first")] = 10,
) -> str:
    """A project's recent failures grouped by cause (same failing check, status class and message), each with
    its size, first and last time seen, label (new, known or flaky), the cases involved and an example."""
    found = await _api().get(
        f"/projects/{project_id}/failure-clusters", since=since, until=until, scenario_id=scenario_id, limit=limit
    )
    for cluster in found.get("clusters", []):
        if isinstance(cluster.get("request_run_ids"), list):
            cluster["request_run_ids"] = cluster["request_run_ids"][:10]
    return as_result(found)
