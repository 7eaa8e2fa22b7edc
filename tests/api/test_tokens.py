"""API tokens for CI and scripts: shown once, stored hashed, scoped to one project, never above their creator."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from app.core.db import get_session_factory
from app.models import ApiToken, AuditLog, Base, User
from tests import factories
from tests.conftest import assert_error, bearer

API = "/api/v1"
TOKEN_READ_KEYS = {
    "id", "project_id", "name", "role", "prefix", "created_by_id", "created_at", "expires_at", "last_used_at",
    "revoked_at",
}  # fmt: skip


def auth(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if status != 204 else None


async def new_token(
    client: httpx.AsyncClient,
    project_id: int,
    role: str = "runner",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {"name": f"ci-{role}", "role": role, **extra}
    return await ok(await client.post(f"{API}/projects/{project_id}/tokens", json=body, headers=headers), 201)


async def add_member(client: httpx.AsyncClient, project_id: int, email: str, role: str) -> dict[str, Any]:
    body = {"email": email, "role": role}
    return await ok(await client.post(f"{API}/projects/{project_id}/members", json=body), 201)


async def token_row(token_id: int) -> ApiToken:
    async with get_session_factory()() as db:
        row = await db.get(ApiToken, token_id)
        assert row is not None
        return row


async def set_token_fields(token_id: int, **values: Any) -> None:
    async with get_session_factory()() as db:
        await db.execute(update(ApiToken).where(ApiToken.id == token_id).values(**values))
        await db.commit()


async def database_text() -> str:
    """Every row of every table as text: what someone with a dump of the database would read."""
    parts = []
    async with get_session_factory()() as db:
        for table in Base.metadata.sorted_tables:
            for row in (await db.execute(select(table))).all():
                parts.append(json.dumps([str(value) for value in row]))
    return "\n".join(parts)


# --- Creation: the secret is shown once and stored only as a hash ---------------------------------------------


async def test_created_token_is_shown_once_and_stored_only_as_a_sha256_hash(api: httpx.AsyncClient, user: User) -> None:
    project = await factories.project(api)
    response = await api.post(
        f"{API}/projects/{project['id']}/tokens", json={"name": "github-actions", "role": "runner"}
    )
    created = await ok(response, 201)
    raw = created["token"]
    assert raw.startswith("exl_") and len(raw) >= 40
    assert set(created) == TOKEN_READ_KEYS | {"token"}
    assert created["project_id"] == project["id"] and created["created_by_id"] == user.id
    assert (created["name"], created["role"]) == ("github-actions", "runner")
    assert created["expires_at"] is None and created["last_used_at"] is None and created["revoked_at"] is None
    assert raw.startswith(created["prefix"]) and created["prefix"] != raw

    listed_response = await api.get(f"{API}/projects/{project['id']}/tokens")
    listed = await ok(listed_response)
    assert [item["id"] for item in listed] == [created["id"]]
    assert set(listed[0]) == TOKEN_READ_KEYS
    assert raw not in listed_response.text

    row = await token_row(created["id"])
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    for column in ApiToken.__table__.columns:
        assert raw not in str(getattr(row, column.key)), column.key
    assert raw not in await database_text()

    another = await new_token(api, project["id"])
    assert another["token"] != raw and another["prefix"] != created["prefix"]


async def test_token_without_expiry_defaults_to_runner_and_an_expiry_in_the_future_is_kept(
    api: httpx.AsyncClient,
) -> None:
    project = await factories.project(api)
    plain = await ok(await api.post(f"{API}/projects/{project['id']}/tokens", json={"name": "script"}), 201)
    assert plain["role"] == "runner" and plain["expires_at"] is None
    expires = datetime.now(UTC) + timedelta(days=30)
    dated = await new_token(api, project["id"], expires_at=expires.isoformat())
    assert abs(datetime.fromisoformat(dated["expires_at"]) - expires) < timedelta(seconds=1)
    assert (await ok(await api.get(f"{API}/auth/me", headers=auth(dated["token"]))))["id"] == plain["created_by_id"]


async def test_expiry_in_the_past_is_refused_on_create(api: httpx.AsyncClient) -> None:
    project = await factories.project(api)
    path = f"{API}/projects/{project['id']}/tokens"
    for past in (
        (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        (datetime.now(UTC) - timedelta(days=1)).replace(tzinfo=None).isoformat(),
    ):
        error = assert_error(await api.post(path, json={"name": "old", "expires_at": past}), 422, "validation_error")
        assert ["body", "expires_at"] in [d["loc"] for d in error["details"]]
    assert_error(await api.post(path, json={"name": "bad", "expires_at": "next tuesday"}), 422, "validation_error")
    assert await ok(await api.get(path)) == []


# --- Using a token: Bearer inside its project, nothing outside -----------------------------------------------


async def test_token_works_as_bearer_inside_its_project_and_sees_nothing_of_other_projects(
    api: httpx.AsyncClient, make_user: Any
) -> None:
    shop = await factories.project(api, "shop")
    billing = await factories.project(api, "billing")
    shop_case = await factories.case(api, shop["id"], name="list products")
    billing_case = await factories.case(api, billing["id"], name="invoice")
    await ok(await api.post(f"{API}/projects/{billing['id']}/environments", json={"name": "staging"}), 201)
    stranger = await make_user(email="stranger@example.com")
    other = await ok(await api.post(f"{API}/projects", json={"name": "open"}, headers=bearer(stranger)), 201)
    public_case = await ok(
        await api.post(
            f"{API}/cases", json=factories.case_body(other["id"], visibility="public"), headers=bearer(stranger)
        ),
        201,
    )
    token = await new_token(api, shop["id"], "editor")
    as_token = auth(token["token"])

    assert (await ok(await api.get(f"{API}/projects/{shop['id']}", headers=as_token)))["id"] == shop["id"]
    assert (await ok(await api.get(f"{API}/cases/{shop_case['id']}", headers=as_token)))["name"] == "list products"

    # Another project of the same creator: as if it did not exist.
    assert_error(await api.get(f"{API}/projects/{billing['id']}", headers=as_token), 404, "not_found")
    assert_error(await api.get(f"{API}/cases/{billing_case['id']}", headers=as_token), 404, "not_found")
    assert_error(await api.get(f"{API}/projects/{billing['id']}/environments", headers=as_token), 404, "not_found")
    patch = {"version": 1, "name": "hijacked"}
    assert_error(await api.patch(f"{API}/cases/{billing_case['id']}", json=patch, headers=as_token), 404)
    assert_error(await api.post(f"{API}/cases", json=factories.case_body(billing["id"]), headers=as_token), 422)
    # A public case of someone else's project is for people, not for a project's token.
    assert (await api.get(f"{API}/cases/{public_case['id']}")).status_code == 200
    assert_error(await api.get(f"{API}/cases/{public_case['id']}", headers=as_token), 404, "not_found")

    projects = await ok(await api.get(f"{API}/projects", headers=as_token))
    assert [p["id"] for p in projects["items"]] == [shop["id"]] and projects["total"] == 1
    cases = await ok(await api.get(f"{API}/cases", headers=as_token))
    assert [c["id"] for c in cases["items"]] == [shop_case["id"]] and cases["total"] == 1
    other_cases = await ok(await api.get(f"{API}/cases", params={"project_id": billing["id"]}, headers=as_token))
    assert other_cases["items"] == [] and other_cases["total"] == 0
    # ... and the token itself is listed only under its own project.
    assert await ok(await api.get(f"{API}/projects/{billing['id']}/tokens")) == []
    assert [t["id"] for t in await ok(await api.get(f"{API}/projects/{shop['id']}/tokens"))] == [token["id"]]


async def test_unknown_or_malformed_api_tokens_are_refused(client: httpx.AsyncClient) -> None:
    for raw in ("exl_", "exl_not-a-real-token", "exl_" + "a" * 43):
        assert_error(await client.get(f"{API}/auth/me", headers=auth(raw)), 401, "not_authenticated")


async def test_viewer_token_reads_but_cannot_change_a_case(api: httpx.AsyncClient) -> None:
    project = await factories.project(api)
    case = await factories.case(api, project["id"])
    as_token = auth((await new_token(api, project["id"], "viewer"))["token"])
    assert (await ok(await api.get(f"{API}/cases/{case['id']}", headers=as_token)))["id"] == case["id"]
    refused = await api.patch(f"{API}/cases/{case['id']}", json={"version": 1, "name": "x"}, headers=as_token)
    assert "viewer" in assert_error(refused, 403, "forbidden")["message"]
    assert_error(await api.delete(f"{API}/cases/{case['id']}", headers=as_token), 403, "forbidden")
    assert (await ok(await api.get(f"{API}/cases/{case['id']}")))["name"] == case["name"]


async def test_runner_token_reads_but_cannot_create_or_edit(api: httpx.AsyncClient) -> None:
    project = await factories.project(api)
    case = await factories.case(api, project["id"])
    scenario = await factories.scenario(api, project["id"])
    as_token = auth((await new_token(api, project["id"], "runner"))["token"])
    assert (await ok(await api.get(f"{API}/cases/{case['id']}", headers=as_token)))["id"] == case["id"]
    assert (await ok(await api.get(f"{API}/scenarios/{scenario['id']}", headers=as_token)))["id"] == scenario["id"]
    assert (await ok(await api.get(f"{API}/cases", headers=as_token)))["total"] == 1
    patch = {"version": 1, "name": "x"}
    assert_error(await api.patch(f"{API}/cases/{case['id']}", json=patch, headers=as_token), 403, "forbidden")
    body = factories.case_body(project["id"])
    assert_error(await api.post(f"{API}/cases", json=body, headers=as_token), 403, "forbidden")


async def test_editor_token_edits_and_the_audit_names_the_token_and_its_creator(
    api: httpx.AsyncClient, user: User
) -> None:
    project = await factories.project(api)
    case = await factories.case(api, project["id"])
    token = await new_token(api, project["id"], "editor", name="nightly")
    patch = {"version": 1, "name": "renamed by CI"}
    edited = await ok(await api.patch(f"{API}/cases/{case['id']}", json=patch, headers=auth(token["token"])))
    assert edited["name"] == "renamed by CI"
    entries = await ok(await api.get(f"{API}/audit", params={"entity": "case", "action": "update"}))
    [entry] = entries["items"]
    assert entry["actor_id"] == user.id
    assert "nightly" in entry["actor"] and user.email in entry["actor"]


async def test_last_used_at_is_set_when_the_token_is_used(api: httpx.AsyncClient) -> None:
    project = await factories.project(api)
    token = await new_token(api, project["id"])
    assert (await token_row(token["id"])).last_used_at is None
    before = datetime.now(UTC)
    await ok(await api.get(f"{API}/projects/{project['id']}", headers=auth(token["token"])))
    used = (await token_row(token["id"])).last_used_at
    assert used is not None and before - timedelta(seconds=1) <= used <= datetime.now(UTC) + timedelta(seconds=1)
    [listed] = await ok(await api.get(f"{API}/projects/{project['id']}/tokens"))
    assert listed["last_used_at"] is not None
    assert abs(datetime.fromisoformat(listed["last_used_at"]) - used) < timedelta(milliseconds=1)

    # An hour-old mark is refreshed by the next use.
    await set_token_fields(token["id"], last_used_at=datetime.now(UTC) - timedelta(hours=1))
    await ok(await api.get(f"{API}/projects/{project['id']}", headers=auth(token["token"])))
    refreshed = (await token_row(token["id"])).last_used_at
    assert refreshed is not None and refreshed >= before


# --- Ending a token ---------------------------------------------------------------------------------------------


async def test_revoked_token_is_refused_with_401(api: httpx.AsyncClient) -> None:
    project = await factories.project(api)
    token = await new_token(api, project["id"])
    as_token = auth(token["token"])
    await ok(await api.get(f"{API}/projects/{project['id']}", headers=as_token))
    await ok(await api.delete(f"{API}/tokens/{token['id']}"), 204)
    assert_error(await api.get(f"{API}/projects/{project['id']}", headers=as_token), 401, "not_authenticated")
    assert_error(await api.get(f"{API}/auth/me", headers=as_token), 401, "not_authenticated")
    [listed] = await ok(await api.get(f"{API}/projects/{project['id']}/tokens"))
    assert listed["revoked_at"] is not None
    # Revoking again changes nothing and is not an error.
    await ok(await api.delete(f"{API}/tokens/{token['id']}"), 204)
    assert (await token_row(token["id"])).revoked_at is not None
    assert_error(await api.delete(f"{API}/tokens/{token['id'] + 1000}"), 404, "not_found")


async def test_only_the_creator_or_a_project_admin_may_revoke_a_token(api: httpx.AsyncClient, make_user: Any) -> None:
    project = await factories.project(api)
    editor = await make_user(email="editor@example.com")
    outsider = await make_user(email="outsider@example.com")
    await add_member(api, project["id"], "editor@example.com", "editor")
    token = await new_token(api, project["id"])
    assert_error(await api.delete(f"{API}/tokens/{token['id']}", headers=bearer(outsider)), 404, "not_found")
    assert_error(await api.delete(f"{API}/tokens/{token['id']}", headers=bearer(editor)), 403, "forbidden")
    await ok(await api.get(f"{API}/projects/{project['id']}", headers=auth(token["token"])))
    await ok(await api.delete(f"{API}/tokens/{token['id']}"), 204)


async def test_expired_token_is_refused_with_401(api: httpx.AsyncClient) -> None:
    project = await factories.project(api)
    token = await new_token(api, project["id"], expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    as_token = auth(token["token"])
    await ok(await api.get(f"{API}/projects/{project['id']}", headers=as_token))
    await set_token_fields(token["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
    error = assert_error(await api.get(f"{API}/projects/{project['id']}", headers=as_token), 401, "not_authenticated")
    assert "expired" in error["message"]


# --- Never more powerful than the creator -----------------------------------------------------------------------


async def test_a_token_cannot_be_created_above_the_creators_role(api: httpx.AsyncClient, make_user: Any) -> None:
    project = await factories.project(api)
    editor = await make_user(email="editor@example.com")
    admin = await make_user(email="admin@example.com")
    await add_member(api, project["id"], "editor@example.com", "editor")
    await add_member(api, project["id"], "admin@example.com", "admin")
    path = f"{API}/projects/{project['id']}/tokens"

    assert_error(await api.post(path, json={"name": "t", "role": "admin"}, headers=bearer(editor)), 403, "forbidden")
    assert_error(await api.post(path, json={"name": "t", "role": "viewer"}, headers=bearer(editor)), 403, "forbidden")
    error = assert_error(await api.post(path, json={"name": "t", "role": "owner"}, headers=bearer(admin)), 403)
    assert ["body", "role"] in [d["loc"] for d in error["details"]]
    assert (await new_token(api, project["id"], "admin", headers=bearer(admin)))["role"] == "admin"
    assert (await new_token(api, project["id"], "owner"))["role"] == "owner"
    assert [t["role"] for t in await ok(await api.get(path))] == ["admin", "owner"]


async def test_a_token_cannot_create_tokens_or_manage_members(api: httpx.AsyncClient, make_user: Any) -> None:
    project = await factories.project(api)
    await make_user(email="newcomer@example.com")
    member = await make_user(email="member@example.com")
    await add_member(api, project["id"], "member@example.com", "viewer")
    as_token = auth((await new_token(api, project["id"], "owner"))["token"])
    pid = project["id"]

    tokens_before = [t["id"] for t in await ok(await api.get(f"{API}/projects/{pid}/tokens"))]
    body = {"name": "child", "role": "viewer"}
    assert_error(await api.post(f"{API}/projects/{pid}/tokens", json=body, headers=as_token), 403, "forbidden")
    add = {"email": "newcomer@example.com", "role": "viewer"}
    assert_error(await api.post(f"{API}/projects/{pid}/members", json=add, headers=as_token), 403, "forbidden")
    change = {"role": "admin"}
    path = f"{API}/projects/{pid}/members/{member.id}"
    assert_error(await api.patch(path, json=change, headers=as_token), 403, "forbidden")
    assert_error(await api.delete(path, headers=as_token), 403, "forbidden")
    assert_error(await api.post(f"{API}/projects", json={"name": "new"}, headers=as_token), 403, "forbidden")

    assert [t["id"] for t in await ok(await api.get(f"{API}/projects/{pid}/tokens"))] == tokens_before
    members = await ok(await api.get(f"{API}/projects/{pid}/members"))
    assert sorted((m["email"], m["role"]) for m in members) == [
        ("member@example.com", "viewer"),
        ("qa@example.com", "owner"),
    ]


async def test_a_token_is_capped_by_its_creators_current_role(api: httpx.AsyncClient, make_user: Any) -> None:
    project = await factories.project(api)
    case = await factories.case(api, project["id"])
    creator = await make_user(email="lead@example.com")
    await add_member(api, project["id"], "lead@example.com", "admin")
    as_token = auth((await new_token(api, project["id"], "editor", headers=bearer(creator)))["token"])
    case_path = f"{API}/cases/{case['id']}"
    member_path = f"{API}/projects/{project['id']}/members/{creator.id}"

    assert (await ok(await api.patch(case_path, json={"version": 1, "name": "v2"}, headers=as_token)))["version"] == 2

    await ok(await api.patch(member_path, json={"role": "viewer"}))
    refused = await api.patch(case_path, json={"version": 2, "name": "v3"}, headers=as_token)
    assert "viewer" in assert_error(refused, 403, "forbidden")["message"]
    assert (await ok(await api.get(case_path, headers=as_token)))["name"] == "v2"  # still reads, like its creator

    # The cap follows the creator's role as it is now, not as it was.
    await ok(await api.patch(member_path, json={"role": "admin"}))
    assert (await ok(await api.patch(case_path, json={"version": 2, "name": "v3"}, headers=as_token)))["version"] == 3


async def test_removing_the_creator_from_the_project_kills_the_token(api: httpx.AsyncClient, make_user: Any) -> None:
    project = await factories.project(api)
    case = await factories.case(api, project["id"])
    creator = await make_user(email="lead@example.com")
    await add_member(api, project["id"], "lead@example.com", "admin")
    as_token = auth((await new_token(api, project["id"], "editor", headers=bearer(creator)))["token"])
    await ok(await api.get(f"{API}/cases/{case['id']}", headers=as_token))

    await ok(await api.delete(f"{API}/projects/{project['id']}/members/{creator.id}"), 204)
    assert_error(await api.get(f"{API}/projects/{project['id']}", headers=as_token), 404, "not_found")
    assert_error(await api.get(f"{API}/cases/{case['id']}", headers=as_token), 404, "not_found")
    patch = {"version": 1, "name": "x"}
    assert_error(await api.patch(f"{API}/cases/{case['id']}", json=patch, headers=as_token), 404, "not_found")
    assert (await ok(await api.get(f"{API}/cases", headers=as_token)))["total"] == 0
    assert (await ok(await api.get(f"{API}/projects", headers=as_token)))["total"] == 0


async def test_a_site_admins_token_carries_no_site_wide_power(api: httpx.AsyncClient, make_user: Any) -> None:
    root = await make_user(email="root@example.com", is_admin=True)
    others = await factories.project(api, "someone else's")
    mine = await ok(await api.post(f"{API}/projects", json={"name": "ops"}, headers=bearer(root)), 201)
    as_token = auth((await new_token(api, mine["id"], "owner", headers=bearer(root)))["token"])
    assert (await api.get(f"{API}/projects/{others['id']}", headers=bearer(root))).status_code == 200
    assert_error(await api.get(f"{API}/projects/{others['id']}", headers=as_token), 404, "not_found")
    body = {"email": "made-by-token@example.com", "password": "long-enough-pw"}
    assert_error(await api.post(f"{API}/users", json=body, headers=as_token), 403, "forbidden")
    audit = await ok(await api.get(f"{API}/audit", headers=as_token))
    assert {entry["project_id"] for entry in audit["items"]} <= {mine["id"]}


async def test_a_token_a_site_admin_creates_for_a_project_outside_their_membership_works_or_is_refused(
    api: httpx.AsyncClient, make_user: Any
) -> None:
    root = await make_user(email="root@example.com", is_admin=True)
    project = await factories.project(api)
    response = await api.post(
        f"{API}/projects/{project['id']}/tokens", json={"name": "ops", "role": "viewer"}, headers=bearer(root)
    )
    if response.status_code == 201:
        as_token = auth(response.json()["token"])
        assert (await api.get(f"{API}/projects/{project['id']}", headers=as_token)).status_code == 200
    else:
        assert_error(response, response.status_code)
        assert response.status_code in (403, 422)


async def test_token_changes_are_in_the_audit_trail_without_the_secret(api: httpx.AsyncClient, user: User) -> None:
    project = await factories.project(api)
    token = await new_token(api, project["id"], "viewer", name="deploy")
    await ok(await api.delete(f"{API}/tokens/{token['id']}"), 204)
    async with get_session_factory()() as db:
        entries = list(await db.scalars(select(AuditLog).where(AuditLog.entity == "token").order_by(AuditLog.id)))
    assert len(entries) == 2
    created, revoked = entries
    assert (created.action, created.entity_id, created.actor_id, created.project_id) == (
        "create",
        token["id"],
        user.id,
        project["id"],
    )
    assert entries[0].changes["after"]["name"] == "deploy" and entries[0].changes["after"]["role"] == "viewer"
    assert revoked.entity_id == token["id"]
    assert entries[1].changes["before"]["revoked_at"] is None and entries[1].changes["after"]["revoked_at"]
    row = await token_row(token["id"])
    text = json.dumps([e.changes for e in entries])
    assert token["token"] not in text and row.token_hash not in text


async def test_deleting_the_project_or_disabling_the_creator_ends_its_tokens(api: httpx.AsyncClient) -> None:
    doomed = await factories.project(api, "doomed")
    kept = await factories.project(api, "kept")
    doomed_token = auth((await new_token(api, doomed["id"]))["token"])
    kept_token = await new_token(api, kept["id"])
    await ok(await api.delete(f"{API}/projects/{doomed['id']}"), 204)
    assert_error(await api.get(f"{API}/auth/me", headers=doomed_token), 401, "not_authenticated")

    await ok(await api.get(f"{API}/projects/{kept['id']}", headers=auth(kept_token["token"])))
    async with get_session_factory()() as db:
        await db.execute(update(User).where(User.id == kept_token["created_by_id"]).values(is_active=False))
        await db.commit()
    assert_error(await api.get(f"{API}/projects/{kept['id']}", headers=auth(kept_token["token"])), 401)
