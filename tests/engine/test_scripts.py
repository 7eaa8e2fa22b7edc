"""JavaScript pre-request and test scripts in a flow: against the real local target, through the real sandbox."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import pytest
from pydantic import ValidationError

from app.engine.specs import RequestSpec, RunOptions
from tests.engine.conftest import Engine, rows, step


def script(source: str) -> dict[str, Any]:
    return {"type": "script", "source": source}


def script_tests(result: Any) -> list[tuple[str, bool, str]]:
    return [(a["expression"], a["passed"], a["message"]) for a in result.assertions if a["source"] == "script"]


async def test_a_pre_request_script_sets_a_value_the_request_uses_and_changes_the_request(engine: Engine):
    pre = """
        const stamp = 'T' + (40 + 2);
        pm.variables.set('stamp', stamp);
        pm.request.headers.upsert({key: 'X-Signed', value: CryptoJS.HmacSHA256('{{sku}}', 'k').toString()});
        pm.request.url.query.add({key: 'via', value: 'script'});
    """
    run = await engine.run(
        step(
            "create",
            method="POST",
            url="/echo",
            query={"stamp": "{{stamp}}"},
            body={"mode": "json", "content": {"sku": "{{sku}}"}},
            pre_processors=[script(pre)],
        ),
        rows=rows({"sku": "pen"}),
    )
    result = run.one()
    assert result.status == "passed", result.error
    sent = run.body()
    assert sent["query"] == {"stamp": "T42", "via": "script"}
    assert sent["parsed"] == {"sku": "pen"}
    # the header was built from the template text, as Postman's pm.request shows it before variables are replaced
    assert sent["headers"]["X-Signed"] == hmac.new(b"k", b"{{sku}}", hashlib.sha256).hexdigest()


async def test_test_scripts_become_named_assertions_and_their_values_reach_the_next_step(engine: Engine):
    post = """
        pm.test('status is 200', () => pm.response.to.have.status(200));
        pm.test('echoes the method', function () {
            const body = pm.response.json();
            pm.expect(body.method).to.equal('PUT');
        });
        tests['legacy flag'] = responseCode.code === 200;
        pm.environment.set('seen', pm.response.json().path);
    """
    run = await engine.run(
        step("first", url="/echo", post_processors=[script(post)]),
        step("second", url="/echo", query={"from": "{{seen}}"}),
    )
    first = run.one("step:0")
    assert first.status == "failed"
    assert script_tests(first) == [
        ("status is 200", True, "passed"),
        ("echoes the method", False, "expected 'GET' to equal 'PUT'"),
        ("legacy flag", True, "passed"),
    ]
    assert run.one("step:1").status == "skipped"  # stop_on_failure: the failed test fails the step

    run = await engine.run(
        step("first", url="/echo", post_processors=[script(post)]),
        step("second", url="/echo", query={"from": "{{seen}}"}),
        options=RunOptions(stop_on_failure=False),
    )
    assert run.body("step:1")["query"] == {"from": "/echo"}


async def test_a_script_that_throws_ends_its_step_error_and_keeps_the_tests_before_the_throw(engine: Engine):
    post = "pm.test('first', () => {}); undefinedFunction(); pm.test('never', () => {});"
    run = await engine.run(step(url="/echo", post_processors=[script(post)]))
    result = run.one()
    assert result.status == "error"
    assert (result.error or "").startswith("step: test script: ") and "undefinedFunction" in (result.error or "")
    assert script_tests(result) == [("first", True, "passed")]


async def test_time_and_memory_limits_end_the_step_error_naming_the_limit_and_the_next_run_is_clean(engine: Engine):
    # The hog gets a time limit it cannot reach even on a loaded machine (GC under contention is slow), so the
    # limit it breaks is always the memory one.
    timed = await engine.run(
        step("loop", url="/echo", post_processors=[script("while (true) {}")]),
        step("fine", url="/echo", post_processors=[script("pm.test('ok', () => pm.response.to.be.ok);")]),
        options=RunOptions(script_time_ms=200, stop_on_failure=False),
    )
    loop, fine = timed.one("step:0"), timed.one("step:1")
    assert loop.status == "error" and "time limit (200 ms)" in (loop.error or ""), loop.error
    assert fine.status == "passed" and script_tests(fine) == [("ok", True, "passed")]

    hogged = await engine.run(
        step(
            "hog", url="/echo", post_processors=[script("const a = []; while (true) a.push(new Array(1e6).fill(7));")]
        ),
        step("fine", url="/echo", post_processors=[script("pm.test('ok', () => pm.response.to.be.ok);")]),
        options=RunOptions(script_time_ms=60_000, script_memory_mb=16, stop_on_failure=False),
    )
    hog, fine = hogged.one("step:0"), hogged.one("step:1")
    assert hog.status == "error" and "memory than its limit (16 MB)" in (hog.error or ""), hog.error
    assert fine.status == "passed" and script_tests(fine) == [("ok", True, "passed")]


async def test_set_next_request_jumps_ends_the_iteration_and_a_loop_is_bounded(engine: Engine):
    jump = "postman.setNextRequest('third');"
    run = await engine.run(
        step("first", url="/echo", post_processors=[script(jump)]),
        step("second", url="/echo"),
        step("third", url="/echo", post_processors=[script("postman.setNextRequest(null);")]),
        step("fourth", url="/echo"),
    )
    assert [r.status for r in run.final] == ["passed", "skipped", "passed", "skipped"]
    assert engine.target.count("/echo") == 2
    assert run.one("step:1").error == "postman.setNextRequest('third') passed over it"
    assert "setNextRequest(null) ended the iteration" in (run.one("step:3").error or "")

    counter = """
        const n = (pm.variables.get('n') || 0) + 1;
        pm.variables.set('n', n);
        if (n < 5) postman.setNextRequest('again');
    """
    run = await engine.run(step("again", url="/echo", post_processors=[script(counter)]))
    assert engine.target.count("/echo") == 2 + 5 and run.outcome.status == "passed"

    run = await engine.run(step("forever", url="/echo", post_processors=[script("postman.setNextRequest('forever')")]))
    assert run.outcome.status == "failed" and engine.target.count("/echo") == 7 + 1001  # the first run, 1000 jumps
    stopped = run.final[-1]
    assert stopped.status == "error" and stopped.response is None
    assert stopped.error == "postman.setNextRequest jumped more than 1000 times in one iteration: stopped as a loop"


async def test_implicit_globals_and_pollution_never_reach_another_iteration(engine: Engine):
    post = """
        pm.test('clean start', () => {
            pm.expect(typeof leaked).to.equal('undefined');
            pm.expect(({}).polluted).to.equal(undefined);
            pm.expect(typeof Array.prototype.sneaky).to.equal('undefined');
        });
        leaked = pm.iterationData.get('i');
        Object.prototype.polluted = 'yes';
        Array.prototype.sneaky = function () {};
        globalThis.alsoLeaked = 1;
    """
    run = await engine.run(
        step(url="/echo", post_processors=[script(post)]),
        rows=rows(*({"i": i} for i in range(20))),
        options=RunOptions(concurrency=8),
    )
    assert run.outcome.status == "passed"
    assert all(script_tests(r) == [("clean start", True, "passed")] for r in run.final)


async def test_a_secret_read_by_a_script_is_masked_in_what_it_derives(engine: Engine):
    pre = "pm.variables.set('signature', CryptoJS.SHA256(pm.environment.get('api_secret')).toString());"
    digest = hashlib.sha256(b"s3cr3t-value-123").hexdigest()
    run = await engine.run(
        step(
            url="/echo",
            headers={"X-Sig": "{{signature}}"},
            pre_processors=[script(pre)],
            assertions=[{"source": "body", "expression": "$.headers['X-Sig']", "op": "eq", "expected": digest}],
        ),
        environment={"secrets": {"api_secret": "s3cr3t-value-123"}},
    )
    result = run.one()
    assert result.status == "passed", result.error  # the target got the signature in clear: the check held
    assert run.body()["headers"]["X-Sig"] == "******"  # and the record masks it, even in the target's echo
    snapshot = str(result.request) + str(result.response)
    assert digest not in snapshot and "s3cr3t-value-123" not in snapshot


def test_a_script_that_does_not_parse_or_uses_what_exile_lacks_is_refused_when_saved():
    with pytest.raises(ValidationError, match="the script does not parse: SyntaxError"):
        RequestSpec.model_validate({"method": "GET", "url": "/x", "post_processors": [script("pm.test('a', (")]})
    with pytest.raises(ValidationError, match=r"not supported by Exile: pm\.sendRequest"):
        RequestSpec.model_validate(
            {"method": "GET", "url": "/x", "pre_processors": [script("pm.sendRequest('http://x', () => {});")]}
        )
    with pytest.raises(ValidationError, match="at most 100000 characters"):
        RequestSpec.model_validate({"method": "GET", "url": "/x", "pre_processors": [script("//" + "x" * 100_000)]})


async def test_a_run_cancelled_while_a_script_runs_leaves_the_sandbox_answering_the_next_script(engine: Engine):
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, cancel.set)
    busy = step("busy", url="/echo", post_processors=[script("while (true) {}")])
    run = await engine.run(busy, options=RunOptions(script_time_ms=5000), cancel=cancel)
    assert run.outcome.status == "cancelled"
    # the cancelled script's answer never reaches the next one: the next run's tests are its own
    run = await engine.run(step(url="/echo", post_processors=[script("pm.test('mine', () => {});")]))
    assert run.outcome.status == "passed" and script_tests(run.one()) == [("mine", True, "passed")]


async def test_scripts_sent_together_still_charge_a_broken_limit_to_the_one_script_that_broke_it(engine: Engine):
    """At concurrency the waiting scripts go to V8 in one call; a batch that breaks a limit is run again one by one."""
    post = """
        if (pm.iterationData.get('i') === 5) { while (true) {} }
        pm.test('row ' + pm.iterationData.get('i'), () => pm.response.to.have.status(200));
    """
    run = await engine.run(
        step(url="/echo", post_processors=[script(post)]),
        rows=rows(*({"i": i} for i in range(24))),
        options=RunOptions(concurrency=12, script_time_ms=300, stop_on_failure=False),
    )
    by_row = {r.iteration: r for r in run.final}
    assert len(by_row) == 24
    assert by_row[5].status == "error" and "time limit (300 ms)" in (by_row[5].error or "")
    for i, result in by_row.items():
        if i != 5:
            assert result.status == "passed" and script_tests(result) == [(f"row {i}", True, "passed")], result


def test_the_script_process_gets_none_of_the_servers_environment(monkeypatch):
    """Defence in depth: were V8 ever escaped, the process it runs in holds no database URL and no secret key."""
    from app.engine.scripts.sandbox import Sandbox

    monkeypatch.setenv("SECRET_KEY", "server-secret-do-not-leak")
    sandbox = Sandbox()
    try:
        sandbox.compile("1;")
        process = sandbox._process
        assert process is not None
        with open(f"/proc/{process.pid}/environ", "rb") as environ:
            seen = dict(item.split(b"=", 1) for item in environ.read().split(b"\0") if item)
        assert b"SECRET_KEY" not in seen and seen[b"TZ"] == b"UTC"
    finally:
        sandbox.close()


def test_a_sandbox_that_cannot_start_is_a_clear_validation_error_not_a_crash(monkeypatch):
    from app.engine.scripts import sandbox as sandbox_module

    broken = sandbox_module.Sandbox()
    monkeypatch.setattr(sandbox_module, "_shared", broken)
    monkeypatch.setattr(sandbox_module, "_DATA_BASE_MB", 1)  # V8 cannot reserve its memory: the process dies
    try:
        with pytest.raises(ValidationError, match="the script could not be checked: the script process did not start"):
            RequestSpec.model_validate(
                {"method": "GET", "url": "/x", "post_processors": [script("pm.test('a', () => {});")]}
            )
    finally:
        broken.close()
