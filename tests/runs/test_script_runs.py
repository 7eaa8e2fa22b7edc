"""JavaScript scripts through the API: saved (and refused) on cases, run in scenarios, recorded; hostile scripts
end their own step and leave the server healthy."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.conftest import assert_error
from tests.runs.conftest import order_flow, set_rows, wait_until_finished

API = "/api/v1"

SIGN = """
const body = pm.request.body.raw;
pm.variables.set('signature', CryptoJS.HmacSHA256(body, pm.environment.get('password')).toString());
"""
CHECK_ORDER = """
const json = pm.response.json();
pm.test('order id is a string', () => pm.expect(json.data.order_id).to.be.a('string'));
pm.test('every field is set', () => {
    Object.keys(json.data).forEach((key) => pm.expect(json.data[key], key).to.exist);
});
pm.collectionVariables.set('order_from_script', json.data.order_id);
"""


async def patch_case(api: Any, case_id: int, changes: dict[str, Any]) -> Any:
    version = (await api.get(f"{API}/cases/{case_id}")).json()["version"]
    return await api.patch(f"{API}/cases/{case_id}", json={"version": version, **changes})


async def scripted_flow(api: Any, target: Any) -> dict[str, Any]:
    ids = await order_flow(api, target)
    changed = await patch_case(
        api,
        ids["order"],
        {
            "headers": {"Authorization": "Bearer {{token}}", "X-Signature": "{{signature}}"},
            "pre_processors": [{"type": "script", "source": SIGN}],
            "post_processors": [{"type": "script", "source": CHECK_ORDER}],
        },
    )
    assert changed.status_code == 200, changed.text
    return ids


async def run_scenario(api: Any, ids: dict[str, Any]) -> dict[str, Any]:
    started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    assert started.status_code == 202, started.text
    return await wait_until_finished(api, started.json()["id"])


async def records(api: Any, run_id: int) -> list[dict[str, Any]]:
    page = await api.get(f"{API}/scenario-runs/{run_id}/request-runs", params={"page_size": 100})
    assert page.status_code == 200, page.text
    return [(await api.get(f"{API}/request-runs/{item['id']}")).json() for item in page.json()["items"]]


async def test_scripts_run_in_a_scenario_and_their_tests_are_recorded_with_secrets_masked(api, target):
    ids = await scripted_flow(api, target)
    await set_rows(api, ids["scenario"], [{"username": f"u{i}", "sku": f"s{i}", "qty": 1} for i in range(4)])
    run = await run_scenario(api, ids)
    assert run["status"] == "passed", run
    orders = [r for r in await records(api, run["id"]) if r["step_key"] == "step:1"]
    assert len(orders) == 4
    for record in orders:
        scripted = [a for a in record["assertions"] if a["source"] == "script"]
        assert [(a["expression"], a["passed"]) for a in scripted] == [
            ("order id is a string", True),
            ("every field is set", True),
        ]
        assert "pw-secret-1" not in str(record)
        signature = dict(record["request"]["headers"]).get("X-Signature")
        assert signature == "******"  # an HMAC keyed with the secret is masked like the secret


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("pm.test('x', (", "the script does not parse: SyntaxError"),
        ("pm.sendRequest('http://example.com', () => {});", "not supported by Exile: pm.sendRequest"),
        ("const $ = require('cheerio');", "not supported by Exile: "),
    ],
)
async def test_a_script_that_cannot_run_is_refused_when_saved_naming_the_field(api, target, source, message):
    ids = await order_flow(api, target)
    processors = [{"type": "set", "name": "a", "value": 1}, {"type": "script", "source": source}]
    error = assert_error(await patch_case(api, ids["login"], {"post_processors": processors}), 422)
    assert message in error["message"], error
    [detail] = error["details"]
    assert detail["loc"][-4:] == ["post_processors", 1, "script", "source"], detail


HOSTILE = {
    "reads a file": "const fs = require('fs'); fs.readFileSync('/etc/passwd');",
    "opens a socket": "const net = require('net'); net.connect(80, 'example.com');",
    "reaches the host through eval": "eval('this.constructor.constructor(\"return process\")()').exit(1);",
    "fetches": "fetch('http://127.0.0.1:1/');",
    "loops forever": "while (true) {}",
    # V8 cannot interrupt this builtin: the sandbox's process grows until the time limit (or its heap cap) ends it
    "allocates a gigabyte": "const big = new Array(1024 * 1024 * 128).fill(1.5);",
    "allocates a typed gigabyte": "const big = new Float64Array(1024 * 1024 * 128); big.fill(1);",
    "throws a non-Error": "throw 42;",
    "never resolves a promise": "new Promise(() => {}).then(() => pm.test('never', () => {}));",
}

LIMIT_BROKEN = {
    "loops forever": "ran longer than its time limit (1000 ms)",
    "allocates a gigabyte": "the script ",  # ran longer than its time limit, or used more memory than its limit
    "allocates a typed gigabyte": "RangeError",
    "throws a non-Error": "thrown value: 42",
}


async def test_hostile_scripts_end_their_own_step_and_the_server_stays_healthy(api, target):
    ids = await order_flow(api, target)
    await set_rows(api, ids["scenario"], [{"username": "amy", "sku": "pen", "qty": 1}])
    for why, source in HOSTILE.items():
        changed = await patch_case(api, ids["pay"], {"post_processors": [{"type": "script", "source": source}]})
        if changed.status_code == 422:  # refused when saved: it never runs
            assert "not supported by Exile" in changed.text, (why, changed.text)
            continue
        assert changed.status_code == 200, (why, changed.text)
        run = await run_scenario(api, ids)
        pay = [r for r in await records(api, run["id"]) if r["step_key"] == "step:2"]
        assert len(pay) == 1, (why, pay)
        assert all(r["status"] == "passed" for r in await records(api, run["id"]) if r["step_key"] != "step:2"), why
        if why == "never resolves a promise":
            assert pay[0]["status"] == "passed", (why, pay[0])
        else:
            assert pay[0]["status"] == "error" and pay[0]["error"], (why, pay[0])
        if why in LIMIT_BROKEN:
            assert LIMIT_BROKEN[why] in pay[0]["error"], (why, pay[0]["error"])
        health = await api.get("/health")
        assert health.status_code == 200, (why, health.text)
    # and a plain run still works afterwards
    changed = await patch_case(api, ids["pay"], {"post_processors": []})
    assert changed.status_code == 200
    assert (await run_scenario(api, ids))["status"] == "passed"


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="set TEST_REDIS_URL to run the Celery worker tests")
async def test_scripts_run_the_same_in_a_celery_worker(api, target, monkeypatch, tmp_path):
    """A worker process starts its own script process: the same tests pass, the same values flow on."""
    from tests.runs.test_celery import Worker, use_broker

    ids = await scripted_flow(api, target)
    await set_rows(api, ids["scenario"], [{"username": f"u{i}", "sku": f"s{i}", "qty": 1} for i in range(3)])
    inline = await run_scenario(api, ids)
    use_broker(monkeypatch)
    worker = Worker(tmp_path / "worker.log")
    try:
        remote = await run_scenario(api, ids)
    finally:
        worker.stop()
    assert remote["executor"] == "celery" and inline["executor"] == "inline"
    assert remote["status"] == inline["status"] == "passed", (remote, inline)

    def scripted(records: list[dict[str, Any]]) -> list[Any]:
        return sorted(
            (r["iteration"], [(a["expression"], a["passed"]) for a in r["assertions"] if a["source"] == "script"])
            for r in records
            if r["step_key"] == "step:1"
        )

    assert scripted(await records(api, remote["id"])) == scripted(await records(api, inline["id"]))
    assert len(scripted(await records(api, remote["id"]))) == 3
