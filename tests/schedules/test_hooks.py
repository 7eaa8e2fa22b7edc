"""Triggers from code hosts: signed GitHub and GitLab deliveries start runs with their commit; others do not."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from app.core.db import get_session_factory
from app.main import app
from app.models import AuditLog, CodeHostTrigger, CommitStatusDelivery, ScenarioRun
from app.runs.dispatch import wait_for_inline_runs
from app.schedules import commit_status
from app.schedules.hooks import github_signature, matching_branch
from tests.conftest import UserFactory, assert_error, count_rows
from tests.schedules.conftest import Flow, Target, add_member

SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"


def github_push(branch: str = "main", **extra: Any) -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{branch}",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": SHA,
        "deleted": False,
        "compare": f"https://github.com/acme/shop/compare/6113728f27ae...{SHA[:12]}",
        "repository": {"id": 1296269, "full_name": "acme/shop", "html_url": "https://github.com/acme/shop"},
        "head_commit": {"id": SHA, "message": "fix checkout"},
        **extra,
    }


def gitlab_push(branch: str = "main") -> dict[str, Any]:
    return {
        "object_kind": "push",
        "ref": f"refs/heads/{branch}",
        "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
        "after": SHA,
        "checkout_sha": SHA,
        "project": {"id": 15, "path_with_namespace": "acme/shop", "web_url": "https://gitlab.example.com/acme/shop"},
        "commits": [{"id": SHA}],
    }


async def new_trigger(api: httpx.AsyncClient, flow: Flow, **fields: Any) -> dict[str, Any]:
    body = {"name": "ci", "provider": "github", "scenario_id": flow.scenario_id, "environment_id": flow.environment_id}
    response = await api.post(f"/api/v1/projects/{flow.project_id}/triggers", json={**body, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def send_github(
    client: httpx.AsyncClient, trigger: dict[str, Any], payload: dict[str, Any], event: str = "push", **headers: str
) -> httpx.Response:
    body = json.dumps(payload).encode()
    signed = {"X-GitHub-Event": event, "X-Hub-Signature-256": github_signature(trigger["secret"], body)}
    return await client.post(
        trigger["hook_url"], content=body, headers={"Content-Type": "application/json", **signed, **headers}
    )


async def runs() -> list[ScenarioRun]:
    async with get_session_factory()() as session:
        return list(await session.scalars(select(ScenarioRun).order_by(ScenarioRun.id)))


async def test_a_signed_github_push_starts_the_scenario_with_its_commit(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow, target: Target
) -> None:
    trigger = await new_trigger(api, flow, branches=["main", "release/*"])
    assert trigger["hook_url"] == f"/api/v1/hooks/{trigger['token']}" and trigger["secret"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://exile.test") as anonymous:
        answer = await send_github(anonymous, trigger, github_push())  # no sign-in: the signature is the proof
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "started"
    run_id = answer.json()["run_id"]
    await wait_for_inline_runs()
    run = (await api.get(f"/api/v1/scenario-runs/{run_id}")).json()
    assert run["status"] == "passed" and run["trigger"] == "ci" and run["scenario_id"] == flow.scenario_id
    assert run["environment_id"] == flow.environment_id
    assert run["ci"]["commit"] == SHA and run["ci"]["branch"] == "main"
    assert run["ci"]["build_url"].startswith("https://github.com/acme/shop/compare/")
    assert run["ci"]["repository"] == "acme/shop" and run["ci"]["provider"] == "github"
    shown = (await api.get(f"/api/v1/projects/{flow.project_id}/triggers/{trigger['id']}")).json()
    assert shown["last_outcome"].startswith(f"started scenario run {run_id}")
    assert "secret" not in shown and "token" not in shown and shown["token_prefix"] == trigger["token"][:12]


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, "sha1=abc", "sha256=" + github_signature("another-secret", b"{}")[7:]],
)
async def test_a_bad_or_missing_signature_gets_401_and_starts_nothing(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow, signature: str | None
) -> None:
    trigger = await new_trigger(api, flow)
    headers = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
    if signature:
        headers["X-Hub-Signature-256"] = signature
    response = await client.post(trigger["hook_url"], content=json.dumps(github_push()).encode(), headers=headers)
    assert_error(response, 401, "not_authenticated")
    assert await runs() == []


async def test_a_body_changed_after_signing_gets_401(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow
) -> None:
    trigger = await new_trigger(api, flow)
    signed_body = json.dumps(github_push()).encode()
    tampered = json.dumps(github_push(branch="release/x")).encode()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(trigger["secret"], signed_body)}
    assert_error(await client.post(trigger["hook_url"], content=tampered, headers=headers), 401)
    assert await runs() == []


async def test_an_unknown_token_gets_401(api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow) -> None:
    trigger = await new_trigger(api, flow)
    body = json.dumps(github_push()).encode()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(trigger["secret"], body)}
    for token in ("exh_nope", "x" * 5000, trigger["token"][:-1]):
        assert_error(await client.post(f"/api/v1/hooks/{token}", content=body, headers=headers), 401)
    assert await runs() == []


async def test_a_gitlab_push_with_the_token_header_starts_and_a_wrong_token_does_not(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow
) -> None:
    trigger = await new_trigger(api, flow, provider="gitlab")
    body = json.dumps(gitlab_push()).encode()
    wrong = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": trigger["secret"] + "x"}
    assert_error(await client.post(trigger["hook_url"], content=body, headers=wrong), 401)
    assert await runs() == []
    right = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": trigger["secret"]}
    answer = await client.post(trigger["hook_url"], content=body, headers=right)
    assert answer.status_code == 202 and answer.json()["status"] == "started", answer.text
    [run] = await runs()
    assert run.ci["commit"] == SHA and run.ci["branch"] == "main" and run.ci["provider"] == "gitlab"
    assert (
        run.ci["build_url"]
        == f"https://gitlab.example.com/acme/shop/-/compare/95790bf891e76fee5e1747ab589903a6a1f80f22...{SHA}"
    )


async def test_branches_and_events_outside_the_filters_are_ignored_with_the_reason(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow
) -> None:
    trigger = await new_trigger(api, flow, branches=["main", "release/*"])
    cases = [
        (github_push(branch="feature/login"), "push", "branch 'feature/login' matches none of main, release/*"),
        (github_push(ref="refs/tags/v1.0"), "push", "not a branch"),
        (github_push(deleted=True, after="0" * 40), "push", "was deleted"),
        ({"zen": "Design for failure."}, "ping", "ping"),
        ({}, "issues", "GitHub event 'issues' starts nothing"),
        (
            {
                "action": "opened",
                "number": 7,
                "pull_request": {"head": {"ref": "feature/x", "sha": SHA}, "base": {"ref": "main"}},
                "repository": {"id": 1, "full_name": "acme/shop"},
            },
            "pull_request",
            "pull_request events are not among this trigger's (push)",
        ),
    ]
    for payload, event, reason in cases:
        answer = await send_github(client, trigger, payload, event=event)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "ignored" and reason in answer.json()["reason"], answer.json()
    started = await send_github(client, trigger, github_push(branch="release/2.1"))
    assert started.json()["status"] == "started"
    assert len(await runs()) == 1


@pytest.mark.parametrize(
    ("branch", "pattern", "matches"),
    [
        ("main", "main", True),
        ("main", "*", True),
        ("feature/login", "*", False),  # as on GitHub: `*` stays within one part of the name
        ("feature/login", "**", True),
        ("release/1.2", "release/*", True),
        ("release/1.2/hotfix", "release/*", False),
        ("release/1.2/hotfix", "release/**", True),
        ("v1", "v[0-9]", True),
        ("va", "v[!0-9]", True),
        ("v1", "v[!0-9]", False),
        ("a.b", "a?b", True),
        ("a/b", "a?b", False),
        ("x+y", "x+y", True),  # what a regular expression would read otherwise is the character itself
        ("xxy", "x+y", False),
        ("mainline", "main", False),  # the whole name
    ],
)
def test_branch_filters_read_as_github_actions_reads_them(branch: str, pattern: str, matches: bool) -> None:
    assert (matching_branch(branch, [pattern]) == pattern) is matches


@pytest.mark.parametrize(
    ("branch", "taken"),
    [
        ("release/1.2", True),
        ("release/1.2-alpha", False),  # left out by the second pattern
        ("release/9-alpha", True),  # taken again by the third
        ("main", False),
    ],
)
def test_a_filter_starting_with_an_exclamation_mark_leaves_out_what_matched_before_it(branch: str, taken: bool) -> None:
    patterns = ["release/**", "!release/**-alpha", "release/9*"]
    assert (matching_branch(branch, patterns) is not None) is taken


async def test_the_default_filter_takes_every_branch_and_a_broken_one_is_a_422(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow
) -> None:
    trigger = await new_trigger(api, flow)
    assert trigger["branches"] == ["**"]
    started = await send_github(client, trigger, github_push(branch="feature/deep/name"))
    assert started.json()["status"] == "started", started.text
    before = await count_rows(CodeHostTrigger)
    refused = await api.post(
        f"/api/v1/projects/{flow.project_id}/triggers",
        json={"name": "ci", "provider": "github", "scenario_id": flow.scenario_id, "branches": ["v[z-a]"]},
    )
    error = assert_error(refused, 422)
    assert "branches" in str(error["details"]) and "not a branch filter" in refused.text
    only_out = await api.post(
        f"/api/v1/projects/{flow.project_id}/triggers",
        json={"name": "ci", "provider": "github", "scenario_id": flow.scenario_id, "branches": ["!main"]},
    )
    assert "branches" in str(assert_error(only_out, 422)["details"]) and "add one that takes some" in only_out.text
    assert await count_rows(CodeHostTrigger) == before


async def test_a_pull_request_is_matched_by_its_target_branch_and_tested_at_its_head(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow
) -> None:
    trigger = await new_trigger(api, flow, events=["push", "pull_request"], branches=["main"])

    def pull(action: str, base: str = "main") -> dict[str, Any]:
        return {
            "action": action,
            "number": 42,
            "pull_request": {
                "html_url": "https://github.com/acme/shop/pull/42",
                "head": {"ref": "feature/pay", "sha": SHA},
                "base": {"ref": base},
            },
            "repository": {"id": 1, "full_name": "acme/shop"},
        }

    closed = await send_github(client, trigger, pull("closed"), event="pull_request")
    assert closed.json()["status"] == "ignored" and "'closed'" in closed.json()["reason"]
    elsewhere = await send_github(client, trigger, pull("opened", base="develop"), event="pull_request")
    assert "target branch 'develop'" in elsewhere.json()["reason"]
    opened = await send_github(client, trigger, pull("synchronize"), event="pull_request")
    assert opened.json()["status"] == "started", opened.text
    [run] = await runs()
    assert run.ci["branch"] == "feature/pay" and run.ci["target_branch"] == "main" and run.ci["pull_request"] == 42
    assert run.ci["build_url"] == "https://github.com/acme/shop/pull/42" and run.ci["commit"] == SHA


async def test_a_delivery_that_is_not_a_push_payload_is_refused_naming_the_field(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow
) -> None:
    trigger = await new_trigger(api, flow)
    response = await send_github(client, trigger, {"ref": "refs/heads/main"})
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"][:2] == ["body", "after"]
    not_json = b"ref=main"
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(trigger["secret"], not_json)}
    assert_error(await client.post(trigger["hook_url"], content=not_json, headers=headers), 400)
    assert await runs() == []


async def test_triggers_are_for_project_admins_and_their_secrets_are_shown_once(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow, make_user: UserFactory
) -> None:
    editor = await add_member(api, make_user, flow.project_id, "editor", "editor@example.com")
    body = {"name": "ci", "provider": "github", "scenario_id": flow.scenario_id}
    assert_error(await client.post(f"/api/v1/projects/{flow.project_id}/triggers", json=body, headers=editor), 403)
    assert_error(await client.get(f"/api/v1/projects/{flow.project_id}/triggers", headers=editor), 403)
    trigger = await new_trigger(api, flow, status_token="ghp_statustoken123456")
    listed = (await api.get(f"/api/v1/projects/{flow.project_id}/triggers")).json()
    assert [item["id"] for item in listed] == [trigger["id"]] and listed[0]["status_token"] == "******"
    async with get_session_factory()() as session:
        stored = await session.get(CodeHostTrigger, trigger["id"])
        trail = " ".join(json.dumps(entry.changes) for entry in await session.scalars(select(AuditLog)))
    assert stored is not None and trigger["secret"] not in stored.sealed_secret
    assert trigger["token"] not in stored.token_hash
    for secret in (trigger["secret"], trigger["token"], "ghp_statustoken123456", stored.sealed_secret):
        assert secret not in trail
    rotated = await api.post(f"/api/v1/projects/{flow.project_id}/triggers/{trigger['id']}/rotate")
    assert rotated.status_code == 200 and rotated.json()["token"] != trigger["token"]
    old = await send_github(client, trigger, github_push())
    assert_error(old, 401)
    assert (await send_github(client, rotated.json(), github_push())).json()["status"] == "started"


async def test_a_trigger_target_must_be_in_its_project(api: httpx.AsyncClient, flow: Flow) -> None:
    other = await api.post("/api/v1/projects", json={"name": "other"})
    response = await api.post(
        f"/api/v1/projects/{other.json()['id']}/triggers",
        json={"name": "ci", "provider": "github", "scenario_id": flow.scenario_id},
    )
    assert assert_error(response, 422)["details"][0]["loc"] == ["body", "scenario_id"]
    bad_template = await api.post(
        f"/api/v1/projects/{flow.project_id}/triggers",
        json={"name": "ci", "provider": "github", "scenario_id": flow.scenario_id, "status_url": "https://x/{nope}"},
    )
    assert assert_error(bad_template, 422)["details"][0]["loc"] == ["body", "status_url"]
    assert await count_rows(CodeHostTrigger) == 0


async def test_the_commit_status_is_posted_to_the_code_host_when_the_run_ends(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow, target: Target
) -> None:
    trigger = await new_trigger(
        api,
        flow,
        status_url=f"{target.url}/repos/{{repository_path}}/statuses/{{commit}}",
        status_token="ghp_statustoken123456",
    )
    answer = await send_github(client, trigger, github_push())
    assert answer.json()["status"] == "started"
    session_factory = get_session_factory()
    await wait_for_inline_runs()
    await commit_status.send_due(session_factory, "test")
    [(path, headers, body)] = target.statuses
    assert path == f"/repos/acme/shop/statuses/{SHA}"
    assert headers["Authorization"] == "Bearer ghp_statustoken123456"
    assert body["state"] == "success" and body["context"] == "exile/ci"
    assert body["description"].startswith(f"Exile run {answer.json()['run_id']}: passed")
    async with session_factory() as session:
        [delivery] = list(await session.scalars(select(CommitStatusDelivery)))
    assert delivery.state == "delivered" and delivery.sent_status == "success" and delivery.attempts == 1
    assert await commit_status.send_due(session_factory, "test") == 0  # sent once


async def test_gitlab_gets_its_own_status_body_and_token_header(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow, target: Target
) -> None:
    trigger = await new_trigger(
        api,
        flow,
        provider="gitlab",
        status_url=f"{target.url}/api/v4/projects/{{repository_id}}/statuses/{{commit}}",
        status_token="glpat-statustoken123456",
    )
    body = json.dumps(gitlab_push()).encode()
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": trigger["secret"]}
    assert (await client.post(trigger["hook_url"], content=body, headers=headers)).json()["status"] == "started"
    await wait_for_inline_runs()
    await commit_status.send_due(get_session_factory(), "test")
    [(path, sent_headers, sent)] = target.statuses
    assert path == f"/api/v4/projects/15/statuses/{SHA}" and sent_headers["PRIVATE-TOKEN"] == "glpat-statustoken123456"
    assert sent["state"] == "success" and sent["name"] == "exile/ci"


async def test_github_deliveries_sent_as_a_form_are_read_from_their_payload_field(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow
) -> None:
    trigger = await new_trigger(api, flow)
    body = urlencode({"payload": json.dumps(github_push())}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": github_signature(trigger["secret"], body),  # GitHub signs the form body as sent
    }
    answer = await client.post(trigger["hook_url"], content=body, headers=headers)
    assert answer.status_code == 202 and answer.json()["status"] == "started", answer.text
    [run] = await runs()
    assert run.ci["commit"] == SHA
