"""Schedules over the API: validation that writes nothing, roles like scenarios, next fire times, edits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.db import get_session_factory
from app.models import AuditLog, Schedule
from app.schedules import service
from tests.conftest import UserFactory, assert_error, bearer, count_rows
from tests.schedules.conftest import Flow, add_member


def schedule_body(flow: Flow, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "nightly",
        "scenario_id": flow.scenario_id,
        "cron": "0 2 * * *",
        "timezone": "Europe/Berlin",
        "environment_id": flow.environment_id,
        "variables": {"region": "eu"},
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"cron": "61 * * * *"}, "cron", "minute 61 is out of range"),
        ({"cron": "* * *"}, "cron", "has 3 fields"),
        ({"cron": "*/5 * * * * *"}, "cron", "at most every 10 s"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "not an IANA time zone"),
        ({"scenario_id": 987654}, "scenario_id", "scenario 987654 does not exist"),
        ({"scenario_id": None}, "scenario_id", "exactly one of scenario_id and plan_id"),
        ({"environment_id": 987654}, "environment_id", "not an environment of project"),
        ({"grace_seconds": -1}, "grace_seconds", "greater than or equal to 0"),
    ],
)
async def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    api: httpx.AsyncClient, flow: Flow, overrides: dict[str, Any], field: str, says: str
) -> None:
    audit_before = await count_rows(AuditLog)
    response = await api.post("/api/v1/schedules", json=schedule_body(flow, **overrides))
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", field], error
    assert says in response.text
    assert await count_rows(Schedule) == 0
    assert await count_rows(AuditLog) == audit_before


async def test_both_targets_at_once_are_refused(api: httpx.AsyncClient, flow: Flow) -> None:
    response = await api.post("/api/v1/schedules", json=schedule_body(flow, plan_id=1))
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"][0] == "body" and error["details"][0]["loc"][1] in ("scenario_id", "plan_id")
    assert await count_rows(Schedule) == 0


async def test_a_schedule_shows_its_next_five_fire_times_in_utc_and_in_its_zone(
    api: httpx.AsyncClient, flow: Flow
) -> None:
    created = await api.post("/api/v1/schedules", json=schedule_body(flow))
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["owner_id"] and schedule["project_id"] == flow.project_id and schedule["enabled"]
    got = (await api.get(f"/api/v1/schedules/{schedule['id']}")).json()
    times = [datetime.fromisoformat(t) for t in got["next_fire_times"]]
    assert len(times) == 5 and times == sorted(times) and times[0] > datetime.now(UTC)
    assert all(t.astimezone(UTC).tzinfo for t in times)
    assert [local[11:19] for local in got["next_fire_times_local"]] == ["02:00:00"] * 5  # 02:00 in Berlin
    assert datetime.fromisoformat(got["next_fire_at"]) == times[0]


async def test_next_five_cross_the_autumn_change_in_the_zone_once_per_day() -> None:
    schedule = Schedule(cron="30 1 * * *", timezone="America/New_York", enabled=True)
    shown = service.detail(schedule, now=datetime(2026, 10, 30, 12, tzinfo=UTC))
    assert shown["next_fire_times_local"] == [
        "2026-10-31T01:30:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
        "2026-11-03T01:30:00-05:00",
        "2026-11-04T01:30:00-05:00",
    ]


async def test_viewers_read_editors_manage_and_outsiders_see_nothing(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow, make_user: UserFactory
) -> None:
    schedule = (await api.post("/api/v1/schedules", json=schedule_body(flow))).json()
    viewer = await add_member(api, make_user, flow.project_id, "viewer", "viewer@example.com")
    editor = await add_member(api, make_user, flow.project_id, "editor", "editor@example.com")
    outsider = await make_user(email="outsider@example.com")
    seen = await client.get(f"/api/v1/schedules/{schedule['id']}", headers=viewer)
    assert seen.status_code == 200
    assert_error(await client.post("/api/v1/schedules", json=schedule_body(flow), headers=viewer), 403, "forbidden")
    patch = {"version": schedule["version"], "enabled": False}
    assert_error(await client.patch(f"/api/v1/schedules/{schedule['id']}", json=patch, headers=viewer), 403)
    assert_error(await client.get(f"/api/v1/schedules/{schedule['id']}", headers=bearer(outsider)), 404)
    listed = (await client.get("/api/v1/schedules", headers=bearer(outsider))).json()
    assert listed["total"] == 0

    changed = await client.patch(f"/api/v1/schedules/{schedule['id']}", json=patch, headers=editor)
    assert changed.status_code == 200, changed.text
    editor_id = (await client.get("/api/v1/auth/me", headers=editor)).json()["id"]
    assert changed.json()["owner_id"] == editor_id  # it runs with the rights of whoever saved it last
    assert changed.json()["next_fire_at"] is None  # disabled: nothing to wait for


async def test_editing_the_cron_moves_the_next_tick_and_a_stale_version_is_refused(
    api: httpx.AsyncClient, flow: Flow
) -> None:
    schedule = (await api.post("/api/v1/schedules", json=schedule_body(flow))).json()
    changed = await api.patch(
        f"/api/v1/schedules/{schedule['id']}",
        json={"version": schedule["version"], "cron": "*/15 * * * *", "timezone": "UTC", "variables": {"x": 1}},
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["cron"] == "*/15 * * * *" and after["variables"] == {"region": "eu", "x": 1}
    next_at = datetime.fromisoformat(after["next_fire_at"])
    assert next_at.minute % 15 == 0 and next_at - datetime.now(UTC) <= timedelta(minutes=15)
    stale = await api.patch(f"/api/v1/schedules/{schedule['id']}", json={"version": schedule["version"], "name": "x"})
    assert_error(stale, 409, "version_conflict")
    bad = await api.patch(
        f"/api/v1/schedules/{schedule['id']}", json={"version": after["version"], "cron": "61 * * * *"}
    )
    assert assert_error(bad, 422)["details"][0]["loc"] == ["body", "cron"]
    async with get_session_factory()() as session:
        stored = await session.get(Schedule, schedule["id"])
        assert stored is not None and stored.cron == "*/15 * * * *"


async def test_a_deleted_schedule_is_gone_and_the_list_filters(api: httpx.AsyncClient, flow: Flow) -> None:
    first = (await api.post("/api/v1/schedules", json=schedule_body(flow))).json()
    await api.post("/api/v1/schedules", json=schedule_body(flow, name="off", enabled=False))
    listed = (await api.get("/api/v1/schedules", params={"enabled": "true"})).json()
    assert [item["id"] for item in listed["items"]] == [first["id"]]
    assert (await api.get("/api/v1/schedules", params={"project_id": flow.project_id})).json()["total"] == 2
    assert (await api.delete(f"/api/v1/schedules/{first['id']}")).status_code == 204
    assert_error(await api.get(f"/api/v1/schedules/{first['id']}"), 404, "not_found")
