"""Reports of a real run: JUnit XML that validates against the Jenkins schema, JSON, HTML, all with the run's counts.

The run is a scenario against a local aiohttp target with a step that passes, one whose assertion fails on a body
holding a planted <script> and control characters, one whose target refuses the connection, a fan-out over two
case datasets (one passes, one fails), two named data rows, setup and teardown. A last test streams a report of
20,000 stored records and measures that its memory does not grow with them.
"""

from __future__ import annotations

import asyncio
import io
import socket
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import xmlschema
from aiohttp import web

from app.core.db import get_session_factory
from app.engine.results import Counts, StepResult
from app.engine.statuses import ResultStatus
from app.interop.report_source import report_run, step_summaries, stream_report
from app.interop.reports import REPORTERS
from app.interop.reports.common import step_order
from app.interop.reports.model import ReportRun, StepSummary
from app.models import ScenarioRun
from app.models.base import utcnow
from app.runs.sink import DatabaseSink
from tests.conftest import assert_error, bearer
from tests.factories import create, project
from tests.local_server import serving
from tests.runs.conftest import wait_until_finished

API = "/api/v1"
SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "fixtures" / "junit.xsd")
PLANTED = "<script>document.title='pwned';document.body.appendChild(document.createElement('pwned-node'))</script>"
EVIL_BODY = f"<html><body>{PLANTED}\x00\x01\x08\x0b\x1b[31m bell\x07 </body></html>"
SECRET = "sk-live-do-not-leak-4242"


class ReportTarget:
    """/hello answers its `name`; /evil answers an HTML body with a script and control characters in it."""

    def __init__(self) -> None:
        self.url = ""
        self.closed_url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/hello", self.hello)
        app.router.add_get("/evil", self.evil)
        return app

    async def hello(self, request: web.Request) -> web.Response:
        return web.json_response({"code": 0, "name": request.query.get("name", "")})

    async def evil(self, request: web.Request) -> web.Response:
        return web.Response(body=EVIL_BODY.encode(), content_type="text/html")


