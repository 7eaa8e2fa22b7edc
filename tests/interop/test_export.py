"""Exports of a stored scenario: a Postman collection Newman runs, and no secret value in any file.

The bench's order flow imports from Postman, runs in Exile against a local target (one row's payment is
declined), exports back as a collection whose re-import gives the same checks, and runs in Newman with the
same rows and the same pass/fail counts. Secrets (an environment's, a literal password in a header) never
reach a file; a caller exports only what it may read.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from typer.testing import CliRunner

from app.cli import app as cli
from app.interop import exile_file, postman, postman_export
from tests.conftest import UserFactory, assert_error, bearer
from tests.factories import case, create, project, put_steps, scenario
from tests.interop.order_target import BENCH_URL, OrderFlow, bench_rows
from tests.interop.test_postman import upload
from tests.local_server import serving
from tests.runs.conftest import wait_until_finished

API = "/api/v1"
BENCH_COPY = Path(__file__).parent / "fixtures" / "postman" / "order-flow.postman_collection.json"
BENCH = Path("/work/shared/bench/order-flow.postman_collection.json")
BENCH = BENCH if BENCH.exists() else BENCH_COPY  # the shared bench when present, else the copy in the repo
REPO = Path(__file__).parents[2]
EXILE = str(Path(sys.executable).parent / "exile")


def newman_binary() -> str | None:
    """$NEWMAN, or the copy `npm install --prefix benchmarks/.cache/newman newman@6` puts in the repo."""
    for candidate in (os.environ.get("NEWMAN"), str(REPO / "benchmarks/.cache/newman/node_modules/.bin/newman")):
        if candidate and (Path(candidate).is_file() or shutil.which(candidate)) and shutil.which("node"):
            return candidate
    return None


class DecliningOrderFlow(OrderFlow):
    """The bench target, except that an order of the SKU `declined` is refused at payment."""

    def __init__(self) -> None:
        super().__init__()
        self.declined: set[str] = set()

    async def create_order(self, request: web.Request) -> web.Response:
        response = await super().create_order(request)
        if (await request.json()).get("sku") == "declined":
            self.declined.add(f"o-{len(self.orders)}")
        return response

    async def pay(self, request: web.Request) -> web.Response:
        if (await request.json()).get("order_id") in self.declined:
            return web.json_response({"code": 1, "data": {"status": "DECLINED"}}, status=402)
        return await super().pay(request)


@pytest.fixture
async def declining_target() -> Any:
    target = DecliningOrderFlow()
    async with serving(target.app()) as url:
        yield target, url


def order_rows() -> list[dict[str, Any]]:
    """Four rows that pass and a last one whose payment is declined (its iteration fails at its last step)."""
    return [*bench_rows(4), {"username": "user9", "password": "pw", "sku": "declined", "qty": "2"}]


def checks_of(content: Any) -> list[tuple[str, list[Any], list[Any], list[Any], list[Any]]]:
    return [
        (case.name, case.assertions, case.extractors, case.pre_processors, case.post_processors)
        for case in content.cases
    ]


async def bench_scenario(api: Any, url: str) -> int:
    text = BENCH.read_text()
    proj = await project(api)
    report = (await upload(api, proj["id"], text.replace(BENCH_URL, url))).json()
    scenario_id = report["scenarios"][0]["id"]
    rows = [{"variables": row} for row in order_rows()]
    assert (await api.put(f"{API}/scenarios/{scenario_id}/datasets", json=rows)).status_code == 200
    return int(scenario_id)


async def test_the_bench_flow_exports_as_a_collection_whose_reimport_has_the_same_checks(api, declining_target):
    _, url = declining_target
    scenario_id = await bench_scenario(api, url)
    started = await api.post(f"{API}/scenarios/{scenario_id}/runs", json={})
    run = await wait_until_finished(api, started.json()["id"])
    assert run["status"] == "failed" and run["iterations"]["passed"] == 4 and run["iterations"]["failed"] == 1
    assert run["requests"]["passed"] == 14 and run["requests"]["failed"] == 1

    response = await api.get(f"{API}/scenarios/{scenario_id}/export", params={"format": "postman"})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == 'attachment; filename="order-flow.postman_collection.json"'
    assert response.headers["x-exile-not-exported"] == "1"  # stop_on_failure: said in the description
    collection = response.json()
    assert "stop_on_failure" in collection["info"]["description"] and "variable" not in collection
    assert [item["name"] for item in collection["item"]] == ["login", "create order", "pay"]
    assert collection["item"][0]["event"][0]["script"]["exec"] == [
        'pm.test("status code eq 200", function () { pm.response.to.have.status(200); });',
        'pm.test("body $.code eq 0", function () { pm.expect(pm.response.json().code).to.eql(0); });',
        'pm.environment.set("token", pm.response.json().data.token);',
    ]
    original = postman.parse(BENCH.read_text().replace(BENCH_URL, url))
    again = postman.parse(response.text)
    assert again.not_translated == [] and checks_of(again) == checks_of(original)
    assert [(c.method, c.url, c.headers, c.body, c.auth) for c in again.cases] == [
        (c.method, c.url, c.headers, c.body, c.auth) for c in original.cases
    ]
    data = await api.get(f"{API}/scenarios/{scenario_id}/export", params={"format": "postman_data"})
    assert data.json() == order_rows()


async def run_newman(newman: str, collection: str, rows: list[dict[str, Any]], tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "collection.json").write_text(collection)
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    report = tmp_path / "newman.json"
    process = await asyncio.create_subprocess_exec(
        newman, "run", str(tmp_path / "collection.json"), "-d", str(tmp_path / "rows.json"),
        "-r", "json", "--reporter-json-export", str(report),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 120)
    assert report.exists(), err.decode()
    return dict(json.loads(report.read_text())["run"])


@pytest.mark.skipif(
    newman_binary() is None,
    reason="Newman is not installed: set NEWMAN, or `npm install --prefix benchmarks/.cache/newman newman@6`",
)
async def test_the_exported_collection_runs_in_newman_with_the_same_pass_and_fail_counts(
    api, declining_target, tmp_path
):
    target, url = declining_target
    scenario_id = await bench_scenario(api, url)
    started = await api.post(f"{API}/scenarios/{scenario_id}/runs", json={})
    run = await wait_until_finished(api, started.json()["id"])
    collection = (await api.get(f"{API}/scenarios/{scenario_id}/export", params={"format": "postman"})).text
    rows = (await api.get(f"{API}/scenarios/{scenario_id}/export", params={"format": "postman_data"})).json()
    paid_by_exile = list(target.paid)

    newman = await run_newman(str(newman_binary()), collection, rows, tmp_path)
    executions = newman["executions"]
    failed = [e for e in executions if any("error" in a for a in e.get("assertions", []))]
    assert newman["stats"]["requests"] == {"total": 15, "pending": 0, "failed": 0}
    assert len(executions) - len(failed) == run["requests"]["passed"] == 14
    assert len(failed) == run["requests"]["failed"] == 1
    assert [e["item"]["name"] for e in failed] == ["pay"] and failed[0]["cursor"]["iteration"] == 4
    assert newman["stats"]["assertions"] == {"total": 30, "pending": 0, "failed": 2}
    assert len(target.paid) == 2 * len(paid_by_exile) == 8  # Newman really paid the same orders

    # The whole round trip: the export also runs through `exile run -d` (no server) with the same counts.
    report = tmp_path / "exile-run.json"
    args = ["run", tmp_path / "collection.json", "-d", tmp_path / "rows.json", "-r", "cli,json"]
    ran = await asyncio.to_thread(
        CliRunner().invoke, cli, [str(arg) for arg in [*args, "--reporter-json-export", report]]
    )
    assert ran.exit_code == 1, ran.output  # one check failed, as in Newman
    assert "requests: 14 passed, 1 failed, 0 error" in ran.output
    by_exile_run = [e for e in json.loads(report.read_text())["executions"] if e["status"] == "failed"]
    assert [(e["name"], e["iteration"]) for e in by_exile_run] == [("pay", 4)]
    assert len(target.paid) == 3 * len(paid_by_exile)


# ---- secrets -----------------------------------------------------------------------------------------------------
SECRET = "s3cr3t-api-token-value"
PASSWORD = "hunter2-hunter2"
QUERY_TOKEN = "q-token-123456"
BASIC_PASSWORD = "basic-pass-999"


async def scenario_with_secrets(api: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    proj = await project(api)
    environment = await create(
        api,
        f"{API}/projects/{proj['id']}/environments",
        {
            "name": "prod",
            "base_url": "https://api.example.com",
            "variables": {"region": "eu"},
            "secret_variables": {"api_token": SECRET},
        },
    )
    secretive = await case(
        api,
        proj["id"],
        url="/orders",
        headers={"Authorization": f"Bearer {SECRET}", "X-Password": PASSWORD, "Accept": "application/json"},
        query={"access_token": QUERY_TOKEN, "page": "1"},
        body={"mode": "json", "content": {"note": f"sent with {SECRET}", "again": QUERY_TOKEN}},
        auth={"type": "basic", "username": "admin", "password": BASIC_PASSWORD},
    )
    flow = await scenario(api, proj["id"], variables={"copy": SECRET, "plain": "x"})
    await put_steps(api, flow["id"], [{"case_id": secretive["id"], "variables": {"again": SECRET}}])
    rows = [{"variables": {"user": "ann", "token": SECRET}}]
    assert (await api.put(f"{API}/scenarios/{flow['id']}/datasets", json=rows)).status_code == 200
    return proj, environment, flow


async def test_no_secret_value_reaches_an_exported_file(api):
    _, environment, flow = await scenario_with_secrets(api)
    texts = {}
    for fmt in ("exile", "postman", "postman_data"):
        params = {"format": fmt, "environment_id": environment["id"]}
        response = await api.get(f"{API}/scenarios/{flow['id']}/export", params=params)
        assert response.status_code == 200, response.text
        texts[fmt] = response.text
        assert not any(value in response.text for value in (SECRET, PASSWORD, QUERY_TOKEN, BASIC_PASSWORD))
    document = yaml.safe_load(texts["exile"])
    assert document["environment"] == {
        "name": "prod",
        "base_url": "https://api.example.com",
        "variables": {"region": "eu"},
        "secret_variables": {"api_token": "", "x_password": "", "access_token": "", "basic_password": ""},
    }
    [exported_case] = document["cases"]
    assert exported_case["headers"] == {
        "Authorization": "Bearer {{api_token}}",  # a copy of the environment's secret refers to it by name
        "X-Password": "{{x_password}}",
        "Accept": "application/json",
    }
    assert exported_case["query"] == {"access_token": "{{access_token}}", "page": "1"}
    assert exported_case["auth"] == {"type": "basic", "username": "admin", "password": "{{basic_password}}"}
    # a copy of a credential found in a header is a reference too
    assert exported_case["body"]["content"] == {"note": "sent with {{api_token}}", "again": "{{access_token}}"}
    assert document["scenario"]["variables"] == {"copy": "******", "plain": "x"}
    assert document["scenario"]["steps"][0]["variables"] == {"again": "******"}
    assert document["scenario"]["rows"] == [{"user": "ann", "token": "******"}]
    locations = [note["location"] for note in document["not_exported"]]
    assert "cases[login].headers.X-Password" in locations and "scenario.rows[0].token" in locations
    assert json.loads(texts["postman_data"]) == [{"user": "ann", "token": "******"}]
    collection = json.loads(texts["postman"])
    assert collection["variable"] == [
        {"key": "copy", "value": "******"},
        {"key": "plain", "value": "x"},
        {"key": "base_url", "value": "https://api.example.com"},  # the case's /orders is joined to it
    ]
    assert collection["item"][0]["request"]["url"]["raw"] == "{{base_url}}/orders?access_token={{access_token}}&page=1"
    assert collection["item"][0]["request"]["auth"]["basic"][1] == {
        "key": "password", "value": "{{basic_password}}", "type": "string"
    }  # fmt: skip
    # the file imports elsewhere; its secrets are names waiting for values
    other = await project(api, "elsewhere")
    report = (await upload(api, other["id"], texts["exile"], kind="exile")).json()
    env = (await api.get(f"{API}/environments/{report['environments'][0]['id']}")).json()
    assert set(env["secret_variables"]) == {"api_token", "x_password", "access_token", "basic_password"}


def test_a_proxy_password_is_dropped_and_a_template_credential_is_kept():
    content = exile_file.parse(
        """
