"""A run split in parts (issue 8, sharded runs): setup alone, chunks of rows seeded with what setup left, teardown.

The executor runs these parts in different processes; here they run one after another against the real
target, and their records must be what one whole run records.
"""

from __future__ import annotations

from typing import Any

from app.engine.results import FlowOutcome, ListSink
from app.engine.runner import FlowRunner
from app.engine.specs import DataRow, EnvironmentSpec, FlowSpec, RunOptions, SetupState
from tests.engine.conftest import Engine, rows, step
from tests.engine.test_secret_masking import SECRET, assert_run_clean


def login_setup() -> Any:
    return step(
        "login",
        method="POST",
        url="{{base_url}}/login",
        body={"mode": "json", "content": {"username": "alice", "password": "wonderland-pw"}},
        extractors=[{"name": "token", "source": "body", "expression": "$.data.token"}],
        pre_processors=[{"type": "set", "name": "hidden", "expression": "vars['pw'][::-1]"}],
    )


def echo_step() -> Any:
    return step(
        "echo",
        method="POST",
        url="{{base_url}}/echo",
        headers={"Authorization": "Bearer {{token}}"},
        body={"mode": "json", "content": {"item": "{{item}}", "hidden": "{{hidden}}"}},
        assertions=[{"source": "status_code", "op": "eq", "expected": 200}],
    )


ROWS = [{"item": f"item-{i}"} for i in range(6)]


def comparable(results: list[Any]) -> list[tuple[Any, ...]]:
    """What must be equal between a whole run and its parts: everything but timings."""
    return sorted(
        (r.step_key, r.iteration, r.status, r.attempt, r.is_final, str(r.request), str(r.dataset), r.error)
        for r in results
    )


class Part:
    def __init__(self, runner: FlowRunner, outcome: FlowOutcome, sink: ListSink) -> None:
        self.runner, self.outcome, self.results = runner, outcome, sink.results


async def run_part(engine: Engine, options: RunOptions, **flow: Any) -> Part:
    environment = EnvironmentSpec(base_url=engine.target.url, secrets={"pw": SECRET})
    sink = ListSink()
    runner = FlowRunner(FlowSpec(environment=environment, **flow), options, engine.transport, sink)
    return Part(runner, await runner.run(), sink)


async def test_setup_only_stops_after_setup_and_hands_over_its_values(engine: Engine):
    part = await run_part(
        engine,
        RunOptions(setup_only=True),
        steps=[echo_step()],
        setup=[login_setup()],
        teardown=[step("bye", url="{{base_url}}/catalog")],
        rows=rows(*ROWS),
    )
    assert part.outcome.status == "passed"
    assert [r.step_key for r in part.results] == ["setup:0"]  # no iteration, no teardown
    state = part.runner.setup_state
    assert state is not None and state.values["token"] == "tok-alice"
    assert state.values["hidden"] == SECRET[::-1] and state.secret_names == ["hidden"]
    assert SECRET[::-1] in state.secret_texts


async def test_a_failed_setup_hands_nothing_over_and_still_runs_teardown(engine: Engine):
    bad = step(
        "login", url="{{base_url}}/no-such-page", assertions=[{"source": "status_code", "op": "eq", "expected": 200}]
    )
    part = await run_part(
        engine,
        RunOptions(setup_only=True),
        steps=[echo_step()],
        setup=[bad],
        teardown=[step("bye", url="{{base_url}}/catalog")],
        rows=rows(*ROWS),
    )
    assert [(r.step_key, r.status) for r in part.results] == [("setup:0", "failed"), ("teardown:0", "passed")]
    assert part.outcome.status == "failed"
    assert part.runner.setup_state is None


async def test_chunks_seeded_with_setup_record_what_one_whole_run_records(engine: Engine):
    options = RunOptions(concurrency=2)
    teardown = [step("bye", url="{{base_url}}/catalog")]
    whole = await run_part(
        engine, options, steps=[echo_step()], setup=[login_setup()], teardown=teardown, rows=rows(*ROWS)
    )
    setup = await run_part(
        engine, RunOptions(setup_only=True), steps=[echo_step()], setup=[login_setup()], rows=rows(*ROWS)
    )
    seed = setup.runner.setup_state
    assert isinstance(seed, SetupState)
    all_rows = rows(*ROWS)
    parts = [setup]
    for chunk in (all_rows[:4], all_rows[4:]):
        parts.append(await run_part(engine, options, steps=[echo_step()], rows=chunk, seed=seed))
    parts.append(await run_part(engine, options, steps=[], teardown=teardown, rows=[], seed=seed))
    assert [part.outcome.status for part in parts] == ["passed"] * 4
    assert sum(part.outcome.iterations.passed for part in parts) == len(ROWS)
    pieces = [result for part in parts for result in part.results]
    assert comparable(pieces) == comparable(whole.results)
    # What setup derived from the secret stays masked in the chunks' records, as in the whole run.
    for part in [whole, *parts]:
        assert_run_clean(part, SECRET, SECRET[::-1])


async def test_a_chunk_reports_its_first_failing_step(engine: Engine):
    failing = step(
        "echo",
        method="POST",
        url="{{base_url}}/echo",
        assertions=[{"source": "status_code", "op": "eq", "expected": 201}],
    )
    part = await run_part(
        engine, RunOptions(), steps=[failing], rows=[DataRow(index=7, variables={})], seed=SetupState()
    )
    assert part.outcome.status == "failed"
    first = part.outcome.first_failure
    assert first is not None and first.startswith("iteration 7, step 'echo' failed")
