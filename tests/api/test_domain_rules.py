"""The domain's rules, one behaviour per test: lists, storage that keeps types, sharing, in-use guards, cascades."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from app.core.secret_box import unseal
from app.models import (
    ApiRequest,
    ApiRequestDataset,
    ApiRequestTag,
    Environment,
    Project,
    TestScenario,
    TestScenarioCase,
    TestScenarioDataset,
    TestScenarioTag,
)
from tests import factories
from tests.conftest import assert_error, count_rows

API = "/api/v1"
ISO_UTC_MICROS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|\+00:00)$")


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if status != 204 else None


async def get_json(api: httpx.AsyncClient, path: str, **params: Any) -> Any:
    return await ok(await api.get(f"{API}{path}", params=params))


async def ids_of(api: httpx.AsyncClient, path: str, **params: Any) -> list[int]:
    """Ids a list answers for the filter, sorted: these tests check membership, not the order."""
    page = await get_json(api, path, page_size=200, **params)
    assert page["total"] == len(page["items"])
    return sorted(item["id"] for item in page["items"])


async def new_case(api: httpx.AsyncClient, project_id: int, **overrides: Any) -> dict[str, Any]:
    """A small case; tests override only what they are about."""
    body = {"url": "/things", "tags": [], "description": "", **overrides}
    return await factories.case(api, project_id, **body)


def step_in(step: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in step.items() if key != "position"}


# --- Lists: pagination and filters ----------------------------------------------------------------------------


async def test_case_list_pages_through_exactly_the_filtered_cases(api):
    shop = (await factories.project(api, "shop"))["id"]
    other = (await factories.project(api, "other"))["id"]
    shop_ids = sorted([(await new_case(api, shop, name=f"case {n}"))["id"] for n in range(7)])
    await new_case(api, other, name="elsewhere 1")
    await new_case(api, other, name="elsewhere 2")

    seen: list[int] = []
    for page_number, expected_size in ((1, 3), (2, 3), (3, 1)):
        page = await get_json(api, "/cases", project_id=shop, page=page_number, page_size=3)
        assert set(page) == {"items", "total", "page", "page_size"}
        assert (page["total"], page["page"], page["page_size"]) == (7, page_number, 3)
        assert len(page["items"]) == expected_size
        assert all(item["project_id"] == shop for item in page["items"])
        seen += [item["id"] for item in page["items"]]
    assert sorted(seen) == shop_ids and len(set(seen)) == 7  # no case twice, none missing

    beyond = await get_json(api, "/cases", project_id=shop, page=4, page_size=3)
    assert (beyond["items"], beyond["total"]) == ([], 7)
    everything = await get_json(api, "/cases")
    assert (everything["total"], everything["page"], everything["page_size"]) == (9, 1, 50)


async def test_page_size_is_capped_at_200_and_pages_start_at_1(api):
    assert_error(await api.get(f"{API}/cases", params={"page_size": 201}), 422, "validation_error")
    assert_error(await api.get(f"{API}/cases", params={"page": 0}), 422, "validation_error")
    assert (await get_json(api, "/cases", page_size=200))["page_size"] == 200


async def test_case_list_filters_by_project_status_and_tag_and_total_follows(api):
    shop = (await factories.project(api, "shop"))["id"]
    other = (await factories.project(api, "other"))["id"]
    smoke_active = (await new_case(api, shop, name="a", tags=["smoke", "auth"]))["id"]
    smoke_draft = (await new_case(api, shop, name="b", tags=["smoke"], status="draft"))["id"]
    plain_active = (await new_case(api, shop, name="c", tags=["regression"]))["id"]
    archived = (await new_case(api, shop, name="d", tags=["smoke"], status="archived"))["id"]
    foreign_smoke = (await new_case(api, other, name="e", tags=["smoke"]))["id"]

    assert await ids_of(api, "/cases", project_id=shop) == sorted([smoke_active, smoke_draft, plain_active, archived])
    assert await ids_of(api, "/cases", project_id=shop, status="active") == sorted([smoke_active, plain_active])
    assert await ids_of(api, "/cases", status="draft") == [smoke_draft]
    assert await ids_of(api, "/cases", status="archived") == [archived]
    assert await ids_of(api, "/cases", tag="smoke") == sorted([smoke_active, smoke_draft, archived, foreign_smoke])
    assert await ids_of(api, "/cases", project_id=shop, tag="smoke", status="active") == [smoke_active]
    assert await ids_of(api, "/cases", tag="auth") == [smoke_active]
    assert await ids_of(api, "/cases", tag="nothing-has-this") == []
    page = await get_json(api, "/cases", project_id=shop, tag="smoke", page_size=2)
    assert page["total"] == 3 and len(page["items"]) == 2
    assert_error(await api.get(f"{API}/cases", params={"status": "deleted"}), 422, "validation_error")


async def test_case_search_matches_the_name_ignoring_case(api):
    pid = (await factories.project(api))["id"]
    checkout = (await new_case(api, pid, name="Checkout with Card"))["id"]
    lower = (await new_case(api, pid, name="guest checkout"))["id"]
    login = (await new_case(api, pid, name="Login"))["id"]
    assert await ids_of(api, "/cases", q="CHECKOUT") == sorted([checkout, lower])
    assert await ids_of(api, "/cases", q="with card") == [checkout]
    assert await ids_of(api, "/cases", q="lOGi") == [login]
    assert await ids_of(api, "/cases", q="no such thing") == []


async def test_search_treats_percent_underscore_and_backslash_literally(api):
    pid = (await factories.project(api))["id"]
    percent = (await new_case(api, pid, name="discount 50% off"))["id"]
    await new_case(api, pid, name="discount 500 off")
    underscore = (await new_case(api, pid, name="user_name check"))["id"]
    await new_case(api, pid, name="userXname check")
    backslash = (await new_case(api, pid, name=r"path C:\temp\x"))["id"]
    await new_case(api, pid, name="path C:temp")
    assert await ids_of(api, "/cases", q="50%") == [percent]
    assert await ids_of(api, "/cases", q="r_n") == [underscore]
    assert await ids_of(api, "/cases", q="%") == [percent]
    assert await ids_of(api, "/cases", q="_") == [underscore]
    assert await ids_of(api, "/cases", q="c:\\TEMP") == [backslash]

    await factories.scenario(api, pid, name="flow 100% green")
    await factories.scenario(api, pid, name="flow 1000 green")
    await factories.scenario(api, pid, name="flow_a")
    await factories.scenario(api, pid, name="flowXa")
    assert len(await ids_of(api, "/scenarios", q="0%")) == 1
    assert len(await ids_of(api, "/scenarios", q="w_a")) == 1
    assert (await get_json(api, "/scenarios", q="FLOW_A"))["items"][0]["name"] == "flow_a"


async def test_search_ignores_case_of_non_ascii_letters_too(api):
    pid = (await factories.project(api))["id"]
    found = (await new_case(api, pid, name="Über Checkout"))["id"]
    assert await ids_of(api, "/cases", q="über") == [found]


async def test_scenario_list_pages_and_filters_by_project_status_tag_and_text(api):
    shop = (await factories.project(api, "shop"))["id"]
    other = (await factories.project(api, "other"))["id"]
    made = [
        (await factories.scenario(api, shop, name=f"Checkout {n}", tags=["nightly"] if n % 2 else []))["id"]
        for n in range(5)
    ]
    draft = (await factories.scenario(api, shop, name="refund draft", status="draft", tags=["nightly"]))["id"]
    foreign = (await factories.scenario(api, other, name="checkout abroad", tags=["nightly"]))["id"]

    first = await get_json(api, "/scenarios", project_id=shop, page=1, page_size=4)
    second = await get_json(api, "/scenarios", project_id=shop, page=2, page_size=4)
    assert (first["total"], second["total"]) == (6, 6)
    assert (len(first["items"]), len(second["items"])) == (4, 2)
    assert sorted(i["id"] for i in first["items"] + second["items"]) == sorted([*made, draft])

    assert await ids_of(api, "/scenarios", status="draft") == [draft]
    assert await ids_of(api, "/scenarios", tag="nightly") == sorted([made[1], made[3], draft, foreign])
    assert await ids_of(api, "/scenarios", tag="nightly", project_id=shop, status="active") == [made[1], made[3]]
    assert await ids_of(api, "/scenarios", q="CHECKOUT") == sorted([*made, foreign])
    assert await ids_of(api, "/scenarios", q="checkout", project_id=other) == [foreign]


async def test_project_list_paginates(api):
    ids = [(await factories.project(api, f"p{n}"))["id"] for n in range(5)]
    first = await get_json(api, "/projects", page_size=2)
    third = await get_json(api, "/projects", page=3, page_size=2)
    assert (first["total"], len(first["items"]), third["total"], len(third["items"])) == (5, 2, 5, 1)
    middle = await get_json(api, "/projects", page=2, page_size=2)
    assert sorted(p["id"] for p in first["items"] + middle["items"] + third["items"]) == sorted(ids)


# --- Storage keeps what was sent: types, order, size, time -----------------------------------------------------


async def test_json_fields_round_trip_exactly_with_types_and_key_order(api):
    pid = (await factories.project(api))["id"]
    content = {
        "zeta": 1,
        "alpha": {"nested": {"deep": [1, 2.5, -3, 0.1, True, False, None, "x"]}, "empty": {}, "list": []},
        "unicode": "naïve café 中文 🚀 ‘quotes’ \u00a0nbsp",
        "big": 12345678901234567890,
        "negative": -0.000123,
        "float_like_int": 10.0,
        "text_number": "007",
        "bool_text": "true",
        "null": None,
        "mIxEd": {"b": 2, "a": 1, "c": [{"y": 1, "x": 2}]},
    }
    headers = {"X-Zulu": "1", "Accept": "application/json", "X-Alpha": "{{token}}"}
    query = {"page": 1, "flag": True, "ratio": 0.5, "ids": [3, "a", False], "s": "1", "empty": ""}
    sent = await new_case(
        api, pid, body={"mode": "json", "content": content}, headers=headers, query=query, name="types ✓"
    )
    for read in (sent, await get_json(api, f"/cases/{sent['id']}")):
        assert json.dumps(read["body"]["content"]) == json.dumps(content)  # same values, types and key order
        assert list(read["headers"]) == list(headers) and read["headers"] == headers
        assert json.dumps(read["query"]) == json.dumps(query)
        assert read["name"] == "types ✓"
        assert read["body"]["content"]["big"] == 12345678901234567890
        assert isinstance(read["body"]["content"]["float_like_int"], float)
        assert read["query"]["flag"] is True and read["query"]["s"] == "1"

    reordered = {"b": [None, {"y": 1, "x": 2}], "a": {"z": "ü", "a": 1.0}}
    patched = await ok(
        await api.patch(
            f"{API}/cases/{sent['id']}", json={"version": 1, "body": {"mode": "json", "content": reordered}}
        )
    )
    for read in (patched, await get_json(api, f"/cases/{sent['id']}")):
        assert json.dumps(read["body"]["content"]) == json.dumps(reordered)

    variables = {"qty": 3, "price": 9.99, "vip": True, "note": None, "skus": ["a", 1], "z": {"b": 1, "a": 2}}
    dataset = await ok(
        await api.post(f"{API}/cases/{sent['id']}/datasets", json={"name": "d", "variables": variables}), 201
    )
    stored = await get_json(api, f"/datasets/{dataset['id']}")
    assert json.dumps(stored["variables"]) == json.dumps(variables)

    environment = await ok(
        await api.post(f"{API}/projects/{pid}/environments", json={"name": "e", "variables": variables}), 201
    )
    assert json.dumps((await get_json(api, f"/environments/{environment['id']}"))["variables"]) == json.dumps(variables)
    flow = await factories.scenario(api, pid, variables=variables)
    assert json.dumps((await get_json(api, f"/scenarios/{flow['id']}"))["variables"]) == json.dumps(variables)
    rows = [{"name": "r", "variables": variables}]
    await ok(await api.put(f"{API}/scenarios/{flow['id']}/datasets", json=rows))
    read_rows = await get_json(api, f"/scenarios/{flow['id']}/datasets")
    assert json.dumps(read_rows[0]["variables"]) == json.dumps(variables)


async def test_a_300_kb_raw_body_round_trips(api):
    pid = (await factories.project(api))["id"]
    line = "línea {{n}} — ok 🚀 " + "x" * 80 + "\n"
    raw = (line * (300_000 // len(line) + 1))[:300_000]
    created = await new_case(api, pid, body={"mode": "raw", "content": raw, "content_type": "text/plain"})
    read = await get_json(api, f"/cases/{created['id']}")
    assert read["body"]["mode"] == "raw" and read["body"]["content_type"] == "text/plain"
    assert len(read["body"]["content"]) == 300_000
    assert read["body"]["content"] == raw


async def test_a_description_at_its_maximum_length_is_stored_whatever_the_characters(api):
    """20,000 characters are accepted by the schema, so the column must hold them even as 4-byte UTF-8."""
    pid = (await factories.project(api))["id"]
    description = "🚀" * 20_000
    created = await api.post(f"{API}/cases", json=factories.case_body(pid, description=description))
    assert created.status_code == 201, created.text
    assert (await get_json(api, f"/cases/{created.json()['id']}"))["description"] == description


async def test_timestamps_are_iso_8601_utc_with_microseconds_and_survive_storage(api):
    pid = (await factories.project(api))["id"]
    case = await new_case(api, pid)
    dataset = await ok(await api.post(f"{API}/cases/{case['id']}/datasets", json={"name": "d"}), 201)
    environment = await ok(await api.post(f"{API}/projects/{pid}/environments", json={"name": "e"}), 201)
    flow = await factories.scenario(api, pid)
    for created, path in (
        (case, f"/cases/{case['id']}"),
        (dataset, f"/datasets/{dataset['id']}"),
        (environment, f"/environments/{environment['id']}"),
        (flow, f"/scenarios/{flow['id']}"),
        (await get_json(api, f"/projects/{pid}"), f"/projects/{pid}"),
    ):
        read = await get_json(api, path)
        for field in ("created_at", "updated_at"):
            assert ISO_UTC_MICROS.match(read[field]), (path, field, read[field])
            moment = datetime.fromisoformat(read[field].replace("Z", "+00:00"))
            assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0
            assert abs((datetime.now(UTC) - moment).total_seconds()) < 300
            # Read back from the database, the instant is the one the API answered on create, to the microsecond.
            assert moment == datetime.fromisoformat(created[field].replace("Z", "+00:00")), (path, field)


async def test_patch_moves_updated_at_and_keeps_created_at(api):
    pid = (await factories.project(api))["id"]
    case = await new_case(api, pid)
    patched = await ok(await api.patch(f"{API}/cases/{case['id']}", json={"version": 1, "name": "renamed"}))
    assert patched["created_at"] == case["created_at"]
    assert datetime.fromisoformat(patched["updated_at"]) > datetime.fromisoformat(case["updated_at"])
    read = await get_json(api, f"/cases/{case['id']}")
    assert (read["created_at"], read["updated_at"]) == (case["created_at"], patched["updated_at"])

    flow = await factories.scenario(api, pid)
    await factories.put_steps(api, flow["id"], [{"case_id": case["id"]}])
    after_steps = await get_json(api, f"/scenarios/{flow['id']}")
    assert after_steps["version"] == 2 and after_steps["updated_at"] > flow["updated_at"]


async def test_patch_needs_the_version_it_read(api):
    pid = (await factories.project(api))["id"]
    case = await new_case(api, pid)
    error = assert_error(await api.patch(f"{API}/cases/{case['id']}", json={"name": "x"}), 422, "validation_error")
    assert ["body", "version"] in [d["loc"] for d in error["details"]]
    flow = await factories.scenario(api, pid)
    assert_error(
        await api.patch(f"{API}/scenarios/{flow['id']}", json={"version": 2, "name": "x"}), 409, "version_conflict"
    )
    assert (await get_json(api, f"/scenarios/{flow['id']}"))["name"] == "checkout"


# --- Sharing: a shared flow never depends on private work -----------------------------------------------------


async def test_a_case_cannot_be_made_private_while_a_shared_scenario_uses_it(api):
    pid = (await factories.project(api))["id"]
    in_steps = await new_case(api, pid, name="in steps")
    in_setup = await new_case(api, pid, name="in setup")
    flow = await factories.scenario(api, pid, name="shared flow", setup=[{"case_id": in_setup["id"]}])
    await factories.put_steps(api, flow["id"], [{"case_id": in_steps["id"]}])

    for case in (in_steps, in_setup):
        error = assert_error(
            await api.patch(f"{API}/cases/{case['id']}", json={"version": 1, "visibility": "private"}),
            409,
            "case_in_use",
        )
        assert "'shared flow'" in error["message"]
        assert error["details"][0]["loc"] == ["body", "visibility"]
        read = await get_json(api, f"/cases/{case['id']}")
        assert (read["visibility"], read["version"]) == ("project", 1)

    # Once the flow itself is private, its owner may make the cases private too.
    await ok(await api.patch(f"{API}/scenarios/{flow['id']}", json={"version": 2, "visibility": "private"}))
    made_private = await api.patch(f"{API}/cases/{in_steps['id']}", json={"version": 1, "visibility": "private"})
    assert (await ok(made_private))["visibility"] == "private"


async def test_a_private_scenario_using_a_private_case_may_not_be_shared(api):
    pid = (await factories.project(api))["id"]
    secret = await new_case(api, pid, name="my draft", visibility="private")
    flow = await factories.scenario(api, pid, visibility="private")
    await factories.put_steps(api, flow["id"], [{"case_id": secret["id"]}])
    for visibility in ("project", "public"):
        error = assert_error(
            await api.patch(f"{API}/scenarios/{flow['id']}", json={"version": 2, "visibility": visibility}),
            422,
            "validation_error",
        )
        assert error["details"][0]["loc"] == ["body", "visibility"]
        assert "private" in error["message"] and str(secret["id"]) in error["message"]
    assert (await get_json(api, f"/scenarios/{flow['id']}"))["visibility"] == "private"

    # A private case in setup blocks sharing just the same.
    setup_only = await factories.scenario(
        api, pid, name="setup only", visibility="private", setup=[{"case_id": secret["id"]}]
    )
    error = assert_error(
        await api.patch(f"{API}/scenarios/{setup_only['id']}", json={"version": 1, "visibility": "project"}), 422
    )
    assert error["details"][0]["loc"] == ["body", "visibility"]

    # A shared scenario cannot take a private case as a step either.
    shared = await factories.scenario(api, pid, name="shared")
    error = assert_error(await api.put(f"{API}/scenarios/{shared['id']}/steps", json=[{"case_id": secret["id"]}]), 422)
    assert error["details"][0]["loc"] == ["body", 0, "case_id"]

    # Share the case first, then the scenario.
    await ok(await api.patch(f"{API}/cases/{secret['id']}", json={"version": 1, "visibility": "project"}))
    shared_now = await ok(
        await api.patch(f"{API}/scenarios/{flow['id']}", json={"version": 2, "visibility": "project"})
    )
    assert (shared_now["visibility"], shared_now["version"]) == ("project", 3)


# --- Setup and teardown ----------------------------------------------------------------------------------------


async def test_setup_and_teardown_steps_must_use_cases_of_the_same_project(api):
    pid = (await factories.project(api, "shop"))["id"]
    other = (await factories.project(api, "other"))["id"]
    own = await new_case(api, pid)
    foreign = await new_case(api, other)

    error = assert_error(
        await api.post(
            f"{API}/scenarios", json={"project_id": pid, "name": "f", "setup": [{"case_id": foreign["id"]}]}
        ),
        422,
        "validation_error",
    )
    assert error["details"][0]["loc"] == ["body", "setup", 0, "case_id"]
    error = assert_error(
        await api.post(
            f"{API}/scenarios",
            json={
                "project_id": pid,
                "name": "f",
                "teardown": [{"case_id": own["id"]}, {"case_id": 987654321}],
            },
        ),
        422,
    )
    assert error["details"][0]["loc"] == ["body", "teardown", 1, "case_id"]
    assert await count_rows(TestScenario) == 0

    flow = await factories.scenario(api, pid, setup=[{"case_id": own["id"], "alias": "login"}])
    assert flow["setup"][0]["case_id"] == own["id"] and flow["setup"][0]["alias"] == "login"
    error = assert_error(
        await api.patch(f"{API}/scenarios/{flow['id']}", json={"version": 1, "setup": [{"case_id": foreign["id"]}]}),
        422,
    )
    assert error["details"][0]["loc"] == ["body", "setup", 0, "case_id"]
    read = await get_json(api, f"/scenarios/{flow['id']}")
    assert (read["setup"], read["version"]) == (flow["setup"], 1)


async def test_a_case_used_only_in_setup_or_teardown_cannot_be_deleted(api):
    pid = (await factories.project(api))["id"]
    login = await new_case(api, pid, name="login")
    cleanup = await new_case(api, pid, name="cleanup")
    flow = await factories.scenario(
        api, pid, name="nightly", setup=[{"case_id": login["id"]}], teardown=[{"case_id": cleanup["id"]}]
    )
    for case in (login, cleanup):
        error = assert_error(await api.delete(f"{API}/cases/{case['id']}"), 409, "case_in_use")
        assert error["details"][0]["scenarios"] == [{"id": flow["id"], "name": "nightly"}]
    assert await count_rows(ApiRequest) == 2

    await ok(await api.patch(f"{API}/scenarios/{flow['id']}", json={"version": 1, "setup": [], "teardown": []}))
    await ok(await api.delete(f"{API}/cases/{login['id']}"), 204)
    await ok(await api.delete(f"{API}/cases/{cleanup['id']}"), 204)


# --- In-use guards on datasets and refused lists ---------------------------------------------------------------


async def test_a_dataset_selected_by_a_step_cannot_be_deleted(api):
    pid = (await factories.project(api))["id"]
    case = await new_case(api, pid)
    chosen = await ok(await api.post(f"{API}/cases/{case['id']}/datasets", json={"name": "chosen"}), 201)
    spare = await ok(await api.post(f"{API}/cases/{case['id']}/datasets", json={"name": "spare"}), 201)
    flow = await factories.scenario(api, pid, name="data flow")
    steps = await factories.put_steps(
        api, flow["id"], [{"case_id": case["id"], "dataset_mode": "selected", "dataset_ids": [chosen["id"]]}]
    )

    error = assert_error(await api.delete(f"{API}/datasets/{chosen['id']}"), 409, "dataset_in_use")
    assert "'data flow'" in error["message"]
    assert (await get_json(api, f"/datasets/{chosen['id']}"))["id"] == chosen["id"]
    await ok(await api.delete(f"{API}/datasets/{spare['id']}"), 204)  # not selected: free to go

    # Fanning out over all datasets selects none by id, so the dataset may go then.
    await factories.put_steps(api, flow["id"], [{**step_in(steps[0]), "dataset_mode": "all", "dataset_ids": []}])
    await ok(await api.delete(f"{API}/datasets/{chosen['id']}"), 204)
    assert await count_rows(ApiRequestDataset) == 0


async def test_a_step_may_select_only_datasets_of_its_own_case(api):
    pid = (await factories.project(api))["id"]
    case = await new_case(api, pid)
    other_case = await new_case(api, pid)
    foreign = await ok(await api.post(f"{API}/cases/{other_case['id']}/datasets", json={"name": "x"}), 201)
    flow = await factories.scenario(api, pid)
    error = assert_error(
        await api.put(
            f"{API}/scenarios/{flow['id']}/steps",
            json=[{"case_id": case["id"], "dataset_mode": "selected", "dataset_ids": [foreign["id"]]}],
        ),
        422,
    )
    assert error["details"][0]["loc"] == ["body", 0, "dataset_ids", 0]


async def test_a_refused_step_list_changes_nothing(api):
    pid = (await factories.project(api, "shop"))["id"]
    other = (await factories.project(api, "other"))["id"]
    a, b = await new_case(api, pid, name="a"), await new_case(api, pid, name="b")
    foreign = await new_case(api, other, name="foreign")
    flow = await factories.scenario(api, pid)
    other_flow = await factories.scenario(api, pid, name="other flow")
    before = await factories.put_steps(api, flow["id"], [{"case_id": a["id"]}, {"case_id": b["id"]}])
    stranger = (await factories.put_steps(api, other_flow["id"], [{"case_id": a["id"]}]))[0]

    refused = [
        ([{"case_id": b["id"]}, {"case_id": foreign["id"]}], ["body", 1, "case_id"]),
        ([step_in(before[1]), {**step_in(stranger)}], ["body", 1, "id"]),
        ([step_in(before[0]), step_in(before[0])], ["body", 1, "id"]),
        ([{"case_id": a["id"], "alias": "x"}, {"case_id": b["id"], "alias": "x"}], ["body", 1, "alias"]),
    ]
    for steps, loc in refused:
        error = assert_error(await api.put(f"{API}/scenarios/{flow['id']}/steps", json=steps), 422)
        assert error["details"][0]["loc"] == loc, (steps, error)
        assert await get_json(api, f"/scenarios/{flow['id']}/steps") == before
        assert (await get_json(api, f"/scenarios/{flow['id']}"))["version"] == 2
    assert await count_rows(TestScenarioCase) == 3

    rows = await ok(await api.put(f"{API}/scenarios/{flow['id']}/datasets", json=[{"name": "r1"}, {"name": "r2"}]))
    other_row = (await ok(await api.put(f"{API}/scenarios/{other_flow['id']}/datasets", json=[{"name": "x"}])))[0]
    for bad in (
        [{"id": rows[0]["id"], "name": "r1"}, {"id": other_row["id"], "name": "x"}],
        [{"id": rows[0]["id"]}, {"id": rows[0]["id"]}],
        [{"name": "r", "variables": {" bad ": 1}}],
    ):
        assert_error(await api.put(f"{API}/scenarios/{flow['id']}/datasets", json=bad), 422)
        assert await get_json(api, f"/scenarios/{flow['id']}/datasets") == rows
    # Rows that stay keep their ids, even when moved.
    moved = await ok(
        await api.put(
            f"{API}/scenarios/{flow['id']}/datasets", json=[{"id": rows[1]["id"], "name": "r2"}, {"name": "r3"}]
        )
    )
    assert [(r["id"], r["position"]) for r in moved[:1]] == [(rows[1]["id"], 0)]
    assert moved[1]["id"] not in {rows[0]["id"], rows[1]["id"]} and moved[1]["position"] == 1
    assert await count_rows(TestScenarioDataset) == 3


async def test_put_steps_and_rows_with_a_stale_version_are_refused_and_change_nothing(api):
    pid = (await factories.project(api))["id"]
    a, b = await new_case(api, pid, name="a"), await new_case(api, pid, name="b")
    flow = await factories.scenario(api, pid)
    steps = await ok(
        await api.put(f"{API}/scenarios/{flow['id']}/steps", params={"version": 1}, json=[{"case_id": a["id"]}])
    )
    assert (await get_json(api, f"/scenarios/{flow['id']}"))["version"] == 2

    error = assert_error(
        await api.put(f"{API}/scenarios/{flow['id']}/steps", params={"version": 1}, json=[{"case_id": b["id"]}]),
        409,
        "version_conflict",
    )
    assert "version 2" in error["message"]
    assert await get_json(api, f"/scenarios/{flow['id']}/steps") == steps
    assert (await get_json(api, f"/scenarios/{flow['id']}"))["version"] == 2

    rows = await ok(
        await api.put(f"{API}/scenarios/{flow['id']}/datasets", params={"version": 2}, json=[{"name": "r1"}])
    )
    assert_error(
        await api.put(f"{API}/scenarios/{flow['id']}/datasets", params={"version": 2}, json=[{"name": "r2"}]),
        409,
        "version_conflict",
    )
    assert await get_json(api, f"/scenarios/{flow['id']}/datasets") == rows
    assert (await get_json(api, f"/scenarios/{flow['id']}"))["version"] == 3

    moved = await ok(
        await api.put(
            f"{API}/scenarios/{flow['id']}/steps", params={"version": 3}, json=[{"case_id": b["id"]}, step_in(steps[0])]
        )
    )
    assert [s["case_id"] for s in moved] == [b["id"], a["id"]] and moved[1]["id"] == steps[0]["id"]
    assert (await get_json(api, f"/scenarios/{flow['id']}"))["version"] == 4
    assert_error(await api.put(f"{API}/scenarios/{flow['id']}/steps", params={"version": 0}, json=[]), 422)


# --- Cascades --------------------------------------------------------------------------------------------------

MODELS = (
    Project, Environment, ApiRequest, ApiRequestTag, ApiRequestDataset, TestScenario, TestScenarioTag,
    TestScenarioCase, TestScenarioDataset,
)  # fmt: skip


async def _fill_project(api: httpx.AsyncClient, name: str) -> int:
    pid = (await factories.project(api, name))["id"]
    await ok(
        await api.post(
            f"{API}/projects/{pid}/environments", json={"name": "staging", "secret_variables": {"k": "v-secret"}}
        ),
        201,
    )
    await ok(await api.post(f"{API}/projects/{pid}/environments", json={"name": "prod"}), 201)
    login = await new_case(api, pid, name="login", tags=["smoke", "auth"])
    order = await new_case(api, pid, name="order", tags=["smoke"])
    dataset = await ok(await api.post(f"{API}/cases/{login['id']}/datasets", json={"name": "alice"}), 201)
    await ok(await api.post(f"{API}/cases/{order['id']}/datasets", json={"name": "one"}), 201)
    flow = await factories.scenario(api, pid, tags=["nightly"], setup=[{"case_id": login["id"]}])
    await factories.put_steps(
        api,
        flow["id"],
        [
            {"case_id": login["id"], "dataset_mode": "selected", "dataset_ids": [dataset["id"]]},
            {"case_id": order["id"]},
        ],
    )
    await ok(await api.put(f"{API}/scenarios/{flow['id']}/datasets", json=[{"name": "a"}, {"name": "b"}]))
    await ok(await api.post(f"{API}/scenarios/{flow['id']}/clone"), 201)
    return pid


async def test_deleting_a_project_removes_everything_it_holds_and_nothing_else(api):
    doomed = await _fill_project(api, "doomed")
    await _fill_project(api, "kept")
    per_project = {
        Project: 1, Environment: 2, ApiRequest: 2, ApiRequestTag: 3, ApiRequestDataset: 2, TestScenario: 2,
        TestScenarioTag: 2, TestScenarioCase: 4, TestScenarioDataset: 4,
    }  # fmt: skip
    before = {model: await count_rows(model) for model in MODELS}
    assert before == {model: 2 * n for model, n in per_project.items()}

    await ok(await api.delete(f"{API}/projects/{doomed}"), 204)
    after = {model: await count_rows(model) for model in MODELS}
    assert after == per_project
    assert_error(await api.get(f"{API}/projects/{doomed}"), 404, "not_found")
    assert (await get_json(api, "/cases", project_id=doomed))["total"] == 0
    assert (await get_json(api, "/scenarios", project_id=doomed))["total"] == 0
    assert_error(await api.get(f"{API}/projects/{doomed}/environments"), 404, "not_found")


# --- Environments and clones -----------------------------------------------------------------------------------


async def test_environment_proxy_and_verify_tls_round_trip(api):
    pid = (await factories.project(api))["id"]
    created = await ok(
        await api.post(
            f"{API}/projects/{pid}/environments",
            json={
                "name": "lab",
                "base_url": "https://lab.test",
                "verify_tls": False,
                "proxy": "socks5h://127.0.0.1:1080",
            },
        ),
        201,
    )
    assert (created["verify_tls"], created["proxy"]) == (False, "socks5h://127.0.0.1:1080")
    read = await get_json(api, f"/environments/{created['id']}")
    assert (read["verify_tls"], read["proxy"]) == (False, "socks5h://127.0.0.1:1080")

    changed = await ok(
        await api.patch(f"{API}/environments/{created['id']}", json={"version": 1, "proxy": "http://proxy.corp:3128"})
    )
    assert (changed["verify_tls"], changed["proxy"], changed["version"]) == (False, "http://proxy.corp:3128", 2)
    cleared = await ok(
        await api.patch(f"{API}/environments/{created['id']}", json={"version": 2, "proxy": None, "verify_tls": True})
    )
    assert (cleared["verify_tls"], cleared["proxy"], cleared["version"]) == (True, None, 3)
    read = await get_json(api, f"/environments/{created['id']}")
    assert (read["verify_tls"], read["proxy"]) == (True, None)

    defaults = await ok(await api.post(f"{API}/projects/{pid}/environments", json={"name": "plain"}), 201)
    assert (defaults["verify_tls"], defaults["proxy"]) == (True, None)
    error = assert_error(
        await api.post(f"{API}/projects/{pid}/environments", json={"name": "bad", "proxy": "ftp://x"}), 422
    )
    assert error["details"][0]["loc"] == ["body", "proxy"]
    error = assert_error(
        await api.patch(f"{API}/environments/{created['id']}", json={"version": 3, "verify_tls": None}), 422
    )
    assert (await get_json(api, f"/environments/{created['id']}"))["version"] == 3


async def test_secrets_are_write_only_and_the_mask_only_keeps_a_stored_value(api, session):
    pid = (await factories.project(api))["id"]
    error = assert_error(
        await api.post(f"{API}/projects/{pid}/environments", json={"name": "e", "secret_variables": {"k": "******"}}),
        422,
    )
    assert error["details"][0]["loc"][:2] == ["body", "secret_variables"]
    env = await ok(
        await api.post(
            f"{API}/projects/{pid}/environments", json={"name": "e", "secret_variables": {"k": "v1-secret"}}
        ),
        201,
    )
    error = assert_error(
        await api.patch(
            f"{API}/environments/{env['id']}", json={"version": 1, "secret_variables": {"k": "******", "new": "******"}}
        ),
        422,
    )
    assert error["details"][0]["loc"] == ["body", "secret_variables", "new"]
    renamed = await ok(await api.patch(f"{API}/environments/{env['id']}", json={"version": 1, "name": "e2"}))
    assert renamed["secret_variables"] == {"k": "******"}
    changed = await ok(
        await api.patch(f"{API}/environments/{env['id']}", json={"version": 2, "secret_variables": {"k": "v2-secret"}})
    )
    assert changed["secret_variables"] == {"k": "******"} and changed["version"] == 3
    try:
        stored = await session.scalar(select(Environment.secret_variables).where(Environment.id == env["id"]))
    finally:
        await session.rollback()
    assert {name: unseal(value) for name, value in stored.items()} == {"k": "v2-secret"}


async def test_clone_takes_a_custom_name(api):
    pid = (await factories.project(api))["id"]
    case = await new_case(api, pid, name="login", tags=["smoke"])
    await ok(await api.post(f"{API}/cases/{case['id']}/datasets", json={"name": "alice"}), 201)

    named = await ok(await api.post(f"{API}/cases/{case['id']}/clone", json={"name": "login v2"}), 201)
    assert (named["name"], named["version"], named["tags"]) == ("login v2", 1, ["smoke"])
    assert named["id"] != case["id"]
    assert len(await get_json(api, f"/cases/{named['id']}/datasets")) == 1
    bare = await ok(
        await api.post(f"{API}/cases/{case['id']}/clone", json={"name": "no data", "include_datasets": False}), 201
    )
    assert await get_json(api, f"/cases/{bare['id']}/datasets") == []
    default = await ok(await api.post(f"{API}/cases/{case['id']}/clone"), 201)
    assert default["name"] == "login (copy)"
    assert_error(await api.post(f"{API}/cases/{case['id']}/clone", json={"name": "   "}), 422)

    flow = await factories.scenario(api, pid, name="checkout")
    await factories.put_steps(api, flow["id"], [{"case_id": case["id"]}])
    renamed = await ok(await api.post(f"{API}/scenarios/{flow['id']}/clone", json={"name": "checkout EU"}), 201)
    assert (renamed["name"], renamed["version"]) == ("checkout EU", 1)
    assert [s["case_id"] for s in await get_json(api, f"/scenarios/{renamed['id']}/steps")] == [case["id"]]
    assert (await get_json(api, f"/scenarios/{flow['id']}"))["name"] == "checkout"
    assert_error(await api.post(f"{API}/scenarios/{flow['id']}/clone", json={"title": "x"}), 422)
    assert_error(await api.post(f"{API}/scenarios/987654321/clone"), 404, "not_found")


async def test_tags_differing_only_in_case_are_kept_apart(api):
    """The same request must not succeed on one database and conflict on another."""
    pid = (await factories.project(api))["id"]
    upper = (await new_case(api, pid, name="upper", tags=["Smoke"]))["id"]
    lower = (await new_case(api, pid, name="lower", tags=["smoke"]))["id"]
    assert await ids_of(api, "/cases", tag="smoke") == [lower]
    assert await ids_of(api, "/cases", tag="Smoke") == [upper]
    response = await api.post(f"{API}/cases", json=factories.case_body(pid, tags=["smoke", "Smoke"]))
    assert response.status_code == 201, response.text
    assert sorted(response.json()["tags"]) == ["Smoke", "smoke"]
    flow = await api.post(f"{API}/scenarios", json={"project_id": pid, "name": "f", "tags": ["Nightly", "nightly"]})
    assert flow.status_code == 201, flow.text