def closed_port() -> int:
    """A port nothing listens on (bound, then released): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def report_target() -> AsyncIterator[ReportTarget]:
    target = ReportTarget()
    async with serving(target.app()) as target.url:
        target.closed_url = f"http://127.0.0.1:{closed_port()}/down"
        yield target


async def mixed_run(api: httpx.AsyncClient, target: ReportTarget) -> dict[str, Any]:
    """Run the mixed scenario to its end; returns the run as GET /scenario-runs/{id} shows it."""
    proj = await project(api)
    env = await create(
        api,
        f"{API}/projects/{proj['id']}/environments",
        {"name": "local", "base_url": target.url, "secret_variables": {"api_key": SECRET}},
    )

    async def case(name: str, url: str, assertions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        body = {"project_id": proj["id"], "name": name, "method": "GET", "url": url, "assertions": assertions}
        return await create(api, f"{API}/cases", {**body, **extra})

    status_200 = [{"source": "status_code", "op": "eq", "expected": 200}]
    hello = await case("hello", "/hello", status_200, query={"name": "{{who}}"})
    evil = await case(
        "evil page",
        "/evil",
        [*status_200, {"source": "text", "op": "contains", "expected": "all good"}],
        headers={"X-Api-Key": "{{api_key}}"},
    )
    down = await case("down", target.closed_url, status_200, timeout_ms=2000)
    greet = await case("greet", "/hello", [{"source": "body", "expression": "$.name", "expected": "alice"}])
    greet_query = {"query": {"name": "{{person}}"}, "version": greet["version"]}
    assert (await api.patch(f"{API}/cases/{greet['id']}", json=greet_query)).status_code == 200
    for person in ("alice", "bob"):
        await create(api, f"{API}/cases/{greet['id']}/datasets", {"name": person, "variables": {"person": person}})
    flow = await create(
        api,
        f"{API}/scenarios",
        {
            "project_id": proj["id"],
            "name": "report <checkout> & co",
            "variables": {"who": "nobody"},
            "settings": {"stop_on_failure": False},
            "setup": [{"case_id": hello["id"], "alias": "warm up"}],
            "teardown": [{"case_id": hello["id"], "alias": "clean up"}],
        },
    )
    steps = [
        {"case_id": hello["id"]},
        {"case_id": evil["id"]},
        {"case_id": down["id"]},
        {"case_id": greet["id"], "dataset_mode": "all"},
    ]
    assert (await api.put(f"{API}/scenarios/{flow['id']}/steps", json=steps)).status_code == 200
    rows = [{"name": "first", "variables": {"who": "ann"}}, {"name": "second", "variables": {"who": "ben"}}]
    assert (await api.put(f"{API}/scenarios/{flow['id']}/datasets", json=rows)).status_code == 200
    started = await api.post(
        f"{API}/scenarios/{flow['id']}/runs",
        json={"environment_id": env["id"], "trigger": "ci", "ci": {"commit": "abc123", "branch": "main"}},
    )
    assert started.status_code == 202, started.text
    run = await wait_until_finished(api, started.json()["id"])
    assert run["status"] == "failed", run
    # setup 1 + 2 iterations x (hello, evil, down, greet alice, greet bob) + teardown 1
    assert run["requests"] == {"total": 12, "passed": 6, "failed": 4, "error": 2, "skipped": 0, "flaky": 0}, run
    return run


async def fetch(api: httpx.AsyncClient, run_id: int, format: str) -> httpx.Response:
    response = await api.get(f"{API}/scenario-runs/{run_id}/report", params={"format": format})
    assert response.status_code == 200, response.text
    return response


def counts_of(element: ET.Element) -> dict[str, int]:
    return {name: int(element.get(name, "0")) for name in ("tests", "failures", "errors", "skipped")}


async def test_junit_report_validates_against_the_schema_and_counts_what_the_run_counted(api, report_target):
    run = await mixed_run(api, report_target)
    response = await fetch(api, run["id"], "junit")
    assert response.headers["content-type"].startswith("application/xml")
    assert f'filename="exile-run-{run["id"]}.xml"' in response.headers["content-disposition"]
    SCHEMA.validate(io.BytesIO(response.content))  # raises on any departure from the Jenkins schema
    assert SECRET not in response.text and "******" in response.text  # masked before it was stored

    root = ET.fromstring(response.content)
    requests = run["requests"]
    assert counts_of(root) == {
        "tests": requests["total"], "failures": requests["failed"], "errors": requests["error"], "skipped": 0
    }  # fmt: skip
    suites = root.findall("testsuite")
    assert [s.get("name", "").rsplit("(", 1)[-1] for s in suites] == [
        "setup:0)", "step:0)", "step:1)", "step:2)", "step:3)", "teardown:0)"
    ]  # fmt: skip
    for suite in suites:  # the attributes written before the children agree with the children
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "")) == len(cases)
        assert int(suite.get("failures", "")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(suite.get("errors", "")) == sum(1 for c in cases if c.find("error") is not None)
        assert float(suite.get("time", "")) >= 0
    assert sum(int(s.get("tests", "")) for s in suites) == requests["total"]

    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert ("warm up (setup:0)", "warm up [setup]") in cases
    assert ("hello (step:0)", "hello [iteration 1, row 'second']") in cases
    bob = cases[("greet (step:3)", "greet [iteration 0, row 'first', dataset 'bob']")]
    failure = bob.find("failure")
    assert failure is not None and failure.get("type") == "AssertionError"
    assert 'expected "alice", actual "bob"' in (failure.get("message") or "")
    assert cases[("greet (step:3)", "greet [iteration 0, row 'first', dataset 'alice']")].find("failure") is None

    evil = cases[("evil page (step:1)", "evil page [iteration 0, row 'first']")]
    evil_failure = evil.find("failure")
    assert evil_failure is not None and 'expected "all good"' in (evil_failure.text or "")
    out = evil.findtext("system-out") or ""
    assert "--- request ---" in out and "X-Api-Key: ******" in out and PLANTED in out  # as text, escaped in XML
    assert "\x00" not in out and "\x1b" not in out and "\ufffd" in out  # what XML 1.0 forbids was replaced
    assert b"<script>" not in response.content  # only ever as &lt;script&gt;

    down = cases[("down (step:2)", "down [iteration 1, row 'second']")]
    error = down.find("error")
    assert error is not None and error.get("message") and down.find("failure") is None
    assert float(down.get("time", "")) < 5
    properties = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert properties["ci.commit"] == "abc123" and properties["ci.trigger"] == "ci"
    assert properties["exile.run_id"] == str(run["id"]) and properties["exile.status"] == "failed"


async def test_json_report_holds_every_final_result_in_flow_order(api, report_target):
    run = await mixed_run(api, report_target)
    response = await fetch(api, run["id"], "json")
    assert response.headers["content-type"] == "application/json"
    report = orjson.loads(response.content)
    assert report["run"]["id"] == run["id"] and report["run"]["status"] == "failed"
    assert report["run"]["title"] == "report <checkout> & co" and report["run"]["ci"]["branch"] == "main"
    assert report["run"]["links"]["html"].endswith(f"/scenario-runs/{run['id']}/report?format=html")
    assert report["stats"]["requests"] == run["requests"]
    iterations = run["iterations"]  # an iteration with an error step ends 'error'
    assert iterations["error"] == 2 and iterations["not_run"] == 0
    shown = {key: report["stats"]["iterations"][key] for key in ("passed", "failed", "error", "flaky")}
    assert shown == {key: iterations[key] for key in ("passed", "failed", "error", "flaky")}
    assert report["stats"]["iterations"]["skipped"] == iterations["not_run"]
    keys = ["setup:0", "step:0", "step:1", "step:2", "step:3", "teardown:0"]
    assert [step["key"] for step in report["steps"]] == keys
    assert sum(step["stats"]["total"] for step in report["steps"]) == 12
    executions = report["executions"]
    assert len(executions) == 12
    assert [(e["step"], e["iteration"]) for e in executions] == sorted(
        ((e["step"], e["iteration"]) for e in executions), key=lambda pair: (step_order(pair[0]), pair[1])
    )
    statuses = Counts()
    for execution in executions:
        statuses.add(ResultStatus(execution["status"]), execution["flaky"])
    assert {"total": 12, **statuses.as_dict()} == run["requests"]
    greet = [e for e in executions if e["step"] == "step:3"]
    assert sorted((e["row_name"], e["dataset_name"], e["status"]) for e in greet) == [
        ("first", "alice", "passed"), ("first", "bob", "failed"),
        ("second", "alice", "passed"), ("second", "bob", "failed"),
    ]  # fmt: skip
    evil = next(e for e in executions if e["step"] == "step:1")
    assert evil["response"]["body"] == EVIL_BODY  # JSON keeps the body exactly, escaped by the encoder
    failed_checks = sum(1 for e in executions for a in e["assertions"] if not a["passed"])
    assert report["assertions"] == {"total": sum(len(e["assertions"]) for e in executions), "failed": failed_checks}
    assert SECRET not in response.text


async def test_html_report_is_one_escaped_page_with_the_runs_counts(api, report_target):
    run = await mixed_run(api, report_target)
    response = await fetch(api, run["id"], "html")
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    for name, value in run["requests"].items():
        assert f'id="requests-{name}" data-count="{value}"' in page
    assert page.count("<script") == 3  # the two JSON blobs and the page's own script, nothing from a body
    assert "document.title=&#x27;pwned&#x27;" in page and "pwned-node" in page
    assert "\x00" not in page and "\x1b" not in page
    assert "&lt;checkout&gt; &amp; co" in page and SECRET not in page
    assert 'data-shown="6" data-failing="6"' in page  # 4 failed + 2 error results, each in full
    assert 'http-equiv="Content-Security-Policy"' in page and "http://" not in page.split("<body", 1)[0]


async def test_a_report_is_for_those_who_may_read_the_run_and_only_once_it_ended(api, report_target, make_user, client):
    run = await mixed_run(api, report_target)
    stranger = await make_user(email="stranger@example.com")
    other = httpx.AsyncClient(transport=client._transport, base_url="http://exile.test", headers=bearer(stranger))
    async with other:
        assert_error(await other.get(f"{API}/scenario-runs/{run['id']}/report?format=json"), 404, "not_found")
    error = assert_error(await api.get(f"{API}/scenario-runs/{run['id']}/report?format=pdf"), 422)
    assert any("format" in detail["loc"] for detail in error["details"])
    assert_error(await api.get(f"{API}/scenario-runs/{run['id']}/report"), 422)
    assert_error(await api.get(f"{API}/scenario-runs/999999/report?format=json"), 404)

    async with get_session_factory()() as session:
        running = ScenarioRun(
            project_id=run["project_id"], scenario_id=run["scenario_id"], kind="scenario", status="running",
            created_at=utcnow(), started_at=utcnow(),
        )  # fmt: skip
        session.add(running)
        await session.commit()
    error = assert_error(await api.get(f"{API}/scenario-runs/{running.id}/report?format=junit"), 409)
    assert error["code"] == "run_not_finished" and "still running" in error["message"]


def test_steps_are_ordered_setup_steps_teardown_and_numerically():
    keys = ["step:10", "teardown:0", "step:9", "setup:1", "step:0", "setup:0", "teardown:2", "step:2"]
    assert sorted(keys, key=step_order) == [
        "setup:0", "setup:1", "step:0", "step:2", "step:9", "step:10", "teardown:0", "teardown:2"
    ]  # fmt: skip


def test_junit_writes_a_suite_for_every_step_even_when_results_are_missing_or_unknown():
    now = utcnow()

    def result(key: str, status: ResultStatus) -> StepResult:
        return StepResult(key, None, None, None, 0, 1, 1, True, False, status, now, 1.0, name=key)

    run = ReportRun(
        title="t", run_id=None, status="failed", started_at=now, finished_at=now + timedelta(seconds=2),
        requests=Counts(passed=1, failed=1), iterations=Counts(passed=1),
        steps=[StepSummary("step:0", "a", Counts(passed=1)), StepSummary("step:1", "b"), StepSummary("step:2", "c")],
    )  # fmt: skip
    out = io.BytesIO()
    REPORTERS["junit"].write(out, run, lambda: iter([result("step:0", "passed"), result("step:7", "failed")]))
    SCHEMA.validate(io.BytesIO(out.getvalue()))
    root = ET.fromstring(out.getvalue())
    assert root.get("time") == "2.000"
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names == ["t / a (step:0)", "t / step:7 (step:7)", "t / b (step:1)", "t / c (step:2)"]


# ---- streaming: memory does not grow with the records ------------------------------------------------
RECORDS = 20_000
STEP_KEYS = ("step:2", "step:9", "step:10", "step:11")  # numeric order differs from string order


async def test_a_report_of_20000_records_streams_in_bounded_memory(api, tmp_path):
    owner = await project(api, "big")
    async with get_session_factory()() as session:
        run = ScenarioRun(
            project_id=owner["id"], kind="scenario", status="passed", created_at=utcnow(), started_at=utcnow(),
            finished_at=utcnow(), iterations_total=RECORDS // len(STEP_KEYS),
        )  # fmt: skip
        session.add(run)
        await session.commit()
    sink = DatabaseSink(get_session_factory(), run.id, batch_size=1000)
    body = "x" * 1500
    started = utcnow()
    for iteration in range(RECORDS // len(STEP_KEYS)):
        for key in STEP_KEYS:
            status = ResultStatus.FAILED if iteration % 1000 == 7 else ResultStatus.PASSED
            await sink.put(
                StepResult(
                    key, None, None, None, iteration, 1, 1, True, False, status, started, 3.5,
                    request={"method": "GET", "url": f"http://t/{iteration}"},
                    response={"status": 200, "body": body},
                    assertions=[] if status == ResultStatus.PASSED else [{"source": "text", "passed": False}],
                    name=f"call {key}",
                )
            )  # fmt: skip
    await sink.flush()

    async with get_session_factory()() as session:
        summary = await report_run(session, await session.get_one(ScenarioRun, run.id))
    assert [step.key for step in summary.steps] == list(STEP_KEYS)
    assert summary.requests.passed + summary.requests.failed == RECORDS

    # Memory traced while the JSON report (every record in full, the largest) is written; tracemalloc slows
    # each allocation down several times, so the JUnit report, written by the same record source and chunk
    # writer, is only streamed and checked.
    json_path, junit_path = tmp_path / "report.json", tmp_path / "report.xml"
    tracemalloc.start()
    with json_path.open("wb") as file:
        async for chunk in stream_report(REPORTERS["json"].write, summary, get_session_factory()):
            file.write(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    size = json_path.stat().st_size
    assert size > 30_000_000  # the records' bodies alone: what holding them all would take, at least
    assert peak < 10_000_000, (size, peak)  # two pages of records and a few chunks of output
    with junit_path.open("wb") as file:
        async for chunk in stream_report(REPORTERS["junit"].write, summary, get_session_factory()):
            file.write(chunk)

    report = orjson.loads(json_path.read_bytes())
    order = [(e["step"], e["iteration"]) for e in report["executions"]]
    assert len(order) == RECORDS
    assert order == [(key, i) for key in STEP_KEYS for i in range(RECORDS // len(STEP_KEYS))]
    testcases = sum(1 for _, element in ET.iterparse(junit_path) if element.tag == "testcase")
    assert testcases == RECORDS


async def test_an_abandoned_report_stops_its_writer(api):
    """A client that goes away mid-stream: the writer thread ends at its next write, nothing hangs."""
    owner = await project(api, "gone")
    async with get_session_factory()() as session:
        run = ScenarioRun(project_id=owner["id"], kind="scenario", status="passed", created_at=utcnow())
        session.add(run)
        await session.commit()
        run_id = run.id
    sink = DatabaseSink(get_session_factory(), run_id, batch_size=1000)
    for iteration in range(3000):
        result = StepResult("step:0", None, None, None, iteration, 1, 1, True, False, ResultStatus.PASSED, utcnow(), 1)
        result.response = {"status": 200, "body": "y" * 500}
        await sink.put(result)
    await sink.flush()
    async with get_session_factory()() as session:
        summary = await report_run(session, await session.get_one(ScenarioRun, run_id))
        assert await step_summaries(session, run_id) == summary.steps
    stream = stream_report(REPORTERS["json"].write, summary, get_session_factory())
    first = await anext(stream)
    assert first.startswith(b'{"format":"exile-report"')
    await asyncio.wait_for(stream.aclose(), 5)  # returns once the writer thread has stopped

    def breaks_halfway(out: Any, run: ReportRun, records: Any) -> None:
        for count, _ in enumerate(records()):
            out.write(b"x" * 100)
            if count == 1500:
                raise RuntimeError("the disk is full")

    received = 0
    with pytest.raises(RuntimeError, match="the disk is full"):  # the stream breaks off: no complete-looking file
        async for chunk in stream_report(breaks_halfway, summary, get_session_factory()):
            received += len(chunk)
    assert 0 < received <= 150_100


def test_names_from_the_run_cannot_close_the_pages_script_or_open_markup():
    now = utcnow()
    evil = "</script><script>alert(1)</script><img src=x onerror=alert(2)>&amp;"
    run = ReportRun(
        title=evil, run_id=None, status="failed", started_at=now, finished_at=now, requests=Counts(failed=1),
        iterations=Counts(failed=1), steps=[StepSummary("step:0", evil, Counts(failed=1), 5.0)], error=evil,
        ci={"branch": evil}, dataset_names={1: evil}, row_names={0: evil},
    )  # fmt: skip
    result = StepResult("step:0", None, None, 1, 0, 1, 1, True, False, ResultStatus.FAILED, now, 5.0, name=evil)
    result.assertions = [{"source": "text", "op": "eq", "expected": evil, "actual": evil, "passed": False}]
    result.response = {"status": 200, "headers": {evil: evil}, "body": evil}
    out = io.BytesIO()
    REPORTERS["html"].write(out, run, lambda: iter([result]))
    page = out.getvalue().decode()
    assert page.count("<script") == 3 and page.count("</script>") == 3
    assert "<img" not in page and "onerror=alert" in page  # as text only
    blob = page.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in blob and ">" not in blob and "&" not in blob
    assert orjson.loads(blob)["steps"][0]["label"].startswith("</script>")  # the JSON still says it exactly
