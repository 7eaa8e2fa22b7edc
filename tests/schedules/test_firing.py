"""Firing: each tick once however many loops race for it, missed ticks, overlap, and the owner's rights."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import build_engine, get_session_factory
from app.models import NotificationDelivery, ScenarioRun, Schedule, ScheduleFire
from app.models.schedule import FireOutcome
from app.runs.dispatch import wait_for_inline_runs
from app.schedules import firing
from tests.conftest import TEST_DATABASE_URL, UserFactory
from tests.schedules.conftest import Flow, Target, add_member, make_flow

TEN_SECONDS = "*/10 * * * * *"


async def new_schedule(api: httpx.AsyncClient, flow: Flow, **fields: Any) -> dict[str, Any]:
    body = {"name": "every 10 s", "scenario_id": flow.scenario_id, "cron": TEN_SECONDS, "timezone": "UTC"}
    body["environment_id"] = flow.environment_id
    response = await api.post("/api/v1/schedules", json={**body, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def first_tick(schedule: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(schedule["next_fire_at"])


async def fires(schedule_id: int) -> list[ScheduleFire]:
    async with get_session_factory()() as session:
        rows = await session.scalars(
            select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id).order_by(ScheduleFire.tick_at)
        )
        return list(rows)


async def scheduled_runs() -> list[ScenarioRun]:
    async with get_session_factory()() as session:
        return list(await session.scalars(select(ScenarioRun).where(ScenarioRun.trigger == "schedule")))


@pytest.fixture
async def loops() -> AsyncIterator[list[async_sessionmaker[AsyncSession]]]:
    """Four firing loops' own engines: separate connections, as separate processes have."""
    engines = [build_engine(TEST_DATABASE_URL, pool_size=2) for _ in range(4)]
    yield [async_sessionmaker(engine, expire_on_commit=False, autoflush=False) for engine in engines]
    for engine in engines:
        await engine.dispose()


async def test_loops_racing_on_the_same_ticks_fire_each_tick_once(
    api: httpx.AsyncClient, flow: Flow, target: Target, loops: list[async_sessionmaker[AsyncSession]]
) -> None:
    schedule = await new_schedule(api, flow)
    start = first_tick(schedule)
    ticks = [start + timedelta(seconds=10 * k) for k in range(8)]
    for index, tick in enumerate(ticks):
        now = tick + timedelta(milliseconds=300)
        summaries = await asyncio.gather(
            *(firing.fire_due(sessions, now=now, worker=f"loop-{n}") for n, sessions in enumerate(loops))
        )
        fired = sum(summary.outcomes.get(FireOutcome.FIRED, 0) for summary in summaries)
        assert fired == 1, (index, [s.outcomes for s in summaries], [s.lost for s in summaries])
        await wait_for_inline_runs()  # the run ends before the next tick: no overlap to skip
    runs = await scheduled_runs()
    per_tick = Counter(run.ci["schedule_tick"] for run in runs)
    assert per_tick == Counter({tick.isoformat(): 1 for tick in ticks})
    recorded = await fires(schedule["id"])
    assert [fire.tick_at for fire in recorded] == ticks
    assert all(fire.outcome == FireOutcome.FIRED and fire.run_id for fire in recorded)
    assert {run.id for run in runs} == {fire.run_id for fire in recorded}
    assert {run.status for run in runs} == {"passed"} and target.hits == len(ticks)


async def test_a_tick_missed_while_down_fires_once_at_start_when_within_the_grace(
    api: httpx.AsyncClient, flow: Flow
) -> None:
    schedule = await new_schedule(api, flow, cron="0 * * * *", grace_seconds=300)
    tick = first_tick(schedule)
    at_start = tick + timedelta(seconds=200)  # everything was down at the tick; back 200 s later
    first = await firing.fire_due(get_session_factory(), now=at_start)
    again = await firing.fire_due(get_session_factory(), now=at_start + timedelta(seconds=1))
    assert first.outcomes == {FireOutcome.FIRED: 1} and not again
    await wait_for_inline_runs()
    assert len(await scheduled_runs()) == 1
    [fire] = await fires(schedule["id"])
    assert fire.tick_at == tick and fire.outcome == FireOutcome.FIRED
    async with get_session_factory()() as session:
        stored = await session.get(Schedule, schedule["id"])
        assert stored is not None and stored.next_fire_at == tick + timedelta(hours=1)


