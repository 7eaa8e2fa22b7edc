"""The Exile file: a scenario with its cases, datasets, rows and environment in one YAML or JSON document.

A collection imported from Postman, given datasets, rows and step overrides, is exported as an Exile file
and imported into another project; exporting it again from there gives the same file. The published JSON
Schema is the one the models generate, every export validates against it, and a file that cannot be read
gets a 422 naming where, and creates nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.interop import exile_file
from app.interop.content import UnreadableFile
from app.models import ApiRequest, Environment, TestScenario
from tests.conftest import assert_error, count_rows
from tests.factories import project
from tests.interop.test_postman import fixture, upload

API = "/api/v1"
SCHEMA_FILE = Path(__file__).parents[2] / "schemas" / "exile-file.schema.json"


async def exported(api: Any, scenario_id: int, **params: Any) -> str:
    response = await api.get(f"{API}/scenarios/{scenario_id}/export", params={"format": "exile", **params})
    assert response.status_code == 200, response.text
    return response.text


def without_schema_url(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    document.pop("$schema")
    return document


async def imported_collection(api: Any) -> tuple[dict[str, Any], int]:
    """Restful Booker imported, with datasets on a case, data rows, and an alias and overrides on a step."""
    proj = await project(api, "source")
    report = (await upload(api, proj["id"], fixture("restful-booker.postman_collection.json"))).json()
    scenario_id = report["scenarios"][0]["id"]
    booking = report["cases"][2]["id"]
    dataset_ids = {}
    for name, variables, enabled in (
        ("sally", {"id": 1}, True), ("jim", {"id": 2, "expect": {"name": "Jim"}}, True), ("off", {"id": 3}, False)
    ):  # fmt: skip
        body = {"name": name, "variables": variables, "enabled": enabled}
        response = await api.post(f"{API}/cases/{booking}/datasets", json=body)
        assert response.status_code == 201, response.text
        dataset_ids[name] = response.json()["id"]
    rows = [{"variables": {"firstname": name, "qty": qty}} for name, qty in (("Ann", 1), ("Bob", 2))]
    assert (await api.put(f"{API}/scenarios/{scenario_id}/datasets", json=rows)).status_code == 200
    steps = (await api.get(f"{API}/scenarios/{scenario_id}/steps")).json()
    steps[1] |= {"alias": "list", "variables": {"lastname": "brown"}, "skip_if": "vars['qty'] == 2"}
    steps[6]["enabled"] = False
    steps[2] |= {"dataset_mode": "selected", "dataset_ids": [dataset_ids["jim"], dataset_ids["off"]]}
    steps[3] |= {"dataset_mode": "all"}
    assert (await api.put(f"{API}/scenarios/{scenario_id}/steps", json=steps)).status_code == 200
    version = (await api.get(f"{API}/scenarios/{scenario_id}")).json()["version"]
    token, ping = report["cases"][0]["id"], report["cases"][6]["id"]
    settings = {
        "settings": {"concurrency": 4, "stop_on_failure": False},
        "setup": [{"case_id": token, "alias": "sign in once"}],
        "teardown": [{"case_id": ping}],
        "version": version,
    }
    assert (await api.patch(f"{API}/scenarios/{scenario_id}", json=settings)).status_code == 200
    return proj, scenario_id


async def test_an_exported_file_imports_into_another_project_as_the_same_cases_steps_datasets_and_rows(api):
    source, scenario_id = await imported_collection(api)
    first = await exported(api, scenario_id)
    document = without_schema_url(first)
    assert document["version"] == 1 and "environment" not in document
    # the collection's literal Basic password is a credential: it never leaves, its place is named
    assert "password123" not in first
    assert [(note["location"], note["source"]) for note in document.pop("not_exported")] == [
        ("cases[partialupdatebooking].auth.password", "******")
    ]
    assert [case["key"] for case in document["cases"]] == [
        "createtoken", "getbookingids", "getbooking", "createbooking", "partialupdatebooking", "deletebooking",
        "healthcheck",
    ]  # fmt: skip
    assert document["cases"][2]["datasets"] == [
        {"name": "sally", "variables": {"id": 1}},
        {"name": "jim", "variables": {"id": 2, "expect": {"name": "Jim"}}},
        {"name": "off", "variables": {"id": 3}, "enabled": False},
    ]
    # a step's fan-out over its case's datasets, by name (ids exist only once the file is applied)
    assert document["scenario"]["steps"][2] == {
        "case": "getbooking",
        "dataset_mode": "selected",
        "datasets": ["jim", "off"],
    }
    assert document["scenario"]["steps"][3] == {"case": "createbooking", "dataset_mode": "all"}
    scenario = document["scenario"]
    assert scenario["rows"] == [{"firstname": "Ann", "qty": 1}, {"firstname": "Bob", "qty": 2}]
    assert scenario["steps"][1] == {
        "case": "getbookingids", "alias": "list", "skip_if": "vars['qty'] == 2", "variables": {"lastname": "brown"}
    }  # fmt: skip
    assert scenario["steps"][6] == {"case": "healthcheck", "enabled": False}
    assert scenario["settings"]["concurrency"] == 4 and scenario["settings"]["stop_on_failure"] is False
    assert scenario["setup"] == [{"case": "createtoken", "alias": "sign in once"}]
    assert scenario["teardown"] == [{"case": "healthcheck"}]

    other = await project(api, "target")
    response = await upload(api, other["id"], first, kind="exile")
    assert response.status_code == 201, response.text
    report = response.json()
    assert len(report["cases"]) == 7 and report["not_translated"] == []
    [made] = report["scenarios"]
    assert without_schema_url(await exported(api, made["id"])) == document
    copied = (await api.get(f"{API}/cases/{report['cases'][2]['id']}")).json()
    originals = (await api.get(f"{API}/cases", params={"project_id": source["id"], "q": "GetBooking"})).json()
    source_case = next(case for case in originals["items"] if case["name"] == "GetBooking")
    request_fields = ("method", "url", "headers", "query", "body", "auth", "assertions", "extractors", "tags")
    assert {key: copied[key] for key in request_fields} == {key: source_case[key] for key in request_fields}

    as_json = await exported(api, made["id"], file_format="json")
    assert {key: value for key, value in json.loads(as_json).items() if key != "$schema"} == document


async def test_the_committed_schema_is_the_models_own_and_is_served_without_signing_in(api, client):
    assert json.loads(SCHEMA_FILE.read_text()) == exile_file.json_schema(), (
        "regenerate it: uv run python -m app.interop.exile_file > schemas/exile-file.schema.json"
    )
    del client.headers["Authorization"]
    served = await client.get(f"{API}/schemas/exile-file")
    assert served.status_code == 200 and served.headers["content-type"] == "application/schema+json"
    assert served.json() == exile_file.json_schema()
    jsonschema.Draft202012Validator.check_schema(served.json())


async def test_every_export_validates_against_the_published_schema(api):
    _, scenario_id = await imported_collection(api)
    text = await exported(api, scenario_id)
    document = yaml.safe_load(text)
    assert document["$schema"] == "http://exile.test/api/v1/schemas/exile-file"
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    assert list(validator.iter_errors(document)) == []
    document["scenario"]["steps"][0]["repeat"] = 3  # what the schema refuses, the server refuses too
    assert [error.json_path for error in validator.iter_errors(document)] == ["$.scenario.steps[0]"]


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("version: 2\nscenario: {key: s, name: s}\n", "version", "a version this server reads (1), got 2"),
        ("- version: 1\n- scenario: {}\n", "$", "a mapping with `version` and `scenario`, got a list"),
        ('"just text"', "$", "got text"),
        ("version: 1\ncases: []\n", "scenario", "the scenario"),
        ("scenario: {key: s, name: s}\n", "version", "this server reads 1"),
        ("version: '1'\nscenario: {key: s, name: s}\n", "version", "a whole number version"),
        ("version: 1\nscenario: {key: s, name: s, steps: [{case: nope}]}\n", "scenario.steps[0].case", "nope"),
        ("version: 1\nscenario: &s {key: s, name: s}\nagain: *s\n", "line 3", "no YAML aliases"),
        ("version: 1\nscenario: {key: s, name: s, variables: {1: x}}\n", "$.scenario.variables.1", "a text key"),
        ("version: 1\nscenario: {key: s, name: s, variables: {x: !!binary aGk=}}\n", "$.scenario.variables.x", "bytes"),
        ("version: 1\nscenario: {key: s, name: s, variables: {x: .nan}}\n", "$.scenario.variables.x", "finite"),
        ("version: 1\nscenario: [key: s\n", "line 3, column 1", "YAML"),
        ('{"version": 1, "scenario": ', "$", "JSON"),
    ],
)
def test_a_file_that_cannot_be_read_names_where(text, where, says):
    with pytest.raises(UnreadableFile) as caught:
        exile_file.parse(text)
    assert caught.value.where == where and says in caught.value.expected, caught.value


def test_dates_stay_text_and_a_null_expectation_survives_the_round_trip():
    text = """
