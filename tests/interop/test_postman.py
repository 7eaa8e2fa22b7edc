"""Postman collections (v2.0/v2.1) and environments become cases, scenarios and environments.

The bench's order-flow collection imports and its scenario runs green against a local target with the
bench's data rows; three more collections written in the shape of real public ones (Restful Booker,
GitHub, Postman Echo) import with an exact "not translated" list, and a count shows that every meaningful
script line is either a native check or a reported line.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.interop import postman
from app.interop.content import ProjectContent, UnreadableFile
from app.models import ApiRequest, Environment, TestScenario
from tests.conftest import assert_error, count_rows
from tests.factories import project
from tests.interop.mutations import mutated
from tests.interop.order_target import BENCH_URL, OrderFlow, bench_rows, running_order_flow
from tests.runs.conftest import wait_until_finished

API = "/api/v1"
FIXTURES = Path(__file__).parent / "fixtures" / "postman"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


async def upload(
    api: httpx.AsyncClient, project_id: int, text: str, kind: str = "postman", **form: str
) -> httpx.Response:
    return await api.post(
        f"{API}/projects/{project_id}/imports",
        files={"file": ("collection.json", text.encode())},
        data={"kind": kind, **form},
    )


# ---- the bench's order flow, run green --------------------------------------------------------------------------
@pytest.fixture
async def order_target() -> AsyncIterator[tuple[OrderFlow, str]]:
    async with running_order_flow() as served:
        yield served


async def test_the_bench_collection_imports_and_its_scenario_runs_green_with_the_bench_data(api, order_target):
    target, url = order_target
    text = fixture("order-flow.postman_collection.json")
    assert text.count(BENCH_URL) == 3
    proj = await project(api)
    response = await upload(api, proj["id"], text.replace(BENCH_URL, url))
    assert response.status_code == 201, response.text
    report = response.json()
    assert [case["name"] for case in report["cases"]] == ["login", "create order", "pay"]
    assert [(s["key"], s["name"]) for s in report["scenarios"]] == [("collection", "order-flow")]
    assert report["not_translated"] == []
    login = (await api.get(f"{API}/cases/{report['cases'][0]['id']}")).json()
    assert login["assertions"] == [
        {"source": "status_code", "expression": None, "op": "eq", "expected": 200},
        {"source": "body", "expression": "$.code", "op": "eq", "expected": 0},
    ]
    assert login["extractors"] == [{"name": "token", "source": "body", "expression": "$.data.token"}]
    scenario_id = report["scenarios"][0]["id"]
    rows = [{"variables": row} for row in bench_rows(5)]
    assert (await api.put(f"{API}/scenarios/{scenario_id}/datasets", json=rows)).status_code == 200
    started = await api.post(f"{API}/scenarios/{scenario_id}/runs", json={})
    assert started.status_code == 202, started.text
    run = await wait_until_finished(api, started.json()["id"])
    assert run["status"] == "passed", run
    assert run["iterations"]["passed"] == 5 and run["requests"]["passed"] == 15
    assert sorted(target.orders.values()) == [1, 2, 3, 4, 5] and len(target.paid) == 5


# ---- collections in the shape of real ones: exact reports ------------------------------------------------------
STRUCTURE = re.compile(r"^(pm\.test\(.*(function\s*\(\s*\)|=>)\s*\{|[\s{}();]*)$")


def script_events(document: dict[str, Any]) -> Iterator[tuple[str, list[str], int]]:
    """Every script: (location, its lines, how many requests it runs around)."""

    def requests(node: dict[str, Any]) -> int:
        return 1 if "request" in node else sum(requests(child) for child in node.get("item", []))

    def walk(node: dict[str, Any], where: str) -> Iterator[tuple[str, list[str], int]]:
        for event in node.get("event", []):
            yield f"{where}event[{event['listen']}]", event["script"]["exec"], requests(node)
        for index, child in enumerate(node.get("item", [])):
            yield from walk(child, f"{where}item[{index}].")

    yield from walk(document, "")


def meaningful(lines: list[str]) -> list[str]:
    return [
        text for line in lines if (text := line.strip()) and not text.startswith("//") and not STRUCTURE.match(text)
    ]


def native_checks(content: ProjectContent) -> int:
    return sum(
        len(case.assertions)
        + len(case.extractors)
        + sum(1 for p in [*case.pre_processors, *case.post_processors] if p.type != "script")
        for case in content.cases
    )


def script_sources(content: ProjectContent) -> list[str]:
    return [
        p.source for case in content.cases for p in [*case.pre_processors, *case.post_processors] if p.type == "script"
    ]


# a name for the body or a part of it (`let first = album.tracks.items[0];`): no check of its own
DECLARATION = re.compile(
    r"^(var|let|const) \w+ = (pm\.response\.json\(\)|JSON\.parse\(responseBody\)|\w+(\.\w+|\[\d+\])*);$"
)
REPORTS = {  # what is left out: request parts Exile lacks, and scripts the sandbox cannot run (with their lines)
    "restful-booker.postman_collection.json": [
        ("variable[2]", "legacy: x"),
        ("item[1].item[0].request.url.query[2]", "checkin: 2014-03-13"),
        ("item[1].item[2].request.header[2]", "X-Debug: 1"),
    ],
    "github-api.postman_collection.json": [
        ("item[2].item[0].request.body.urlencoded[3]", "redirect_uri=http://localhost/cb"),
        ("item[2].item[0].protocolProfileBehavior.strictSSL", "False"),
        ("item[2].item[1].request.auth", "auth type oauth2"),
    ],
    "postman-echo.postman_collection.json": [
        ("item[0].item[2].request.body.formdata[1]", "avatar=@/Users/me/avatar.png"),
        ("item[0].item[2].request.body.formdata[2]", "note=off"),
        ("item[0].item[3].request.body.urlencoded[1]", "name=bob"),
        ("item[0].item[4].request.header[0]", "Bad Header: x"),
        ("item[0].item[4].request.body.mode", "file"),
        ("item[1].item[0].request.auth", "auth type digest"),
    ],
    "swagger-petstore.postman_collection.json": [
        ("item[0].item[0].response", "1 saved example(s)"),
        ("item[0].item[2].request.body.formdata[1]", "file=@[]"),
        ("item[0].item[3].request.header[0]", "api_key: <string>"),
    ],
}
CHECKS = {  # (native checks, JavaScript scripts kept whole): a folder's or the collection's count once per request
    "order-flow.postman_collection.json": (8, 0),
    "restful-booker.postman_collection.json": (9, 4),
    "github-api.postman_collection.json": (26, 1),  # its `_.each` script runs whole, lodash's `_` included
    "postman-echo.postman_collection.json": (6, 2),
    "swagger-petstore.postman_collection.json": (11, 2),
    "spotify-web-api.postman_collection.json": (0, 4),
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_script_is_native_checks_a_javascript_script_or_reported(name):
    """A script whose every line is a native check becomes those checks; any other runs whole in the sandbox;
    only a script the sandbox cannot run is reported, with the lines that were not kept."""
    text = fixture(name)
    content = postman.parse(text)
    assert [(item.location, item.source.strip()) for item in content.not_translated] == REPORTS.get(name, [])
    reported = {item.location for item in content.not_translated}
    kept = script_sources(content)
    native = scripts = 0
    for where, lines, count in script_events(json.loads(text)):
        if "\n".join(lines) in kept:
            scripts += count
            continue
        untranslated = {f"{where}.script.exec[{n}]" for n in range(len(lines))} & reported
        assert not untranslated or f"{where}.script" in reported  # a line is only listed with its script
        native += count * len([line for line in meaningful(lines) if not DECLARATION.match(line)]) - count * len(
            untranslated
        )
    assert (native_checks(content), len(kept)) == (native, scripts) == CHECKS[name]


def test_folders_flatten_in_newmans_order_with_tags_inherited_auth_and_a_scenario_each():
    content = postman.parse(fixture("github-api.postman_collection.json"))
    assert [case.key for case in content.cases] == [
        "item[0].item[0]", "item[0].item[1]", "item[1].item[0]", "item[1].item[1]",
        "item[2].item[0]", "item[2].item[1]", "item[2].item[2]",
    ]  # fmt: skip
    assert [case.tags for case in content.cases] == [["Users"]] * 2 + [["GraphQL"]] * 2 + [["Apps"]] * 3
    assert [(s.key, s.name, [step.case for step in s.steps]) for s in content.scenarios[1:]] == [
        ("item[0]", "Users", ["item[0].item[0]", "item[0].item[1]"]),
        ("item[1]", "GraphQL", ["item[1].item[0]", "item[1].item[1]"]),
        ("item[2]", "Apps", ["item[2].item[0]", "item[2].item[1]", "item[2].item[2]"]),
    ]
    whole = content.scenarios[0]
    assert whole.key == "collection" and len(whole.steps) == 7 and whole.variables == {"count": "5"}
    assert whole.description == "REST v3 and GraphQL v4 requests for the GitHub API."
    auths = [case.auth.model_dump(by_alias=True) for case in content.cases]
    assert auths == [
        {"type": "bearer", "token": "{{github_token}}"},  # from the collection
        {"type": "none"},  # noauth on the request stops it
        {"type": "bearer", "token": "{{github_token}}"},
        {"type": "bearer", "token": "{{github_token}}"},
        {"type": "none"},
        {"type": "none"},  # the folder's oauth2: reported
        {"type": "api_key", "key": "access_token", "value": "{{github_token}}", "in": "query"},
    ]
    user, public, graphql, templated, exchange, _, search = content.cases
    assert public.url == "https://api.github.com/users/{{username}}"  # a path variable without a value
    assert graphql.body.model_dump() == {
        "mode": "json",
        "content": {
            "query": "query($n: Int!) { viewer { repositories(first: $n) { nodes { name } } } }",
            "variables": {"n": 10},
        },
        "content_type": None,
    }
    assert templated.body.mode == "raw" and templated.body.content_type == "application/json"
    assert json.loads(str(templated.body.content).replace("{{count}}", "5"))["variables"] == {"n": 5}
    assert templated.headers == {}
    assert exchange.body.model_dump()["content"] == {
        "client_id": "{{client_id}}", "client_secret": "{{client_secret}}", "code": "{{code}}"
    }  # fmt: skip
    assert exchange.follow_redirects is False and user.follow_redirects is True
    assert search.url == "https://api.github.com/search/code" and search.query == {"q": "addClass in:file"}
    assert [a.model_dump(exclude_none=True) for a in user.assertions[2:]] == [
        {"source": "status_code", "op": "eq", "expected": 200},
        {"source": "body", "expression": "$.plan.name", "op": "in", "expected": ["free", "pro"]},
        {"source": "body", "expression": "$.login", "op": "regex", "expected": "(?i)^[a-z0-9-]+$"},
        {"source": "body", "expression": "$.email", "op": "ne"},
    ]
    assert [e.model_dump(exclude_none=True) for e in user.extractors] == [
        {"name": "remaining", "source": "header", "expression": "X-RateLimit-Remaining"},
        {"name": "login", "source": "body", "expression": "$.login"},
    ]


def test_request_parts_of_a_v2_0_collection_and_legacy_scripts():
    content = postman.parse(fixture("postman-echo.postman_collection.json"))
    get, raw, form, put, upload_file, digest, bearer = content.cases
    assert get.url == "https://postman-echo.com/get" and get.query == {"foo1": "bar1", "foo2": "bar2"}
    # its test script has a try/catch around JSON.parse: kept whole, as JavaScript, in the order it was written
    assert get.assertions == [] and get.extractors == []
    [kept] = get.post_processors
    assert kept.type == "script" and "try { responseJSON = JSON.parse(responseBody); } catch (e) { }" in kept.source
    assert raw.body.model_dump() == {
        "mode": "raw", "content": "Duis posuere augue vel cursus pharetra.", "content_type": "text/plain"
    }  # fmt: skip
    assert [a.model_dump(exclude_none=True) for a in raw.assertions][1] == {
        "source": "header", "expression": "Content-Type", "op": "eq", "expected": "text/plain"
    }  # fmt: skip
    assert form.body.model_dump() == {"mode": "form", "content": {"strange": "{{strange}}"}, "content_type": None}
    assert form.headers == {}  # the engine writes multipart's Content-Type with its boundary
    [pre] = form.pre_processors  # `var now = Date.now();` has no native form: the script is kept whole
    assert pre.type == "script" and pre.source.startswith("pm.variables.set('strange', 'boom');")
    assert put.url == "https://postman-echo.com/put/profile" and put.query == {"verbose": "1"}
    assert put.headers == {"X-Trace": "abc"} and put.body.model_dump()["content"] == {"name": "amy"}
    assert upload_file.body.mode == "none" and upload_file.headers == {}
    assert digest.auth.type == "none"
    assert bearer.url == "http://postman-echo.com/headers"
    assert bearer.auth.model_dump() == {"type": "bearer", "token": "{{echo_token}}"}


def test_restful_booker_path_variables_query_literal_sets_and_template_expectations():
    content = postman.parse(fixture("restful-booker.postman_collection.json"))
    token, ids, booking, create, patch, delete, ping = content.cases
    assert content.scenarios[0].variables == {"baseUrl": "https://restful-booker.herokuapp.com", "bookingid": ""}
    assert ids.query == {"firstname": "sally", "lastname": "brown"}
    assert booking.url == "{{baseUrl}}/booking/1"
    assert token.body.model_dump()["content"] == {"username": "{{username}}", "password": "{{password}}"}
    [pre] = create.pre_processors  # `new Date()` has no native form: the script is kept whole
    assert pre.model_dump() == {
        "type": "script",
        "language": "javascript",
        "source": 'pm.environment.set("firstname", "Jim");\n'
        'pm.environment.set("checkin", new Date().toISOString().slice(0, 10));',
    }
    [test] = create.post_processors  # it branches with postman.setNextRequest: run whole in the sandbox
    assert create.assertions == [] and "postman.setNextRequest(null);" in test.source
    assert patch.auth.model_dump() == {"type": "basic", "username": "admin", "password": "password123"}
    assert patch.body.model_dump() == {"mode": "json", "content": {"firstname": "James"}, "content_type": None}
    assert delete.headers == {"Cookie": "token={{token}}"} and ping.tags == []
    assert [s.key for s in content.scenarios] == ["collection", "item[0]", "item[1]"]


def test_petstore_inherits_api_key_auth_keeps_repeated_query_values_and_raw_xml():
    content = postman.parse(fixture("swagger-petstore.postman_collection.json"))
    add, find, image, delete, login, update = content.cases
    api_key = {"type": "api_key", "key": "api_key", "value": "{{apiKey}}", "in": "header"}
    assert [case.auth.model_dump(by_alias=True) for case in content.cases] == [api_key] * 4 + [{"type": "none"}] * 2
    assert [p.model_dump(exclude_none=True) for p in find.pre_processors] == [
        {"type": "set", "name": "petName", "value": "doggie"}  # the collection's pre-request script, per request
    ]
    assert find.query == {"status": ["available", "pending"]}
    assert image.url == "{{baseUrl}}/pet/{{petId}}/uploadImage" and image.body.content == {
        "additionalMetadata": "front view"
    }
    assert delete.url == "{{baseUrl}}/pet/{{petId}}" and delete.headers == {}
    assert login.query == {"username": "{{username}}", "password": "{{password}}"}
    assert [e.model_dump(exclude_none=True) for e in login.extractors] == [{"name": "session", "source": "text"}]
    assert update.body.model_dump() == {
        "mode": "raw", "content": "<user><username>theUser</username></user>", "content_type": "application/xml"
    }  # fmt: skip
    assert add.body.mode == "json" and add.headers == {"Accept": "application/json"}


def test_what_the_api_would_refuse_is_reported_not_a_422():
    lines = [
        'pm.expect(pm.response.json().a).to.have.lengthOf("x");',
        "pm.expect(pm.response.json().a).to.match(/(a)\\1/);",
        "pm.expect(pm.response.json().items).to.have.lengthOf(2);",
    ]
    text = collection(
        item=[
            {"name": "a", "request": {"url": "{{b}}/x y"}, "event": [{"listen": "test", "script": {"exec": lines}}]},
            {"name": "ftp", "request": {"url": "ftp://h/x", "method": "GET"}},
            {"name": "copy", "request": {"url": "http://h/x", "method": "COPY"}},
        ]
    )
    content = postman.parse(text)
    [case] = content.cases
    assert case.url == "{{b}}/x%20y"
    # what native checks would refuse (a length that is text, a backreference RE2 lacks) is JavaScript's to judge
    [script] = case.post_processors
    assert case.assertions == [] and script.source == "\n".join(lines)
    assert [(item.location, item.source) for item in content.not_translated] == [
        ("item[1]", "GET ftp://h/x"),
        ("item[2]", "COPY http://h/x"),
    ]
    assert "HTTP method" in content.not_translated[1].reason
    assert [step.case for step in content.scenarios[0].steps] == ["item[0]"]
    long_name = "v" * 129
    content = postman.parse(collection(item=[], variable=[{"key": long_name, "value": 1}, {"key": "ok", "value": 2}]))
    assert content.scenarios[0].variables == {"ok": 2} and content.not_translated[0].source == long_name
    content = postman.parse_environment(json.dumps({"values": [{"key": long_name, "value": "x"}]}))
    assert content.environments[0].variables == {} and content.not_translated[0].location == "values[0]"


async def test_a_collection_imports_through_the_endpoint_with_its_report(api):
    proj = await project(api)
    response = await upload(api, proj["id"], fixture("restful-booker.postman_collection.json"))
    assert response.status_code == 201, response.text
    report = response.json()
    assert len(report["cases"]) == 7 and all(case["id"] for case in report["cases"])
    assert [s["name"] for s in report["scenarios"]] == ["Restful Booker", "Auth", "Booking"]
    assert len(report["not_translated"]) == len(REPORTS["restful-booker.postman_collection.json"])
    steps = (await api.get(f"{API}/scenarios/{report['scenarios'][2]['id']}/steps")).json()
    assert [step["case_id"] for step in steps] == [case["id"] for case in report["cases"][1:6]]


# ---- environments -------------------------------------------------------------------------------------------------
ENVIRONMENT = {
    "id": "5f1a7c1e-3b2d-4c55-9f0e-1d2c3b4a5f6e",
    "name": "Restful Booker (staging)",
    "values": [
        {"key": "baseUrl", "value": "https://staging.example.com", "type": "default", "enabled": True},
        {"key": "username", "value": "admin", "type": "default", "enabled": True},
        {"key": "author", "value": "jane doe", "type": "default", "enabled": True},  # not an "auth" key
        {"key": "password", "value": "password123", "type": "default", "enabled": True},
        {"key": "api_key", "value": "k-2f9c81d0", "type": "default", "enabled": True},
        {"key": "pin", "value": "8731-2209", "type": "secret", "enabled": True},
        {"key": "token", "value": "", "type": "default", "enabled": True},
        {"key": "old_host", "value": "x", "type": "default", "enabled": False},
    ],
    "_postman_variable_scope": "environment",
}


def test_an_environment_file_sends_secret_looking_values_to_secret_variables():
    content = postman.parse_environment(json.dumps(ENVIRONMENT))
    [environment] = content.environments
    assert environment.name == "Restful Booker (staging)"
    assert environment.variables == {
        "baseUrl": "https://staging.example.com", "username": "admin", "author": "jane doe", "token": ""
    }  # fmt: skip
    assert environment.secret_variables == {"password": "password123", "api_key": "k-2f9c81d0", "pin": "8731-2209"}
    assert [(item.location, item.source) for item in content.not_translated] == [
        ("values[6]", "token"),  # looks secret, too short for a secret: kept as a variable, and said so
        ("values[7]", "old_host"),
    ]


async def test_an_environment_imports_through_the_endpoint_and_its_secrets_are_write_only(api):
    proj = await project(api)
    response = await upload(api, proj["id"], json.dumps(ENVIRONMENT), kind="postman_environment")
    assert response.status_code == 201, response.text
    [created] = response.json()["environments"]
    environment = (await api.get(f"{API}/environments/{created['id']}")).json()
    assert environment["variables"]["baseUrl"] == "https://staging.example.com"
    assert set(environment["secret_variables"]) == {"password", "api_key", "pin"}
    assert "password123" not in json.dumps(environment)


async def test_the_same_environment_imported_again_is_merged_not_refused(api):
    proj = await project(api)
    first = await upload(api, proj["id"], json.dumps(ENVIRONMENT), kind="postman_environment")
    [created] = first.json()["environments"]
    environment_id = created["id"]
    version = (await api.get(f"{API}/environments/{environment_id}")).json()["version"]
    kept = await api.patch(
        f"{API}/environments/{environment_id}", json={"version": version, "variables": {"team_only": "kept"}}
    )
    assert kept.status_code == 200, kept.text

    again = await upload(api, proj["id"], json.dumps(ENVIRONMENT), kind="postman_environment")
    assert again.status_code == 201, again.text
    assert again.json()["environments"] == []
    [merged] = again.json()["merged"]  # the same file: nothing new, nothing written
    assert merged == {
        "kind": "environment", "name": ENVIRONMENT["name"], "id": environment_id,
        "variables": [], "secret_variables": [], "base_url_changed": False,
    }  # fmt: skip

    newer = json.loads(json.dumps(ENVIRONMENT))
    newer["values"][0]["value"] = "https://staging-2.example.com"
    newer["values"].append({"key": "region", "value": "eu", "type": "default", "enabled": True})
    newer["values"][1 + [v["key"] for v in newer["values"][1:]].index("password")]["value"] = "rotated-pass-456"
    response = await upload(api, proj["id"], json.dumps(newer), kind="postman_environment")
    [merged] = response.json()["merged"]
    assert merged["variables"] == ["baseUrl", "region"] and merged["secret_variables"] == ["password"]
    environment = (await api.get(f"{API}/environments/{environment_id}")).json()
    assert environment["variables"]["baseUrl"] == "https://staging-2.example.com"
    assert environment["variables"]["region"] == "eu" and environment["variables"]["team_only"] == "kept"
    assert set(environment["secret_variables"]) == {"password", "api_key", "pin"}
    assert len((await api.get(f"{API}/projects/{proj['id']}/environments")).json()) == 1


# ---- files that cannot be read --------------------------------------------------------------------------------
V21 = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
V1 = "https://schema.getpostman.com/json/collection/v1.0.0/collection.json"


def collection(schema: str = V21, **fields: Any) -> str:
    return json.dumps({"info": {"name": "x", "schema": schema}, **fields})


EMPTY_FOLDER_ITEM = [{"name": "f", "item": [{"name": "r", "request": {"url": "/a"}}, {"name": "empty"}]}]
BAD = [
    ("", "$", "got nothing"),
    ("{not json", "$", "JSON"),
    ("[1, 2]", "$", "JSON object with `info`"),
    ('{"item": []}', "info", "`info`"),
    ('{"name": "old", "order": [], "requests": [], "folders": []}', "info", "v1 collection"),
    (collection(V1, item=[]), "info.schema", V21),
    (collection("https://example.com/other.json", item=[]), "info.schema", V21),
    (collection(), "item", "a list of requests"),
    (collection(item=EMPTY_FOLDER_ITEM), "item[0].item[1]", "`request`"),
]


@pytest.mark.parametrize(("text", "where", "expected"), BAD)
def test_an_unreadable_collection_names_where_and_what_was_expected(text, where, expected):
    with pytest.raises(UnreadableFile) as raised:
        postman.parse(text)
    assert raised.value.where == where and expected in raised.value.expected


async def test_unreadable_files_get_422_through_the_endpoint_and_create_nothing(api):
    proj = await project(api)
    for text, where, _ in BAD:
        error = assert_error(await upload(api, proj["id"], text), 422, "file_not_readable")
        assert f"at {where}:" in error["message"], (text, error)
    for text in ("", '{"name": "no values"}', '{"values": [{"value": "no key"}]}'):
        error = assert_error(await upload(api, proj["id"], text, kind="postman_environment"), 422, "file_not_readable")
        assert "postman_environment" in error["message"]
    assert await count_rows(ApiRequest) == 0
    assert await count_rows(TestScenario) == 0
    assert await count_rows(Environment) == 0


def test_mutated_collections_never_crash_the_reader():
    """1,000 collections with one to three values swapped for odd JSON: each is read or refused, never a crash."""
    documents = [json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))]
    odd: list[Any] = [
        None,
        1,
        "",
        " ",
        [],
        {},
        "x",
        True,
        [None],
        {"a": 1},
        -5,
        "{{x}}",
        [{"key": None}],
        [{"key": {}}],
    ]
    rng = random.Random(9)

    for _ in range(1000):
        document = mutated(rng.choice(documents), odd, rng)
        try:
            postman.parse(json.dumps(document))
        except UnreadableFile:
            pass
