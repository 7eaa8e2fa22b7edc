"""The channels' API: admins manage, members read without secrets, bad input is a 422 naming the field and writes
nothing, and every secret stays sealed (in reads, the audit trail and the database)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.core.db import get_session_factory
from app.models import AuditLog, NotificationChannel, NotificationDelivery
from tests.conftest import assert_error, bearer, count_rows
from tests.factories import create, project
from tests.notifications.conftest import API, add_channel

DINGTALK_URL = "https://oapi.dingtalk.com/robot/send?access_token=ding-token-0123456789"
DINGTALK_SECRET = "SECdingtalk-secret-0123456789"


async def _dingtalk(api: Any, project_id: int, **extra: Any) -> dict[str, Any]:
    body = {"name": "qa group", "type": "dingtalk", "url": DINGTALK_URL, "secret": DINGTALK_SECRET, **extra}
    return await add_channel(api, project_id, body)


async def test_a_channel_is_created_with_its_rule_and_read_without_its_secrets(api):
    proj = await project(api)
    flow = await create(api, f"{API}/scenarios", {"project_id": proj["id"], "name": "checkout"})
    channel = await _dingtalk(
        api,
        proj["id"],
        events=["run_failed", "run_recovered", "run_failed"],
        scenario_ids=[flow["id"]],
        throttle={"max_messages": 3, "window_seconds": 600},
    )
    assert channel["type"] == "dingtalk" and channel["enabled"] is True and channel["version"] == 1
    assert channel["events"] == ["run_failed", "run_recovered"]  # a repeat is said once
    assert channel["scenario_ids"] == [flow["id"]] and channel["plan_ids"] is None
    assert channel["throttle"] == {"max_messages": 3, "window_seconds": 600}
    assert channel["url"] == "https://oapi.dingtalk.com/******" and channel["secret_set"] is True
    for path in (f"{API}/channels/{channel['id']}", f"{API}/projects/{proj['id']}/channels"):
        text = (await api.get(path)).text
        assert "ding-token" not in text and DINGTALK_SECRET not in text

    defaults = await add_channel(
        api, proj["id"], {"name": "hooks", "type": "webhook", "url": "http://127.0.0.1:9/hook"}
    )
    assert defaults["events"] == ["run_failed", "run_recovered"] and defaults["secret_set"] is False
    assert defaults["throttle"] == {"max_messages": 5, "window_seconds": 3600}

    async with get_session_factory()() as session:
        stored = await session.get(NotificationChannel, channel["id"])
        trail = list(await session.scalars(select(AuditLog).where(AuditLog.entity == "notification_channel")))
    assert stored is not None and set(stored.sealed) == {"url", "secret"}
    assert all(value.startswith("enc:v1:") for value in stored.sealed.values())
    assert "ding-token" not in str(stored.sealed) and DINGTALK_SECRET not in str(stored.sealed)
    assert len(trail) == 2 and all(
        "ding-token" not in str(e.changes) and DINGTALK_SECRET not in str(e.changes) for e in trail
    )


async def test_an_email_channel_keeps_its_password_write_only(api):
    proj = await project(api)
    email = {
        "host": "smtp.example.com",
        "port": 587,
        "security": "starttls",
        "username": "qa-bot",
        "password": "smtp-pass-123",
        "from_address": "exile@example.com",
        "to": ["qa@example.com", "QA@example.com", "dev@example.com"],
    }
    channel = await add_channel(api, proj["id"], {"name": "mail", "type": "email", "email": email})
    assert channel["url"] is None and channel["email"]["password_set"] is True
    assert channel["email"]["to"] == ["qa@example.com", "dev@example.com"]
    assert "smtp-pass-123" not in (await api.get(f"{API}/channels/{channel['id']}")).text

    # Sent back with the mask (or without a password), the settings change and the password stays.
    changed = await api.patch(
        f"{API}/channels/{channel['id']}",
        json={"email": {**email, "password": "******", "port": 2525}, "version": channel["version"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"]["port"] == 2525 and changed.json()["email"]["password_set"] is True
    async with get_session_factory()() as session:
        stored = await session.get(NotificationChannel, channel["id"])
    assert stored is not None and "password" in stored.sealed


async def test_patch_changes_the_rule_keeps_a_masked_url_and_refuses_a_stale_version(api):
    proj = await project(api)
    channel = await _dingtalk(api, proj["id"])
    url = f"{API}/channels/{channel['id']}"
    patched = await api.patch(
        url,
        json={
            "url": channel["url"],  # the masked URL, as read: the stored one stays
            "events": ["run_finished"],
            "enabled": False,
            "secret": None,
            "version": channel["version"],
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["events"] == ["run_finished"] and body["enabled"] is False and body["secret_set"] is False
    assert body["url"] == channel["url"] and body["version"] == channel["version"] + 1
    async with get_session_factory()() as session:
        stored = await session.get(NotificationChannel, channel["id"])
        entries = list(await session.scalars(select(AuditLog).where(AuditLog.action == "update")))
    assert stored is not None and set(stored.sealed) == {"url"}
    [entry] = entries
    assert entry.changes["secrets_changed"] == ["secret"] and DINGTALK_SECRET not in str(entry.changes)

    stale = await api.patch(url, json={"name": "renamed", "version": channel["version"]})
    assert_error(stale, 409, "version_conflict")
    missing = await api.patch(url, json={"name": "renamed"})
    assert_error(missing, 422, "validation_error")
    assert (await api.delete(url)).status_code == 204
    assert (await api.get(url)).status_code == 404


async def test_members_read_channels_and_deliveries_but_only_admins_manage_them(api, client, make_user):
    proj = await project(api)
    channel = await _dingtalk(api, proj["id"])
    viewer = await make_user(email="viewer@example.com")
    added = await api.post(f"{API}/projects/{proj['id']}/members", json={"email": viewer.email, "role": "editor"})
    assert added.status_code == 201, added.text
    outsider = await make_user(email="outsider@example.com")
    viewer_headers, outsider_headers = bearer(viewer), bearer(outsider)

    read = await client.get(f"{API}/projects/{proj['id']}/channels", headers=viewer_headers)
    assert read.status_code == 200 and read.json()[0]["id"] == channel["id"]
    assert "ding-token" not in read.text and DINGTALK_SECRET not in read.text
    assert (await client.get(f"{API}/channels/{channel['id']}/deliveries", headers=viewer_headers)).status_code == 200
    body = {"name": "x", "type": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}
    assert_error(await client.post(f"{API}/projects/{proj['id']}/channels", json=body, headers=viewer_headers), 403)
    patch = {"enabled": False, "version": 1}
    assert_error(await client.patch(f"{API}/channels/{channel['id']}", json=patch, headers=viewer_headers), 403)
    assert_error(await client.post(f"{API}/channels/{channel['id']}/test", headers=viewer_headers), 403)
    assert_error(await client.delete(f"{API}/channels/{channel['id']}", headers=viewer_headers), 403)
    # Not a member: the channel is not there at all.
    assert_error(await client.get(f"{API}/channels/{channel['id']}", headers=outsider_headers), 404)
    assert_error(await client.get(f"{API}/projects/{proj['id']}/channels", headers=outsider_headers), 404)


def _loc(error: dict[str, Any]) -> list[Any]:
    return list(error["details"][0]["loc"])


BAD_CHANNELS = [
    ({"type": "webhook", "url": "ftp://files.example.com/hook"}, ["body", "url"]),
    ({"type": "webhook", "url": "http://"}, ["body", "url"]),
    ({"type": "slack", "url": "not a url"}, ["body", "url"]),
    ({"type": "webhook", "url": "https:///no-host"}, ["body", "url"]),
    ({"type": "pager", "url": "https://example.com/hook"}, ["body", "type"]),
    ({"type": "dingtalk"}, ["body", "url"]),
    ({"type": "email", "email": {"from_address": "a@example.com", "to": ["b@example.com"]}}, ["body", "email", "host"]),
    ({"type": "email"}, ["body", "email"]),
    (
        {"type": "email", "email": {"host": "smtp.example.com", "from_address": "a@example.com", "to": []}},
        ["body", "email", "to"],
    ),
    ({"type": "webhook", "url": "https://example.com/h", "events": ["run_exploded"]}, ["body", "events", 0]),
    ({"type": "webhook", "url": "https://example.com/h", "events": []}, ["body", "events"]),
    ({"type": "wecom", "url": "https://qyapi.weixin.qq.com/x?key=k", "secret": "a-secret-value"}, ["body", "secret"]),
    ({"type": "webhook", "url": "https://example.com/h", "secret": "abc"}, ["body", "secret"]),
    (
        {"type": "webhook", "url": "https://example.com/h", "throttle": {"max_messages": 0}},
        ["body", "throttle", "max_messages"],
    ),
    (
        {
            "type": "email",
            "url": "https://example.com/h",
            "email": {"host": "h", "from_address": "a@example.com", "to": ["b@example.com"]},
        },
        ["body", "url"],
    ),
    (
        {"type": "slack", "url": "https://hooks.slack.com/services/T/B/X", "scenario_ids": [987654]},
        ["body", "scenario_ids", 0],
    ),
    ({"type": "webhook", "url": "https://example.com/h", "colour": "red"}, ["body", "colour"]),
]


@pytest.mark.parametrize(("body", "loc"), BAD_CHANNELS)
async def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(api, body, loc):
    proj = await project(api)
    before = await count_rows(AuditLog)
    error = assert_error(await api.post(f"{API}/projects/{proj['id']}/channels", json={"name": "c", **body}), 422)
    assert _loc(error) == loc, error
    assert await count_rows(NotificationChannel) == 0 and await count_rows(AuditLog) == before


async def test_a_name_is_used_once_per_project_and_a_scenario_of_another_project_is_refused(api):
    first, second = await project(api, "one"), await project(api, "two")
    other = await create(api, f"{API}/scenarios", {"project_id": second["id"], "name": "elsewhere"})
    await _dingtalk(api, first["id"])
    assert_error(
        await api.post(
            f"{API}/projects/{first['id']}/channels",
            json={"name": "qa group", "type": "webhook", "url": "https://e.com/h"},
        ),
        409,
        "duplicate_name",
    )
    error = assert_error(
        await api.post(
            f"{API}/projects/{first['id']}/channels",
            json={"name": "x", "type": "webhook", "url": "https://e.com/h", "scenario_ids": [other["id"]]},
        ),
        422,
    )
    assert _loc(error) == ["body", "scenario_ids", 0]
    assert await count_rows(NotificationChannel) == 1
    assert await count_rows(NotificationDelivery) == 0
