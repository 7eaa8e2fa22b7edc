"""Retention: old request runs lose their snapshots, older ones their rows; active runs, other projects and the
report roll-ups are never touched; the policy is a project admin's, validated, through the project PATCH."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from app.core.config import get_settings
from app.core.db import get_engine, get_session_factory
from app.engine.statuses import FINISHED, ResultStatus, RunStatus
from app.models import ApiRequestRun, Project, ReportRollup, ReportRollupDuration, ScenarioRun, ScenarioRunChunk
from app.models.base import utcnow
from app.reports.retention import prune
from tests.conftest import assert_error, bearer, count_rows
from tests.factories import project

API = "/api/v1"
EXILE = str(Path(sys.executable).parent / "exile")


async def add_run(
    project_id: int,
    days_ago: float,
    *,
    now: datetime,
    status: RunStatus = RunStatus.PASSED,
    records: int = 2,
    rolled_up: bool = True,
    rerun_of_id: int | None = None,
) -> tuple[int, list[int]]:
    """A scenario run created `days_ago` before `now` with `records` request runs holding every snapshot."""
    created_at = now - timedelta(days=days_ago)
    async with get_session_factory()() as session:
        run = ScenarioRun(
            project_id=project_id,
            kind="scenario",
            status=status,
            created_at=created_at,
            started_at=created_at,
            finished_at=created_at + timedelta(seconds=5) if status in FINISHED else None,
            rolled_up=rolled_up,
            rerun_of_id=rerun_of_id,
        )
        session.add(run)
        await session.flush()
        session.add(ScenarioRunChunk(run_id=run.id, position=0, first_iteration=0, status=status))
        rows = [
            ApiRequestRun(
                scenario_run_id=run.id,
                step_key="s1",
                name="login",
                iteration=iteration,
                status=ResultStatus.FAILED,
                started_at=created_at,
                duration_ms=12.5,
                request={"method": "POST", "url": "http://target/login", "body": "x" * 200},
                dataset={"username": f"user{iteration}"},
                response={"status": 500, "headers": {"a": "b"}, "body": "boom " * 50},
                error=None,
                assertions=[{"source": "status_code", "op": "eq", "expected": 200, "actual": 500, "passed": False}],
                extracted={"token": "t"},
            )
            for iteration in range(records)
        ]
        session.add_all(rows)
        await session.commit()
        return run.id, [row.id for row in rows]


async def snapshots(request_run_ids: list[int]) -> list[tuple[Any, ...]]:
    async with get_session_factory()() as session:
        rows = await session.execute(
            select(
                ApiRequestRun.request,
                ApiRequestRun.dataset,
                ApiRequestRun.response,
                ApiRequestRun.assertions,
                ApiRequestRun.status,
            )
            .where(ApiRequestRun.id.in_(request_run_ids))
            .order_by(ApiRequestRun.id)
        )
        return [tuple(row) for row in rows]


async def stored(model: Any, *where: Any) -> int:
    async with get_session_factory()() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def set_policy(api: Any, project_id: int, **policy: int | None) -> dict[str, Any]:
    current = (await api.get(f"{API}/projects/{project_id}")).json()
    response = await api.patch(f"{API}/projects/{project_id}", json={**policy, "version": current["version"]})
    assert response.status_code == 200, response.text
    return response.json()


def cleared(rows: list[tuple[Any, ...]]) -> bool:
    return all(request is None and dataset is None and response is None for request, dataset, response, *_ in rows)


def intact(rows: list[tuple[Any, ...]]) -> bool:
    return all(None not in (request, dataset, response) for request, dataset, response, *_ in rows)


async def test_snapshots_are_cleared_after_the_body_days_and_the_rows_kept(api):
    now = utcnow()
    proj = await project(api)
    before = await set_policy(api, proj["id"], retention_body_days=7)
    _, old_records = await add_run(proj["id"], 10, now=now)
    _, new_records = await add_run(proj["id"], 3, now=now)

    result = await prune(get_session_factory(), now=now)

    assert (result.projects, result.bodies_cleared, result.request_runs_deleted) == (1, 2, 0)
    old = await snapshots(old_records)
    assert cleared(old) and len(old) == 2
    assert all(assertions[0]["actual"] == 500 and status == "failed" for *_, assertions, status in old)
    assert intact(await snapshots(new_records))
    read = (await api.get(f"{API}/projects/{proj['id']}")).json()
    assert datetime.fromisoformat(read["bodies_pruned_before"]) == now - timedelta(days=7)
    assert read["rows_pruned_before"] is None
    # Pruning is not an edit: a client holding the project's version can still PATCH with it.
    assert read["version"] == before["version"] and read["updated_at"] == before["updated_at"]

    again = await prune(get_session_factory(), now=now)
    assert (again.bodies_cleared, again.batches) == (0, 0)


async def test_rows_are_deleted_after_the_row_days_with_their_chunks(api):
    now = utcnow()
    proj = await project(api)
    await set_policy(api, proj["id"], retention_body_days=7, retention_row_days=30)
    oldest, oldest_records = await add_run(proj["id"], 40, now=now)
    middle, middle_records = await add_run(proj["id"], 10, now=now, rerun_of_id=oldest)
    _, newest_records = await add_run(proj["id"], 1, now=now)

    result = await prune(get_session_factory(), now=now)

    assert (result.scenario_runs_deleted, result.request_runs_deleted, result.bodies_cleared) == (1, 2, 2)
    assert await stored(ScenarioRun, ScenarioRun.id == oldest) == 0
    assert await stored(ApiRequestRun, ApiRequestRun.id.in_(oldest_records)) == 0
    assert await stored(ScenarioRunChunk, ScenarioRunChunk.run_id == oldest) == 0
    assert cleared(await snapshots(middle_records)) and len(middle_records) == 2
    assert intact(await snapshots(newest_records))
    async with get_session_factory()() as session:
        assert await session.scalar(select(ScenarioRun.rerun_of_id).where(ScenarioRun.id == middle)) is None
        marked = await session.scalar(select(Project.rows_pruned_before).where(Project.id == proj["id"]))
    assert marked == now - timedelta(days=30)


async def test_queued_and_running_runs_are_never_touched(api):
    now = utcnow()
    proj = await project(api)
    await set_policy(api, proj["id"], retention_body_days=1, retention_row_days=2)
    running, running_records = await add_run(proj["id"], 100, now=now, status=RunStatus.RUNNING)
    queued, queued_records = await add_run(proj["id"], 100, now=now, status=RunStatus.QUEUED)

    result = await prune(get_session_factory(), now=now)

    assert (result.bodies_cleared, result.request_runs_deleted, result.scenario_runs_deleted) == (0, 0, 0)
    assert await stored(ScenarioRun, ScenarioRun.id.in_([running, queued])) == 2
    assert intact(await snapshots(running_records + queued_records))
    assert len(await snapshots(running_records + queued_records)) == 4


async def test_a_run_still_going_at_one_prune_is_cleared_by_the_next_once_it_ended(api):
    now = utcnow()
    proj = await project(api)
    await set_policy(api, proj["id"], retention_body_days=7)
    run_id, records = await add_run(proj["id"], 10, now=now, status=RunStatus.RUNNING)
    await prune(get_session_factory(), now=now)
    assert intact(await snapshots(records))

    async with get_session_factory()() as session:
        await session.execute(
            update(ScenarioRun)
            .where(ScenarioRun.id == run_id)
            .values(status=RunStatus.PASSED, finished_at=now + timedelta(hours=1))
        )
        await session.commit()
    result = await prune(get_session_factory(), now=now + timedelta(hours=2))

    assert result.bodies_cleared == 2 and cleared(await snapshots(records))


async def test_other_projects_are_untouched(api):
    now = utcnow()
    kept_forever = await project(api, "no policy")
    pruned = await project(api, "pruned")
    not_asked = await project(api, "policy, not asked")
    await set_policy(api, pruned["id"], retention_row_days=5)
    await set_policy(api, not_asked["id"], retention_row_days=5)
    forever_run, forever_records = await add_run(kept_forever["id"], 400, now=now)
    pruned_run, _ = await add_run(pruned["id"], 6, now=now)
    other_run, other_records = await add_run(not_asked["id"], 6, now=now)

    result = await prune(get_session_factory(), now=now, project_id=pruned["id"])

    assert (result.projects, result.scenario_runs_deleted) == (1, 1)
    assert await stored(ScenarioRun, ScenarioRun.id == pruned_run) == 0
    assert await stored(ScenarioRun, ScenarioRun.id.in_([forever_run, other_run])) == 2
    assert intact(await snapshots(forever_records + other_records))
    assert (await api.get(f"{API}/projects/{not_asked['id']}")).json()["rows_pruned_before"] is None


async def test_report_rollups_are_never_pruned(api):
    now = utcnow()
    proj = await project(api)
    await set_policy(api, proj["id"], retention_body_days=1, retention_row_days=1)
    await add_run(proj["id"], 30, now=now)
    bucket = (now - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    key = {"project_id": proj["id"], "granularity": "day", "bucket_start": bucket, "scope": "run"}
    async with get_session_factory()() as session:
        session.add(ReportRollup(**key, runs_passed=1, requests_failed=2, duration_sum_us=25_000, duration_count=2))
        session.add(ReportRollupDuration(**key, bin=30, count=2))
        await session.commit()

    async def rollups() -> list[tuple[Any, ...]]:
        async with get_session_factory()() as session:
            counters = await session.execute(
                select(ReportRollup.bucket_start, ReportRollup.runs_passed, ReportRollup.requests_failed)
            )
            bins = await session.execute(select(ReportRollupDuration.bin, ReportRollupDuration.count))
            return [tuple(row) for row in counters] + [tuple(row) for row in bins]

    before = await rollups()
    result = await prune(get_session_factory(), now=now)

    assert result.scenario_runs_deleted == 1
    assert await rollups() == before == [(bucket, 1, 2), (30, 2)]


async def test_a_finished_run_the_rollups_have_not_counted_keeps_its_rows(api):
    now = utcnow()
    proj = await project(api)
    await set_policy(api, proj["id"], retention_row_days=30)
    uncounted, records = await add_run(proj["id"], 40, now=now, rolled_up=False)

    result = await prune(get_session_factory(), now=now)

    assert (result.scenario_runs_deleted, result.runs_not_rolled_up) == (0, 1)
    assert await stored(ScenarioRun, ScenarioRun.id == uncounted) == 1
    assert await stored(ApiRequestRun, ApiRequestRun.id.in_(records)) == 2


async def test_a_pruned_request_run_still_reads_through_the_api(api):
    now = utcnow()
    proj = await project(api)
    await set_policy(api, proj["id"], retention_body_days=1)
    run_id, records = await add_run(proj["id"], 2, now=now)
    await prune(get_session_factory(), now=now)

    detail = await api.get(f"{API}/request-runs/{records[0]}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert (body["request"], body["dataset"], body["response"]) == (None, None, None)
    assert body["status"] == "failed" and body["assertions"][0]["actual"] == 500
    listed = await api.get(f"{API}/scenario-runs/{run_id}/request-runs")
    assert listed.status_code == 200 and listed.json()["total"] == 2
    for report_format in ("json", "junit", "html"):
        report = await api.get(f"{API}/scenario-runs/{run_id}/report", params={"format": report_format})
        assert report.status_code == 200, (report_format, report.text)


async def test_each_batch_changes_at_most_batch_size_rows(api):
    now = utcnow()
    proj = await project(api)
    await set_policy(api, proj["id"], retention_body_days=10, retention_row_days=20)
    old_runs = [await add_run(proj["id"], 30, now=now, records=records) for records in (4, 3)]
    _, kept_records = await add_run(proj["id"], 15, now=now, records=7)
    old_runs += [await add_run(proj["id"], 25, now=now, records=0) for _ in range(3)]

    changed_per_statement: list[tuple[str, int]] = []

    def record(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in ("UPDATE", "DELETE") and ("api_request_runs" in statement or "scenario_runs" in statement):
            changed_per_statement.append((statement.split("WHERE")[0].strip(), cursor.rowcount))

    event.listen(get_engine().sync_engine, "after_cursor_execute", record)
    try:
        result = await prune(get_session_factory(), now=now, batch_size=2)
    finally:
        event.remove(get_engine().sync_engine, "after_cursor_execute", record)

    assert (result.request_runs_deleted, result.scenario_runs_deleted, result.bodies_cleared) == (7, 5, 7)
    assert await stored(ScenarioRun, ScenarioRun.id.in_([run_id for run_id, _ in old_runs])) == 0
    assert cleared(await snapshots(kept_records)) and len(kept_records) == 7
    writes = [count for _, count in changed_per_statement]
    assert writes and max(writes) <= 2, changed_per_statement
    # 7 deleted request runs and 5 runs need at least 4 + 3 batches; 7 cleared request runs 4 more.
    assert result.batches >= 11 and len([count for count in writes if count]) >= 11


async def test_the_policy_is_read_and_set_through_the_project(api):
    proj = await project(api)
    assert (proj["retention_body_days"], proj["retention_row_days"]) == (None, None)
    assert (proj["bodies_pruned_before"], proj["rows_pruned_before"]) == (None, None)

    updated = await set_policy(api, proj["id"], retention_body_days=7, retention_row_days=90)
    assert (updated["retention_body_days"], updated["retention_row_days"]) == (7, 90)
    assert updated["version"] == proj["version"] + 1
    cleared_policy = await set_policy(api, proj["id"], retention_row_days=None)
    assert (cleared_policy["retention_body_days"], cleared_policy["retention_row_days"]) == (7, None)
    entries = (await api.get(f"{API}/audit", params={"project_id": proj["id"], "entity": "project"})).json()
    changes = [entry["changes"]["after"] for entry in entries["items"] if entry["action"] == "update"]
    assert {"retention_body_days": 7, "retention_row_days": 90} in changes


@pytest.mark.parametrize(
    ("stored_policy", "patch", "field"),
    [
        ({}, {"retention_body_days": 0}, "retention_body_days"),
        ({}, {"retention_row_days": 3651}, "retention_row_days"),
        ({}, {"retention_row_days": 1.5}, "retention_row_days"),
        ({}, {"retention_body_days": "a week"}, "retention_body_days"),
        ({}, {"retention_body_days": 30, "retention_row_days": 7}, "retention_body_days"),
        ({"retention_row_days": 7}, {"retention_body_days": 30}, "retention_body_days"),
        ({"retention_body_days": 30}, {"retention_row_days": 7}, "retention_row_days"),
    ],
)
async def test_an_invalid_policy_is_a_422_naming_the_field(api, stored_policy, patch, field):
    proj = await project(api)
    if stored_policy:
        proj = await set_policy(api, proj["id"], **stored_policy)
    response = await api.patch(f"{API}/projects/{proj['id']}", json={**patch, "version": proj["version"]})
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", field], error
    assert field in error["message"]
    unchanged = (await api.get(f"{API}/projects/{proj['id']}")).json()
    assert unchanged["version"] == proj["version"]


async def test_only_a_project_admin_sets_the_policy(api, make_user):
    proj = await project(api)
    for role in ("editor", "admin"):
        member = await make_user(email=f"{role}@example.com")
        added = await api.post(f"{API}/projects/{proj['id']}/members", json={"email": member.email, "role": role})
        assert added.status_code == 201, added.text
        current = (await api.get(f"{API}/projects/{proj['id']}")).json()
        response = await api.patch(
            f"{API}/projects/{proj['id']}",
            json={"retention_row_days": 30, "version": current["version"]},
            headers=bearer(member),
        )
        if role == "editor":
            assert_error(response, 403, "forbidden")
            read = await api.get(f"{API}/projects/{proj['id']}", headers=bearer(member))
            assert read.status_code == 200 and read.json()["retention_row_days"] is None
        else:
            assert response.status_code == 200 and response.json()["retention_row_days"] == 30


async def exile(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        EXILE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_exile_prune_applies_the_policies_and_says_what_it_did(api):
    code, out, err = await exile("prune")
    assert code == 0, err
    assert out.strip() == "no project has a retention policy: nothing to prune"

    now = utcnow()
    proj = await project(api)
    await set_policy(api, proj["id"], retention_body_days=5, retention_row_days=10)
    await add_run(proj["id"], 20, now=now, records=3)
    _, recent = await add_run(proj["id"], 7, now=now, records=2)
    await add_run(proj["id"], 20, now=now, rolled_up=False)

    code, out, err = await exile("prune", "--project", str(proj["id"]), "--batch-size", "2")
    assert code == 0, err
    lines = out.splitlines()
    # Deleted: 3 request runs (2 batches) and their run (1); cleared: the recent run's and the uncounted run's 2
    # each (2 batches: the uncounted run keeps its rows, not its snapshots).
    assert lines[0] == (
        "pruned 1 project(s): cleared the snapshots of 4 request run(s), deleted 3 request run(s) and 1 scenario "
        "run(s) in 5 transaction(s)"
    )
    assert lines[1].startswith("kept 1 finished run(s) past the row limit that the report roll-ups have not counted")
    assert cleared(await snapshots(recent))
    assert await count_rows(ScenarioRun) == 2

    code, out, _ = await exile("prune", "--project", "999999")
    assert code == 0 and "project 999999 does not exist or has no retention policy" in out
    code, _, err = await exile("prune", "--batch-size", "0")
    assert code == 2 and "batch-size" in err


async def test_the_api_process_prunes_at_start_unless_the_interval_is_zero(api, monkeypatch):
    from app.main import _prune_forever

    proj = await project(api)
    await set_policy(api, proj["id"], retention_row_days=1)
    await add_run(proj["id"], 3, now=utcnow())

    monkeypatch.setattr(get_settings(), "retention_interval_seconds", 0)
    await asyncio.wait_for(_prune_forever(), timeout=30)  # returns at once: nothing periodic
    assert await count_rows(ScenarioRun) == 1

    monkeypatch.setattr(get_settings(), "retention_interval_seconds", 3600)
    pruner = asyncio.ensure_future(_prune_forever())
    try:
        for _ in range(600):
            if await count_rows(ScenarioRun) == 0:
                break
            await asyncio.sleep(0.05)
        assert await count_rows(ScenarioRun) == 0
    finally:
        pruner.cancel()
        await asyncio.gather(pruner, return_exceptions=True)


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="set TEST_REDIS_URL to run the Celery worker tests")
async def test_a_celery_worker_prunes_at_start(api, monkeypatch, tmp_path):
    from tests.runs.test_celery import Worker, use_broker

    proj = await project(api)
    await set_policy(api, proj["id"], retention_row_days=1)
    await add_run(proj["id"], 3, now=utcnow())
    use_broker(monkeypatch)
    worker = Worker(tmp_path / "worker.log", settings={"RETENTION_INTERVAL_SECONDS": "3600"})
    try:
        for _ in range(600):
            if await count_rows(ScenarioRun) == 0:
                break
            await asyncio.sleep(0.05)
        assert await count_rows(ScenarioRun) == 0, (tmp_path / "worker.log").read_text()
    finally:
        worker.stop()
    assert "retention: {" in (tmp_path / "worker.log").read_text()