version: 1
scenario: {key: s, name: s, steps: [{case: c}]}
cases:
- {key: c, name: c, method: GET, url: "https://bob:pa55word@h.example.com/x",
   headers: {Authorization: "Bearer {{token}}", Idempotency-Key: abc123, Cookie: "sid=abcdefgh"}}
"""
    )
    from app.interop.export import scrub

    scrub(content, {})
    [only] = content.cases
    assert only.url == "https://bob:{{url_password}}@h.example.com/x"
    assert only.headers == {
        "Authorization": "Bearer {{token}}", "Idempotency-Key": "abc123", "Cookie": "sid={{cookie}}"
    }  # fmt: skip
    collection, notes = postman_export.to_collection(content)
    assert "pa55word" not in json.dumps(collection) and len(notes) == 3


# ---- who may export what ------------------------------------------------------------------------------------------
async def test_only_a_reader_of_the_scenario_and_its_environment_may_export(api, client, make_user: UserFactory):
    _, _, flow = await scenario_with_secrets(api)
    stranger = await make_user(email="stranger@example.com")
    response = await client.get(f"{API}/scenarios/{flow['id']}/export", headers=bearer(stranger))
    assert_error(response, 404, "not_found")
    foreign_project = await project(api, "other")
    foreign = await create(api, f"{API}/projects/{foreign_project['id']}/environments", {"name": "x"})
    response = await api.get(f"{API}/scenarios/{flow['id']}/export", params={"environment_id": foreign["id"]})
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["query", "environment_id"]
    response = await api.get(f"{API}/scenarios/{flow['id']}/export", params={"format": "zip"})
    assert_error(response, 422)
    del client.headers["Authorization"]
    assert_error(await client.get(f"{API}/scenarios/{flow['id']}/export"), 401)


async def test_exile_export_from_the_shell(api, tmp_path):
    _, environment, flow = await scenario_with_secrets(api)
    out = tmp_path / "flow.exile.yaml"
    process = await asyncio.create_subprocess_exec(
        EXILE, "export", str(flow["id"]), "--format", "exile", "--as", "qa@example.com", "-o", str(out),
        "--environment", str(environment["id"]),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "not exported: cases[login].headers.X-Password" in err.decode()
    text = out.read_text()
    assert SECRET not in text and exile_file.parse(text).scenarios[0].name == "checkout"


# ---- every kind of check, in Exile and in Newman -------------------------------------------------------------------
async def widget(request: web.Request) -> web.Response:
    body = {"id": 7, "name": "Widget", "tags": ["a", "b"], "price": 12.5, "nested": {"ok": True}}
    return web.json_response(body, headers={"X-Kind": "widget"})


async def echo(request: web.Request) -> web.Response:
    return web.json_response(dict(request.query))


@pytest.fixture
async def widget_target() -> Any:
    app = web.Application()
    app.router.add_get("/widget", widget)
    app.router.add_get("/echo", echo)
    async with serving(app) as url:
        yield url


def body_check(path: str, op: str, expected: Any = None) -> dict[str, Any]:
    check = {"source": "body", "expression": path, "op": op}
    return check if op in ("exists", "not_exists") else {**check, "expected": expected}


CHECKS = [
    {"source": "status_code", "op": "eq", "expected": 200},
    {"source": "status_code", "op": "in", "expected": [200, 201]},
    {"source": "response_time_ms", "op": "lt", "expected": 5000},
    {"source": "header", "expression": "X-Kind", "op": "exists"},
    {"source": "header", "expression": "X-Kind", "op": "eq", "expected": "widget"},
    {"source": "header", "expression": "Content-Type", "op": "contains", "expected": "json"},
    {"source": "text", "op": "contains", "expected": "Widget"},
    body_check("$.id", "eq", 7), body_check("$.id", "ne", 8), body_check("$.id", "gt", 6),
    body_check("$.id", "ge", 7), body_check("$.id", "lt", 8), body_check("$.id", "le", 7),
    body_check("$.price", "between", [1, 20]), body_check("$.name", "regex", "^Wid"),
    body_check("$.name", "regex", "(?i)^wid"), body_check("$.tags", "contains", "a"),
    body_check("$.tags", "not_contains", "z"), body_check("$.tags", "length", 2),
    body_check("$.name", "type", "string"), body_check("$.tags", "type", "array"),
    body_check("$.id", "type", "integer"), body_check("$.nested", "type", "object"),
    body_check("$.nested.ok", "eq", True), body_check("$.missing", "not_exists"), body_check("$.name", "exists"),
    body_check("$.name", "in", ["Widget", "Gadget"]), body_check("$.name", "not_in", ["x"]),
    body_check("$.tags[1]", "eq", "b"), body_check("$.name", "eq", "{{expected_name}}"),
    {"source": "json_schema", "expected": {"type": "object", "properties": {"id": {"type": "integer"}}}},
]  # fmt: skip


@pytest.mark.skipif(newman_binary() is None, reason="Newman is not installed (see newman_binary)")
async def test_every_kind_of_check_passes_in_newman_as_it_passes_in_exile(api, widget_target, tmp_path):
    proj = await project(api)
    first = await case(
        api, proj["id"], name="widget", method="GET", url=f"{widget_target}/widget", headers={}, query={},
        body={"mode": "none"}, assertions=CHECKS,
        extractors=[
            {"name": "item_name", "source": "body", "expression": "$.name"},
            {"name": "kind", "source": "header", "expression": "X-Kind"},
        ],
        post_processors=[{"type": "set", "name": "flag", "value": "on"}],
    )  # fmt: skip
    second = await case(
        api, proj["id"], name="echo", method="GET", url=f"{widget_target}/echo", headers={}, body={"mode": "none"},
        query={"name": "{{item_name}}", "kind": "{{kind}}", "flag": "{{flag}}", "mode": "{{mode}}"}, extractors=[],
        assertions=[body_check("$.name", "eq", "Widget"), body_check("$.kind", "eq", "widget"),
                    body_check("$.flag", "eq", "on"), body_check("$.mode", "eq", "scenario")],
    )  # fmt: skip
    flow = await scenario(api, proj["id"], variables={"expected_name": "Widget", "mode": "scenario"})
    # the first step's own value of `mode` must not reach the second step, in Exile as in Newman
    steps = [{"case_id": first["id"], "variables": {"mode": "step"}}, {"case_id": second["id"]}]
    await put_steps(api, flow["id"], steps)
    started = await api.post(f"{API}/scenarios/{flow['id']}/runs", json={})
    run = await wait_until_finished(api, started.json()["id"])
    assert run["status"] == "passed" and run["requests"]["passed"] == 2, run

    response = await api.get(f"{API}/scenarios/{flow['id']}/export", params={"format": "postman"})
    assert "not exported: " not in response.text.split('"item"')[1]  # every check has a pm.* form
    newman = await run_newman(str(newman_binary()), response.text, [{}], tmp_path)
    failures = [a for e in newman["executions"] for a in e.get("assertions", []) if "error" in a]
    assert failures == [] and newman["stats"]["assertions"]["total"] == len(CHECKS) + 4
    again = postman.parse(response.text)
    # Scripts with lines that are not native checks (Number.isInteger, jsonSchema, a step variable's unset) come
    # back whole, as JavaScript: nothing is reported (a script of native checks only stays native).
    assert again.not_translated == []
    assert again.cases[0].assertions == []
    processors = [p for case in again.cases for p in [*case.pre_processors, *case.post_processors]]
    scripts = [p.source for p in processors if p.type == "script"]
    assert any("Number.isInteger" in source and "jsonSchema" in source for source in scripts)
    assert any('pm.variables.unset("mode");' in source for source in scripts)