async def test_a_tick_found_past_the_grace_is_recorded_missed_and_announced(
    api: httpx.AsyncClient, flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    announced: list[tuple[int, str, dict[str, Any]]] = []
    original = firing.record_event

    async def record_event(session: AsyncSession, project_id: int, event: str, subject: dict[str, Any]) -> None:
        announced.append((project_id, event, subject))
        await original(session, project_id, event, subject)

    monkeypatch.setattr(firing, "record_event", record_event)
    schedule = await new_schedule(api, flow, cron="0 * * * *", grace_seconds=60)
    tick = first_tick(schedule)
    summary = await firing.fire_due(get_session_factory(), now=tick + timedelta(minutes=10))
    assert summary.outcomes == {FireOutcome.MISSED: 1}
    assert await scheduled_runs() == []
    [fire] = await fires(schedule["id"])
    assert (
        fire.outcome == FireOutcome.MISSED and fire.run_id is None and "past the grace of 60 s" in (fire.detail or "")
    )
    [(project_id, event, subject)] = announced
    assert (project_id, event) == (flow.project_id, "schedule_missed")
    assert subject["schedule_id"] == schedule["id"] and subject["tick_at"] == tick.isoformat()
    listed = (await api.get(f"/api/v1/schedules/{schedule['id']}/fires")).json()
    assert [(f["outcome"], f["run_id"]) for f in listed["items"]] == [("missed", None)]


async def test_after_a_long_outage_only_the_latest_tick_is_caught_up_not_a_burst(
    api: httpx.AsyncClient, flow: Flow
) -> None:
    schedule = await new_schedule(api, flow, grace_seconds=300)
    tick = first_tick(schedule)
    back = tick + timedelta(seconds=95)  # ticks at +0, +10, ... +90 passed while down
    summary = await firing.fire_due(get_session_factory(), now=back)
    assert summary.outcomes == {FireOutcome.FIRED: 1}
    await wait_for_inline_runs()
    runs = await scheduled_runs()
    assert [run.ci["schedule_tick"] for run in runs] == [(tick + timedelta(seconds=90)).isoformat()]
    missed, fired = await fires(schedule["id"])
    assert (missed.tick_at, missed.outcome) == (tick, FireOutcome.MISSED)
    assert "9 tick(s)" in (missed.detail or "")
    assert (fired.tick_at, fired.outcome) == (tick + timedelta(seconds=90), FireOutcome.FIRED)


async def test_a_run_still_going_makes_the_next_tick_skip_unless_overlap_is_allowed(
    api: httpx.AsyncClient, target: Target
) -> None:
    gated = await make_flow(api, target, path="/gate")
    schedule = await new_schedule(api, gated)
    overlapping = await new_schedule(api, gated, name="overlapping", allow_overlap=True)
    tick = first_tick(schedule)
    assert first_tick(overlapping) == tick
    first = await firing.fire_due(get_session_factory(), now=tick)
    assert first.outcomes == {FireOutcome.FIRED: 2}
    await asyncio.wait_for(target.arrived.wait(), 30)  # the runs are now going, held by the target
    second = await firing.fire_due(get_session_factory(), now=tick + timedelta(seconds=10))
    assert second.outcomes == {FireOutcome.SKIPPED_OVERLAP: 1, FireOutcome.FIRED: 1}
    skipped = (await fires(schedule["id"]))[-1]
    assert skipped.outcome == FireOutcome.SKIPPED_OVERLAP and "allow_overlap is off" in (skipped.detail or "")
    target.release.set()
    await wait_for_inline_runs()
    third = await firing.fire_due(get_session_factory(), now=tick + timedelta(seconds=20))
    assert third.outcomes == {FireOutcome.FIRED: 2}
    await wait_for_inline_runs()
    outcomes = [fire.outcome for fire in await fires(schedule["id"])]
    assert outcomes == [FireOutcome.FIRED, FireOutcome.SKIPPED_OVERLAP, FireOutcome.FIRED]
    assert len(await fires(overlapping["id"])) == 3


async def test_a_fire_is_refused_when_the_owner_lost_the_right_to_run(
    api: httpx.AsyncClient, client: httpx.AsyncClient, flow: Flow, make_user: UserFactory
) -> None:
    editor = await add_member(api, make_user, flow.project_id, "editor", "editor@example.com")
    body = {"name": "theirs", "scenario_id": flow.scenario_id, "cron": TEN_SECONDS, "timezone": "UTC"}
    created = await client.post("/api/v1/schedules", json=body, headers=editor)
    assert created.status_code == 201, created.text
    editor_id = created.json()["owner_id"]
    demoted = await api.patch(f"/api/v1/projects/{flow.project_id}/members/{editor_id}", json={"role": "viewer"})
    assert demoted.status_code == 200, demoted.text
    summary = await firing.fire_due(get_session_factory(), now=first_tick(created.json()))
    assert summary.outcomes == {FireOutcome.REFUSED: 1}
    [fire] = await fires(created.json()["id"])
    assert fire.run_id is None and "viewer" in (fire.detail or "")
    assert await scheduled_runs() == []


async def test_a_scenario_without_steps_is_refused_and_the_schedule_moves_on(
    api: httpx.AsyncClient, flow: Flow
) -> None:
    schedule = await new_schedule(api, flow)
    emptied = await api.put(f"/api/v1/scenarios/{flow.scenario_id}/steps", json=[])
    assert emptied.status_code == 200
    tick = first_tick(schedule)
    assert (await firing.fire_due(get_session_factory(), now=tick)).outcomes == {FireOutcome.REFUSED: 1}
    [fire] = await fires(schedule["id"])
    assert "no enabled steps" in (fire.detail or "")
    async with get_session_factory()() as session:
        stored = await session.get(Schedule, schedule["id"])
        assert stored is not None and stored.next_fire_at == tick + timedelta(seconds=10)


async def test_an_edit_between_reading_and_claiming_makes_the_loop_give_the_tick_up(
    api: httpx.AsyncClient, flow: Flow
) -> None:
    schedule = await new_schedule(api, flow)
    tick = first_tick(schedule)
    async with get_session_factory()() as session:
        read = await session.get(Schedule, schedule["id"])
    assert read is not None
    async with get_session_factory()() as session:  # someone saves the schedule meanwhile (a new version)
        await session.execute(update(Schedule).where(Schedule.id == read.id).values(version=read.version + 1))
        await session.commit()
    assert await firing.fire_one(get_session_factory(), read, tick, "stale") is None
    assert await fires(schedule["id"]) == []
    assert (await firing.fire_due(get_session_factory(), now=tick)).outcomes == {FireOutcome.FIRED: 1}


async def test_a_missed_tick_reaches_the_projects_channel_for_missed_schedules(
    api: httpx.AsyncClient, flow: Flow, target: Target
) -> None:
    channel = await api.post(
        f"/api/v1/projects/{flow.project_id}/channels",
        json={"name": "team", "type": "webhook", "url": f"{target.url}/notify", "events": ["schedule_missed"]},
    )
    assert channel.status_code == 201, channel.text
    schedule = await new_schedule(api, flow, cron="0 * * * *", grace_seconds=0)
    tick = first_tick(schedule)
    assert (await firing.fire_due(get_session_factory(), now=tick + timedelta(minutes=10))).outcomes == {"missed": 1}
    async with get_session_factory()() as session:
        deliveries = list(await session.scalars(select(NotificationDelivery)))
    assert [(d.event, d.project_id) for d in deliveries] == [("schedule_missed", flow.project_id)]
