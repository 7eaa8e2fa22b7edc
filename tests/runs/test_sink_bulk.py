"""Every write path of the run sink stores the same rows (issue 8, bulk writes per database).

The sink writes a batch with the fastest path of its database (SQLite: one multi-row INSERT, PostgreSQL: COPY,
MariaDB: the bulk execute command) or, with bulk=False, with SQLAlchemy's INSERT. The same varied results go
through both and are read back as ApiRequestRun rows, then compared to one canonical form computed from the
results alone: CI runs this file on SQLite, MariaDB and PostgreSQL, so all of them store the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, select

from app.core.db import get_session_factory
from app.engine.results import StepResult
from app.models import ApiRequest, ApiRequestRun, ScenarioRun
from app.models.base import utcnow
from app.runs.sink import DatabaseSink
from tests.factories import create, project

API = "/api/v1"
BIG = 2**63 - 1
WEIRD = "quote ' double \" backslash \\ percent %s %(x)s newline \n tab \t semicolon; -- DROP TABLE x; ?"
UNICODE = "Über straße ✓ 日本語 🚀 العربية"
# Bodies big enough that MariaDB's bulk path splits a batch (2,000,000 characters of text per command).
HUGE = "x" * 900_000
JSON_FIELDS = ("request", "dataset", "response", "assertions", "extracted")
IST = timezone(timedelta(hours=5, minutes=30))


def _result(iteration: int, case_id: int | None, **fields: Any) -> StepResult:
    values: dict[str, Any] = {
        "step_key": f"step:{iteration % 3}",
        "case_id": case_id,
        "step_id": None,
        "dataset_id": None,
        "iteration": iteration,
        "attempt": 1,
        "iteration_attempt": 1,
        "is_final": True,
        "flaky": False,
        "status": "passed",
        "started_at": datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC) + timedelta(seconds=iteration),
        "duration_ms": 12.5,  # exact in MariaDB's single-precision FLOAT too
        "name": "login",
    }
    values.update(fields)
    return StepResult(**values)


def _varied(kept: int, doomed: int) -> list[StepResult]:
    nested = {"a": {"b": [1, 2.5, None, True, False, {"c": [[], {}]}]}, "z": "last", "m": "first"}
    return [
        _result(0, kept),  # all optional fields at their defaults
        _result(
            1,
            kept,
            step_id=BIG,
            dataset_id=-BIG,
            name=UNICODE,
            error=UNICODE + WEIRD,
            request={"method": "POST", "url": "http://h/ü?q=✓", "headers": {"X-Ä": WEIRD}, "body": nested},
            dataset={"n": BIG, "neg": -BIG, "f": 0.1, "u": UNICODE},
            response={"status_code": 200, "body": {"data": nested, "text": WEIRD}},
            assertions=[{"passed": True, "message": UNICODE}, {"passed": False, "actual": None}],
            extracted={"token": "tok-✓", "n": 0, "list": [1, "2", None]},
        ),
        _result(2, doomed, name="doomed case", status="failed", error="expected 200, got 500"),
        _result(3, None, name="n" * 150 + "é🚀" * 60, status="error", error=""),  # name cut at 200 characters
        _result(4, kept, attempt=1, is_final=False, status="failed", duration_ms=0),  # an int duration
        _result(4, kept, attempt=2, iteration_attempt=2, flaky=True, duration_ms=1024.75),
        _result(5, kept, status="skipped", started_at=datetime(2026, 1, 2, 9, 4, 5, 7, tzinfo=IST)),
        _result(6, kept, response={"body": HUGE, "status_code": 200}, error="big"),
        _result(7, kept, response={"body": HUGE + "y", "status_code": 200}),
        _result(8, kept, response={"body": HUGE + "z"}, request=None, dataset=None, extracted={}, assertions=[]),
        _result(9, None, step_id=0, dataset_id=0, name="", request={}, response={"body": ""}, error=None),
    ]  # fmt: skip


def _expected(result: StepResult, vanished: set[int]) -> dict[str, Any]:
    return {
        "case_id": None if result.case_id in vanished else result.case_id,
        "step_id": result.step_id,
        "dataset_id": result.dataset_id,
        "step_key": result.step_key,
        "name": result.name[:200],
        "iteration": result.iteration,
        "attempt": result.attempt,
        "iteration_attempt": result.iteration_attempt,
        "is_final": result.is_final,
        "flaky": result.flaky,
        "status": result.status,
        "started_at": result.started_at.astimezone(UTC),
        "duration_ms": float(result.duration_ms),
        "error": result.error,
        # The JSON text, key order included (json on PostgreSQL, text elsewhere keep it as written).
        **{name: orjson.dumps(getattr(result, name)) for name in JSON_FIELDS},
    }  # fmt: skip


def _stored(record: ApiRequestRun) -> dict[str, Any]:
    return {
        "case_id": record.case_id,
        "step_id": record.step_id,
        "dataset_id": record.dataset_id,
        "step_key": record.step_key,
        "name": record.name,
        "iteration": record.iteration,
        "attempt": record.attempt,
        "iteration_attempt": record.iteration_attempt,
        "is_final": record.is_final,
        "flaky": record.flaky,
        "status": record.status,
        "started_at": record.started_at,
        "duration_ms": record.duration_ms,
        "error": record.error,
        **{name: orjson.dumps(getattr(record, name)) for name in JSON_FIELDS},
    }  # fmt: skip


async def _setup(api: Any) -> tuple[int, int, int]:
    """A run row and two cases of its project (ids: run, kept case, case deleted while the run writes)."""
    proj = await project(api)
    kept, doomed = [
        await create(api, f"{API}/cases", {"project_id": proj["id"], "name": name, "method": "GET", "url": "/x"})
        for name in ("kept", "doomed")
    ]
    async with get_session_factory()() as session:
        now = utcnow()
        run = ScenarioRun(
            project_id=proj["id"],
            kind="scenario",
            status="running",
            executor="inline",
            created_at=now,
            heartbeat_at=now,
        )
        session.add(run)
        await session.commit()
        return run.id, kept["id"], doomed["id"]


async def _records(run_id: int) -> list[ApiRequestRun]:
    async with get_session_factory()() as session:
        rows = await session.scalars(
            select(ApiRequestRun)
            .where(ApiRequestRun.scenario_run_id == run_id)
            .order_by(ApiRequestRun.iteration, ApiRequestRun.attempt)
        )
        return list(rows)


async def _counts(run_id: int) -> dict[str, int]:
    async with get_session_factory()() as session:
        run = await session.get(ScenarioRun, run_id)
        assert run is not None
        return {name: getattr(run, f"requests_{name}") for name in ("passed", "failed", "error", "skipped", "flaky")}


@pytest.mark.parametrize("bulk", [True, False], ids=["driver-bulk", "sqlalchemy-insert"])
async def test_every_write_path_stores_the_same_rows(api, bulk):
    run_id, kept, doomed = await _setup(api)
    results = _varied(kept, doomed)
    sink = DatabaseSink(get_session_factory(), run_id, batch_size=1000, bulk=bulk)
    for result in results:
        await sink.put(result)
    async with get_session_factory()() as session:  # the case goes between the delete guard and the write
        await session.execute(delete(ApiRequest).where(ApiRequest.id == doomed))
        await session.commit()
    await sink.flush()

    stored = [_stored(record) for record in await _records(run_id)]
    expected = [_expected(result, {doomed}) for result in results]
    assert len(stored) == len(expected) == sink.written
    for got, want in zip(stored, expected, strict=True):
        assert got == want, {key: (got[key], want[key]) for key in want if got[key] != want[key]}
    assert stored[2]["case_id"] is None and stored[2]["name"] == "doomed case"  # outlives its case, name kept
    assert stored[6]["started_at"] == datetime(2026, 1, 2, 3, 34, 5, 7, tzinfo=UTC)  # +05:30 stored as UTC
    assert await _counts(run_id) == {"passed": 7, "failed": 1, "error": 1, "skipped": 1, "flaky": 1}


@pytest.mark.parametrize("bulk", [True, False], ids=["driver-bulk", "sqlalchemy-insert"])
async def test_rows_beyond_the_batch_size_go_in_several_batches_and_all_arrive(api, bulk):
    run_id, kept, _ = await _setup(api)
    sink = DatabaseSink(get_session_factory(), run_id, batch_size=7, max_pending=1, bulk=bulk)
    results = [
        _result(i, kept if i % 2 else None, status="failed" if i % 5 == 0 else "passed", extracted={"i": i})
        for i in range(52)
    ]
    for result in results:
        await sink.put(result)
        assert sink.written <= result.iteration + 1  # written per batch as they fill, not all at the end
    assert sink.written >= 42  # the full batches went out while the rows were put (one may still be on its way)
    await sink.flush()
    records = await _records(run_id)
    assert [r.iteration for r in records] == list(range(52)) and sink.written == 52
    assert [_stored(r) for r in records] == [_expected(r, set()) for r in results]
    assert await _counts(run_id) == {"passed": 41, "failed": 11, "error": 0, "skipped": 0, "flaky": 0}
