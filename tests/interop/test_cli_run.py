"""`exile run FILE` (no server, no database) and `exile run --server` (a scenario run on a real API process).

The bench's order-flow collection runs with a data file against a local order-flow target: exit 0 and the
counts; a failed check exits 1, --bail stops at it; usage and file problems exit 2 naming the problem; at
--concurrency 1 what an iteration set is seen by the next (Newman), above 1 each iteration starts afresh and
the run warns once; reports are written from the spilled results. On a server: the run is triggered with a
project token and CI metadata, followed to its end, and its exit code is the run's.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from typer.testing import CliRunner

from app.cli import app as cli
from app.interop import cli_run
from app.interop.data_files import DataFileError, count_rows
from tests.conftest import TEST_DATA_DIR, TEST_DATABASE_URL
from tests.factories import project
from tests.interop.order_target import BENCH_URL, OrderFlow, bench_rows, serve_in_thread

API = "/api/v1"
COLLECTION = Path(__file__).parent / "fixtures" / "postman" / "order-flow.postman_collection.json"


@pytest.fixture
def order_flow() -> Iterator[tuple[OrderFlow, str]]:
    target = OrderFlow()
    with serve_in_thread(target.app()) as url:
        yield target, url


def collection_for(url: str, tmp_path: Path, edit: Any = None) -> Path:
    text = COLLECTION.read_text().replace(BENCH_URL, url)
    if edit is not None:
        text = edit(text)
    path = tmp_path / "order-flow.postman_collection.json"
    path.write_text(text)
    return path


def data_csv(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / f"data-{rows}.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["username", "password", "sku", "qty"])
        writer.writeheader()
        writer.writerows(bench_rows(rows))
    return path


def exile_run(*args: Any) -> Any:
    result = CliRunner().invoke(cli, ["run", *[str(a) for a in args]])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


# ---- serverless -------------------------------------------------------------------------------------------------
def test_the_bench_collection_runs_green_with_a_data_file_and_writes_the_reports(order_flow, tmp_path):
    target, url = order_flow
    reports = {name: tmp_path / f"report.{ext}" for name, ext in (("json", "json"), ("junit", "xml"), ("html", "html"))}
    have = [name for name in reports if name in cli_run.reporters_available()]
    exports = [arg for name in have for arg in (f"--reporter-{name}-export", reports[name])]
    result = exile_run(
        collection_for(url, tmp_path), "-d", data_csv(tmp_path, 30), "-r", ",".join(["cli", *have]), *exports
    )
    assert result.exit_code == 0, result.output
    assert "order-flow: passed" in result.output
    assert "iterations: 30 passed, 0 failed, 0 error" in result.output
    assert "requests: 90 passed, 0 failed, 0 error" in result.output
    assert "step:2 pay: 30 passed" in result.output
    assert sorted(target.orders.values()) == sorted(int(row["qty"]) for row in bench_rows(30))
    assert len(target.paid) == 30
    for name in have:
        assert reports[name].stat().st_size > 0, name
    if "json" in have:
        document = json.loads(reports["json"].read_text())
        executions = document["executions"]
        assert len(executions) == 90
        # step order, then iteration order: what the reporters are promised
        keys = [(e["step"], e["iteration"]) for e in executions]
        assert keys == [(f"step:{s}", i) for s in range(3) for i in range(30)]


def test_a_failed_check_exits_1_and_names_it(order_flow, tmp_path):
    _, url = order_flow
    path = collection_for(url, tmp_path, lambda text: text.replace("to.eql('PAID')", "to.eql('REFUNDED')"))
    result = exile_run(path, "-d", data_csv(tmp_path, 5))
    assert result.exit_code == 1, result.output
    assert "order-flow: failed" in result.output
    assert "step:2 pay: 0 passed, 5 failed" in result.output
    assert "requests: 10 passed, 5 failed, 0 error" in result.output  # Newman goes on after a failed test
    assert "failed: iteration 0, pay:" in result.output


def test_bail_stops_at_the_first_failure(order_flow, tmp_path):
    target, url = order_flow
    path = collection_for(url, tmp_path, lambda text: text.replace("to.eql('PAID')", "to.eql('REFUNDED')"))
    result = exile_run(path, "-d", data_csv(tmp_path, 50), "--bail")
    assert result.exit_code == 1, result.output
    assert "--bail: stopped at the first failure (iteration 0, step 'pay' failed)" in result.output
    assert len(target.paid) < 5  # the run stopped long before 50 iterations


def test_above_concurrency_1_processes_share_the_rows_and_the_reports_keep_their_order(order_flow, tmp_path):
    target, url = order_flow
    report = tmp_path / "report.json"
    have_json = "json" in cli_run.reporters_available()
    reporting = ["-r", "cli,json", "--reporter-json-export", report] if have_json else []
    result = exile_run(collection_for(url, tmp_path), "-d", data_csv(tmp_path, 120), "--concurrency", "4")
    result = exile_run(
        collection_for(url, tmp_path), "-d", data_csv(tmp_path, 120), "--concurrency", "4", "--processes", "3",
        *reporting,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "iterations: 120 passed, 0 failed, 0 error" in result.output
    assert "requests: 360 passed, 0 failed, 0 error" in result.output
    assert len(target.paid) == 240  # both runs
    if have_json:
        keys = [(e["step"], e["iteration"]) for e in json.loads(report.read_text())["executions"]]
        assert keys == [(f"step:{s}", i) for s in range(3) for i in range(120)]


def test_bail_stops_every_process(order_flow, tmp_path):
    _, url = order_flow
    path = collection_for(url, tmp_path, lambda text: text.replace("to.eql('PAID')", "to.eql('REFUNDED')"))
    result = exile_run(path, "-d", data_csv(tmp_path, 3000), "--concurrency", "4", "--processes", "2", "--bail")
    assert result.exit_code == 1, result.output
    assert "--bail: stopped at the first failure" in result.output
    done = re.search(r"iterations: (\d+) passed, (\d+) failed, (\d+) error", result.output)
    assert done is not None and sum(int(n) for n in done.groups()) < 1000, result.output


def test_a_request_error_exits_1(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = exile_run(collection_for(dead, tmp_path), "-n", "2")
    assert result.exit_code == 1, result.output
    assert "requests: 0 passed, 0 failed, 6 error" in result.output


def test_a_json_data_file_and_iteration_counts_follow_newman(order_flow, tmp_path):
    target, url = order_flow
    data = tmp_path / "data.json"
    data.write_text(json.dumps([{**row, "qty": int(row["qty"])} for row in bench_rows(3)]))
    result = exile_run(collection_for(url, tmp_path), "-d", data, "-n", "5")
    assert result.exit_code == 0, result.output
    assert "iterations: 5 passed" in result.output
    assert sorted(target.orders.values()) == [1, 2, 3, 3, 3]  # past the last row, the last row again
    result = exile_run(collection_for(url, tmp_path), "-d", data, "-n", "2")
    assert "iterations: 2 passed" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.json"], "missing.json: no such file"),
        (["COLLECTION", "-d", "missing.csv"], "data file missing.csv: cannot be read"),
        (["COLLECTION", "-e", "missing.json"], "missing.json: no such file"),
        (["COLLECTION", "--env-var", "novalue"], "--env-var 'novalue': expected NAME=VALUE"),
        (["COLLECTION", "--env-var", "9x=1"], "'9x' is not a usable variable name"),
        (["COLLECTION", "--concurrency", "0"], "--concurrency 0: must be between 1 and 256"),
        (["COLLECTION", "-r", "cli,xml"], "--reporters: 'xml' is not one of"),
        ([], "Usage:"),
        (["--timeout-request", "5"], "give a collection or Exile FILE to run"),
    ],
)
def test_usage_and_file_problems_exit_2_naming_them(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    collection_for("http://127.0.0.1:9", tmp_path)
    args = [str(tmp_path / "order-flow.postman_collection.json") if a == "COLLECTION" else a for a in args]
    result = exile_run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", "{not json", "expected"),
        ("v1.json", json.dumps({"name": "old", "requests": []}), "v1 collection"),
        ("empty.json", "", "file (postman)"),
    ],
)
def test_an_unreadable_collection_exits_2_with_the_readers_message(name, text, message, tmp_path):
    path = tmp_path / name
    path.write_text(text)
    result = exile_run(path)
    assert result.exit_code == 2, result.output
    assert f"{path}: file (postman)" in result.output and message in result.output


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("short.csv", "username,password,sku,qty\nuser0,pw,sku-0,1\nuser1,pw\n", "line 3: 2 values, the header has 4"),
        ("noheader.csv", "", "line 1: the header row (column names) is missing"),
        ("twice.csv", "a,a\n1,2\n", "line 1: column 'a' appears twice"),
        ("rows.json", '[{"a": 1},\n {"a": }]', "line 2: row 2: Expecting value"),
        ("object.json", '{"a": 1}', "line 1: expected a JSON array of objects"),
        ("numbers.json", "[1, 2]", "line 1: expected an object for row 1"),
        ("empty.json", "[]", "holds no rows"),
    ],
)
def test_a_bad_data_file_exits_2_naming_the_line(name, text, message, tmp_path):
    data = tmp_path / name
    data.write_text(text)
    result = exile_run(collection_for("http://127.0.0.1:9", tmp_path), "-d", data)
    assert result.exit_code == 2, result.output
    assert f"data file {data}" in result.output and message in result.output


def test_csv_cells_are_numbers_where_newman_makes_them_numbers_and_quoted_cells_stay_text(tmp_path):
    from app.interop.data_files import rows

    path = tmp_path / "typed.csv"
    path.write_text(
        'n,quoted,zeros,word,float,note,neg\n3,"3",007,abc,1.50,"two\nlines, 5",-4\n0, 12 ,1e3,12abc,,"x""y",+5\n'
    )
    assert list(rows(path)) == [
        {"n": 3, "quoted": "3", "zeros": 7, "word": "abc", "float": 1.5, "note": "two\nlines, 5", "neg": -4},
        {"n": 0, "quoted": 12, "zeros": 1000, "word": "12abc", "float": "", "note": 'x"y', "neg": 5},
    ]  # as Newman 6's csvAutoParse gives them (checked with node: parseInt / parseFloat on the same cells)


def test_data_files_are_read_a_row_at_a_time(tmp_path):
    data = tmp_path / "big.json"
    with data.open("w") as f:  # more than one read chunk, values across chunk edges
        f.write("[\n" + ",\n".join(json.dumps({"i": i, "pad": "x" * (i % 97)}) for i in range(5000)) + "\n]\n")
    assert count_rows(data) == 5000
    with pytest.raises(DataFileError, match="nothing after the array"):
        data.write_text('[{"a": 1}] [')
        count_rows(data)


# ---- carry-over: Newman's semantics at concurrency 1, fresh iterations above -----------------------------------
class Counter:
    """GET /next?prev=... answers the next number and remembers what `prev` each call sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.n = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/next", self.next)
        return app

    async def next(self, request: web.Request) -> web.Response:
        self.sent.append(request.query.get("prev", ""))
        self.n += 1
        return web.json_response({"n": self.n})