version: 1
scenario: {key: s, name: s, variables: {day: 2024-01-31}, steps: [{case: c}]}
cases:
- key: c
  name: c
  method: GET
  url: /x
  assertions: [{source: body, expression: $.gone, op: eq, expected: null}]
  post_processors: [{type: set, name: cleared, value: null}]
"""
    content = exile_file.parse(text)
    assert content.scenarios[0].variables == {"day": "2024-01-31"}
    again = exile_file.parse(exile_file.dump(content))
    assert again.cases == content.cases and again.scenarios == content.scenarios
    assert exile_file.parse(exile_file.dump(content, "json")).cases == content.cases


async def test_bad_files_get_422_naming_the_path_and_create_nothing(api):
    proj = await project(api)
    good = exile_file.dump(exile_file.parse(fixture_file()))
    assert (await upload(api, proj["id"], good, kind="exile", dry_run="true")).status_code == 201
    future = good.replace("version: 1", "version: 7")
    error = assert_error(await upload(api, proj["id"], future, kind="exile"), 422, "file_not_readable")
    assert error["message"] == (
        "file (exile): at version: expected a version this server reads (1), got 7: upgrade Exile to read it"
    )
    assert error["details"][0]["loc"] == ["body", "file", "version"]
    error = assert_error(await upload(api, proj["id"], "[1, 2]", kind="exile"), 422, "file_not_readable")
    assert error["details"][0]["loc"] == ["body", "file", "$"]
    no_scenario = "\n".join(line for line in good.splitlines() if not line.startswith("scenario"))
    error = assert_error(await upload(api, proj["id"], "version: 1\ncases: []\n", kind="exile"), 422)
    assert error["details"][0]["loc"] == ["body", "file", "scenario"], no_scenario
    selected = "steps: [{case: login, dataset_mode: selected, datasets: [nope]}]"
    unknown = fixture_file().replace("steps: [{case: login}]", selected)
    assert selected in unknown
    error = assert_error(await upload(api, proj["id"], unknown, kind="exile"), 422, "file_not_readable")
    assert "has no dataset named 'nope'" in error["message"], error
    bad_case = good.replace("method: POST", "method: FETCH", 1)
    error = assert_error(await upload(api, proj["id"], bad_case, kind="exile"), 422, "file_not_readable")
    assert error["details"][0]["loc"][:4] == ["body", "file", "cases", 0] and "FETCH" in error["message"]
    assert await count_rows(ApiRequest) == await count_rows(TestScenario) == await count_rows(Environment) == 0


def fixture_file() -> str:
    """A small Exile file written by hand, with an environment whose secret has no value."""
    return """
version: 1
scenario:
  key: checkout
  name: checkout
  variables: {currency: EUR}
  steps: [{case: login}]
  rows: [{username: ann}]
cases:
- key: login
  name: login
  method: POST
  url: /login
  body: {mode: json, content: {username: "{{username}}", password: "{{password}}"}}
  assertions: [{source: status_code, op: eq, expected: 200}]
environment:
  name: staging
  base_url: https://staging.example.com
  secret_variables: {password: ""}
"""
