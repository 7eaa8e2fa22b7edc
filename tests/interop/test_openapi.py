"""OpenAPI 3.0 (YAML) and 3.1 (JSON) documents become cases that pass against the API they describe.

The pet clinic document (37 operations, `$ref`s across components, allOf/oneOf, nullable and type arrays,
named examples, path/query/header parameters, bearer, API key and basic auth) imports through the API in
both forms; its scenario of every operation runs against a FastAPI app implementing it and passes, status
and JSON Schema checks included. Broken documents get a 422 naming where the problem is and create nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator

from app.interop import openapi
from app.interop.content import UnreadableFile
from app.interop.openapi_document import Document
from app.interop.openapi_instance import NoInstance, instance
from app.interop.openapi_schema import json_schema
from app.models import ApiRequest, ApiRequestDataset, Environment, TestScenario
from tests.conftest import assert_error, count_rows
from tests.factories import project
from tests.interop import openapi_target
from tests.interop.mutations import mutated
from tests.runs.conftest import wait_until_finished

API = "/api/v1"
FIXTURES = Path(__file__).parent / "fixtures" / "openapi"
FORMS = ["petstore-3.0.yaml", "petstore-3.1.json"]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


async def upload(api: httpx.AsyncClient, project_id: int, text: str, **form: str) -> httpx.Response:
    return await api.post(
        f"{API}/projects/{project_id}/imports",
        files={"file": ("openapi.yaml", text.encode())},
        data={"kind": "openapi", **form},
    )


@pytest.fixture
def target() -> Iterator[tuple[openapi_target.Store, str]]:
    store = openapi_target.Store()
    with openapi_target.serve(store) as url:
        yield store, url


async def point_at(api: httpx.AsyncClient, environment_id: int, url: str) -> None:
    """What a user does after the import: the base URL of the server under test, and the secrets."""
    version = (await api.get(f"{API}/environments/{environment_id}")).json()["version"]
    response = await api.patch(
        f"{API}/environments/{environment_id}",
        json={
            "version": version,
            "base_url": url,
            "variables": {"basic_username": openapi_target.ADMIN[0]},
            "secret_variables": {
                "token": openapi_target.TOKEN,
                "api_key": openapi_target.API_KEY,
                "basic_password": openapi_target.ADMIN[1],
            },
        },
    )
    assert response.status_code == 200, response.text


NOT_TRANSLATED = [
    ("servers[1]", "only the first server is the environment"),
    ("paths./pets.get.parameters[2]", "an optional parameter with no example or default: not sent"),
    (
        "components.requestBodies.NewPet.content.application/xml",
        "another form of the same body: the case sends application/json",
    ),
    ("paths./pets/{petId}.delete.parameters[1]", "a cookie parameter is not sent (set it in a header)"),
    (
        "paths./pets/{petId}/uploadImage.post.requestBody.content.multipart/form-data.schema.properties.file",
        "a file field: not supported",
    ),
    ("paths./pets/{petId}/visits.post.callbacks.visitReminder", "a callback is a request the API sends"),
]


# ---- the whole document, imported and run ----------------------------------------------------------------------
@pytest.mark.parametrize("name", FORMS)
async def test_every_operation_becomes_a_case_that_passes_against_the_api_it_describes(api, target, name):
    store, url = target
    proj = await project(api)
    response = await upload(api, proj["id"], fixture(name))
    assert response.status_code == 201, response.text
    report = response.json()
    assert len(report["cases"]) == 37 and all(case["id"] for case in report["cases"])
    assert [s["name"] for s in report["scenarios"]] == [
        "Pet Clinic Store",
        "pets",
        "health",
        "store",
        "users",
        "system",
    ]
    webhook = [("webhooks.newPet", "a webhook is a request the API sends: no case")] if "3.1" in name else []
    assert [(item["location"], item["reason"]) for item in report["not_translated"]] == NOT_TRANSLATED + webhook
    [environment] = report["environments"]
    assert environment["name"] == "Pet Clinic Store (production)"
    stored = (await api.get(f"{API}/environments/{environment['id']}")).json()
    assert stored["base_url"] == "https://eu.petclinic.example.com/v2"  # the server's variables' defaults
    assert set(stored["secret_variables"]) == {"token", "api_key", "basic_password"}
    await point_at(api, environment["id"], url)

    everything = report["scenarios"][0]["id"]
    started = await api.post(f"{API}/scenarios/{everything}/runs", json={"environment_id": environment["id"]})
    assert started.status_code == 202, started.text
    run = await wait_until_finished(api, started.json()["id"])
    records = (await api.get(f"{API}/request-runs", params={"scenario_run_id": run["id"], "limit": 100})).json()
    failed = [(r["step_key"], r.get("error"), r.get("assertions")) for r in records["items"] if r["status"] != "passed"]
    assert run["status"] == "passed", failed
    assert run["requests"]["passed"] == 37
    assert len(set(store.requests)) == 37  # each operation reached, with what the import built
    assert 4 in store.pets and 3 not in store.pets and "bob" not in store.users

    checks = {}
    for created in report["cases"]:
        case = (await api.get(f"{API}/cases/{created['id']}")).json()
        checks[created["key"]] = [a["source"] for a in case["assertions"]]
    assert sum("json_schema" in sources for sources in checks.values()) == 33  # all but the four 204s
    assert checks["DELETE /pets/{petId}"] == ["status_code"]
    assert checks["GET /users/login"] == ["status_code", "header", "json_schema"]  # X-Rate-Limit is required


async def test_named_examples_are_datasets_and_a_case_sends_each_of_them(api, target):
    store, url = target
    proj = await project(api)
    report = (await upload(api, proj["id"], fixture("petstore-3.0.yaml"))).json()
    await point_at(api, report["environments"][0]["id"], url)
    add_pet = next(case for case in report["cases"] if case["key"] == "POST /pets")
    datasets = (await api.get(f"{API}/cases/{add_pet['id']}/datasets")).json()
    assert [d["name"] for d in datasets] == ["cat", "dog"]
    assert datasets[1]["variables"]["request_body"] == {"name": "Rex", "petType": "dog", "packSize": 3}
    response = await api.post(
        f"{API}/cases/{add_pet['id']}/run",
        json={"environment_id": report["environments"][0]["id"], "dataset_ids": [d["id"] for d in datasets]},
    )
    assert response.status_code == 200, response.text
    assert [item["status"] for item in response.json()["items"]] == ["passed", "passed"]
    assert sorted(pet["name"] for pet in store.pets.values() if pet["id"] > 3) == ["Felix", "Rex"]


# ---- what a case is made of ---------------------------------------------------------------------------------------
def test_both_forms_make_the_same_cases():
    older, newer = (openapi.parse(fixture(name)) for name in FORMS)
    shape = [(c.key, c.method, c.url, c.query, c.headers, c.body.mode, c.auth.type, c.tags) for c in older.cases]
    assert shape == [
        (c.key, c.method, c.url, c.query, c.headers, c.body.mode, c.auth.type, c.tags) for c in newer.cases
    ]
    assert [c.body.content for c in older.cases] == [c.body.content for c in newer.cases]


def test_parameters_are_templates_with_their_examples_as_step_variables_and_datasets():
    content = openapi.parse(fixture("petstore-3.0.yaml"))
    pets = content.case("GET /pets")
    assert pets.url == "{{base_url}}/pets"
    assert pets.query == {"limit": "{{limit}}", "status": "{{status}}"}  # `sort` has no value: reported
    assert pets.headers == {"X-Request-ID": "{{X-Request-ID}}"}  # a path-level parameter, through $ref
    assert pets.auth.model_dump() == {"type": "bearer", "token": "{{token}}"}
    steps = {step.case: step for step in content.scenarios[0].steps}
    assert steps["GET /pets"].variables == {
        "X-Request-ID": "3f1c9a52-8f0e-4b7e-9d43-2b1f7d6c0a11", "limit": 20, "status": "available"
    }  # fmt: skip
    assert [(d.name, d.variables) for d in pets.datasets] == [("example", steps["GET /pets"].variables)]
    coupon = content.case("GET /store/coupons/{code}")
    assert coupon.url == "{{base_url}}/store/coupons/{{code}}"
    assert [(d.name, d.variables) for d in coupon.datasets] == [
        ("ten", {"code": "SAVE10"}),
        ("twenty", {"code": "SAVE20"}),
    ]
    assert content.case("DELETE /pets/{petId}").datasets[0].variables == {"petId": 3}  # the operation's own
    assert steps["GET /pets/findByTags"].variables == {"tags": "friendly,small"}  # form, explode false
    inventory = content.case("GET /store/inventory")
    assert inventory.auth.model_dump(by_alias=True) == {
        "type": "api_key", "key": "X-API-Key", "value": "{{api_key}}", "in": "header"
    }  # fmt: skip
    assert content.case("GET /users/login").auth.type == "none"  # `security: []`
    basic = content.case("POST /users/createWithList").auth.model_dump()
    assert basic == {"type": "basic", "username": "{{basic_username}}", "password": "{{basic_password}}"}


def test_bodies_come_from_examples_or_a_minimal_instance_of_the_schema():
    content = openapi.parse(fixture("petstore-3.0.yaml"))

    def body(key: str) -> dict[str, Any]:
        return content.case(key).body.model_dump(exclude_none=True)

    assert body("PUT /pets/{petId}")["content"]["name"] == "Garfield"  # the media type's example
    assert body("POST /pets") == {"mode": "json", "content": "{{request_body}}"}  # named examples: datasets
    assert body("PATCH /pets/{petId}")["content"] == {"name": "Tom"}  # minProperties 1, the property's example
    assert body("POST /pets/{petId}/vaccinations")["content"] == {"vaccine": "rabies", "date": "2024-01-01"}
    assert body("POST /store/orders/{orderId}/items")["content"] == {"sku": "SKU-000", "quantity": 1}  # a pattern
    assert body("POST /categories")["content"] == {"name": "string"}  # recursive parent/children left out
    assert body("POST /users/createWithList")["content"] == [
        {"username": "string", "email": "user@example.com", "password": "stringxx"}
    ]  # minItems 1; minLength 8; readOnly id left out
    assert body("POST /pets/{petId}/form") == {"mode": "urlencoded", "content": {"name": "Odie"}}
    assert body("POST /pets/{petId}/uploadImage") == {"mode": "form", "content": {"caption": "on the sofa"}}


@pytest.mark.parametrize("name", FORMS)
def test_response_schemas_are_standalone_json_schemas_that_a_validator_reads(name):
    content = openapi.parse(fixture(name))
    get_pet = content.case("GET /pets/{petId}")
    schema = next(a.expected for a in get_pet.assertions if a.source == "json_schema")
    Draft202012Validator.check_schema(schema)
    assert "$ref" not in json.dumps(schema)  # inlined: nothing recursive in a pet
    validator = Draft202012Validator(schema)
    cat = {"id": 1, "name": "Tom", "petType": "cat", "huntingSkill": "lazy", "owner": None}
    assert validator.is_valid(cat)  # the owner is nullable (3.0 `nullable`, 3.1 a type array)
    assert not validator.is_valid({k: v for k, v in cat.items() if k != "id"})
    assert not validator.is_valid({**cat, "huntingSkill": None})  # a cat needs a hunting skill: oneOf
    assert not validator.is_valid({**cat, "petType": "dog"})  # and a dog a pack size
    categories = content.case("GET /categories")
    tree = next(a.expected for a in categories.assertions if a.source == "json_schema")
    assert set(tree["$defs"]) == {"Category"}  # a recursive schema keeps one definition
    deep = [{"name": "aa", "children": [{"name": "bb", "parent": {"name": "aa"}, "children": [{"name": 5}]}]}]
    assert not Draft202012Validator(tree).is_valid(deep)
    deep[0]["children"][0]["children"][0]["name"] = "cc"
    assert Draft202012Validator(tree).is_valid(deep)
    user = content.case("GET /users/{username}")
    user_schema = next(a.expected for a in user.assertions if a.source == "json_schema")
    assert user_schema["required"] == ["username", "email"]  # a response never carries the writeOnly password


# ---- the minimal instance generator -----------------------------------------------------------------------------
COMPONENTS = {
    "Base": {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string"}}},
    "Circle": {
        "allOf": [
            {"$ref": "#/components/schemas/Base"},
            {"type": "object", "required": ["radius"], "properties": {"radius": {"type": "number", "minimum": 0.5}}},
        ]
    },
    "Square": {
        "allOf": [
            {"$ref": "#/components/schemas/Base"},
            {
                "type": "object",
                "required": ["side"],
                "properties": {"side": {"type": "integer", "exclusiveMinimum": 3}},
            },
        ]
    },
    "Node": {
        "type": "object",
        "required": ["name", "children"],
        "properties": {
            "name": {"type": "string", "minLength": 5},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            "next": {"$ref": "#/components/schemas/Node"},
        },
    },
}
SCHEMAS = [
    ("allOf merged", {"$ref": "#/components/schemas/Circle"}, {"kind": "string", "radius": 0.5}),
    (
        "oneOf: the first that is valid",
        {"oneOf": [{"$ref": "#/components/schemas/Square"}, {"$ref": "#/components/schemas/Circle"}]},
        {"kind": "string", "side": 4},
    ),
    (
        "oneOf: an instance that matches two alternatives is passed over",
        {
            "oneOf": [
                {"type": "object", "properties": {"kind": {"const": "x"}}},
                {"type": "object", "properties": {"size": {"type": "integer"}}, "additionalProperties": False},
            ]
        },
        {"kind": "x"},
    ),
    ("anyOf", {"anyOf": [{"type": "integer", "minimum": 7}, {"type": "string"}]}, 7),
    ("enum", {"type": "string", "enum": ["b", "a"]}, "b"),
    ("const", {"const": {"v": 2}}, {"v": 2}),
    ("3.1 type array", {"type": ["null", "integer"], "maximum": -4}, -4),
    ("minimums", {"type": "string", "minLength": 9, "maxLength": 9}, "stringxxx"),
    ("formats", {"type": "string", "format": "date-time"}, "2024-01-01T00:00:00Z"),
    ("pattern", {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"}, "AA-000"),
    ("multipleOf", {"type": "integer", "minimum": 10, "multipleOf": 4}, 12),
    (
        "unique items",
        {"type": "array", "minItems": 3, "uniqueItems": True, "items": {"type": "integer", "maximum": 9}},
        [0, 1, 2],
    ),
    (
        "recursion: optional left out, arrays empty",
        {"$ref": "#/components/schemas/Node"},
        {"name": "string", "children": []},
    ),
    (
        "readOnly left out of a request",
        {"type": "object", "required": ["id", "n"], "properties": {"id": {"readOnly": True}, "n": {"type": "boolean"}}},
        {"n": False},
    ),
    ("a valid example wins", {"type": "integer", "minimum": 1, "example": 42}, 42),
    ("an invalid example loses", {"type": "integer", "minimum": 1, "example": 0}, 1),
]


@pytest.mark.parametrize(("what", "schema", "expected"), SCHEMAS, ids=[s[0] for s in SCHEMAS])
def test_the_minimal_instance_is_valid(what, schema, expected):
    version = "3.1" if "3.1" in what else "3.0"
    document = Document({"components": {"schemas": COMPONENTS}}, version)  # type: ignore[arg-type]
    standalone = json_schema(document, schema, "x", "request")
    Draft202012Validator.check_schema(standalone)
    value = instance(standalone)
    assert value == expected
    assert Draft202012Validator(standalone).is_valid(value), (what, value)


def test_nullable_of_3_0_becomes_a_null_type_a_validator_accepts():
    document = Document({"components": {"schemas": COMPONENTS}}, "3.0")
    schemas = [
        {"type": "string", "nullable": True, "enum": ["a"]},
        {"allOf": [{"$ref": "#/components/schemas/Base"}], "nullable": True},
        {"type": "integer", "nullable": True, "minimum": 0, "exclusiveMinimum": True},
    ]
    for schema in schemas:
        standalone = json_schema(document, schema, "x", "response")
        assert Draft202012Validator(standalone).is_valid(None), standalone
    assert not Draft202012Validator(json_schema(document, schemas[2], "x", "response")).is_valid(0)
    assert Draft202012Validator(json_schema(document, schemas[0], "x", "response")).is_valid("a")


def test_a_schema_without_a_finite_instance_says_so():
    document = Document({"components": {"schemas": {"Loop": {"$ref": "#/components/schemas/Loop2"},
                         "Loop2": {"type": "object", "required": ["me"],
                                   "properties": {"me": {"$ref": "#/components/schemas/Loop"}}}}}}, "3.0")  # fmt: skip
    with pytest.raises(NoInstance):
        instance(json_schema(document, {"$ref": "#/components/schemas/Loop"}, "x", "request"))
    with pytest.raises(NoInstance):
        instance(json_schema(document, {"allOf": [{"type": "string"}, {"type": "integer"}]}, "x", "request"))


# ---- documents that cannot be read ------------------------------------------------------------------------------
def document(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "Mini", "version": "1"},
        "paths": {
            "/pets/{id}": {
                "get": {
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
                        }
                    },
                }
            }
        },
        "components": {"schemas": {"Pet": {"type": "object"}}},
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def without(path: list[Any]) -> dict[str, Any]:
    spec = document()
    node: Any = spec
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return spec


DANGLING = "paths./pets/{id}.get.responses.200.content.application/json.schema.$ref"
BROKEN: list[tuple[str, str, str, str]] = [
    ("empty", "  \n", "$", "got nothing"),
    ("dangling $ref", json.dumps(document(components=None)), DANGLING, "'#/components/schemas/Pet' is not there"),
    ("no paths", json.dumps(document(paths=None)), "paths", "the required field `paths`"),
    ("no info", yaml.safe_dump(document(info=None)), "info", "the required field `info`"),
    (
        "no responses",
        json.dumps(without(["paths", "/pets/{id}", "get", "responses"])),
        "paths./pets/{id}.get.responses",
        "the required field `responses`",
    ),
    ("wrong type", json.dumps(document(info={"title": 5, "version": "1"})), "info.title", 'not of type "string"'),
    ("swagger 2.0", json.dumps({"swagger": "2.0", "info": {}, "paths": {}}), "swagger", "3.0.x or 3.1.x"),
    ("no version", json.dumps({"info": {}, "paths": {}}), "openapi", "3.0.x or 3.1.x"),
    ("unquoted version", "openapi: 3.0\ninfo: {title: x, version: '1'}\npaths: {}\n", "openapi", "quote it"),
    ("3.2", json.dumps(document(openapi="3.2.0")), "openapi", "3.0.x or 3.1.x"),
    ("YAML syntax", "openapi: 3.0.3\ninfo:\n  title: [unclosed\n  version: 1\npaths: {}\n", "line 4", "valid YAML"),
    ("JSON syntax", '{"openapi": "3.0.3",\n "info": }', "line 2", "valid JSON"),
    ("a list", "- 1\n- 2\n", "$", "an object with `openapi`"),
    (
        "external $ref",
        json.dumps(document(paths={"/a": {"$ref": "other.yaml#/paths/a"}})),
        "paths./a.$ref",
        "names another file",
    ),
    (
        "alias bomb",
        "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(7)),
        "$",
        "at most 1,000,000 values",
    ),
]


@pytest.mark.parametrize(("what", "text", "where", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_document_that_cannot_be_read_names_where_and_what_was_expected(what, text, where, expected):
    with pytest.raises(UnreadableFile) as raised:
        openapi.parse(text)
    assert (raised.value.where, expected in raised.value.expected) == (where, True), raised.value


async def test_broken_documents_get_a_422_naming_the_path_and_create_nothing(api):
    proj = await project(api)
    for what, text, where, expected in BROKEN:
        error = assert_error(await upload(api, proj["id"], text), 422, "file_not_readable")
        assert f"at {where}: expected" in error["message"] and expected in error["message"], (what, error)
    error = assert_error(await upload(api, proj["id"], BROKEN[1][1]), 422)
    assert error["details"][0]["loc"] == ["body", "file", DANGLING]
    for model in (ApiRequest, ApiRequestDataset, TestScenario, Environment):
        assert await count_rows(model) == 0, model


async def test_a_dry_run_reports_the_cases_and_creates_nothing(api):
    proj = await project(api)
    response = await upload(api, proj["id"], fixture("petstore-3.1.json"), dry_run="true")
    assert response.status_code == 201, response.text
    assert len(response.json()["cases"]) == 37 and response.json()["cases"][0]["id"] is None
    assert await count_rows(ApiRequest) == 0


# ---- the less common corners --------------------------------------------------------------------------------------
CORNERS = """
openapi: 3.1.0
info: {title: Corners, version: "1"}
servers: [{url: /api/v1}]
components:
  securitySchemes:
    oauth: {type: oauth2, flows: {clientCredentials: {tokenUrl: https://auth.example.com/token, scopes: {}}}}
    digest: {type: http, scheme: digest}
    cookieKey: {type: apiKey, in: cookie, name: sid}
paths:
  /search:
    get:
      security: [{oauth: []}]
      parameters:
        - {name: ids, in: query, required: true, schema: {type: array, items: {type: integer}}, example: [1, 2]}
        - {name: filter, in: query, style: deepObject, schema: {type: object}, example: {color: red, size: 2}}
        - {name: words, in: query, style: pipeDelimited, explode: false, schema: {type: array}, example: [a, b]}
        - {name: Accept, in: header, schema: {type: string}}
        - {name: id, in: header, schema: {type: string, default: h1}}
        - {name: id, in: query, schema: {type: string, default: q1}}
      responses:
        "2XX":
          description: found
          content:
            application/problem+json:
              schema: {type: object}
    trace:
      responses: {"200": {description: echo}}
    head:
      responses: {"200": {description: the file, content: {application/pdf: {}}}}
  /legacy:
    post:
      security: [{digest: []}]
      requestBody:
        content:
          application/xml: {schema: {type: object}}
      responses:
        default: {description: anything}
    put:
      security: [{cookieKey: []}]
      requestBody:
        content:
          text/plain: {example: hello}
      responses: {"204": {description: done}}
"""


def test_the_less_common_corners_are_translated_or_reported():
    content = openapi.parse(CORNERS)
    [environment] = content.environments
    assert environment.base_url == "" and environment.secret_variables == {"token": ""}
    search = content.case("GET /search")
    assert search.url == "{{base_url}}/api/v1/search"  # a relative server: its path kept, the host to set
    assert search.query == {
        "ids": ["1", "2"], "filter[color]": "red", "filter[size]": "2", "words": "{{words}}", "id": "{{id_query}}"
    }  # fmt: skip
    assert search.headers == {"id": "{{id}}"}
    assert content.scenarios[0].steps[0].variables == {"words": "a|b", "id": "h1", "id_query": "q1"}
    assert search.auth.model_dump() == {"type": "bearer", "token": "{{token}}"}  # oauth2: a token to provide
    assert [a.model_dump(exclude_none=True) for a in search.assertions] == [
        {"source": "status_code", "op": "between", "expected": [200, 299]},
        {
            "source": "json_schema",
            "expected": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"},
        },
    ]
    legacy_post, legacy_put = content.case("POST /legacy"), content.case("PUT /legacy")
    assert legacy_post.body.mode == "none" and legacy_post.assertions == [] and legacy_post.auth.type == "none"
    assert legacy_put.body.model_dump() == {"mode": "raw", "content": "hello", "content_type": "text/plain"}
    assert [(item.location, item.reason) for item in content.not_translated] == [
        ("servers[0].url", "a relative server URL: set the base_url"),
        ("paths./search.get.parameters[3]", "OpenAPI ignores this header parameter (the case sets it)"),
        ("components.securitySchemes.oauth", "the token flow is not run: put an access token in the secret"),
        ("paths./search.head.responses.200.content", "a response body that is not JSON: only its status is checked"),
        ("paths./search.trace", "TRACE is not a method a case sends"),
        ("components.securitySchemes.cookieKey", "a security scheme with no equivalent here"),  # PUT comes first
        ("paths./legacy.post.requestBody.content.application/xml", "a body not supported"),
        ("components.securitySchemes.digest", "a security scheme with no equivalent here"),
        ("paths./legacy.post.responses", "no documented 2xx response: no status check"),
    ]


SEED = 9


def test_mutated_documents_are_read_or_refused_never_a_crash():
    """300 copies of a small document with one to three values swapped for odd ones: each is read or refused."""
    import random

    base = yaml.safe_load(CORNERS)
    base["components"]["schemas"] = {
        "Node": {"type": "object", "required": ["n"], "properties": {"n": {"$ref": "#/components/schemas/Node"}}},
        "Pair": {"allOf": [{"$ref": "#/components/schemas/Node"}, {"oneOf": [{"type": "object"}, False]}]},
    }
    base["paths"]["/search"]["get"]["requestBody"] = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pair"}}}
    }
    odd: list[Any] = [None, 1, "", [], {}, "x", True, False, {"a": 1}, -5, {"$ref": "#/components/schemas/Node"},
                      {"type": ["null"]}, {"enum": []}, {"pattern": "(unclosed"}, {"not": {}}]  # fmt: skip
    rng = random.Random(SEED)

    read = 0
    for _ in range(300):
        spec = mutated(base, odd, rng)
        try:
            openapi.parse(json.dumps(spec))
            read += 1
        except UnreadableFile:
            pass
    assert read > 10  # not everything is refused: the reader itself was exercised


def test_a_document_this_repo_did_not_write_by_hand_imports_whole():
    """Exile's own OpenAPI document, as FastAPI generates it (3.1, `anyOf` with null, form and file bodies)."""
    from app.main import app

    spec = app.openapi()
    operations = sum(1 for item in spec["paths"].values() for method in item if method in openapi.METHODS)
    content = openapi.parse(json.dumps(spec))
    assert len(content.cases) == operations > 50
    assert {item.reason for item in content.not_translated} <= {
        "an optional parameter with no example or default: not sent",
        "the token flow is not run: put an access token in the secret",
        "a file field: not supported",
    }
    for case in content.cases:
        for assertion in case.assertions:
            if assertion.source == "json_schema":
                Draft202012Validator.check_schema(assertion.expected)