def counter_collection(url: str, tmp_path: Path, initial: str | None = "start") -> Path:
    """One request reading `prev`, which its own test script sets: what the previous iteration left."""
    document: dict[str, Any] = {
        "info": {"name": "counter", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "item": [
            {
                "name": "next",
                "request": {"method": "GET", "url": url + "/next?prev={{prev}}"},
                "event": [
                    {
                        "listen": "test",
                        "script": {
                            "exec": [
                                "pm.test('ok', () => pm.response.to.have.status(200));",
                                "pm.collectionVariables.set('prev', pm.response.json().n);",
                            ]
                        },
                    }
                ],
            }
        ],
    }
    if initial is not None:
        document["variable"] = [{"key": "prev", "value": initial}]
    path = tmp_path / "counter.postman_collection.json"
    path.write_text(json.dumps(document))
    return path


def test_at_concurrency_1_an_iteration_sees_what_the_one_before_set(tmp_path):
    counter = Counter()
    with serve_in_thread(counter.app()) as url:
        result = exile_run(counter_collection(url, tmp_path), "-n", "4")
    assert result.exit_code == 0, result.output
    assert counter.sent == ["start", "1", "2", "3"]
    assert "warning" not in result.output


def test_above_concurrency_1_each_iteration_starts_from_the_initial_values(tmp_path):
    counter = Counter()
    with serve_in_thread(counter.app()) as url:
        result = exile_run(counter_collection(url, tmp_path), "-n", "6", "--concurrency", "3")
    assert result.exit_code == 0, result.output
    assert counter.sent == ["start"] * 6


def test_above_concurrency_1_a_value_only_an_earlier_iteration_sets_is_warned_about_once(tmp_path):
    counter = Counter()
    with serve_in_thread(counter.app()) as url:
        path = counter_collection(url, tmp_path, initial=None)
        result = exile_run(path, "-n", "6", "--concurrency", "3")
        assert result.output.count("warning: the collection reads prev before a later request sets it") == 1
        assert result.exit_code == 1  # no iteration has a `prev`: each request is an error, nothing is sent
        assert counter.n == 0
        assert "unknown variable 'prev'" in result.output
        result = exile_run(path, "-n", "3")  # at 1 the first iteration has none either: no warning, the same error
        assert "warning" not in result.output and result.exit_code == 1


# ---- environments, secrets, folders and Exile files -------------------------------------------------------------
def test_env_vars_and_an_environment_file_fill_the_templates(tmp_path):
    counter = Counter()
    env = tmp_path / "env.json"
    env.write_text(json.dumps({"name": "ci", "values": [{"key": "prev", "value": "from-env", "enabled": True}]}))
    with serve_in_thread(counter.app()) as url:
        path = counter_collection(url, tmp_path, initial=None)
        assert exile_run(path, "-e", env).exit_code == 0
        assert exile_run(path, "-e", env, "--env-var", "prev=from-flag").exit_code == 0
    assert counter.sent == ["from-env", "from-flag"]


def test_a_secret_from_the_environment_file_is_masked_in_the_output_and_the_reports(tmp_path):
    if "json" not in cli_run.reporters_available():
        pytest.skip("the JSON reporter is not in this tree")
    counter = Counter()
    secret = "s3cr3t-token-value-0042"
    env = tmp_path / "env.json"
    env.write_text(json.dumps({"name": "ci", "values": [{"key": "apiToken", "value": secret, "enabled": True}]}))
    report = tmp_path / "report.json"
    with serve_in_thread(counter.app()) as url:
        path = counter_collection(url, tmp_path, initial=None)
        text = path.read_text().replace("prev={{prev}}", "prev={{apiToken}}")
        path.write_text(text.replace("status(200)", "status(201)"))
        result = exile_run(path, "-e", env, "-r", "cli,json", "--reporter-json-export", report)
    assert result.exit_code == 1, result.output  # a failed check: its request and response go to the report
    assert counter.sent == [secret]
    assert secret not in result.output
    text = report.read_text()
    assert secret not in text and "prev=" in text


def test_folder_runs_one_top_level_folder(order_flow, tmp_path):
    target, url = order_flow
    document = json.loads(COLLECTION.read_text().replace(BENCH_URL, url))
    login, create, pay = document["item"]
    document["item"] = [{"name": "sign in", "item": [login]}, {"name": "buy", "item": [create, pay]}]
    path = tmp_path / "folders.postman_collection.json"
    path.write_text(json.dumps(document))
    data = data_csv(tmp_path, 3)
    result = exile_run(path, "-d", data, "--folder", "sign in")
    assert result.exit_code == 0, result.output
    assert "sign in: passed" in result.output and "requests: 3 passed" in result.output
    assert len(target.tokens) == 3 and not target.orders
    result = exile_run(path, "-d", data, "--folder", "refunds")
    assert result.exit_code == 2
    assert "--folder 'refunds': no such folder (folders: 'sign in', 'buy')" in result.output


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_an_exile_file_runs_with_its_own_rows_or_a_data_file(fmt, order_flow, tmp_path):
    target, url = order_flow
    exile_file = pytest.importorskip("app.interop.exile_file")
    from app.interop import postman

    content = postman.parse(COLLECTION.read_text().replace(BENCH_URL, url))
    content.scenarios = content.scenarios[:1]
    content.scenarios[0].rows = [{**row, "qty": int(row["qty"])} for row in bench_rows(4)]
    path = tmp_path / f"flow.exile.{fmt}"
    path.write_text(exile_file.dump(content, fmt))
    result = exile_run(path)
    assert result.exit_code == 0, result.output
    assert "iterations: 4 passed" in result.output and len(target.paid) == 4
    result = exile_run(path, "-d", data_csv(tmp_path, 2))  # a data file replaces the file's rows
    assert "iterations: 2 passed" in result.output and len(target.paid) == 6


def test_an_exile_file_step_runs_over_the_datasets_it_names_or_every_enabled_one(order_flow, tmp_path):
    target, url = order_flow
    from app.interop import exile_file, postman
    from app.interop.content import DatasetContent

    content = postman.parse(COLLECTION.read_text().replace(BENCH_URL, url))
    content.scenarios = content.scenarios[:1]
    content.scenarios[0].rows = [{**row, "qty": 5} for row in bench_rows(1)]
    order = content.scenarios[0].steps[1]
    # a fan-out step's extractions do not feed later steps: pay is left out here
    content.scenarios[0].steps[2] = content.scenarios[0].steps[2].model_copy(update={"enabled": False})
    content.case(order.case).datasets = [
        DatasetContent(name="one", variables={"qty": 1}),
        DatasetContent(name="two", variables={"qty": 2}),
        DatasetContent(name="off", variables={"qty": 9}, enabled=False),
    ]
    path = tmp_path / "flow.exile.yaml"
    content.scenarios[0].steps[1] = order.model_copy(update={"dataset_mode": "selected", "datasets": ["two", "off"]})
    path.write_text(exile_file.dump(content))
    result = exile_run(path)
    assert result.exit_code == 0, result.output
    assert sorted(target.orders.values()) == [2, 9]  # the two named (a disabled one runs when named)

    content.scenarios[0].steps[1] = order.model_copy(update={"dataset_mode": "all"})
    path.write_text(exile_file.dump(content))
    assert exile_run(path).exit_code == 0
    assert sorted(target.orders.values()) == [1, 2, 2, 9]  # then every enabled dataset: "one" and "two"

    content.scenarios[0].steps[1] = order.model_copy(update={"dataset_mode": "selected", "datasets": ["nope"]})
    path.write_text(exile_file.dump(content))
    result = exile_run(path)
    assert result.exit_code == 2 and "has no dataset 'nope'" in result.output


# ---- on a server ------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def api_server(tmp_path) -> Iterator[str]:
    """The real API in its own process (uvicorn) on the tests' SQLite database; runs execute inline there."""
    if not TEST_DATABASE_URL.startswith("sqlite"):
        pytest.skip("the server process shares the tests' SQLite file")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": TEST_DATABASE_URL, "EXILE_DATA_DIR": TEST_DATA_DIR}
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError((tmp_path / "server.log").read_text()[-2000:]) from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


async def scenario_with_rows(api, project_id: int, url: str, rows: int, edit: Any = None) -> int:
    text = COLLECTION.read_text().replace(BENCH_URL, url)
    if edit is not None:
        text = edit(text)
    response = await api.post(
        f"{API}/projects/{project_id}/imports",
        files={"file": ("collection.json", text.encode())},
        data={"kind": "postman"},
    )
    assert response.status_code == 201, response.text
    scenario_id = response.json()["scenarios"][0]["id"]
    body = [{"variables": row} for row in bench_rows(rows)]
    assert (await api.put(f"{API}/scenarios/{scenario_id}/datasets", json=body)).status_code == 200
    return int(scenario_id)


async def test_run_on_a_server_follows_the_run_and_exits_by_its_result(api, api_server, tmp_path, monkeypatch):
    target = OrderFlow()
    monkeypatch.setenv("GITHUB_SHA", "0123abc")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    monkeypatch.setenv("BUILD_URL", "https://ci.example/job/7")
    callbacks: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        callbacks.append(await request.json())
        return web.Response(status=204)

    app = target.app()
    app.router.add_post("/hook", hook)
    with serve_in_thread(app) as url:
        project_id = (await project(api))["id"]
        scenario_id = await scenario_with_rows(api, project_id, url, 6)
        token = (await api.post(f"{API}/projects/{project_id}/tokens", json={"name": "ci", "role": "runner"})).json()
        junit = tmp_path / "junit.xml"
        args = ["--server", api_server, "--token", token["token"], "--scenario", scenario_id, "--wait"]
        reporting = ["-r", "cli,junit", "--reporter-junit-export", junit, "--callback-url", f"{url}/hook"]
        result = exile_run(*args, "--poll-interval", "0.2", *reporting)
        assert result.exit_code == 0, result.output
        assert "iterations: 6 passed, 0 failed, 0 error" in result.output
        assert "requests: 18 passed" in result.output
        assert len(target.paid) == 6
        run_id = int(result.output.split("run ", 1)[1].split()[0])
        run = (await api.get(f"{API}/scenario-runs/{run_id}")).json()
        assert run["trigger"] == "ci"
        assert run["ci"] == {"commit": "0123abc", "branch": "main", "build_url": "https://ci.example/job/7"}
        assert run["callback_url"] == f"{url}/hook"
        served = await api.get(f"{API}/scenario-runs/{run_id}/report?format=junit")
        downloaded = junit.read_text()
        assert 'tests="18"' in served.text and 'tests="18"' in downloaded
        assert downloaded.count("<testcase ") == served.text.count("<testcase ") == 18
        for _ in range(100):  # the server sends the callback once the run has ended
            if callbacks:
                break
            await asyncio.sleep(0.05)
        assert [(c["run_id"], c["status"]) for c in callbacks] == [(run_id, "passed")]

        failing = await scenario_with_rows(
            api, project_id, url, 2, lambda t: t.replace("to.eql('PAID')", "to.eql('NO')")
        )
        result = exile_run("--server", api_server, "--token", token["token"], "--scenario", failing, "--wait")
        assert result.exit_code == 1, result.output
        assert "iterations: 0 passed, 2 failed" in result.output

    result = exile_run("--server", api_server, "--token", "not-a-token", "--scenario", scenario_id, "--wait")
    assert result.exit_code == 2 and "401" in result.output, result.output
    result = exile_run("--server", api_server, "--scenario", scenario_id)
    assert result.exit_code == 2 and "--server needs --token" in result.output
