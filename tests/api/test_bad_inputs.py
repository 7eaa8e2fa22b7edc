"""Bad inputs across the API: each one is refused with the right status and the one error shape,
the error points at the offending field (and list index), and nothing at all is written.

One row of TABLE per bad input. A row says what to send and what must come back; the test sends it
between two snapshots of the whole database (row counts of every table, plus a read of every entity
the world holds and of the PATCH/PUT target) and requires them to be equal, so a half-applied
PATCH, a bumped version or a replaced step id fails the row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from app.main import app
from tests import factories
from tests.conftest import MAPPED_MODELS, assert_error, bearer, count_rows, empty_every_table, user_factory

MODELS = MAPPED_MODELS
ADMIN_EMAIL = "admin@example.com"
PLAIN_EMAIL = "plain@example.com"
PASSWORD = "correct-horse-battery"
MISSING = 999_999
THROTTLE = ("login_throttles",)
HUGE = 10**20  # a valid JSON/URL integer that no 64-bit id column can hold

# Every entity of the world, read before and after each bad request.
WORLD_READS = (
    "/api/v1/projects/{project}",
    "/api/v1/projects/{other_project}",
    "/api/v1/environments/{env}",
    "/api/v1/environments/{env2}",
    "/api/v1/cases/{case}",
    "/api/v1/cases/{case2}",
    "/api/v1/cases/{private_case}",
    "/api/v1/cases/{foreign_case}",
    "/api/v1/datasets/{dataset}",
    "/api/v1/datasets/{dataset2}",
    "/api/v1/scenarios/{scenario}",
    "/api/v1/scenarios/{scenario}/steps",
    "/api/v1/scenarios/{scenario}/datasets",
    "/api/v1/scenarios/{other_scenario}",
    "/api/v1/scenarios/{other_scenario}/steps",
    "/api/v1/scenarios/{other_scenario}/datasets",
    "/api/v1/scenarios/{private_scenario}",
    "/api/v1/scenarios/{private_scenario}/steps",
)


# --- the table's vocabulary -------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """An id of the world (or its scenario's version), filled in when the row is sent."""

    name: str


def resolve(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, Ref):
        return ids[value.name]
    if isinstance(value, dict):
        return {key: resolve(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, ids) for item in value]
    return value


NO_BODY = object()


@dataclass(frozen=True)
class Bad:
    method: str
    path: str  # formatted with the world's ids
    json: Any = NO_BODY  # sent as JSON (Refs resolved)
    status: int = 422
    code: str | None = "validation_error"
    loc: tuple[str | int, ...] | None = None  # a prefix of some details[].loc
    says: str | None = None  # text the message or a details msg must contain
    raw: bytes | None = None  # sent as is, labelled application/json
    form: dict[str, str] | None = None  # sent as a urlencoded form
    who: str = "admin"  # admin | plain | anon | forged
    bookkeeping: tuple[str, ...] = ()  # tables a refusal is meant to write (failed sign-ins are counted)


def bad(case_id: str, method: str, path: str, json: Any = NO_BODY, *, marks: Any = (), **expect: Any) -> Any:
    """One table row: the id names the bad input; loc and/or says must name what is wrong."""
    row = Bad(method, "/api/v1" + path, json, **expect)
    assert row.loc is not None or row.says, f"{case_id}: say where the error points"
    return pytest.param(row, id=case_id, marks=marks)


def bug(reason: str) -> Any:
    """Marks a row that shows a known app bug; strict, so the row fails (to be unmarked) once it is fixed."""
    return pytest.mark.xfail(strict=True, reason=reason)


OK_ASSERTION = {"source": "status_code", "op": "eq", "expected": 200}
OK_EXTRACTOR = {"name": "token", "source": "body", "expression": "$.data.token"}


def new_case(**overrides: Any) -> dict[str, Any]:
    return factories.case_body(**{"project_id": Ref("project"), **overrides})


def with_assertion(assertion: dict[str, Any]) -> dict[str, Any]:
    """A case whose second assertion (index 1) is the bad one."""
    return new_case(assertions=[OK_ASSERTION, assertion])


def with_extractor(extractor: dict[str, Any]) -> dict[str, Any]:
    """A case whose second extractor (index 1) is the bad one."""
    return new_case(extractors=[OK_EXTRACTOR, extractor])


def case_patch(**changes: Any) -> dict[str, Any]:
    return {"version": 1, **changes}


def new_scenario(**overrides: Any) -> dict[str, Any]:
    return {"project_id": Ref("project"), "name": "refund", **overrides}


def scenario_patch(**changes: Any) -> dict[str, Any]:
    return {"version": Ref("scenario_version"), **changes}


def step(case: str = "case", **fields: Any) -> dict[str, Any]:
    return {"case_id": Ref(case), **fields}


def new_env(**overrides: Any) -> dict[str, Any]:
    return {"name": "prod", "base_url": "https://api.example.com", **overrides}


def user_body(**overrides: Any) -> dict[str, Any]:
    return {"email": "new@example.com", "password": "long-enough-pw", **overrides}


# --- the table ----------------------------------------------------------------------------------

# fmt: off
TABLE = [
    # cases: the request itself
    bad("case-unknown-http-method", "POST", "/cases", new_case(method="FETCH"), loc=("body", "method"), says="FETCH"),
    bad("case-url-relative-without-slash", "POST", "/cases", new_case(url="login"), loc=("body", "url")),
    bad("case-url-ftp", "POST", "/cases", new_case(url="ftp://files.example.com/a"), loc=("body", "url"), says="ftp://"),
    bad("case-url-with-spaces", "POST", "/cases", new_case(url="/orders/ 1"), loc=("body", "url"), says="whitespace"),
    bad("case-header-name-invalid", "POST", "/cases", new_case(headers={"Bad Header": "x"}), loc=("body", "headers"),
        says="Bad Header"),
    bad("case-bearer-auth-without-token", "POST", "/cases", new_case(auth={"type": "bearer"}),
        loc=("body", "auth", "bearer", "token")),
    bad("case-raw-body-not-a-string", "POST", "/cases", new_case(body={"mode": "raw", "content": {"a": 1}}),
        loc=("body", "body"), says="raw"),
    bad("case-timeout-negative", "POST", "/cases", new_case(timeout_ms=-1), loc=("body", "timeout_ms")),
    bad("case-retry-max-attempts-zero", "POST", "/cases", new_case(retry={"max_attempts": 0}),
        loc=("body", "retry", "max_attempts")),
    bad("case-poll-until-broken", "POST", "/cases", new_case(poll={"until": 'body["status"] =='}),
        loc=("body", "poll", "until"), says="does not parse"),
    bad("case-tag-too-long", "POST", "/cases", new_case(tags=["smoke", "x" * 65]), loc=("body", "tags", 1)),
    bad("case-unknown-field-assertion-typo", "POST", "/cases", new_case(assertion=[OK_ASSERTION]),
        loc=("body", "assertion")),
    bad("case-project-missing", "POST", "/cases", new_case(project_id=MISSING), loc=("body", "project_id"),
        says=f"project {MISSING}"),
    bad("case-project-id-huge", "POST", "/cases", new_case(project_id=HUGE), loc=("body", "project_id")),
    # cases: assertions (the bad one is at index 1)
    bad("assertion-unknown-op", "POST", "/cases", with_assertion({"source": "status_code", "op": "equals",
        "expected": 200}), loc=("body", "assertions", 1, "op")),
    bad("assertion-unknown-source", "POST", "/cases", with_assertion({"source": "cookie_jar", "op": "exists"}),
        loc=("body", "assertions", 1, "source")),
    bad("assertion-jsonpath-does-not-parse", "POST", "/cases", with_assertion({"source": "body",
        "expression": "$.[", "op": "exists"}), loc=("body", "assertions", 1), says="JSONPath '$.['"),
    bad("assertion-jsonpath-overflowing-number", "POST", "/cases", with_assertion({"source": "body",
        "expression": "$[?@.a == 1e999]", "op": "exists"}), loc=("body", "assertions", 1), says="JSONPath"),
    bad("assertion-regex-does-not-compile", "POST", "/cases", with_assertion({"source": "text", "op": "regex",
        "expected": "[a-"}), loc=("body", "assertions", 1), says="regex '[a-'"),
    bad("assertion-regex-repeat-too-large", "POST", "/cases", with_assertion({"source": "text", "op": "regex",
        "expected": "a{1001}"}), loc=("body", "assertions", 1), says="RE2 syntax"),
    bad("assertion-expression-does-not-parse", "POST", "/cases", with_assertion({"source": "expression",
        "expression": "status_code =="}), loc=("body", "assertions", 1), says="does not parse"),
    bad("assertion-expression-unknown-name", "POST", "/cases", with_assertion({"source": "expression",
        "expression": "response.status == 200"}), loc=("body", "assertions", 1), says="unknown name 'response'"),
    bad("assertion-expression-dunder", "POST", "/cases", with_assertion({"source": "expression",
        "expression": "body.__class__ is None"}), loc=("body", "assertions", 1), says="'__class__'"),
    bad("assertion-between-low-above-high", "POST", "/cases", with_assertion({"source": "response_time_ms",
        "op": "between", "expected": [500, 100]}), loc=("body", "assertions", 1), says="between"),
    bad("assertion-between-not-a-pair", "POST", "/cases", with_assertion({"source": "response_time_ms",
        "op": "between", "expected": 500}), loc=("body", "assertions", 1), says="[low, high]"),
    bad("assertion-type-unknown-json-type", "POST", "/cases", with_assertion({"source": "body",
        "expression": "$.id", "op": "type", "expected": "float"}), loc=("body", "assertions", 1), says="op 'type'"),
    bad("assertion-json-schema-invalid", "POST", "/cases", with_assertion({"source": "json_schema",
        "expected": {"type": "strang"}}), loc=("body", "assertions", 1), says="JSON Schema"),
    bad("assertion-json-schema-bad-dialect", "POST", "/cases", with_assertion({"source": "json_schema",
        "expected": {"$schema": []}}), loc=("body", "assertions", 1), says="JSON Schema"),
    bad("assertion-status-code-not-a-number", "POST", "/cases", with_assertion({"source": "status_code",
        "op": "eq", "expected": "200"}), loc=("body", "assertions", 1), says="status_code"),
    # cases: extractors and processors
    bad("extractor-unknown-source", "POST", "/cases", with_extractor({"name": "id", "source": "json",
        "expression": "$.id"}), loc=("body", "extractors", 1, "source")),
    bad("extractor-jsonpath-does-not-parse", "POST", "/cases", with_extractor({"name": "id", "source": "body",
        "expression": "data.id"}), loc=("body", "extractors", 1), says="JSONPath 'data.id'"),
    bad("extractor-regex-does-not-compile", "POST", "/cases", with_extractor({"name": "id", "source": "regex",
        "expression": "id=(\\d+"}), loc=("body", "extractors", 1), says="does not compile"),
    bad("extractor-regex-lookahead-not-in-re2", "POST", "/cases", with_extractor({"name": "id", "source": "regex",
        "expression": "(?=id)id=(\\d+)"}), loc=("body", "extractors", 1), says="RE2 syntax"),
    bad("extractor-name-taken-twice", "POST", "/cases", with_extractor({**OK_EXTRACTOR, "expression": "$.t"}),
        loc=("body", "extractors"), says="item 1"),
    bad("pre-processor-of-type-extract", "POST", "/cases", new_case(pre_processors=[
        {"type": "set", "name": "a", "value": 1}, {"type": "extract", **OK_EXTRACTOR}]),
        loc=("body", "pre_processors"), says="item 1: 'extract'"),
    bad("processor-set-value-and-expression", "POST", "/cases", new_case(post_processors=[
        {"type": "set", "name": "a", "value": 1, "expression": "1 + 1"}]),
        loc=("body", "post_processors", 0), says="exactly one of value or expression"),
    bad("processor-wait-negative", "POST", "/cases", new_case(pre_processors=[{"type": "wait", "ms": -5}]),
        loc=("body", "pre_processors", 0, "wait", "ms")),
    bad("processor-unknown-type", "POST", "/cases", new_case(post_processors=[{"type": "sleep", "ms": 5}]),
        loc=("body", "post_processors", 0)),
    # cases: PATCH, DELETE, clone, ids
    bad("case-patch-without-version", "PATCH", "/cases/{case}", {"name": "renamed"}, loc=("body", "version")),
    bad("case-patch-stale-version", "PATCH", "/cases/{case}", {"version": 7, "name": "renamed"}, status=409,
        code="version_conflict", loc=("body", "version"), says="version 1"),
    bad("case-patch-moves-project", "PATCH", "/cases/{case}", case_patch(project_id=Ref("other_project")),
        loc=("body", "project_id")),
    bad("case-patch-null-name", "PATCH", "/cases/{case}", case_patch(name=None), loc=("body", "name"),
        says="cannot be null"),
    bad("case-patch-bad-assertion", "PATCH", "/cases/{case}", case_patch(name="renamed", assertions=[
        OK_ASSERTION, {"source": "body", "expression": "$..", "op": "exists"}]), loc=("body", "assertions", 1)),
    bad("case-patch-private-while-shared", "PATCH", "/cases/{case}", case_patch(visibility="private"), status=409,
        code="case_in_use", loc=("body", "visibility"), says="'checkout'"),
    bad("case-patch-missing", "PATCH", f"/cases/{MISSING}", case_patch(name="x"), status=404, code="not_found",
        says=f"case {MISSING}"),
    bad("case-delete-in-use", "DELETE", "/cases/{case}", status=409, code="case_in_use", loc=("path", "case_id"),
        says="'checkout'"),
    bad("case-clone-unknown-field", "POST", "/cases/{case}/clone", {"nmae": "copy"}, loc=("body", "nmae")),
    bad("case-id-not-an-integer", "GET", "/cases/abc", loc=("path", "case_id")),
    bad("case-missing", "GET", f"/cases/{MISSING}", status=404, code="not_found", says=f"case {MISSING} not found"),
    bad("case-id-huge", "GET", f"/cases/{HUGE}", loc=("path", "case_id")),
    # lists and query parameters
    bad("cases-page-size-500", "GET", "/cases?page_size=500", loc=("query", "page_size")),
    bad("projects-page-0", "GET", "/projects?page=0", loc=("query", "page")),
    bad("scenarios-page-not-a-number", "GET", "/scenarios?page=two", loc=("query", "page")),
    bad("cases-unknown-status-filter", "GET", "/cases?status=done", loc=("query", "status")),
    bad("cases-project-id-not-a-number", "GET", "/cases?project_id=shop", loc=("query", "project_id")),
    bad("users-page-size-500", "GET", "/users?page_size=500", loc=("query", "page_size")),
    # projects and the body itself
    bad("project-malformed-json", "POST", "/projects", raw=b'{"name": "shop",', loc=("body",), says="JSON"),
    bad("case-body-null", "POST", "/cases", raw=b"null", loc=("body",)),
    bad("project-body-nested-too-deep", "POST", "/projects", raw=b"[" * 100_000 + b"]" * 100_000, status=400,
        code="http_error", says="parsing the body"),
    bad("project-body-is-a-list", "POST", "/projects", [{"name": "shop"}], loc=("body",)),
    bad("project-name-blank", "POST", "/projects", {"name": "   "}, loc=("body", "name")),
    bad("project-patch-without-version", "PATCH", "/projects/{project}", {"name": "x"}, loc=("body", "version")),
    bad("project-patch-stale-version", "PATCH", "/projects/{project}", {"version": 2, "name": "x"}, status=409,
        code="version_conflict", loc=("body", "version")),
    bad("project-patch-version-zero", "PATCH", "/projects/{project}", {"version": 0, "name": "x"},
        loc=("body", "version")),
    bad("project-patch-null-description", "PATCH", "/projects/{project}", {"version": 1, "description": None},
        loc=("body", "description")),
    # environments
    bad("env-duplicate-name", "POST", "/projects/{project}/environments", new_env(name=" staging "), status=409,
        code="duplicate_name", loc=("body", "name"), says="'staging'"),
    bad("env-secret-sent-as-mask-on-create", "POST", "/projects/{project}/environments",
        new_env(secret_variables={"token": "******"}), loc=("body", "secret_variables"), says="'token'"),
    bad("env-base-url-not-http", "POST", "/projects/{project}/environments", new_env(base_url="ftp://api"),
        loc=("body", "base_url")),
    bad("env-proxy-not-a-url", "POST", "/projects/{project}/environments", new_env(proxy="ftp://proxy:21"),
        loc=("body", "proxy")),
    bad("env-variables-a-list", "POST", "/projects/{project}/environments", new_env(variables=["a"]),
        loc=("body", "variables")),
    bad("env-in-missing-project", "POST", f"/projects/{MISSING}/environments", new_env(), status=404,
        code="not_found", says=f"project {MISSING}"),
    bad("env-patch-renamed-to-taken-name", "PATCH", "/environments/{env}", {"version": 1, "name": "prod"},
        status=409, code="duplicate_name", loc=("body", "name")),
    bad("env-patch-mask-for-unknown-secret", "PATCH", "/environments/{env}", {"version": 1,
        "secret_variables": {"token": "******", "password": "******"}},
        loc=("body", "secret_variables", "password")),
    # case datasets
    bad("dataset-variables-a-list", "POST", "/cases/{case}/datasets", {"name": "d", "variables": [1, 2]},
        loc=("body", "variables")),
    bad("dataset-variables-a-string", "POST", "/cases/{case}/datasets", {"name": "d", "variables": "qty=1"},
        loc=("body", "variables")),
    bad("dataset-variable-name-padded", "POST", "/cases/{case}/datasets", {"name": "d", "variables": {" qty": 1}},
        loc=("body", "variables"), says="' qty'"),
    bad("dataset-on-missing-case", "POST", f"/cases/{MISSING}/datasets", {"name": "d"}, status=404,
        code="not_found", says=f"case {MISSING}"),
    bad("dataset-patch-negative-position", "PATCH", "/datasets/{dataset}", {"version": 1, "position": -1},
        loc=("body", "position")),
    bad("dataset-delete-in-use", "DELETE", "/datasets/{dataset}", status=409, code="dataset_in_use",
        says="'checkout'"),
    # scenarios
    bad("scenario-settings-concurrency-0", "POST", "/scenarios", new_scenario(settings={"concurrency": 0}),
        loc=("body", "settings", "concurrency")),
    bad("scenario-settings-rate-limit-negative", "POST", "/scenarios",
        new_scenario(settings={"rate_limit": {"per_second": -5}}),
        loc=("body", "settings", "rate_limit", "per_second")),
    bad("scenario-settings-unknown-key", "POST", "/scenarios", new_scenario(settings={"parallel": 4}),
        loc=("body", "settings", "parallel")),
    bad("scenario-project-missing", "POST", "/scenarios", new_scenario(project_id=MISSING),
        loc=("body", "project_id"), says=f"project {MISSING}"),
    bad("scenario-setup-case-of-other-project", "POST", "/scenarios",
        new_scenario(setup=[step(), step("foreign_case")]), loc=("body", "setup", 1, "case_id")),
    bad("scenario-patch-stale-version", "PATCH", "/scenarios/{scenario}", {"version": 1, "name": "x"}, status=409,
        code="version_conflict", loc=("body", "version")),
    bad("scenario-patch-settings-concurrency-0", "PATCH", "/scenarios/{scenario}",
        scenario_patch(name="renamed", settings={"concurrency": 0}), loc=("body", "settings", "concurrency")),
    bad("scenario-patch-teardown-private-case", "PATCH", "/scenarios/{scenario}",
        scenario_patch(teardown=[step(), step("private_case")]), loc=("body", "teardown", 1, "case_id"),
        says="private"),
    bad("scenario-patch-share-with-private-steps", "PATCH", "/scenarios/{private_scenario}",
        {"version": Ref("private_scenario_version"), "visibility": "project"}, loc=("body", "visibility"),
        says="private"),
    # scenario steps PUT (the body is the list; the bad item is named by its index)
    bad("steps-case-of-other-project", "PUT", "/scenarios/{scenario}/steps", [step(), step("foreign_case")],
        loc=("body", 1, "case_id"), says="project"),
    bad("steps-private-case-in-shared-scenario", "PUT", "/scenarios/{scenario}/steps", [step("private_case")],
        loc=("body", 0, "case_id"), says="private"),
    bad("steps-selected-without-ids", "PUT", "/scenarios/{scenario}/steps", [step(), step(dataset_mode="selected")],
        loc=("body", 1), says="dataset_ids"),
    bad("steps-ids-without-selected", "PUT", "/scenarios/{scenario}/steps",
        [step(dataset_ids=[Ref("dataset")])], loc=("body", 0), says="dataset_mode"),
    bad("steps-dataset-of-another-case", "PUT", "/scenarios/{scenario}/steps",
        [step(dataset_mode="selected", dataset_ids=[Ref("dataset"), Ref("dataset2")])],
        loc=("body", 0, "dataset_ids", 1), says="not a dataset of case"),
    bad("steps-unknown-dataset-mode", "PUT", "/scenarios/{scenario}/steps", [step(dataset_mode="some")],
        loc=("body", 0, "dataset_mode")),
    bad("steps-skip-if-unknown-name", "PUT", "/scenarios/{scenario}/steps", [step(skip_if="flag == 1")],
        loc=("body", 0, "skip_if"), says="unknown name 'flag'"),
    bad("steps-id-from-another-scenario", "PUT", "/scenarios/{scenario}/steps",
        [{"id": Ref("step"), **step()}, {"id": Ref("other_step"), **step()}], loc=("body", 1, "id")),
    bad("steps-duplicate-alias", "PUT", "/scenarios/{scenario}/steps", [step(alias="pay"), step(alias="pay")],
        loc=("body", 1, "alias"), says="'pay'"),
    bad("steps-body-an-object", "PUT", "/scenarios/{scenario}/steps", step(), loc=("body",)),
    bad("steps-stale-version-guard", "PUT", "/scenarios/{scenario}/steps?version=1", [step()], status=409,
        code="version_conflict", says="you sent version 1"),
    bad("steps-missing-scenario", "PUT", f"/scenarios/{MISSING}/steps", [step()], status=404, code="not_found",
        says=f"scenario {MISSING}"),
    bad("steps-dataset-id-huge", "PUT", "/scenarios/{scenario}/steps",
        [step(dataset_mode="selected", dataset_ids=[HUGE])], loc=("body", 0, "dataset_ids", 0)),
    # scenario data rows PUT
    bad("rows-variables-a-list", "PUT", "/scenarios/{scenario}/datasets", [{"name": "r", "variables": [1]}],
        loc=("body", 0, "variables")),
    bad("rows-unknown-field", "PUT", "/scenarios/{scenario}/datasets", [{"name": "r"}, {"name": "s", "vars": {}}],
        loc=("body", 1, "vars")),
    bad("rows-id-from-another-scenario", "PUT", "/scenarios/{scenario}/datasets", [{"id": Ref("other_row")}],
        loc=("body", 0, "id")),
    bad("rows-same-id-twice", "PUT", "/scenarios/{scenario}/datasets", [{"id": Ref("row")}, {"id": Ref("row")}],
        loc=("body", 1, "id"), says="twice"),
    bad("rows-stale-version-guard", "PUT", "/scenarios/{scenario}/datasets?version=1", [{"name": "r"}],
        status=409, code="version_conflict", loc=("query", "version")),
    # users and sign-in
    bad("user-email-invalid", "POST", "/users", user_body(email="not-an-email"), loc=("body", "email")),
    bad("user-password-short", "POST", "/users", user_body(password="short"), loc=("body", "password"),
        says="8 characters"),
    bad("user-email-taken", "POST", "/users", user_body(email=PLAIN_EMAIL.upper()), status=409,
        code="email_taken", says=PLAIN_EMAIL),
    bad("user-created-by-non-admin", "POST", "/users", user_body(), status=403, code="forbidden", says="admin",
        who="plain"),
    bad("token-wrong-password", "POST", "/auth/token", form={"username": ADMIN_EMAIL, "password": "wrong-pass"},
        status=401, code="invalid_credentials", says="email or password", who="anon", bookkeeping=THROTTLE),
    bad("token-unknown-email", "POST", "/auth/token", form={"username": "eve@example.com", "password": PASSWORD},
        status=401, code="invalid_credentials", says="email or password", who="anon", bookkeeping=THROTTLE),
    bad("token-without-username", "POST", "/auth/token", form={"password": PASSWORD}, loc=("body", "username"),
        who="anon"),
    bad("token-sent-as-json", "POST", "/auth/token", {"username": ADMIN_EMAIL, "password": PASSWORD},
        loc=("body", "username"), who="anon"),
    bad("no-bearer-token", "POST", "/cases", new_case(), status=401, code="not_authenticated",
        says="Authorization", who="anon"),
    bad("forged-bearer-token", "POST", "/projects", {"name": "x"}, status=401, code="not_authenticated",
        says="invalid", who="forged"),
    # routing
    bad("unknown-path", "GET", "/nowhere", status=404, code="not_found", says="Not Found"),
    bad("method-not-allowed", "PUT", "/projects", {"name": "x"}, status=405, code="method_not_allowed",
        says="Method Not Allowed"),
]
# fmt: on


# --- the world every row runs against -----------------------------------------------------------


@dataclass
class World:
    ids: dict[str, int]
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)


