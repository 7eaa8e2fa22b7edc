"""The permission matrix: every endpoint family, every role and visibility, as data.

A row names a call and the access it needs; `expected` derives, for each principal, whether the call
succeeds, is hidden (404, or 422 for a project named in a body) or refused (403). A refused or hidden call
must write nothing. Adding an endpoint is one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.core.db import get_session_factory
from app.core.roles import at_least
from app.core.security import create_access_token, hash_password
from app.models import (
    ApiRequest,
    ApiRequestDataset,
    ApiToken,
    Base,
    Environment,
    Project,
    ProjectMember,
    ScenarioRun,
    TestScenario,
    TestScenarioCase,
    TestScenarioDataset,
    User,
)
from app.models.base import utcnow
from app.tokens.service import TOKEN_PREFIX, _hash
from tests.conftest import assert_error

PROJECT_ROLES = ("owner", "admin", "editor", "runner", "viewer")
PRINCIPALS = (*PROJECT_ROLES, "outsider", "site_admin", "token_editor", "token_viewer")


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)


async def build_world() -> World:
    """Project A with one member per role, project B owned by an outsider, and things of each visibility."""
    world = World()
    password = hash_password("irrelevant-password")
    async with get_session_factory()() as session:
        users = {name: User(email=f"{name}@example.com", password_hash=password) for name in PRINCIPALS[:7]}
        users["site_admin"].is_admin = True
        users["newcomer"] = User(email="newcomer@example.com", password_hash=password)
        users["extra"] = User(email="extra@example.com", password_hash=password)
        session.add_all(users.values())
        await session.flush()
        project_a = Project(name="A", owner_id=users["owner"].id)
        project_b = Project(name="B", owner_id=users["outsider"].id)
        session.add_all([project_a, project_b])
        await session.flush()
        for role in PROJECT_ROLES:
            session.add(ProjectMember(project_id=project_a.id, user_id=users[role].id, role=role))
        session.add(ProjectMember(project_id=project_a.id, user_id=users["extra"].id, role="viewer"))
        session.add(ProjectMember(project_id=project_b.id, user_id=users["outsider"].id, role="owner"))

        def case(name: str, visibility: str, owner: str, project: Project = project_a) -> ApiRequest:
            return ApiRequest(
                project_id=project.id,
                owner_id=users[owner].id,
                name=name,
                method="GET",
                url="/x",
                visibility=visibility,
                body={"mode": "none", "content": None},
                auth={"type": "none"},
            )

        cases = {
            "case": case("shared", "project", "owner"),
            "case_free": case("unused", "project", "owner"),
            "case_private": case("mine", "private", "editor"),
            "case_public": case("open", "public", "owner"),
            "case_b": case("other team", "project", "outsider", project_b),
        }
        environment = Environment(project_id=project_a.id, name="staging", base_url="https://a.example.com")
        session.add_all([*cases.values(), environment])
        await session.flush()
        dataset = ApiRequestDataset(case_id=cases["case"].id, name="row", variables={"q": 1}, position=0)
        scenario = TestScenario(project_id=project_a.id, owner_id=users["owner"].id, name="flow")
        private_scenario = TestScenario(
            project_id=project_a.id, owner_id=users["editor"].id, name="draft", visibility="private"
        )
        # The queued run belongs to its own scenario, so deleting "flow" is not refused as in use by a run.
        nightly = TestScenario(project_id=project_a.id, owner_id=users["owner"].id, name="nightly")
        session.add_all([dataset, scenario, private_scenario, nightly])
        await session.flush()
        for each in (scenario, private_scenario, nightly):  # a scenario with no enabled step cannot be started
            session.add(TestScenarioCase(scenario_id=each.id, case_id=cases["case"].id, position=0))
        session.add(TestScenarioDataset(scenario_id=scenario.id, name="r", variables={}, position=0))
        ci_token = ApiToken(
            project_id=project_a.id,
            created_by_id=users["owner"].id,
            name="ci",
            role="runner",
            token_hash=_hash(TOKEN_PREFIX + "target"),
            prefix="exl_target",
            created_at=utcnow(),
        )
        session.add(ci_token)
        finished = ScenarioRun(
            project_id=project_a.id,
            scenario_id=scenario.id,
            kind="scenario",
            status="passed",
            created_at=utcnow(),
            iterations_total=1,
        )
        queued = ScenarioRun(
            project_id=project_a.id,
            scenario_id=nightly.id,
            kind="scenario",
            status="queued",
            executor="celery",
            created_at=utcnow(),
            iterations_total=1,
        )
        session.add_all([finished, queued])
        for name, role in (("token_editor", "editor"), ("token_viewer", "viewer")):
            raw = f"{TOKEN_PREFIX}{name}-secret"
            session.add(
                ApiToken(
                    project_id=project_a.id,
                    created_by_id=users["admin"].id,
                    name=name,
                    role=role,
                    token_hash=_hash(raw),
                    prefix=raw[:12],
                    created_at=utcnow(),
                )
            )
            world.headers[name] = {"Authorization": f"Bearer {raw}"}
        await session.commit()
        world.ids = {
            "A": project_a.id,
            "B": project_b.id,
            "env": environment.id,
            "dataset": dataset.id,
            "scenario": scenario.id,
            "scenario_private": private_scenario.id,
            "ci_token": ci_token.id,
            "extra": users["extra"].id,
            "run_done": finished.id,
            "run_queued": queued.id,
            **{name: c.id for name, c in cases.items()},
        }
        for name in PRINCIPALS[:7]:
            world.headers[name] = {"Authorization": f"Bearer {create_access_token(users[name].id)}"}
    return world


# What each principal is in project A (tokens are capped by their creator, an admin).
ROLE_IN_A = {role: role for role in PROJECT_ROLES} | {
    "outsider": None,
    "site_admin": "owner",
    "token_editor": "editor",
    "token_viewer": "viewer",
}
PRIVATE_OWNER = "editor"  # owns case_private and scenario_private
NEEDS = {"read": "viewer", "run": "runner", "edit": "editor", "manage": "admin", "own": "owner"}


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str
    access: str  # read | edit | manage | own | people (manage, not by a token) | site (site admins)
    visibility: str = "project"
    body: Callable[[dict[str, int]], Any] | None = None
    hidden_status: int = 404  # a project named in a body that the caller cannot see is "does not exist" (422)
    success: int = 200
    site_admin: int | None = None  # what a site admin who is not a member gets, when it is not `success`


def expected(row: Row, principal: str) -> int:
    if principal == "site_admin":
        return row.site_admin or row.success
    if row.access == "site":
        return 403
    role = ROLE_IN_A[principal]
    is_token = principal.startswith("token_")
    if row.visibility == "public" and not is_token:
        visible = True
    elif role is None:
        visible = False
    else:
        visible = row.visibility != "private" or principal == PRIVATE_OWNER or at_least(role, "admin")
    if not visible:
        return row.hidden_status
    if row.access == "read":
        return row.success
    needed = NEEDS["manage" if row.access == "people" else row.access]
    if not at_least(role, needed):
        return 403
    if row.access == "people" and is_token:
        return 403
    return row.success


def case_patch(ids: dict[str, int]) -> dict[str, Any]:
    return {"name": "renamed", "version": 1}


ROWS = [
    # projects
    Row("project-get", "GET", "/projects/{A}", "read"),
    Row("project-patch", "PATCH", "/projects/{A}", "manage", body=case_patch),
    # The world has a queued run in A: whoever may delete A is told it is in use (409), the rest 403/404.
    Row("project-delete", "DELETE", "/projects/{A}", "own", success=409),
    # members
    Row("members-list", "GET", "/projects/{A}/members", "read"),
    Row(
        "member-add",
        "POST",
        "/projects/{A}/members",
        "people",
        body=lambda ids: {"email": "newcomer@example.com", "role": "viewer"},
        success=201,
    ),
    Row("member-role", "PATCH", "/projects/{A}/members/{extra}", "people", body=lambda ids: {"role": "runner"}),
    Row("member-remove", "DELETE", "/projects/{A}/members/{extra}", "people", success=204),
    # environments
    Row("environments-list", "GET", "/projects/{A}/environments", "read"),
    Row(
        "environment-create",
        "POST",
        "/projects/{A}/environments",
        "manage",
        body=lambda ids: {"name": "prod", "base_url": "https://p.example.com"},
        success=201,
    ),
    Row("environment-get", "GET", "/environments/{env}", "read"),
    Row("environment-patch", "PATCH", "/environments/{env}", "manage", body=case_patch),
    Row("environment-delete", "DELETE", "/environments/{env}", "manage", success=204),
    # cases, by visibility
    Row(
        "case-create",
        "POST",
        "/cases",
        "edit",
        hidden_status=422,
        success=201,
        body=lambda ids: {"project_id": ids["A"], "name": "new", "method": "GET", "url": "/new"},
    ),
    Row("case-get", "GET", "/cases/{case}", "read"),
    Row("case-patch", "PATCH", "/cases/{case}", "edit", body=case_patch),
    Row("case-delete", "DELETE", "/cases/{case_free}", "edit", success=204),
    Row("case-clone", "POST", "/cases/{case}/clone", "edit", success=201),
    Row("private-case-get", "GET", "/cases/{case_private}", "read", "private"),
    Row("private-case-patch", "PATCH", "/cases/{case_private}", "edit", "private", body=case_patch),
    Row("private-case-delete", "DELETE", "/cases/{case_private}", "edit", "private", success=204),
    Row("public-case-get", "GET", "/cases/{case_public}", "read", "public"),
    Row("public-case-patch", "PATCH", "/cases/{case_public}", "edit", "public", body=case_patch),
    Row("public-case-clone", "POST", "/cases/{case_public}/clone", "edit", "public", success=201),
    # datasets
    Row("datasets-list", "GET", "/cases/{case}/datasets", "read"),
    Row("dataset-create", "POST", "/cases/{case}/datasets", "edit", body=lambda ids: {"name": "n"}, success=201),
    Row("dataset-get", "GET", "/datasets/{dataset}", "read"),
    Row("dataset-patch", "PATCH", "/datasets/{dataset}", "edit", body=case_patch),
    Row("dataset-delete", "DELETE", "/datasets/{dataset}", "edit", success=204),
    # scenarios, steps and data rows
    Row(
        "scenario-create",
        "POST",
        "/scenarios",
        "edit",
        hidden_status=422,
        success=201,
        body=lambda ids: {"project_id": ids["A"], "name": "new flow"},
    ),
    Row("scenario-get", "GET", "/scenarios/{scenario}", "read"),
    Row("scenario-patch", "PATCH", "/scenarios/{scenario}", "edit", body=case_patch),
    Row("scenario-delete", "DELETE", "/scenarios/{scenario}", "edit", success=204),
    Row("scenario-clone", "POST", "/scenarios/{scenario}/clone", "edit", success=201),
    Row("private-scenario-get", "GET", "/scenarios/{scenario_private}", "read", "private"),
    Row("private-scenario-patch", "PATCH", "/scenarios/{scenario_private}", "edit", "private", body=case_patch),
    Row("steps-get", "GET", "/scenarios/{scenario}/steps", "read"),
    Row("steps-put", "PUT", "/scenarios/{scenario}/steps", "edit", body=lambda ids: [{"case_id": ids["case"]}]),
    Row("rows-get", "GET", "/scenarios/{scenario}/datasets", "read"),
    Row("rows-put", "PUT", "/scenarios/{scenario}/datasets", "edit", body=lambda ids: [{"name": "x"}]),
    # runs
    Row("case-run", "POST", "/cases/{case}/run", "run"),
    Row("private-case-run", "POST", "/cases/{case_private}/run", "run", "private"),
    Row("public-case-run", "POST", "/cases/{case_public}/run", "run", "public"),
    Row("scenario-run", "POST", "/scenarios/{scenario}/runs", "run", success=202),
    Row("private-scenario-run", "POST", "/scenarios/{scenario_private}/runs", "run", "private", success=202),
    Row("run-get", "GET", "/scenario-runs/{run_done}", "read"),
    Row("run-requests", "GET", "/scenario-runs/{run_done}/request-runs", "read"),
    Row("run-cancel", "POST", "/scenario-runs/{run_queued}/cancel", "run"),
    Row("run-rerun", "POST", "/scenario-runs/{run_done}/rerun", "run", body=lambda ids: {"only": "all"}, success=202),
    # tokens
    Row("tokens-list", "GET", "/projects/{A}/tokens", "manage"),
    Row(
        "token-create",
        "POST",
        "/projects/{A}/tokens",
        "people",
        body=lambda ids: {"name": "deploy", "role": "viewer"},
        success=201,
        site_admin=403,  # a token acts with its creator's membership; a site admin outside the project has none
    ),
    Row("token-revoke", "DELETE", "/tokens/{ci_token}", "manage", success=204),
    # audit
    Row("audit-project", "GET", "/audit?project_id={A}", "manage"),
    # accounts
    Row("users-list", "GET", "/users", "site"),
    Row(
        "user-create",
        "POST",
        "/users",
        "site",
        body=lambda ids: {"email": "hired@example.com", "password": "long-enough"},
        success=201,
    ),
]


async def state() -> dict[str, Any]:
    """Every table's row count and every versioned row's version: a refused call changes none of them."""
    async with get_session_factory()() as session:
        counts = {
            table.name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
            if table.name not in ("login_throttles",)
        }
        versions = {}
        for model in (Project, Environment, ApiRequest, ApiRequestDataset, TestScenario):
            versions[model.__tablename__] = sorted((await session.execute(select(model.id, model.version))).all())
        members = sorted((await session.execute(select(ProjectMember.user_id, ProjectMember.role))).all())
        revoked = sorted((await session.execute(select(ApiToken.id, ApiToken.revoked_at))).all())
    return {"counts": counts, "versions": versions, "members": members, "tokens": revoked}


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
async def test_permission_matrix(client: httpx.AsyncClient, row: Row, principal: str) -> None:
    world = await build_world()
    path = "/api/v1" + row.path.format(**world.ids)
    body = row.body(world.ids) if row.body else None
    before = await state()
    response = await client.request(row.method, path, json=body, headers=world.headers[principal])
    want = expected(row, principal)
    if want >= 400:
        assert_error(response, want)
        assert await state() == before, f"{row.name} refused for {principal} but wrote something"
    else:
        assert response.status_code == want, f"{row.name} as {principal}: {response.status_code} {response.text}"


def test_every_family_is_in_the_matrix() -> None:
    families = {row.path.split("/")[1].split("?")[0] for row in ROWS}
    assert families >= {
        "projects",
        "environments",
        "cases",
        "datasets",
        "scenarios",
        "tokens",
        "audit",
        "users",
        "scenario-runs",
    }
    assert any("/members" in row.path for row in ROWS) and any("/steps" in row.path for row in ROWS)


LIST_VISIBILITY = {
    # principal -> the case names it lists in project A (project B's case is never listed for them)
    "owner": {"shared", "unused", "mine", "open"},
    "admin": {"shared", "unused", "mine", "open"},
    "editor": {"shared", "unused", "mine", "open"},
    "runner": {"shared", "unused", "open"},
    "viewer": {"shared", "unused", "open"},
    "outsider": {"open", "other team"},
    "token_viewer": {"shared", "unused", "open"},
}


@pytest.mark.parametrize("principal", list(LIST_VISIBILITY))
async def test_lists_show_only_what_may_be_seen_and_totals_agree(client: httpx.AsyncClient, principal: str) -> None:
    world = await build_world()
    headers = world.headers[principal]
    listed = (await client.get("/api/v1/cases?page_size=200", headers=headers)).json()
    assert {item["name"] for item in listed["items"]} == LIST_VISIBILITY[principal]
    assert listed["total"] == len(listed["items"])
    # paging one at a time shows the same items and the same total on every page
    names, page = [], 1
    while True:
        one = (await client.get(f"/api/v1/cases?page_size=1&page={page}", headers=headers)).json()
        assert one["total"] == listed["total"]
        if not one["items"]:
            break
        names.append(one["items"][0]["name"])
        page += 1
    assert sorted(names) == sorted(item["name"] for item in listed["items"])
    scenarios = (await client.get("/api/v1/scenarios", headers=headers)).json()
    expected_scenarios = (
        {"flow", "draft", "nightly"}
        if principal in ("owner", "admin", "editor")
        else (set() if principal == "outsider" else {"flow", "nightly"})
    )
    assert {s["name"] for s in scenarios["items"]} == expected_scenarios
    assert scenarios["total"] == len(expected_scenarios)


async def test_projects_list_shows_only_member_projects(client: httpx.AsyncClient) -> None:
    world = await build_world()
    for principal, names in {
        "viewer": {"A"},
        "outsider": {"B"},
        "site_admin": {"A", "B"},
        "token_editor": {"A"},
    }.items():
        listed = (await client.get("/api/v1/projects", headers=world.headers[principal])).json()
        assert {p["name"] for p in listed["items"]} == names, principal
        assert listed["total"] == len(names)


async def test_the_creator_of_a_project_is_its_owner(client: httpx.AsyncClient) -> None:
    world = await build_world()
    created = await client.post("/api/v1/projects", json={"name": "C"}, headers=world.headers["runner"])
    assert created.status_code == 201
    members = (
        await client.get(f"/api/v1/projects/{created.json()['id']}/members", headers=world.headers["runner"])
    ).json()
    assert [(m["email"], m["role"]) for m in members] == [("runner@example.com", "owner")]


async def test_a_project_always_keeps_an_owner(client: httpx.AsyncClient) -> None:
    world = await build_world()
    owner_id = (await client.get("/api/v1/auth/me", headers=world.headers["owner"])).json()["id"]
    path = f"/api/v1/projects/{world.ids['A']}/members/{owner_id}"
    assert_error(await client.patch(path, json={"role": "admin"}, headers=world.headers["owner"]), 409)
    assert_error(await client.delete(path, headers=world.headers["owner"]), 409)
    # an admin may not touch an owner at all
    assert_error(await client.patch(path, json={"role": "viewer"}, headers=world.headers["admin"]), 403)


async def test_only_owners_grant_ownership(client: httpx.AsyncClient) -> None:
    world = await build_world()
    path = f"/api/v1/projects/{world.ids['A']}/members"
    body = {"email": "newcomer@example.com", "role": "owner"}
    assert_error(await client.post(path, json=body, headers=world.headers["admin"]), 403)
    assert (await client.post(path, json=body, headers=world.headers["owner"])).status_code == 201


async def test_a_member_may_leave_a_project(client: httpx.AsyncClient) -> None:
    world = await build_world()
    me = (await client.get("/api/v1/auth/me", headers=world.headers["viewer"])).json()
    left = await client.delete(f"/api/v1/projects/{world.ids['A']}/members/{me['id']}", headers=world.headers["viewer"])
    assert left.status_code == 204
    assert_error(await client.get(f"/api/v1/projects/{world.ids['A']}", headers=world.headers["viewer"]), 404)


async def test_steps_may_use_only_cases_the_caller_can_see_in_the_same_project(client: httpx.AsyncClient) -> None:
    world = await build_world()
    steps = [{"case_id": world.ids["case_private"]}]
    response = await client.put(
        f"/api/v1/scenarios/{world.ids['scenario_private']}/steps", json=steps, headers=world.headers["editor"]
    )
    assert response.status_code == 200  # the editor owns both: a private flow over a private case is fine
    hidden = await client.put(
        f"/api/v1/scenarios/{world.ids['scenario']}/steps",
        json=[{"case_id": world.ids["case_b"]}],
        headers=world.headers["owner"],
    )
    error = assert_error(hidden, 422)
    assert error["details"][0]["loc"] == ["body", 0, "case_id"]
    assert "project" in error["message"]
