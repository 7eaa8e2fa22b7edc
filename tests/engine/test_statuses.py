"""The status vocabularies are StrEnums the engine hands out: its results carry the members themselves.

The round trip through the database and the API is in tests/runs/test_statuses.py (this folder has no database).
"""

from __future__ import annotations

import asyncio
import json

from app.engine.results import Counts
from app.engine.statuses import ACTIVE, FAILING, FINISHED, NOT_FAILING, ResultStatus, RunStatus
from tests.engine.conftest import Engine, step


def test_the_vocabularies_are_the_values_stored_and_answered():
    assert [s.value for s in ResultStatus] == ["passed", "failed", "error", "skipped"]
    ends = ["passed", "failed", "error", "cancelled", "interrupted"]
    assert [s.value for s in RunStatus] == ["queued", "running", *ends]
    assert [s.value for s in FINISHED] == ends
    assert set(ACTIVE) | set(FINISHED) == set(RunStatus) and not set(ACTIVE) & set(FINISHED)
    assert set(NOT_FAILING) | set(FAILING) == set(ResultStatus) and not set(NOT_FAILING) & set(FAILING)
    # A member is its value: it compares, hashes, formats and serializes as the plain string.
    assert ResultStatus.PASSED == "passed" and {"passed": 1}[ResultStatus.PASSED] == 1
    assert f"{RunStatus.INTERRUPTED}" == str(RunStatus.INTERRUPTED) == "interrupted"
    assert json.dumps({"status": RunStatus.CANCELLED}) == '{"status": "cancelled"}'


def test_counts_are_kept_per_result_status():
    counts = Counts()
    for status in ResultStatus:
        counts.add(status, flaky=status is ResultStatus.PASSED)
    assert counts.as_dict() == {"passed": 1, "failed": 1, "error": 1, "skipped": 1, "flaky": 1}


async def test_every_result_and_outcome_the_engine_hands_out_is_a_member(engine: Engine):
    run = await engine.run(
        step("skipped", skip_if="True"),
        step("passes", assertions=[{"source": "status_code", "op": "eq", "expected": 200}]),
        step("fails", assertions=[{"source": "status_code", "op": "eq", "expected": 599}]),
    )
    broken = await engine.run(step("broken", url="/echo?x={{missing}}"))
    results = run.final + broken.final
    assert [r.status for r in results] == ["skipped", "passed", "failed", "error"]
    assert all(type(r.status) is ResultStatus for r in results)
    assert type(run.outcome.status) is RunStatus and run.outcome.status is RunStatus.FAILED
    assert type(broken.outcome.status) is RunStatus and broken.outcome.status is RunStatus.FAILED

    cancel = asyncio.Event()
    cancel.set()
    cancelled = await engine.run(step("never"), cancel=cancel)
    assert cancelled.outcome.status is RunStatus.CANCELLED