def _client(headers: dict[str, str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://exile.test", headers=headers)


async def _build(api: httpx.AsyncClient) -> dict[str, int]:
    """Two projects; cases (one private, one in the other project) with datasets; three scenarios."""

    async def new_id(path: str, body: dict[str, Any]) -> int:
        return int((await factories.create(api, "/api/v1" + path, body))["id"])

    ids = {"project": await new_id("/projects", {"name": "shop"})}
    ids["other_project"] = await new_id("/projects", {"name": "other"})
    env_path = f"/projects/{ids['project']}/environments"
    ids["env"] = await new_id(env_path, {"name": "staging", "secret_variables": {"token": "s3cret"}})
    ids["env2"] = await new_id(env_path, {"name": "prod"})
    ids["case"] = await new_id("/cases", factories.case_body(ids["project"]))
    ids["case2"] = await new_id("/cases", factories.case_body(ids["project"], name="orders", url="/orders"))
    ids["private_case"] = await new_id("/cases", factories.case_body(ids["project"], visibility="private"))
    ids["foreign_case"] = await new_id("/cases", factories.case_body(ids["other_project"], name="theirs"))
    for key, owner in (("dataset", "case"), ("dataset2", "case2"), ("foreign_dataset", "foreign_case")):
        ids[key] = await new_id(f"/cases/{ids[owner]}/datasets", {"name": key, "variables": {"qty": 1}})

    async def flow(name: str, steps: list[dict[str, Any]], **extra: Any) -> tuple[int, list[int], list[int]]:
        """A scenario with the given steps and one data row: its id, step ids and row ids."""
        scenario_id = (await factories.scenario(api, ids["project"], name=name, **extra))["id"]
        step_ids = [s["id"] for s in await factories.put_steps(api, scenario_id, steps)]
        rows = await api.put(f"/api/v1/scenarios/{scenario_id}/datasets", json=[{"name": "r1", "variables": {"a": 1}}])
        assert rows.status_code == 200, rows.text
        return scenario_id, step_ids, [row["id"] for row in rows.json()]

    selected = {"case_id": ids["case"], "dataset_mode": "selected", "dataset_ids": [ids["dataset"]]}
    ids["scenario"], (ids["step"], _), (ids["row"],) = await flow("checkout", [selected, {"case_id": ids["case2"]}])
    ids["other_scenario"], (ids["other_step"],), (ids["other_row"],) = await flow(
        "refunds", [{"case_id": ids["case2"]}]
    )
    ids["private_scenario"], _, _ = await flow("my-flow", [{"case_id": ids["private_case"]}], visibility="private")
    for key in ("scenario", "private_scenario"):
        ids[f"{key}_version"] = (await api.get(f"/api/v1/scenarios/{ids[key]}")).json()["version"]
    assert ids["scenario_version"] > 1, "the stale-version rows need a scenario past version 1"
    return ids


@pytest.fixture(autouse=True)
async def empty_tables() -> AsyncIterator[None]:
    """Replaces the root conftest's per-test emptying here: every row asserts that its refused request wrote
    nothing, so one world (built once, below) serves the whole table, and a row that did write fails itself."""
    yield


@pytest.fixture(scope="module")
async def world(migrated_database: str) -> AsyncIterator[World]:
    await empty_every_table()
    make_user = user_factory()
    admin = await make_user(email=ADMIN_EMAIL, password=PASSWORD, is_admin=True)
    plain = await make_user(email=PLAIN_EMAIL)
    clients = {
        "admin": _client(bearer(admin)),
        "plain": _client(bearer(plain)),
        "anon": _client({}),
        "forged": _client({"Authorization": "Bearer not-a-jwt"}),
    }
    try:
        yield World(ids=await _build(clients["admin"]), clients=clients)
    finally:
        for http in clients.values():
            await http.aclose()
        await empty_every_table()


# --- the test -----------------------------------------------------------------------------------


async def snapshot(world: World, extra_reads: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Row counts of every table and the JSON of every entity: equal snapshots mean nothing was written."""
    state: dict[str, Any] = {m.__tablename__: await count_rows(m) for m in MODELS if m.__tablename__ not in skip}
    for template in (*WORLD_READS, *extra_reads):
        path = template.format(**world.ids)
        response = await world.clients["admin"].get(path)
        assert response.status_code == 200, (path, response.text)
        state[path] = response.json()
    return state


async def send(world: World, row: Bad) -> httpx.Response:
    http = world.clients[row.who]
    path = row.path.format(**world.ids)
    if row.raw is not None:
        return await http.request(row.method, path, content=row.raw, headers={"Content-Type": "application/json"})
    if row.form is not None:
        return await http.request(row.method, path, data=row.form)
    if row.json is NO_BODY:
        return await http.request(row.method, path)
    return await http.request(row.method, path, json=resolve(row.json, world.ids))


def target_reads(row: Bad) -> tuple[str, ...]:
    """A PATCH/PUT target is read back too (for PUT steps/rows the GET of the same path is the list)."""
    if row.method in ("PATCH", "PUT") and "{" in row.path:
        return (row.path.split("?")[0],)
    return ()


def assert_points_at(error: dict[str, Any], row: Bad) -> None:
    locs = [detail.get("loc", []) for detail in error["details"]]
    if row.loc is not None:
        assert any(list(loc[: len(row.loc)]) == list(row.loc) for loc in locs), (row.loc, error)
    if row.says:
        text = " ".join([error["message"], *(str(detail.get("msg", "")) for detail in error["details"])])
        assert row.says in text, (row.says, error)


@pytest.mark.parametrize("row", TABLE)
async def test_bad_input_is_refused_named_and_writes_nothing(world: World, row: Bad) -> None:
    reads = target_reads(row)
    before = await snapshot(world, reads, row.bookkeeping)
    response = await send(world, row)
    error = assert_error(response, row.status, row.code)
    assert await snapshot(world, reads, row.bookkeeping) == before, "a refused request wrote something"
    assert_points_at(error, row)


def test_the_table_holds_distinct_bad_inputs() -> None:
    ids = [param.id for param in TABLE]
    assert len(ids) == len(set(ids)) >= 35
    rows = [param.values[0] for param in TABLE]
    assert len({repr(row) for row in rows}) == len(rows), "two rows send the same request"
