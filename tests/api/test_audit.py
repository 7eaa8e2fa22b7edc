"""The audit trail: who changed what, when, from where, which fields; secrets never in it; read only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.core.db import get_session_factory
from app.core.secret_box import is_sealed, unseal
from app.main import app
from app.models import AuditLog, Base, Environment, User
from tests import factories
from tests.conftest import assert_error, bearer, count_rows

API = "/api/v1"
ENTRY_KEYS = {"id", "at", "actor", "actor_id", "action", "entity", "entity_id", "project_id", "changes", "ip"}
TEST_CLIENT_IP = "127.0.0.1"  # what httpx's ASGITransport reports as the client's address


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if status != 204 else None


async def audit(client: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: Any) -> list[dict]:
    """Every entry the caller may read for the filter (one page of up to 200 is plenty here)."""
    page = await ok(await client.get(f"{API}/audit", params={"page_size": 200, **params}, headers=headers))
    assert page["total"] == len(page["items"]), page["total"]
    return page["items"]


def keys_of(entries: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    return [(e["entity"], e["action"], e["entity_id"]) for e in entries]


async def add_member(client: httpx.AsyncClient, project_id: int, email: str, role: str, **kw: Any) -> None:
    await ok(await client.post(f"{API}/projects/{project_id}/members", json={"email": email, "role": role}, **kw), 201)


async def database_text() -> str:
    """Every row of every table as text: what a database dump or backup would show."""
    parts = []
    async with get_session_factory()() as db:
        for table in Base.metadata.sorted_tables:
            for row in (await db.execute(select(table))).all():
                parts.append(json.dumps([str(value) for value in row]))
    return "\n".join(parts)


async def move_entry_back(entry_id: int, by: timedelta) -> None:
    async with get_session_factory()() as db:
        entry = await db.get(AuditLog, entry_id)
        assert entry is not None
        await db.execute(update(AuditLog).where(AuditLog.id == entry_id).values(at=entry.at - by))
        await db.commit()


@pytest.fixture
async def root(make_user: Any) -> User:
    return await make_user(email="root@example.com", is_admin=True)


# --- What is recorded -------------------------------------------------------------------------------------------


async def test_every_change_is_recorded_with_actor_time_entity_and_address(
    api: httpx.AsyncClient, user: User, make_user: Any, root: User
) -> None:
    started = datetime.now(UTC)
    project = await factories.project(api)
    pid = project["id"]
    await ok(await api.patch(f"{API}/projects/{pid}", json={"version": 1, "description": "web shop"}))

    env = await ok(await api.post(f"{API}/projects/{pid}/environments", json={"name": "staging"}), 201)
    await ok(await api.patch(f"{API}/environments/{env['id']}", json={"version": 1, "base_url": "https://s.test"}))
    await ok(await api.delete(f"{API}/environments/{env['id']}"), 204)

    case = await factories.case(api, pid)
    await ok(await api.patch(f"{API}/cases/{case['id']}", json={"version": 1, "name": "login v2"}))
    dataset = await ok(await api.post(f"{API}/cases/{case['id']}/datasets", json={"name": "alice"}), 201)
    await ok(await api.patch(f"{API}/datasets/{dataset['id']}", json={"version": 1, "enabled": False}))

    scenario = await factories.scenario(api, pid)
    sid = scenario["id"]
    await ok(await api.patch(f"{API}/scenarios/{sid}", json={"version": 1, "description": "buy"}))
    await factories.put_steps(api, sid, [{"case_id": case["id"], "alias": "login"}])
    await ok(await api.put(f"{API}/scenarios/{sid}/datasets", json=[{"name": "one", "variables": {"qty": 1}}]))

    colleague = await make_user(email="dev@example.com")
    await add_member(api, pid, "dev@example.com", "editor")
    await ok(await api.patch(f"{API}/projects/{pid}/members/{colleague.id}", json={"role": "viewer"}))
    await ok(await api.delete(f"{API}/projects/{pid}/members/{colleague.id}"), 204)

    token = await ok(await api.post(f"{API}/projects/{pid}/tokens", json={"name": "ci", "role": "runner"}), 201)
    await ok(await api.delete(f"{API}/tokens/{token['id']}"), 204)

    await ok(await api.delete(f"{API}/datasets/{dataset['id']}"), 204)
    await ok(await api.delete(f"{API}/scenarios/{sid}"), 204)
    await ok(await api.delete(f"{API}/cases/{case['id']}"), 204)

    temporary = await factories.project(api, "temporary")
    await ok(await api.delete(f"{API}/projects/{temporary['id']}"), 204)
    finished = datetime.now(UTC)

    # A site admin reads everything, the deleted project's entries included.
    entries = await audit(api, bearer(root))
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)  # newest first
    recorded = set(keys_of(entries))
    expected = {
        ("project", "create", pid), ("project", "update", pid),
        ("environment", "create", env["id"]), ("environment", "update", env["id"]),
        ("environment", "delete", env["id"]),
        ("case", "create", case["id"]), ("case", "update", case["id"]), ("case", "delete", case["id"]),
        ("dataset", "create", dataset["id"]), ("dataset", "update", dataset["id"]),
        ("dataset", "delete", dataset["id"]),
        ("scenario", "create", sid), ("scenario", "update", sid), ("scenario", "delete", sid),
        ("scenario_steps", "update", sid), ("scenario_datasets", "update", sid),
        ("token", "create", token["id"]),
        ("project", "create", temporary["id"]), ("project", "delete", temporary["id"]),
    }  # fmt: skip
    assert expected <= recorded, expected - recorded
    members = [e for e in entries if e["entity"] == "member"]
    assert [e["action"] for e in members] == ["delete", "update", "create"]
    removed, added = members[0]["changes"]["before"], members[2]["changes"]["after"]
    assert (added["user_id"], added["email"], added["role"]) == (colleague.id, "dev@example.com", "editor")
    assert (removed["user_id"], removed["email"], removed["role"]) == (colleague.id, "dev@example.com", "viewer")
    who = {"user_id": colleague.id, "email": "dev@example.com"}
    assert members[1]["changes"] == {"before": {**who, "role": "editor"}, "after": {**who, "role": "viewer"}}
    assert {e["entity_id"] for e in members} == {colleague.id}  # filed under the person, not a membership row
    [revoked] = [e for e in entries if e["entity"] == "token" and e["action"] != "create"]
    assert revoked["entity_id"] == token["id"] and revoked["changes"]["after"]["revoked_at"]

    for entry in entries:
        assert set(entry) == ENTRY_KEYS, entry
        assert (entry["actor"], entry["actor_id"], entry["ip"]) == ("qa@example.com", user.id, TEST_CLIENT_IP)
        at = datetime.fromisoformat(entry["at"])
        assert at.utcoffset() == timedelta(0)
        assert started - timedelta(seconds=1) <= at <= finished + timedelta(seconds=1)
        is_temporary = (entry["entity"], entry["entity_id"]) == ("project", temporary["id"])
        assert entry["project_id"] == (temporary["id"] if is_temporary else pid)
    # The project's owner reads the same entries of its (still existing) project.
    own = await audit(api, project_id=pid)
    assert {e["id"] for e in own} == {e["id"] for e in entries if e["project_id"] == pid}


async def test_the_address_recorded_is_the_callers(user: User) -> None:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4711))
    async with httpx.AsyncClient(transport=transport, base_url="http://exile.test", headers=bearer(user)) as far:
        project = await factories.project(far)
        [entry] = await audit(far, project_id=project["id"])
    assert (entry["entity"], entry["action"], entry["ip"]) == ("project", "create", "203.0.113.9")


async def test_update_entries_hold_only_the_fields_that_changed(api: httpx.AsyncClient, make_user: Any) -> None:
    project = await factories.project(api)
    pid = project["id"]
    case = await factories.case(api, pid, tags=["smoke"])
    dataset = await ok(await api.post(f"{API}/cases/{case['id']}/datasets", json={"name": "a"}), 201)
    env = await ok(await api.post(f"{API}/projects/{pid}/environments", json={"name": "qa", "base_url": ""}), 201)
    dev = await make_user(email="dev@example.com")
    await add_member(api, pid, "dev@example.com", "editor")

    await ok(await api.patch(f"{API}/projects/{pid}", json={"version": 1, "description": "web shop"}))
    await ok(await api.patch(f"{API}/cases/{case['id']}", json={"version": 1, "name": "login v2", "timeout_ms": 500}))
    await ok(await api.patch(f"{API}/cases/{case['id']}", json={"version": 2, "tags": ["smoke", "auth"]}))
    await ok(await api.patch(f"{API}/datasets/{dataset['id']}", json={"version": 1, "variables": {"user": "bob"}}))
    await ok(await api.patch(f"{API}/environments/{env['id']}", json={"version": 1, "verify_tls": False}))
    await ok(await api.patch(f"{API}/projects/{pid}/members/{dev.id}", json={"role": "viewer"}))

    updates = [(e["entity"], e["changes"]) for e in reversed(await audit(api, action="update"))]
    updates[2][1]["after"]["tags"].sort()
    assert updates == [
        ("project", {"before": {"description": project["description"]}, "after": {"description": "web shop"}}),
        ("case", {"before": {"name": "login", "timeout_ms": 10000}, "after": {"name": "login v2", "timeout_ms": 500}}),
        ("case", {"before": {"tags": ["smoke"]}, "after": {"tags": ["auth", "smoke"]}}),
        ("dataset", {"before": {"variables": {}}, "after": {"variables": {"user": "bob"}}}),
        ("environment", {"before": {"verify_tls": True}, "after": {"verify_tls": False}}),
        (
            "member",
            {
                "before": {"user_id": dev.id, "email": "dev@example.com", "role": "editor"},
                "after": {"user_id": dev.id, "email": "dev@example.com", "role": "viewer"},
            },
        ),
    ]


async def test_deleted_case_leaves_its_last_content_in_the_trail(api: httpx.AsyncClient) -> None:
    project = await factories.project(api)
    case = await factories.case(api, project["id"], tags=["smoke", "auth"])
    await ok(await api.post(f"{API}/cases/{case['id']}/datasets", json={"name": "alice", "variables": {"u": "a"}}), 201)
    await ok(await api.post(f"{API}/cases/{case['id']}/datasets", json={"name": "bob", "variables": {"u": "b"}}), 201)
    last = await ok(await api.patch(f"{API}/cases/{case['id']}", json={"version": 1, "url": "/v2/login"}))
    await ok(await api.delete(f"{API}/cases/{case['id']}"), 204)
    assert_error(await api.get(f"{API}/cases/{case['id']}"), 404, "not_found")

    [entry] = await audit(api, entity="case", action="delete")
    assert entry["entity_id"] == case["id"] and entry["project_id"] == project["id"]
    content = entry["changes"]["before"]
    for field in ("name", "method", "url", "headers", "query", "body", "assertions", "extractors", "retry"):
        assert content[field] == last[field], field
    assert content["url"] == "/v2/login"
    assert sorted(content["tags"]) == ["auth", "smoke"]
    assert [(d["name"], d["variables"]) for d in content["datasets"]] == [("alice", {"u": "a"}), ("bob", {"u": "b"})]


async def test_deleted_scenario_leaves_its_steps_and_data_rows_in_the_trail(api: httpx.AsyncClient) -> None:
    project = await factories.project(api)
    case = await factories.case(api, project["id"])
    scenario = await factories.scenario(api, project["id"], variables={"sku": "A-1"})
    await factories.put_steps(api, scenario["id"], [{"case_id": case["id"], "alias": "login", "variables": {"q": 1}}])
    await ok(
        await api.put(f"{API}/scenarios/{scenario['id']}/datasets", json=[{"name": "bulk", "variables": {"n": 9}}])
    )
    await ok(await api.delete(f"{API}/scenarios/{scenario['id']}"), 204)

    [entry] = await audit(api, entity="scenario", action="delete")
    content = entry["changes"]["before"]
    assert (content["name"], content["variables"]) == ("checkout", {"sku": "A-1"})
    assert [(s["case_id"], s["alias"], s["variables"]) for s in content["steps"]] == [(case["id"], "login", {"q": 1})]
    assert [(r["name"], r["variables"]) for r in content["datasets"]] == [("bulk", {"n": 9})]


# --- Secrets ----------------------------------------------------------------------------------------------------


async def test_environment_secrets_never_reach_the_trail_and_are_encrypted_at_rest(
    api: httpx.AsyncClient, root: User
) -> None:
    project = await factories.project(api)
    secrets = ["hunter2-first-secret", "rotated-second-secret", "api-key-third-secret", "refused-fourth-secret"]
    created = await api.post(
        f"{API}/projects/{project['id']}/environments",
        json={"name": "prod", "variables": {"user": "alice"}, "secret_variables": {"password": secrets[0]}},
    )
    env = await ok(created, 201)
    env_path = f"{API}/environments/{env['id']}"
    rotated = await api.patch(
        env_path, json={"version": 1, "secret_variables": {"password": secrets[1], "api_key": secrets[2]}}
    )
    assert (await ok(rotated))["secret_variables"] == {"password": "******", "api_key": "******"}
    refused = await api.patch(env_path, json={"version": 2, "secret_variables": {"x": secrets[3], "ghost": "******"}})
    assert_error(refused, 422, "validation_error")
    await ok(
        await api.patch(
            env_path,
            json={
                "version": 2,
                "variables": {"user": "bob"},
                "secret_variables": {"password": "******", "api_key": "******"},
            },
        )
    )
    bad_type = await api.post(
        f"{API}/projects/{project['id']}/environments",
        json={"name": "bad", "secret_variables": {"password": [secrets[3]]}},
    )
    assert_error(bad_type, 422, "validation_error")
    responses = [created, rotated, refused, bad_type, await api.get(env_path)]

    async with get_session_factory()() as db:
        stored = await db.scalar(select(Environment.secret_variables).where(Environment.id == env["id"]))
    assert stored is not None and all(is_sealed(value) for value in stored.values())
    assert {name: unseal(value) for name, value in stored.items()} == {"password": secrets[1], "api_key": secrets[2]}

    await ok(await api.delete(env_path), 204)
    entries = await audit(api, bearer(root))
    trail = json.dumps(entries)
    dump = await database_text()
    for secret in secrets:
        assert secret not in trail, secret
        assert secret not in dump, secret
        for response in responses:
            assert secret not in response.text, (secret, response.request.url)

    env_entries = {e["action"]: e for e in entries if e["entity"] == "environment" and e["entity_id"] == env["id"]}
    assert env_entries["create"]["changes"]["after"]["secret_variables"] == {"password": "******"}
    secret_update, variable_update = [
        e["changes"] for e in reversed(entries) if e["entity"] == "environment" and e["action"] == "update"
    ]
    assert secret_update["after"]["secrets_changed"] == ["api_key", "password"]
    assert secret_update["after"]["secret_variables"] == {"password": "******", "api_key": "******"}
    assert "secrets_changed" not in variable_update["after"]
    assert variable_update["after"] == {"variables": {"user": "bob"}}
    assert env_entries["delete"]["changes"]["before"]["secret_variables"] == {"password": "******", "api_key": "******"}


# --- Reading the trail: filters ----------------------------------------------------------------------------------


async def test_audit_filters_by_project_actor_entity_action_and_time(client: httpx.AsyncClient, make_user: Any) -> None:
    alice = await make_user(email="alice@example.com")
    bob = await make_user(email="bob@example.com")
    as_alice, as_bob = bearer(alice), bearer(bob)
    shop = await ok(await client.post(f"{API}/projects", json={"name": "shop"}, headers=as_alice), 201)
    billing = await ok(await client.post(f"{API}/projects", json={"name": "billing"}, headers=as_alice), 201)
    await add_member(client, shop["id"], "bob@example.com", "admin", headers=as_alice)
    bobs_case = await ok(await client.post(f"{API}/cases", json=factories.case_body(shop["id"]), headers=as_bob), 201)
    patch = {"version": 1, "name": "renamed"}
    await ok(await client.patch(f"{API}/cases/{bobs_case['id']}", json=patch, headers=as_bob))
    old_case = await ok(
        await client.post(f"{API}/cases", json=factories.case_body(billing["id"]), headers=as_alice), 201
    )

    everything = await audit(client, as_alice)
    assert len(everything) == 6

    in_shop = await audit(client, as_alice, project_id=shop["id"])
    assert {e["project_id"] for e in in_shop} == {shop["id"]} and len(in_shop) == 4
    in_billing = await audit(client, as_alice, project_id=billing["id"])
    assert keys_of(in_billing) == [("case", "create", old_case["id"]), ("project", "create", billing["id"])]

    by_bob = keys_of(await audit(client, as_alice, actor="bob"))
    assert by_bob == [("case", "update", bobs_case["id"]), ("case", "create", bobs_case["id"])]
    assert keys_of(await audit(client, as_alice, actor=str(bob.id))) == by_bob
    assert keys_of(await audit(client, as_alice, actor="BOB@Example")) == by_bob
    assert len(await audit(client, as_alice, actor="alice@")) == 4
    assert await audit(client, as_alice, actor="%") == []
    assert await audit(client, as_alice, actor="nobody") == []

    assert len(await audit(client, as_alice, entity="case")) == 3
    assert keys_of(await audit(client, as_alice, entity="case", action="update")) == [
        ("case", "update", bobs_case["id"])
    ]
    assert len(await audit(client, as_alice, action="create")) == 5
    assert await audit(client, as_alice, entity="dataset") == []
    combined = await audit(client, as_alice, project_id=shop["id"], entity="case", actor="bob", action="create")
    assert keys_of(combined) == [("case", "create", bobs_case["id"])]

    # `since`: the billing case was made two days ago.
    [old_entry] = [e for e in everything if e["entity"] == "case" and e["entity_id"] == old_case["id"]]
    await move_entry_back(old_entry["id"], timedelta(days=2))
    day_ago = datetime.now(UTC) - timedelta(days=1)
    recent = await audit(client, as_alice, since=day_ago.isoformat())
    assert {e["id"] for e in recent} == {e["id"] for e in everything} - {old_entry["id"]}
    as_z = await audit(client, as_alice, since=day_ago.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert {e["id"] for e in as_z} == {e["id"] for e in recent}
    in_berlin = day_ago.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert {e["id"] for e in await audit(client, as_alice, since=in_berlin)} == {e["id"] for e in recent}
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    assert len(await audit(client, as_alice, since=three_days_ago)) == 6
    assert await audit(client, as_alice, since=(datetime.now(UTC) + timedelta(minutes=5)).isoformat()) == []
    assert_error(await client.get(f"{API}/audit", params={"since": "yesterday"}, headers=as_alice), 422)


# --- Reading the trail: who may ----------------------------------------------------------------------------------


async def test_audit_is_for_project_admins_and_site_admins(
    client: httpx.AsyncClient, make_user: Any, root: User
) -> None:
    owner, admin, editor, outsider = [
        await make_user(email=f"{name}@example.com") for name in ("owner", "admin", "editor", "outsider")
    ]
    shop = await ok(await client.post(f"{API}/projects", json={"name": "shop"}, headers=bearer(owner)), 201)
    await add_member(client, shop["id"], "admin@example.com", "admin", headers=bearer(owner))
    await add_member(client, shop["id"], "editor@example.com", "editor", headers=bearer(owner))
    elsewhere = await ok(await client.post(f"{API}/projects", json={"name": "other"}, headers=bearer(outsider)), 201)
    await add_member(client, elsewhere["id"], "admin@example.com", "editor", headers=bearer(outsider))
    shop_entries = {e["id"] for e in await audit(client, bearer(owner), project_id=shop["id"])}
    assert len(shop_entries) == 3

    # A project admin reads its project's trail, with or without naming the project.
    assert {e["id"] for e in await audit(client, bearer(admin), project_id=shop["id"])} == shop_entries
    assert {e["id"] for e in await audit(client, bearer(admin))} == shop_entries  # not the project it only edits
    assert_error(await client.get(f"{API}/audit", params={"project_id": elsewhere["id"]}, headers=bearer(admin)), 403)
    # An editor may not; an outsider is not told the project exists.
    error = assert_error(
        await client.get(f"{API}/audit", params={"project_id": shop["id"]}, headers=bearer(editor)), 403, "forbidden"
    )
    assert "admin" in error["message"]
    assert await audit(client, bearer(editor)) == []
    assert_error(
        await client.get(f"{API}/audit", params={"project_id": shop["id"]}, headers=bearer(outsider)), 404, "not_found"
    )
    outsiders_own = await audit(client, bearer(outsider))
    assert outsiders_own and {e["project_id"] for e in outsiders_own} == {elsewhere["id"]}
    # A site admin, member of nothing, reads everything.
    all_entries = await audit(client, bearer(root))
    assert {e["project_id"] for e in all_entries} == {shop["id"], elsewhere["id"]}
    assert {e["id"] for e in await audit(client, bearer(root), project_id=shop["id"])} == shop_entries
    assert_error(await client.get(f"{API}/audit"), 401, "not_authenticated")


# --- The trail cannot be rewritten --------------------------------------------------------------------------------


async def test_entries_cannot_be_changed_or_deleted_through_the_api(api: httpx.AsyncClient, root: User) -> None:
    project = await factories.project(api)
    await factories.case(api, project["id"])
    before = await audit(api, bearer(root))
    rows = await count_rows(AuditLog)
    entry_id = before[0]["id"]
    for method in ("PATCH", "PUT", "DELETE", "POST"):
        for path in (f"{API}/audit", f"{API}/audit/{entry_id}"):
            for who in (bearer(root), {}):  # the site admin, and the project's owner
                response = await api.request(method, path, json={"action": "nothing happened"}, headers=who)
                assert response.status_code in (404, 405), (method, path, response.status_code)
                assert_error(response, response.status_code)
    assert await count_rows(AuditLog) == rows
    assert await audit(api, bearer(root)) == before


async def test_refused_requests_write_no_audit_entry(api: httpx.AsyncClient, make_user: Any) -> None:
    project = await factories.project(api)
    pid = project["id"]
    case = await factories.case(api, pid)
    await ok(await api.post(f"{API}/projects/{pid}/environments", json={"name": "qa"}), 201)
    viewer = await make_user(email="viewer@example.com")
    outsider = await make_user(email="outsider@example.com")
    await add_member(api, pid, "viewer@example.com", "viewer")
    rows = await count_rows(AuditLog)

    refused = [
        (await api.patch(f"{API}/cases/{case['id']}", json={"version": 1, "name": "x"}, headers=bearer(viewer)), 403),
        (await api.delete(f"{API}/cases/{case['id']}", headers=bearer(viewer)), 403),
        (await api.delete(f"{API}/cases/{case['id']}", headers=bearer(outsider)), 404),
        (await api.patch(f"{API}/cases/{case['id']}", json={"version": 7, "name": "stale"}), 409),
        (await api.patch(f"{API}/cases/{case['id']}", json={"version": 1, "method": "FETCH"}), 422),
        (await api.post(f"{API}/projects/{pid}/environments", json={"name": "qa"}), 409),
        (await api.post(f"{API}/projects/{pid}/members", json={"email": "viewer@example.com", "role": "admin"}), 409),
        (await api.post(f"{API}/projects/{pid}/tokens", json={"name": "t"}, headers=bearer(viewer)), 403),
        (await api.patch(f"{API}/projects/{pid}", json={"version": 1, "name": "y"}, headers=bearer(viewer)), 403),
    ]
    for response, status in refused:
        assert_error(response, status)
    assert await count_rows(AuditLog) == rows


@pytest.fixture
async def far_client(user: User) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("2001:db8::7", 4711))
    async with httpx.AsyncClient(transport=transport, base_url="http://exile.test", headers=bearer(user)) as http:
        yield http


async def test_an_ipv6_caller_is_recorded_with_its_address(far_client: httpx.AsyncClient) -> None:
    project = await factories.project(far_client)
    [entry] = await audit(far_client, project_id=project["id"])
    assert entry["ip"] == "2001:db8::7"


async def test_every_member_entry_says_which_user_it_is_about(api: httpx.AsyncClient, make_user: Any) -> None:
    project = await factories.project(api)
    pid = project["id"]
    dev = await make_user(email="dev@example.com")
    await add_member(api, pid, "dev@example.com", "editor")
    await ok(await api.patch(f"{API}/projects/{pid}/members/{dev.id}", json={"role": "viewer"}))
    await ok(await api.delete(f"{API}/projects/{pid}/members/{dev.id}"), 204)
    entries = await audit(api, project_id=pid, entity="member")
    assert [e["action"] for e in entries] == ["delete", "update", "create"]
    for entry in entries:
        assert "dev@example.com" in json.dumps(entry["changes"]), entry


async def test_creating_an_account_is_recorded_without_its_password(client: httpx.AsyncClient, root: User) -> None:
    body = {"email": "second-root@example.com", "password": "initial-password-xyz", "is_admin": True}
    created = await ok(await client.post(f"{API}/users", json=body, headers=bearer(root)), 201)
    entries = await audit(client, bearer(root), entity="user", action="create")
    assert [(e["entity_id"], e["actor_id"]) for e in entries] == [(created["id"], root.id)]
    assert entries[0]["changes"]["after"]["is_admin"] is True
    assert "initial-password-xyz" not in json.dumps(entries)
