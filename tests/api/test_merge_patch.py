"""PATCH of an object field (variables, secret_variables, settings) is a JSON Merge Patch (RFC 7396):
absent keys stay, null removes a key, "******" keeps a secret, and the merged result is checked as on create."""

from __future__ import annotations

from typing import Any

import httpx

from app.core.db import get_session_factory
from app.core.merge_patch import merge_patch
from app.core.secret_box import unseal
from app.models import Environment
from tests import factories
from tests.conftest import assert_error

API = "/api/v1"


async def patch(client: httpx.AsyncClient, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = await client.patch(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


async def stored_secrets(environment_id: int) -> dict[str, str]:
    async with get_session_factory()() as db:
        environment = await db.get(Environment, environment_id)
        assert environment is not None
        return {key: unseal(value) for key, value in environment.secret_variables.items()}


def test_merge_patch_follows_the_rfc_examples():
    # RFC 7396 appendix A, a few of its rows.
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert merge_patch({"a": "b", "b": "c"}, {"a": None}) == {"b": "c"}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
    original = {"a": {"b": 1}}
    merge_patch(original, {"a": {"b": 2}})
    assert original == {"a": {"b": 1}}


async def test_environment_patch_merges_variables_and_secrets(api: httpx.AsyncClient):
    project = await factories.project(api)
    environment = await factories.create(
        api,
        f"{API}/projects/{project['id']}/environments",
        {
            "name": "staging",
            "variables": {"host": "a.example", "lang": "en", "region": "eu"},
            "secret_variables": {"api_key": "key-000001", "db_password": "pw-000001", "old_token": "tok-000001"},
        },
    )
    path = f"{API}/environments/{environment['id']}"
    updated = await patch(
        api,
        path,
        {
            "version": environment["version"],
            "variables": {"lang": "de", "region": None, "new": 1},
            "secret_variables": {"api_key": "key-000002", "db_password": "******", "old_token": None},
        },
    )
    assert updated["variables"] == {"host": "a.example", "lang": "de", "new": 1}
    assert updated["secret_variables"] == {"api_key": "******", "db_password": "******"}
    assert await stored_secrets(environment["id"]) == {"api_key": "key-000002", "db_password": "pw-000001"}

    # Sending one secret keeps every other one.
    again = await patch(api, path, {"version": updated["version"], "secret_variables": {"extra": "extra-0001"}})
    assert set(again["secret_variables"]) == {"api_key", "db_password", "extra"}
    assert (await stored_secrets(environment["id"]))["db_password"] == "pw-000001"

    # The mask for a secret that is not stored is still refused, and nothing changes.
    error = assert_error(
        await api.patch(path, json={"version": again["version"], "secret_variables": {"nope": "******"}}), 422
    )
    assert error["details"][0]["loc"] == ["body", "secret_variables", "nope"]


async def test_scenario_settings_patch_keeps_the_settings_not_sent(api: httpx.AsyncClient):
    project = await factories.project(api)
    scenario = await factories.scenario(
        api,
        project["id"],
        variables={"a": 1, "b": 2},
        settings={"concurrency": 5, "timeout_ms": 120_000, "stop_on_failure": True, "retry": {"max_attempts": 3}},
    )
    path = f"{API}/scenarios/{scenario['id']}"
    updated = await patch(
        api, path, {"version": scenario["version"], "settings": {"stop_on_failure": False, "retry": {"backoff_ms": 50}}}
    )
    settings = updated["settings"]
    assert settings["stop_on_failure"] is False
    assert settings["concurrency"] == 5 and settings["timeout_ms"] == 120_000
    assert settings["retry"]["max_attempts"] == 3 and settings["retry"]["backoff_ms"] == 50

    updated = await patch(api, path, {"version": updated["version"], "variables": {"a": None, "c": 3}})
    assert updated["variables"] == {"b": 2, "c": 3}
    assert updated["settings"] == settings


async def test_scenario_settings_are_checked_after_the_merge(api: httpx.AsyncClient):
    project = await factories.project(api)
    scenario = await factories.scenario(api, project["id"], settings={"concurrency": 5})
    path = f"{API}/scenarios/{scenario['id']}"
    for bad, loc in [
        ({"concurrency": 0}, ["body", "settings", "concurrency"]),
        ({"retry": {"max_attempts": 99}}, ["body", "settings", "retry", "max_attempts"]),
        ({"unknown_setting": 1}, ["body", "settings", "unknown_setting"]),
        ({"retry": "often"}, ["body", "settings", "retry"]),
    ]:
        error = assert_error(await api.patch(path, json={"version": scenario["version"], "settings": bad}), 422)
        assert error["details"][0]["loc"] == loc, error
        assert "settings" in error["message"]
    # Removing a setting gives back its default.
    updated = await patch(api, path, {"version": scenario["version"], "settings": {"concurrency": None}})
    assert updated["settings"]["concurrency"] == 1
    unchanged = await api.get(path)
    assert unchanged.json()["version"] == updated["version"]


async def test_dataset_patch_merges_variables(api: httpx.AsyncClient):
    project = await factories.project(api)
    case = await factories.case(api, project["id"])
    dataset = await factories.create(
        api, f"{API}/cases/{case['id']}/datasets", {"name": "row", "variables": {"user": "ann", "qty": 1}}
    )
    path = f"{API}/datasets/{dataset['id']}"
    updated = await patch(api, path, {"version": dataset["version"], "variables": {"qty": 2, "user": None}})
    assert updated["variables"] == {"qty": 2}
    error = assert_error(await api.patch(path, json={"version": updated["version"], "variables": {" bad": 1}}), 422)
    assert error["details"][0]["loc"][:2] == ["body", "variables"]
