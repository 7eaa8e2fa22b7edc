"""Cases generated from a live service's OpenAPI, run through the real API, find exactly its planted bugs.

The shop (tests/ai/target_app.py) documents its contract correctly and breaks it three times: a maxLength not
enforced, a negative quantity accepted under `minimum: 1`, a missing required field answered with a 500.
Its /openapi.json is fetched over HTTP, turned into cases and boundary datasets with no model, applied to a
project through the import service, and its scenario of every operation run against it: the request runs
that fail are exactly the datasets showing those three bugs, and nothing else fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.ai.generate_cases import EXPECT_MAX, EXPECT_MIN, UnknownOperations, generate
from app.auth.principal import Principal
from app.core.db import get_session_factory
from app.interop import service
from app.interop.content import UnreadableFile
from app.interop.openapi import BODY_VARIABLE
from app.models import User
from tests.ai.target_app import Store, serve
from tests.factories import project
from tests.runs.conftest import wait_until_finished

API = "/api/v1"
OPERATIONS = [
    "listUsers", "createUser", "getUser", "updateUser", "listProducts", "createProduct", "getProduct",
    "createOrder", "getOrder", "deleteOrder",
]  # fmt: skip
# (case, dataset) -> the status the buggy shop answers where the contract says 4xx
BUGS = {
    ("POST /products boundaries", "reject: body.name: maxLength 40 + 1 (just outside)"): 201,  # (a)
    ("POST /products boundaries", "reject: body.name: oversized (1000 characters)"): 201,  # (a)
    ("POST /orders boundaries", "reject: body.quantity: below zero (-1)"): 201,  # (b)
    ("POST /orders boundaries", "reject: body.product_id: missing (required)"): 500,  # (c)
}


@pytest.fixture
def shop() -> Iterator[tuple[Store, str]]:
    store = Store()
    with serve(store) as url:
        yield store, url


async def openapi_of(url: str) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{url}/openapi.json")
    assert response.status_code == 200
    return response.text


async def apply(user: User, project_id: int, content: Any) -> service.ImportReport:
    """What accepting a proposal does: the content applied to the project through the import service."""
    async with get_session_factory()() as session:
        principal = Principal(user=await session.get(User, user.id))
        report = await service.apply(session, principal, project_id, content, dry_run=False)
        await session.commit()
    return report


async def final_request_runs(api: httpx.AsyncClient, run_id: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        params = {"final": "true", "page": page, "page_size": 200}
        answer = (await api.get(f"{API}/scenario-runs/{run_id}/request-runs", params=params)).json()
        records += answer["items"]
        if len(records) >= answer["total"]:
            return records
        page += 1


async def test_the_generated_scenario_fails_exactly_on_the_three_planted_bugs(api, user, shop):
    store, url = shop
    content = generate(await openapi_of(url))
    proj = await project(api)
    report = await apply(user, proj["id"], content)
    assert len(report.cases) == 20  # ten operations, each with its positive and its boundaries case
    [environment] = report.environments
    version = (await api.get(f"{API}/environments/{environment.id}")).json()["version"]
    patched = await api.patch(f"{API}/environments/{environment.id}", json={"version": version, "base_url": url})
    assert patched.status_code == 200, patched.text

    everything = next(scenario.id for scenario in report.scenarios if scenario.key == "all")
    started = await api.post(f"{API}/scenarios/{everything}/runs", json={"environment_id": environment.id})
    assert started.status_code == 202, started.text
    run = await wait_until_finished(api, started.json()["id"], seconds=120)
    records = await final_request_runs(api, run["id"])

    case_keys = {created.id: created.key for created in report.cases}
    dataset_names: dict[int, str] = {}
    for created in report.cases:
        for dataset in (await api.get(f"{API}/cases/{created.id}/datasets")).json():
            dataset_names[dataset["id"]] = dataset["name"]
    outcome = {
        (case_keys[r["case_id"]], dataset_names.get(r["dataset_id"], "")): (r["status"], r["assertions"])
        for r in records
    }
    assert len(outcome) == len(records)  # every request run is one (case, dataset)
    failing = {where: checks for where, (status, checks) in outcome.items() if status != "passed"}
    assert set(failing) == set(BUGS), json.dumps(sorted(map(list, failing)), indent=1)
    for where, checks in failing.items():
        [status_check] = checks
        assert status_check["actual"] == BUGS[where] and status_check["expected"] == [400, 499], status_check
        assert outcome[where][0] == "failed"  # a wrong answer, not a request that could not be made

    # No false alarm: every operation's positive case passed, and so did every other variant, both ways.
    positives = [where for where in outcome if not where[0].endswith("boundaries")]
    assert len(positives) == 10 and all(outcome[where][0] == "passed" for where in positives)
    accepted = [where for where in outcome if where[1].startswith("accept: ")]
    rejected = [where for where in outcome if where[1].startswith("reject: ")]
    assert len(accepted) >= 25 and len(rejected) >= 80
    assert run["status"] == "failed" and run["requests"]["failed"] == 4
    assert run["requests"]["passed"] == len(records) - 4
    # what the shop kept is what it accepted: each accepted order and product went through
    assert any(len(product["name"]) == 41 for product in store.products.values())
    assert any(order["quantity"] == -1 for order in store.orders.values())


async def test_a_dataset_sets_the_body_and_the_status_it_expects(api, user, shop):
    _store, url = shop
    content = generate(await openapi_of(url), ["createOrder"])
    assert [case.key for case in content.cases] == ["POST /orders", "POST /orders boundaries"]
    boundaries = content.case("POST /orders boundaries")
    assert boundaries.body.content == "{{request_body}}"
    by_name = {dataset.name: dataset.variables for dataset in boundaries.datasets}
    missing = by_name["reject: body.product_id: missing (required)"]
    assert missing[BODY_VARIABLE] == {"quantity": 1} and (missing[EXPECT_MIN], missing[EXPECT_MAX]) == (400, 499)
    assert "- reject: body.product_id: missing (required): 'product_id' is required" in boundaries.description
    inside = by_name["accept: body.quantity: maximum 100 (just inside)"]
    assert inside[BODY_VARIABLE] == {"product_id": 1, "quantity": 100} and inside[EXPECT_MIN] == 201

    proj = await project(api)
    report = await apply(user, proj["id"], content)
    [environment] = report.environments
    version = (await api.get(f"{API}/environments/{environment.id}")).json()["version"]
    await api.patch(f"{API}/environments/{environment.id}", json={"version": version, "base_url": url})
    case_id = next(created.id for created in report.cases if created.key == "POST /orders boundaries")
    datasets = {d["name"]: d["id"] for d in (await api.get(f"{API}/cases/{case_id}/datasets")).json()}
    picked = [
        "accept: body.quantity: maximum 100 (just inside)",
        "reject: body.quantity: maximum 100 + 1 (just outside)",
    ]
    response = await api.post(
        f"{API}/cases/{case_id}/run",
        json={"environment_id": environment.id, "dataset_ids": [datasets[name] for name in picked]},
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["status"] for item in items] == ["passed", "passed"]
    assert sorted(item["response"]["status"] for item in items) == [201, 422]
    assert sorted(tuple(item["assertions"][0]["expected"]) for item in items) == [(201, 201), (400, 499)]


async def test_the_generated_cases_are_the_same_every_time(shop):
    _store, url = shop
    text = await openapi_of(url)
    first, second = generate(text), generate(text)
    assert first.model_dump() == second.model_dump()
    assert all(len(case.datasets) <= 60 for case in first.cases)


async def test_operations_filter_the_cases_and_the_scenarios(shop):
    _store, url = shop
    content = generate(await openapi_of(url), ["getUser", "createProduct"])
    assert [case.key for case in content.cases] == [
        "GET /users/{user_id}", "GET /users/{user_id} boundaries", "POST /products", "POST /products boundaries",
    ]  # fmt: skip
    everything = next(scenario for scenario in content.scenarios if scenario.key == "all")
    assert [(step.case, step.dataset_mode) for step in everything.steps] == [
        ("GET /users/{user_id}", "none"),
        ("GET /users/{user_id} boundaries", "all"),
        ("POST /products", "none"),
        ("POST /products boundaries", "all"),
    ]
    assert set(OPERATIONS) >= {"getUser", "createProduct"}


async def test_unknown_operations_are_refused_by_name(shop):
    _store, url = shop
    with pytest.raises(UnknownOperations) as refused:
        generate(await openapi_of(url), ["createOrder", "refundOrder", "fly"])
    assert refused.value.unknown == ["refundOrder", "fly"]
    assert "'refundOrder', 'fly'" in str(refused.value) and "createOrder" in str(refused.value)
    assert refused.value.known == OPERATIONS


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("openapi: [", "line 2"),
        (json.dumps({"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": {"/a": 3}}), "paths./a"),
    ],
)
def test_an_unreadable_document_raises_the_imports_error(text, where):
    with pytest.raises(UnreadableFile) as refused:
        generate(text)
    assert refused.value.where.startswith(where)
