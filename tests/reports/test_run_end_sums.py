"""A run's end adds up what its sinks summed as they stored (setup, each chunk, teardown) instead of reading every
result back, and reads them back whenever the sums cannot be trusted: the roll-ups are the same either way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.core.config import get_settings
from app.core.db import get_session_factory
from app.models import ApiRequestRun, ScenarioRun, ScenarioRunChunk
from app.reports import rollups
from app.reports.rollups import ResultFacts, RunFacts, RunSums, rebuild, rollup_rows
from app.runs.chunks import shutdown_pool
from tests.reports.conftest import Phased, forget_rollups, phased_flow, rollup_table_rows, run_to_end

API = "/api/v1"


def _spy_on_reading_back(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Every call of the read-back path (the results of a run read from the database at its end)."""
    calls: list[list[int]] = []
    read_back = rollups._count_runs

    async def counting(session: Any, run_ids: Any, known: Any = None) -> None:
        calls.append(list(run_ids))
        await read_back(session, run_ids, known)

    monkeypatch.setattr(rollups, "_count_runs", counting)
    return calls


async def _facts(run_id: int) -> tuple[RunFacts, list[ResultFacts]]:
    async with get_session_factory()() as session:
        run = RunFacts(*(await session.execute(select(*rollups._RUN_COLUMNS).where(ScenarioRun.id == run_id))).one())
        results = [
            ResultFacts(*row[1:])
            for row in await session.execute(
                select(*rollups._RESULT_COLUMNS).where(
                    ApiRequestRun.scenario_run_id == run_id, ApiRequestRun.is_final.is_(True)
                )
            )
        ]
    return run, results


async def test_an_unsharded_runs_end_adds_its_sinks_sums_without_reading_results_back(
    api: httpx.AsyncClient, phased: Phased, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_back = _spy_on_reading_back(monkeypatch)
    ids = await phased_flow(api, phased.url)  # type: ignore[attr-defined]
    statuses = []
    for phase in (0, 1, 2, 0):  # /a breaks, then /b (and /a is fixed), then both are fixed: flips each time
        phased.phase = phase
        statuses.append((await run_to_end(api, ids))["status"])
    assert statuses == ["passed", "failed", "failed", "passed"]
    assert read_back == []
    incremental = await rollup_table_rows()
    await forget_rollups()
    assert await rebuild(get_session_factory()) == 4
    assert await rollup_table_rows() == incremental


async def test_each_chunk_keeps_its_sums_and_they_add_up_to_what_the_results_say(
    api: httpx.AsyncClient, phased: Phased, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings, "run_processes", 2)
    monkeypatch.setattr(settings, "run_chunk_rows", 3)
    ids = await phased_flow(api, phased.url, settings={"stop_on_failure": False, "concurrency": 4})  # type: ignore[attr-defined]
    rows = [{"variables": {"n": n}} for n in range(8)]
    assert (await api.put(f"{API}/scenarios/{ids['scenario']}/datasets", json=rows)).status_code == 200
    runs = []
    for phase in (0, 1):
        phased.phase = phase
        runs.append(await run_to_end(api, ids))
    assert [run["status"] for run in runs] == ["passed", "failed"]
    async with get_session_factory()() as session:
        chunks = list(await session.scalars(select(ScenarioRunChunk).where(ScenarioRunChunk.run_id == runs[1]["id"])))
    assert len(chunks) == 3 and all(chunk.result_sums and chunk.result_sums["usable"] for chunk in chunks)
    summed = RunSums(None)
    for chunk in chunks:
        assert chunk.result_sums is not None
        summed.merge(RunSums.from_json(chunk.result_sums))
    run, results = await _facts(runs[1]["id"])
    _, previous = await _facts(runs[0]["id"])
    assert summed.rows(run) == rollup_rows(run, results, previous)
    flipped = sum(sums["flips"] for sums in summed.by_case.values())
    assert flipped == 8  # /a passed in each of the 8 rows of the first run and failed in the second
    incremental = await rollup_table_rows()
    await forget_rollups()
    assert await rebuild(get_session_factory()) == 2
    assert await rollup_table_rows() == incremental
    shutdown_pool()  # its processes have this test's settings


async def _ended_run_to_count_again(
    api: httpx.AsyncClient, phased: Phased
) -> tuple[int, RunSums, int, list[tuple[Any, ...]]]:
    """Two runs (the second's /a flips); the second's roll-ups forgotten, with the sums its results give."""
    ids = await phased_flow(api, phased.url)  # type: ignore[attr-defined]
    first = await run_to_end(api, ids)
    phased.phase = 1
    second = await run_to_end(api, ids)
    expected = await rollup_table_rows()
    await forget_rollups()
    async with get_session_factory()() as session:
        await session.execute(update(ScenarioRun).where(ScenarioRun.id == first["id"]).values(rolled_up=True))
        await session.commit()
    _, results = await _facts(second["id"])
    _, previous = await _facts(first["id"])
    sums = RunSums(rollups.outcomes(previous))
    for result in results:
        sums.add(result)
    async with get_session_factory()() as session:  # the first run's share of `expected`, counted again
        await rollups._count_runs(session, [first["id"]])
        await session.commit()
    return second["id"], sums, first["id"], expected


@pytest.mark.parametrize("wrong", ["a result the sums miss", "another previous run", "sums not loaded"])
async def test_sums_that_cannot_be_trusted_are_not_used_the_results_are_read_back(
    api: httpx.AsyncClient, phased: Phased, monkeypatch: pytest.MonkeyPatch, wrong: str
) -> None:
    run_id, sums, previous_id, expected = await _ended_run_to_count_again(api, phased)
    compared_with: int | None = previous_id
    if wrong == "a result the sums miss":
        sums.by_case[next(iter(sums.by_case))]["requests_passed"] -= 1
    elif wrong == "another previous run":
        compared_with = None
    else:
        sums.usable = False
    read_back = _spy_on_reading_back(monkeypatch)
    async with get_session_factory()() as session:
        assert await rollups.record_run(session, run_id, sums, compared_with)
        await session.commit()
    assert read_back == [[run_id]]
    assert await rollup_table_rows() == expected


async def test_sums_that_hold_are_used_as_they_are(
    api: httpx.AsyncClient, phased: Phased, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, sums, previous_id, expected = await _ended_run_to_count_again(api, phased)
    read_back = _spy_on_reading_back(monkeypatch)
    async with get_session_factory()() as session:
        assert await rollups.record_run(session, run_id, sums, previous_id)
        await session.commit()
    assert read_back == []
    assert await rollup_table_rows() == expected
