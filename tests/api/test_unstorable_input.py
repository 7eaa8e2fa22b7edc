"""Values no database can store are refused up front with a 422 naming where they are, never a 500 later.

Found by fuzzing (issue 7, items 15-18): integers beyond 64 bits in free-form JSON (orjson cannot write
them), NUL characters (PostgreSQL refuses them in text and JSON), lone surrogates (no UTF-8 encoder takes
them), non-ASCII digits and out-of-range ids or times in the audit filters, and a validly signed token
whose `sub` is no possible user id. Each test runs on every database of the suite (TEST_DATABASE_URL).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from app import models
from app.core.config import get_settings
from app.core.security import TOKEN_ALGORITHM
from tests import factories
from tests.conftest import MAPPED_MODELS, assert_error, bearer, count_rows

API = "/api/v1"
HUGE = 2**64  # one past what an unsigned 64-bit integer holds (orjson, which stores JSON, writes no more)
MODELS = MAPPED_MODELS


async def _row_counts() -> dict[str, int]:
    return {model.__name__: await count_rows(model) for model in MODELS}


@pytest.fixture
async def world(api: httpx.AsyncClient) -> dict[str, Any]:
    project = await factories.project(api)
    case = await factories.case(api, project["id"], url="http://127.0.0.1:9/x")
    scenario = await factories.scenario(api, project["id"])
    return {"project": project["id"], "case": case["id"], "scenario": scenario["id"]}


# (what, method, path, body, the loc the 422 must name); path and body are filled from the world's ids.
Request = tuple[str, str, str, Callable[[dict[str, Any], Any], Any], list[Any]]


def _requests_carrying(value: Any) -> list[Request]:
    """One request per place a free-form JSON value enters the API, with `value` deep inside it."""
    return [
        (
            "environment variables",
            "POST",
            "/projects/{project}/environments",
            lambda w, v: {"name": "e", "variables": {"limits": {"max": v}}},
            ["body", "variables", "limits", "max"],
        ),
        (
            "case query",
            "POST",
            "/cases",
            lambda w, v: factories.case_body(w["project"], query={"n": v}),
            ["body", "query", "n"],
        ),
        (
            "case body",
            "POST",
            "/cases",
            lambda w, v: factories.case_body(w["project"], body={"mode": "json", "content": {"items": [1, v]}}),
            ["body", "body", "content", "items", 1],
        ),
        (
            "assertion expected",
            "POST",
            "/cases",
            lambda w, v: factories.case_body(
                w["project"], assertions=[{"source": "body", "expression": "$.n", "op": "eq", "expected": v}]
            ),
            ["body", "assertions", 0, "expected"],
        ),
        (
            "dataset variables",
            "POST",
            "/cases/{case}/datasets",
            lambda w, v: {"name": "d", "variables": {"qty": v}},
            ["body", "variables", "qty"],
        ),
        (
            "scenario variables",
            "POST",
            "/scenarios",
            lambda w, v: {"project_id": w["project"], "name": "s", "variables": {"qty": v}},
            ["body", "variables", "qty"],
        ),
        (
            "scenario data rows",
            "PUT",
            "/scenarios/{scenario}/datasets",
            lambda w, v: [{"name": "r", "variables": {"qty": v}}],
            ["body", 0, "variables", "qty"],
        ),
        (
            "step variables",
            "PUT",
            "/scenarios/{scenario}/steps",
            lambda w, v: [{"case_id": w["case"], "variables": {"qty": v}}],
            ["body", 0, "variables", "qty"],
        ),
        (
            "scenario run variables",
            "POST",
            "/scenarios/{scenario}/runs",
            lambda w, v: {"variables": {"qty": v}},
            ["body", "variables", "qty"],
        ),
        (
            "case run variables",
            "POST",
            "/cases/{case}/run",
            lambda w, v: {"variables": {"qty": v}},
            ["body", "variables", "qty"],
        ),
    ]


async def _refused(api: httpx.AsyncClient, world: dict[str, Any], request: Request, value: Any, words: str) -> None:
    what, method, path, body, loc = request
    before = await _row_counts()
    response = await api.request(method, API + path.format(**world), json=body(world, value))
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == loc, (what, error)
    assert words in error["details"][0]["msg"], (what, error)
    assert await _row_counts() == before, f"{what}: something was written"


@pytest.mark.parametrize("request_", _requests_carrying(HUGE), ids=lambda r: r[0])
async def test_an_integer_beyond_64_bits_anywhere_in_json_is_a_422_naming_it(api, world, request_):
    await _refused(api, world, request_, HUGE, "64-bit")


async def test_the_64_bit_limits_themselves_are_accepted(api, world):
    for value in (2**64 - 1, -(2**63)):
        body = {"name": "e", "variables": {"max": value}}
        created = await factories.create(
            api, f"{API}/projects/{world['project']}/environments", body | {"name": str(value)}
        )
        assert created["variables"] == {"max": value}
    too_small = {"name": "e", "variables": {"min": -(2**63) - 1}}
    response = await api.post(f"{API}/projects/{world['project']}/environments", json=too_small)
    assert assert_error(response, 422)["details"][0]["loc"] == ["body", "variables", "min"]


@pytest.mark.parametrize("request_", _requests_carrying("a\x00b"), ids=lambda r: r[0])
async def test_a_nul_character_anywhere_in_json_is_a_422_naming_it(api, world, request_):
    await _refused(api, world, request_, "a\x00b", "NUL")


@pytest.mark.parametrize(
    ("what", "path", "body", "loc"),
    [
        ("project name", "/projects", {"name": "shop\x00"}, ["body", "name"]),
        ("project description", "/projects", {"name": "shop", "description": "\x00"}, ["body", "description"]),
        ("token name", "/projects/{project}/tokens", {"name": "ci\x00"}, ["body", "name"]),
        ("case name", "/cases", "case", ["body", "name"]),
        (
            "a variable's name",
            "/cases/{case}/datasets",
            {"name": "d", "variables": {"q\x00": 1}},
            ["body", "variables", "q\x00"],
        ),
    ],
)
async def test_a_nul_character_in_a_typed_field_or_a_key_is_a_422(api, world, what, path, body, loc):
    if body == "case":
        body = factories.case_body(world["project"], name="log\x00in")
    before = await _row_counts()
    response = await api.post(API + path.format(**world), json=body)
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == loc, (what, error)
    assert "NUL" in error["details"][0]["msg"]
    assert await _row_counts() == before


async def test_a_lone_surrogate_or_a_non_finite_number_is_a_422_not_a_crash(api, world):
    url = f"{API}/projects/{world['project']}/environments"
    for raw, words in (
        (b'{"name": "e", "variables": {"s": "\\ud800"}}', "surrogate"),
        (b'{"name": "\\udfff"}', "surrogate"),
        (b'{"name": "e", "variables": {"n": NaN}}', "finite"),
        (b'{"name": "e", "variables": {"n": -Infinity}}', "finite"),
    ):
        response = await api.post(url, content=raw, headers={"Content-Type": "application/json"})
        error = assert_error(response, 422, "validation_error")
        assert words in error["details"][0]["msg"], (raw, error)


async def test_json_nested_deeper_than_the_limit_is_a_422(api, world):
    deep: Any = 1
    for _ in range(300):  # orjson cannot write more than 254 levels
        deep = [deep]
    response = await api.post(
        f"{API}/projects/{world['project']}/environments", json={"name": "e", "variables": {"d": deep}}
    )
    error = assert_error(response, 422, "validation_error")
    assert "deeper" in error["details"][0]["msg"]
    assert await count_rows(models.Environment) == 0


@pytest.mark.parametrize("path", ["/cases", "/scenarios"])
@pytest.mark.parametrize("param", ["q", "tag"])
async def test_a_nul_in_a_list_filter_is_a_422(api, world, path, param):
    error = assert_error(await api.get(API + path, params={param: "a\x00b"}), 422, "validation_error")
    assert error["details"][0]["loc"] == ["query", param]
    assert "NUL" in error["details"][0]["msg"]


# --- the audit filters (item 17) -------------------------------------------------------------------


@pytest.fixture
async def root(client: httpx.AsyncClient, make_user) -> httpx.AsyncClient:
    admin = await make_user(email="root@example.com", is_admin=True)
    client.headers.update(bearer(admin))
    await factories.project(client)  # one audit entry to filter
    return client


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"actor": "99999999999999999999999"}, ["query", "actor"]),
        ({"actor": "0"}, ["query", "actor"]),
        ({"actor": "a\x00"}, ["query", "actor"]),
        ({"entity": "\x00"}, ["query", "entity"]),
        ({"action": "\x00"}, ["query", "action"]),
        ({"since": "0001-01-01T00:00:00+14:00"}, ["query", "since"]),
        ({"until": "9999-12-31T23:59:59-14:00"}, ["query", "until"]),
    ],
)
async def test_audit_filters_out_of_range_are_a_422_naming_the_parameter(root, params, loc):
    error = assert_error(await root.get(f"{API}/audit", params=params), 422, "validation_error")
    assert error["details"][0]["loc"] == loc, error


async def test_audit_actor_that_is_a_digit_only_to_unicode_is_searched_as_text(root):
    page = await root.get(f"{API}/audit", params={"actor": "²"})
    assert page.status_code == 200, page.text
    assert page.json()["total"] == 0
    found = await root.get(f"{API}/audit", params={"actor": "root@"})
    assert found.json()["total"] == 1


async def test_audit_time_bounds_at_the_edges_of_the_calendar_still_work(root):
    everything = await root.get(f"{API}/audit", params={"since": "0001-01-01T14:00:00+14:00"})
    assert everything.status_code == 200, everything.text
    assert everything.json()["total"] == 1
    nothing = await root.get(f"{API}/audit", params={"until": "0001-01-02T00:00:00"})
    assert nothing.status_code == 200, nothing.text
    assert nothing.json()["total"] == 0


async def test_a_token_expiry_that_does_not_fit_utc_is_a_422(api, world):
    body = {"name": "ci", "expires_at": "9999-12-31T23:59:59-14:00"}
    error = assert_error(await api.post(f"{API}/projects/{world['project']}/tokens", json=body), 422)
    assert error["details"][0]["loc"] == ["body", "expires_at"]
    assert await count_rows(models.ApiToken) == 0


# --- signed tokens with claims no user can have (item 18) ----------------------------------------


def _signed(**claims: Any) -> dict[str, str]:
    payload = {"typ": "access", "exp": datetime.now(UTC) + timedelta(minutes=5), **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, get_settings().signing_key(), algorithm=TOKEN_ALGORITHM)}"}


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "99999999999999999999999"},
        {"sub": str(2**63)},
        {"sub": "0"},
        {"sub": "-1"},
        {"sub": "²"},
        {"sub": "1e3"},
    ],
    ids=["huge", "2**63", "zero", "negative", "unicode-digit", "float"],
)
async def test_a_validly_signed_token_whose_subject_is_no_possible_user_is_a_401(client, user, claims):
    error = assert_error(await client.get(f"{API}/auth/me", headers=_signed(**claims)), 401, "not_authenticated")
    assert "sign in again" in error["message"]


async def test_a_validly_signed_token_with_a_malformed_issue_time_is_a_401_or_works_not_a_500(client, user):
    for iat_ms in ("soon", 10**30, [1]):
        response = await client.get(f"{API}/auth/me", headers=_signed(sub=str(user.id), iat_ms=iat_ms))
        assert response.status_code in (200, 401), response.text
    fine = await client.get(f"{API}/auth/me", headers=_signed(sub=str(user.id)))
    assert fine.status_code == 200, fine.text


async def test_a_nul_in_the_sign_in_form_is_a_422_not_a_crash(client, user):
    response = await client.post(f"{API}/auth/token", data={"username": "qa@example.com\x00", "password": "x"})
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", "username"]
    password_with_nul = await client.post(f"{API}/auth/token", data={"username": "qa@example.com", "password": "\x00"})
    assert_error(password_with_nul, 401, "invalid_credentials")  # hashed, never stored: just wrong
