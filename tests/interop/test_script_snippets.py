"""Postman scripts as people write them (tests/interop/script_snippets.py), run by `exile run` and by Newman.

One collection, one request per snippet, against a local target, with a one-row data file. `exile run`
(concurrency 1) must give every supported snippet the table's result per test name, and report every unsupported
one by name; Newman (when installed) must give the table's results too, which is what makes the table Postman's.

A script whose every line has a native equivalent is imported as native checks, not kept as JavaScript: its
results carry no test names (the source is status_code, body...), so for those the request's verdict is compared
(a check failed exactly when the table has a failed test). Rows where Exile differs from Newman through a bug
outside this file are marked xfail with the reason; their expectations stay Newman's.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from tests.interop.order_target import serve_in_thread
from tests.interop.script_snippets import FAILED, PASSED, SKIPPED, SNIPPETS, Snippet, data_csv, target, write_collection

NEWMAN = Path(__file__).resolve().parents[2] / "benchmarks" / ".cache" / "newman" / "node_modules" / ".bin" / "newman"

# `exile run` reports an unsupported script when it reads the collection: the importer refuses a script whose
# source names what the sandbox cannot run (listed as not translated, "the script cannot run: not supported by
# Exile: <names>", comma-separated), and the request runs without it.
UNSUPPORTED_REASON = re.compile(
    r"warning: not translated: item\[(\d+)\]\.event\[(\w+)\]\.script: \d+ line\(s\) "
    r"\(the script cannot run: not supported by Exile: ([^)]*(?:\)[^)]*)*?)\)$",
    re.M,
)

# Exile differs from Newman here: bugs for the JS runtime / Python side, the expectation stays Newman's.
KNOWN_MISMATCHES = {}


def _verdict(passed: bool, message: str | None) -> str:
    return SKIPPED if message == "skipped" else (PASSED if passed else FAILED)


def _rows(snippets: list[Snippet]) -> list[Any]:
    rows = []
    for snippet in snippets:
        marks = []
        if snippet.id in KNOWN_MISMATCHES:
            marks.append(pytest.mark.xfail(reason=KNOWN_MISMATCHES[snippet.id], strict=False))
        rows.append(pytest.param(snippet, id=snippet.id, marks=marks))
    return rows


SUPPORTED = [snippet for snippet in SNIPPETS if snippet.unsupported is None]
UNSUPPORTED = [snippet for snippet in SNIPPETS if snippet.unsupported is not None]


def test_the_table_is_large_and_names_what_is_unsupported():
    assert len(SNIPPETS) >= 60
    assert len({snippet.id for snippet in SNIPPETS}) == len(SNIPPETS)
    assert len(UNSUPPORTED) >= 8
    outcomes = [outcome for snippet in SUPPORTED for outcome in snippet.tests.values()]
    assert outcomes.count(FAILED) >= 10 and SKIPPED in outcomes


# ---- the two runs, once per module -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("snippets")
    with serve_in_thread(target()) as url:
        yield work, write_collection(work / "snippets.postman_collection.json", url), data_csv(work / "data.csv")


@pytest.fixture(scope="module")
def exile(served) -> dict[str, Any]:
    work, collection, data = served
    report = work / "exile.json"
    args = ["run", collection, "-d", data, "-r", "cli,json", "--reporter-json-export", report, "--concurrency", "1"]
    result = CliRunner().invoke(cli, [str(arg) for arg in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    executions: dict[str, list[dict[str, Any]]] = {}
    for execution in json.loads(report.read_text())["executions"]:
        executions.setdefault(execution["name"], []).append(execution)
    return {"exit_code": result.exit_code, "output": result.output, "executions": executions}


@pytest.fixture(scope="module")
def newman(served) -> dict[str, Any]:
    if not NEWMAN.exists():
        pytest.skip(
            f"Newman is not installed ({NEWMAN}): npm install --prefix benchmarks/.cache/newman --no-audit --no-fund "
            "newman@6"
        )
    work, collection, data = served
    report = work / "newman.json"
    command = [
        str(NEWMAN),
        "run",
        str(collection),
        "-d",
        str(data),
        "-r",
        "json",
        "--reporter-json-export",
        str(report),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert report.exists(), done.stderr[-2000:]
    run = json.loads(report.read_text())["run"]
    executions: dict[str, list[dict[str, Any]]] = {}
    for execution in run["executions"]:
        executions.setdefault(execution["item"]["name"], []).append(execution)
    errors = {
        failure["source"]["name"]: failure["error"]["name"]
        for failure in run["failures"]
        if "test" not in failure["error"]  # a throw outside any pm.test
    }
    return {"exit_code": done.returncode, "executions": executions, "errors": errors}


# ---- exile run -------------------------------------------------------------------------------------------------
def test_exile_run_exits_1_for_the_failing_snippets_and_runs_every_request(exile):
    assert exile["exit_code"] == 1, exile["output"][-3000:]
    ran = [
        snippet.id
        for snippet in SNIPPETS
        if any(e["status"] != "skipped" for e in exile["executions"].get(snippet.id, []))
    ]
    assert ran == [snippet.id for snippet in SNIPPETS if snippet.runs]  # the unsupported ones still run


@pytest.mark.parametrize("snippet", _rows(SUPPORTED))
def test_exile_run_gives_newmans_results(exile, snippet: Snippet):
    executions = exile["executions"].get(snippet.id, [])
    if not snippet.runs:  # Newman leaves it out; Exile lists it as skipped, with why
        assert [(e["status"], e["request"], e["assertions"]) for e in executions] == [("skipped", None, [])]
        assert "postman.setNextRequest(" in executions[0]["error"]
        return
    assert executions, f"{snippet.id} did not run"
    named: dict[str, str] = {}
    native: list[bool] = []
    for execution in executions:
        for assertion in execution["assertions"]:
            if assertion["source"] == "script":
                assert assertion["expression"] not in named, f"test {assertion['expression']!r} reported twice"
                named[assertion["expression"]] = _verdict(assertion["passed"], assertion["message"])
            else:
                native.append(assertion["passed"])
    if native and not named:  # imported as native checks: the names are gone, the verdict must be the same
        assert all(native) == (FAILED not in snippet.tests.values()), execution["assertions"]
    else:
        assert named == snippet.tests, [a["message"] for e in executions for a in e["assertions"] if not a["passed"]]
    errors = [execution["error"] for execution in executions if execution["status"] == "error"]
    if snippet.error is not None:
        # Newman names the error of its own JSON.parse JSONError; V8's is a SyntaxError: the step ends in error.
        assert errors and "test script:" in errors[0], executions
    else:
        assert errors == [], errors


@pytest.mark.parametrize("snippet", _rows(UNSUPPORTED))
def test_exile_run_names_what_it_does_not_support(exile, snippet: Snippet):
    listen = "prerequest" if snippet.prerequest else "test"
    reported = {
        (int(index), event): names.split(", ") for index, event, names in UNSUPPORTED_REASON.findall(exile["output"])
    }
    names = reported.get((SNIPPETS.index(snippet), listen))
    assert names is not None, exile["output"][-3000:]
    assert snippet.unsupported in names, f"not supported by Exile: {', '.join(names)}"
    (execution,) = exile["executions"][snippet.id]
    assert execution["status"] != "error", execution["error"]  # the request ran, without the script
    assert not [a for a in execution["assertions"] if a["source"] == "script"]


# ---- Newman --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("snippet", [pytest.param(snippet, id=snippet.id) for snippet in SUPPORTED])
def test_newman_gives_the_tables_results(newman, snippet: Snippet):
    executions = newman["executions"].get(snippet.id, [])
    if not snippet.runs:
        assert executions == []
        return
    named: dict[str, str] = {}
    for execution in executions:
        for assertion in execution.get("assertions", []):
            outcome = SKIPPED if assertion.get("skipped") else (FAILED if assertion.get("error") else PASSED)
            named[assertion["assertion"]] = outcome
    assert named == snippet.tests
    assert newman["errors"].get(snippet.id) == snippet.error
