"""Records stay small and runs end normally whatever a target sends (issue 7 items 2, 10, 11, 12).

Through the real run API and the database sink, against the hostile target of tests/hostile.py: values that are
not JSON, bodies over the response cap (RESPONSE_MAX_BYTES), a 20 MiB page copied into assertions, extracted
values and every later step's data snapshot, and backtracking regexes. The rows are read back from the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from app.core.config import get_settings
from app.core.db import get_session_factory
from app.models import ApiRequestRun
from tests.conftest import assert_error
from tests.factories import create, project, put_steps
from tests.hostile import EVIL_TEXT, MIB, HostileTarget, serve
from tests.runs.conftest import wait_until_finished

VALUE_LIMIT = 4096  # RunOptions.value_limit: characters of a value a record keeps
BODY_LIMIT = 65536  # BODY_SNAPSHOT_LIMIT
ROW_BOUND = 2 * BODY_LIMIT + 20 * VALUE_LIMIT  # generous: two body snapshots and a score of bounded values


@pytest.fixture(scope="module")
async def hostile() -> AsyncIterator[HostileTarget]:
    async with serve(HostileTarget()) as target:
        yield target


async def setup(api: httpx.AsyncClient, hostile: HostileTarget) -> tuple[int, int]:
    """A project and an environment on the hostile target."""
    proj = await project(api)
    env = await create(api, f"/api/v1/projects/{proj['id']}/environments", {"name": "hostile", "base_url": hostile.url})
    return proj["id"], env["id"]


async def new_case(api: httpx.AsyncClient, project_id: int, name: str, **request: Any) -> int:
    body = {"project_id": project_id, "name": name, "method": "GET", "url": "/small", **request}
    return int((await create(api, "/api/v1/cases", body))["id"])


async def run_scenario(api: httpx.AsyncClient, project_id: int, env_id: int, case_ids: list[int]) -> dict[str, Any]:
    scenario = await create(
        api, "/api/v1/scenarios", {"project_id": project_id, "name": "hostile", "settings": {"stop_on_failure": False}}
    )
    await put_steps(api, scenario["id"], [{"case_id": case_id} for case_id in case_ids])
    started = await api.post(f"/api/v1/scenarios/{scenario['id']}/runs", json={"environment_id": env_id})
    assert started.status_code == 202, started.text
    return await wait_until_finished(api, started.json()["id"], seconds=120)


async def details(api: httpx.AsyncClient, run_id: int) -> list[dict[str, Any]]:
    """Every record of the run as the API shows it (with its request, data and response snapshots)."""
    page = await api.get(f"/api/v1/scenario-runs/{run_id}/request-runs", params={"page_size": 100})
    assert page.status_code == 200, page.text
    shown = []
    for item in page.json()["items"]:
        detail = await api.get(f"/api/v1/request-runs/{item['id']}")
        assert detail.status_code == 200, detail.text
        shown.append(detail.json())
    return sorted(shown, key=lambda record: record["id"])


async def stored_sizes(run_id: int) -> list[dict[str, int]]:
    """Characters of each stored field of each record of the run, read from the database."""
    async with get_session_factory()() as session:
        rows = (await session.scalars(select(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run_id))).all()
    fields = ("request", "dataset", "response", "assertions", "extracted")
    return [
        {**{name: len(orjson.dumps(getattr(row, name))) for name in fields}, "error": len(row.error or "")}
        for row in rows
    ]


# ---- item 2 ---------------------------------------------------------------------------------------------
async def test_expression_values_that_are_not_json_are_recorded_and_the_run_ends_normally(
    api: httpx.AsyncClient, hostile: HostileTarget
):
    project_id, env_id = await setup(api, hostile)
    odd = await new_case(
        api,
        project_id,
        "odd values",
        assertions=[
            {"source": "expression", "expression": "headers.items()"},
            {"source": "expression", "expression": "body.keys()"},
            {"source": "expression", "expression": "{1, 2, 'three'}"},
        ],
    )
    too_big = await new_case(
        api, project_id, "too big", assertions=[{"source": "expression", "expression": "len(text * 10**6) > 0"}]
    )
    after = await new_case(api, project_id, "after", assertions=[{"source": "status_code", "expected": 200}])
    run = await run_scenario(api, project_id, env_id, [odd, too_big, after])
    assert run["status"] == "failed", run  # the limit ended one step; nothing crashed
    assert run["requests"] == {**run["requests"], "passed": 2, "error": 1}
    odd_record, too_big_record, after_record = await details(api, run["id"])
    items, keys, a_set = (check["actual"] for check in odd_record["assertions"])
    assert ["x-trace", "t-1"] in items
    assert keys == ["received", "items"]
    assert a_set == ["three", 1, 2]
    assert odd_record["status"] == "passed"
    assert too_big_record["status"] == "error"
    assert "the limit is 100000" in too_big_record["error"]
    assert after_record["status"] == "passed"


# ---- item 10 --------------------------------------------------------------------------------------------
async def test_bodies_over_the_response_cap_are_cut_and_the_record_says_so(
    api: httpx.AsyncClient, hostile: HostileTarget, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(get_settings(), "response_max_bytes", MIB)  # RESPONSE_MAX_BYTES
    project_id, env_id = await setup(api, hostile)
    bomb = await new_case(api, project_id, "bomb", url="/bomb", assertions=[{"source": "status_code", "expected": 200}])
    plain = await new_case(api, project_id, "plain", url="/plain", query={"mib": "100"})
    endless = await new_case(api, project_id, "endless", url="/endless")
    redirected = await new_case(api, project_id, "redirect to a bomb", url="/to", query={"url": "/bomb"})
    reset = await new_case(api, project_id, "reset", url="/reset-mid-body")
    run = await run_scenario(api, project_id, env_id, [bomb, plain, endless, redirected, reset])
    assert run["status"] == "failed", run
    records = await details(api, run["id"])
    responses = {record["name"]: record["response"] for record in records}
    for name in ("bomb", "plain", "endless", "redirect to a bomb"):
        assert responses[name]["truncated"] is True, name
        assert responses[name]["size"] == MIB, name
    assert responses["plain"]["content_length"] == 100 * MIB
    assert responses["redirect to a bomb"]["redirects"][0]["status"] == 302
    [reset_record] = [record for record in records if record["name"] == "reset"]
    assert reset_record["status"] == "error"
    assert "the connection broke while the response body was read" in reset_record["error"]
    assert all(record["status"] == "passed" for record in records if record["name"] != "reset")


async def test_send_shows_the_truncation_too(
    api: httpx.AsyncClient, hostile: HostileTarget, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(get_settings(), "response_max_bytes", 2 * MIB)
    project_id, env_id = await setup(api, hostile)
    plain = await new_case(api, project_id, "plain", url="/plain", query={"mib": "3"})
    sent = await api.post(f"/api/v1/cases/{plain}/run", json={"environment_id": env_id})
    assert sent.status_code == 200, sent.text
    [item] = sent.json()["items"]
    response = item["response"]
    assert (response["truncated"], response["size"], response["content_length"]) == (True, 2 * MIB, 3 * MIB)


# ---- item 11 --------------------------------------------------------------------------------------------
async def test_a_20_mib_page_is_bounded_in_every_stored_field_with_its_size_kept(
    api: httpx.AsyncClient, hostile: HostileTarget, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(get_settings(), "response_max_bytes", 32 * MIB)  # the whole page is read
    page = 20 * MIB
    project_id, env_id = await setup(api, hostile)
    big = await new_case(
        api,
        project_id,
        "big page",
        url="/plain",
        query={"mib": "20"},
        extractors=[{"name": "page", "source": "text"}],
        assertions=[
            {"source": "text", "op": "contains", "expected": "zzz"},
            {"source": "text", "op": "eq", "expected": "short"},
            {"source": "expression", "expression": "text"},
        ],
    )
    uses = [
        await new_case(
            api,
            project_id,
            f"uses the page {n}",
            method="POST",
            body={"mode": "raw", "content": "{{page}}", "content_type": "text/plain"},
            assertions=[{"source": "text", "op": "eq", "expected": "{{page}}"}],
        )
        for n in range(4)
    ]
    broken = await new_case(
        api,
        project_id,
        "error text",
        post_processors=[{"type": "set", "name": "n", "expression": "vars[vars['page']]"}],
    )
    run = await run_scenario(api, project_id, env_id, [big, *uses, broken])
    assert run["status"] == "failed", run
    assert run["requests"]["total"] == 6

    for sizes in await stored_sizes(run["id"]):
        assert all(size < ROW_BOUND for size in sizes.values()), sizes

    records = await details(api, run["id"])
    first, *later, last = records
    contains, equal, expression = first["assertions"]
    for check in (contains, equal, expression):
        assert check["actual"]["truncated"] is True and check["actual"]["size"] == page, check
        assert len(check["actual"]["preview"]) == VALUE_LIMIT
    assert first["extracted"]["page"]["size"] == page
    assert first["response"]["size"] == page and first["response"]["truncated"] is False
    for record in later:
        assert record["dataset"]["values"]["page"]["size"] == page
        assert record["request"]["size"] == page and len(record["request"]["body"]) == BODY_LIMIT
        [check] = record["assertions"]
        assert check["expected"]["truncated"] is True and check["expected"]["size"] == page
    assert last["status"] == "error"
    assert last["error"].endswith("characters]") and "[clipped: " in last["error"]
    assert len(last["error"]) < 2 * VALUE_LIMIT


# ---- item 12 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("part", "field"),
    [
        ({"assertions": [{"source": "text", "op": "regex", "expected": "order(?=\\d)"}]}, ["body", "assertions", 0]),
        ({"extractors": [{"name": "id", "source": "regex", "expression": "(a)\\1"}]}, ["body", "extractors", 0]),
        (
            {"post_processors": [{"type": "extract", "name": "id", "source": "regex", "expression": "(?<!x)y"}]},
            ["body", "post_processors", 0, "extract"],
        ),
    ],
)
async def test_a_regex_re2_cannot_run_is_refused_when_saved(
    api: httpx.AsyncClient, part: dict[str, Any], field: list[Any]
):
    proj = await project(api)
    response = await api.post(
        "/api/v1/cases", json={"project_id": proj["id"], "name": "x", "method": "GET", "url": "/x", **part}
    )
    error = assert_error(response, 422, "validation_error")
    [detail] = error["details"]
    assert detail["loc"] == field, detail
    assert "RE2 syntax" in detail["msg"]


async def test_a_backtracking_regex_finishes_at_once_and_health_stays_responsive(
    api: httpx.AsyncClient, hostile: HostileTarget
):
    evil = "^(a+)+$"
    project_id, env_id = await setup(api, hostile)
    case_id = await new_case(
        api,
        project_id,
        "evil",
        url="/evil",
        extractors=[{"name": "whole", "source": "regex", "expression": evil}],
        assertions=[{"source": "text", "op": "regex", "expected": evil}],
    )
    slowest_health = 0.0  # the longest round of: ask /health, get the answer, wait 10 ms (a blocked loop shows)

    async def poll_health() -> None:
        nonlocal slowest_health
        while True:
            asked = time.perf_counter()
            assert (await api.get("/health")).status_code == 200
            await asyncio.sleep(0.01)
            slowest_health = max(slowest_health, time.perf_counter() - asked)

    poller = asyncio.ensure_future(poll_health())
    started = time.monotonic()
    try:
        run = await run_scenario(api, project_id, env_id, [case_id])
    finally:
        poller.cancel()
    assert time.monotonic() - started < 10  # liveness: Python's `re` takes tens of seconds here
    assert slowest_health < 2.0, f"/health took {slowest_health:.2f} s"
    assert run["status"] == "failed"
    [record] = await details(api, run["id"])
    extractor, assertion = record["assertions"]
    assert "found nothing in regex" in extractor["message"]
    assert assertion["actual"] == EVIL_TEXT and assertion["passed"] is False
