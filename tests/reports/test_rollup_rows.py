"""rollup_rows sums a run's results per case before spreading them over its keys: the same figures as adding
every result to every key it belongs to, which is what this test does by hand."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from app.engine.statuses import FINISHED, ResultStatus
from app.reports.rollups import (
    COUNTERS,
    GRANULARITIES,
    Key,
    ResultFacts,
    RunFacts,
    bucket_start,
    duration_bin,
    rollup_rows,
)


def by_hand(
    run: RunFacts, results: list[ResultFacts], previous: list[ResultFacts] | None
) -> tuple[dict[Key, dict[str, int]], dict[tuple[Key, int], int]]:
    def passed(status: str) -> bool | None:
        return None if status == ResultStatus.SKIPPED else status == ResultStatus.PASSED

    before = {(r.step_key, r.dataset_id, r.iteration): passed(r.status) for r in previous or []}
    counters: dict[Key, dict[str, int]] = {}
    histograms: dict[tuple[Key, int], int] = defaultdict(int)

    def row(key: Key) -> dict[str, int]:
        if key not in counters:
            counters[key] = dict.fromkeys(COUNTERS, 0)
            if run.status in FINISHED:
                counters[key][f"runs_{run.status}"] = 1
        return counters[key]

    case_of_run = (run.case_id or 0) if run.kind == "case" else 0
    for granularity in GRANULARITIES:
        start = bucket_start(run.created_at, granularity)
        keys = [
            (run.project_id, granularity, start, "run", run.scenario_id or 0, case_of_run, run.environment_id or 0),
            (run.project_id, granularity, start, "project", 0, 0, 0),
        ]
        for key in keys:
            row(key)
        for result in results:
            case = result.case_id or 0
            for key in [
                *keys,
                (run.project_id, granularity, start, "case", run.scenario_id or 0, case, run.environment_id or 0),
                (run.project_id, granularity, start, "case_all", 0, case, 0),
            ]:
                counts = row(key)
                counts[f"requests_{result.status}"] += 1
                counts["requests_flaky"] += result.flaky
                if result.status != ResultStatus.SKIPPED:
                    counts["duration_sum_us"] += round(result.duration_ms * 1000)
                    counts["duration_count"] += 1
                    histograms[(key, duration_bin(result.duration_ms))] += 1
                now, was = passed(result.status), before.get((result.step_key, result.dataset_id, result.iteration))
                if now is not None and was is not None:
                    counts["compared"] += 1
                    counts["flips"] += was != now
    return counters, dict(histograms)


@pytest.mark.parametrize("seed", range(40))
def test_a_runs_rollup_rows_equal_adding_each_result_to_each_of_its_keys(seed: int) -> None:
    rng = random.Random(seed)
    statuses = [*ResultStatus]

    def results(count: int) -> list[ResultFacts]:
        return [
            ResultFacts(
                rng.choice([None, 1, 2, 3]),
                f"step:{rng.randint(0, 3)}",
                rng.choice([None, 5]),
                rng.randint(0, 15),
                rng.choice(statuses),
                rng.random() < 0.1,
                rng.random() * 3000,
            )
            for _ in range(count)
        ]

    run = RunFacts(
        id=seed + 1,
        project_id=1,
        scenario_id=rng.choice([None, 3]),
        case_id=rng.choice([None, 7]),
        kind=rng.choice(["scenario", "case"]),
        environment_id=rng.choice([None, 2]),
        status=rng.choice([*FINISHED, "running"]),
        created_at=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 100_000)),
        finished_at=None,
    )
    mine, previous = results(rng.randint(0, 60)), rng.choice([None, results(rng.randint(0, 60))])
    assert rollup_rows(run, mine, previous) == by_hand(run, mine, previous)
