"""Cancellation, iteration concurrency, step order, fan-out rows, and the per-host rate limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

from app.engine.results import ListSink, StepResult
from app.engine.specs import DataRow, DatasetSpec, RunOptions
from tests.engine.conftest import Engine, rows, step

SLOW = {"url": "/slow?ms={{ms}}"}


# ---- cancellation --------------------------------------------------------------------------------
async def test_cancel_stops_new_requests_and_records_those_in_flight(engine: Engine):
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, cancel.set)
    started = time.monotonic()
    run = await engine.run(
        step("slow", **SLOW),
        step("after"),
        run_variables={"ms": 800},
        rows=rows(*({} for _ in range(20))),
        options=RunOptions(concurrency=3),
        cancel=cancel,
    )
    assert time.monotonic() - started < 0.5  # in-flight requests are abandoned, not awaited
    assert run.outcome.status == "cancelled" and run.outcome.error == "cancelled"
    # The 3 in flight end `error`; their iterations' later steps are recorded as skipped, saying why.
    assert (
        sorted((r.step_key, r.status, r.error, r.is_final) for r in run.results)
        == [("step:0", "error", "cancelled", True)] * 3 + [("step:1", "skipped", "not started: cancelled", True)] * 3
    )
    assert run.outcome.requests.error == 3 and run.outcome.requests.skipped == 3
    abandoned = next(r for r in run.results if r.step_key == "step:0")
    assert abandoned.request is not None and "/slow?ms=800" in abandoned.request["url"]
    assert abandoned.response is None and 80 <= abandoned.duration_ms < 300
    assert engine.target.count() == 3
    await asyncio.sleep(0.3)  # nothing left running: the target hears nothing more
    assert engine.target.count() == 3
    assert len(run.results) == 6


async def test_a_run_cancelled_before_it_starts_sends_nothing(engine: Engine):
    cancel = asyncio.Event()
    cancel.set()
    run = await engine.run(step(), rows=rows({}, {}), cancel=cancel)
    assert run.outcome.status == "cancelled"
    assert engine.target.count() == 0


class CancellingSink(ListSink):
    """Sets the cancel event from inside the run, as a caller reacting to a result would."""

    def __init__(self, cancel: asyncio.Event, after: int) -> None:
        super().__init__()
        self.cancel, self.after = cancel, after

    async def put(self, result: StepResult) -> None:
        await super().put(result)
        if len(self.results) >= self.after:
            self.cancel.set()


async def test_cancelling_from_inside_the_run_ends_it_cleanly(engine: Engine):
    cancel = asyncio.Event()
    run = await engine.run(
        step("a"),
        step("b"),
        rows=rows(*({} for _ in range(10))),
        options=RunOptions(concurrency=2),
        cancel=cancel,
        sink=CancellingSink(cancel, after=3),
    )
    assert run.outcome.status == "cancelled"
    sent = engine.target.count()
    await asyncio.sleep(0.1)
    assert engine.target.count() == sent <= 4


async def test_cancel_during_a_retry_backoff_sends_no_further_attempt(engine: Engine):
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, cancel.set)
    run = await engine.run(
        step(url="/flaky?key=cancel&fail=5", retry={"max_attempts": 3, "backoff_ms": 1000}),
        cancel=cancel,
    )
    assert run.outcome.status == "cancelled"
    await asyncio.sleep(0.05)
    assert engine.target.count() == 1


async def test_cancel_during_a_scenario_retry_keeps_the_cancelled_record(engine: Engine):
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, cancel.set)
    run = await engine.run(
        step("quick"),
        step("slow", **SLOW),
        run_variables={"ms": 1000},
        options=RunOptions(retry={"max_attempts": 3, "backoff_ms": 0}),
        cancel=cancel,
    )
    assert run.outcome.status == "cancelled"
    assert [(r.step_key, r.status, r.error) for r in run.results] == [
        ("step:0", "passed", None),
        ("step:1", "error", "cancelled"),
    ]


# ---- concurrency ---------------------------------------------------------------------------------
async def test_iterations_run_concurrently_up_to_the_limit(engine: Engine):
    started = time.monotonic()
    run = await engine.run(
        step("slow", **SLOW),
        run_variables={"ms": 100},
        rows=rows(*({} for _ in range(8))),
        options=RunOptions(concurrency=4),
    )
    elapsed = time.monotonic() - started
    assert run.outcome.iterations.passed == 8
    assert engine.target.max_in_flight == 4
    assert 0.19 <= elapsed < 0.6  # two waves of 100 ms


async def test_concurrency_one_runs_iterations_one_after_another(engine: Engine):
    await engine.run(
        step("slow", **SLOW), run_variables={"ms": 20}, rows=rows({}, {}, {}), options=RunOptions(concurrency=1)
    )
    assert engine.target.max_in_flight == 1


async def test_steps_within_an_iteration_run_strictly_in_order(engine: Engine):
    run = await engine.run(
        step("one", url="/slow?ms={{ms}}&i={{i}}&s=1"),
        step("two", url="/slow?ms={{ms}}&i={{i}}&s=2"),
        step("three", url="/slow?ms=1&i={{i}}&s=3"),
        rows=rows(*({"i": i, "ms": 30 + 10 * (i % 3)} for i in range(6))),
        options=RunOptions(concurrency=3),
    )
    assert run.outcome.iterations.passed == 6
    assert engine.target.max_in_flight == 3
    for i in range(6):
        steps = [a for a in engine.target.arrivals if a.query["i"] == str(i)]
        assert [a.query["s"] for a in steps] == ["1", "2", "3"]
        ms = 30 + 10 * (i % 3)
        # each step starts only after the previous one answered
        assert steps[1].at - steps[0].at >= ms / 1000 * 0.9 and steps[2].at - steps[1].at >= ms / 1000 * 0.9


# ---- fan-out -------------------------------------------------------------------------------------
DATASETS = [
    DatasetSpec(id=1, name="pen", variables={"sku": "pen", "ms": 80}),
    DatasetSpec(id=2, name="ink", variables={"sku": "ink", "ms": 80}),
    DatasetSpec(id=3, name="off", variables={"sku": "off", "ms": 80}, enabled=False),
    DatasetSpec(id=4, name="pad", variables={"sku": "pad", "ms": 80}),
]


async def test_fan_out_runs_every_enabled_dataset_row_concurrently(engine: Engine):
    started = time.monotonic()
    run = await engine.run(
        step("per sku", url="/slow?ms={{ms}}&sku={{sku}}", dataset_mode="all", datasets=DATASETS),
        options=RunOptions(concurrency=3),
    )
    assert time.monotonic() - started < 0.2
    assert sorted(a.query["sku"] for a in engine.target.arrivals) == ["ink", "pad", "pen"]
    assert engine.target.max_in_flight == 3
    assert sorted(r.dataset_id for r in run.results) == [1, 2, 4]  # type: ignore[type-var]
    assert run.outcome.requests.passed == 3 and run.outcome.iterations.passed == 1


async def test_fan_out_selected_runs_only_the_chosen_rows_and_respects_concurrency(engine: Engine):
    run = await engine.run(
        step(
            "per sku", url="/slow?ms=30&sku={{sku}}", dataset_mode="selected", dataset_ids=[4, 1, 99], datasets=DATASETS
        ),
        options=RunOptions(concurrency=1),
    )
    assert [a.query["sku"] for a in engine.target.arrivals] == ["pad", "pen"]
    assert engine.target.max_in_flight == 1
    assert [r.dataset_id for r in run.results] == [4, 1]


async def test_fan_out_rows_have_their_own_scope_and_their_values_do_not_flow_on(engine: Engine):
    run = await engine.run(
        step(
            "per sku",
            url="/echo?sku={{sku}}&tag={{tag}}",
            dataset_mode="all",
            datasets=DATASETS,
            pre_processors=[{"type": "set", "name": "tag", "value": "tag-{{sku}}"}],
            extractors=[{"name": "from_row", "source": "body", "expression": "$.query.sku"}],
        ),
        step("after", query={"from_row": "{{from_row}}"}),
        options=RunOptions(concurrency=3, stop_on_failure=False),
    )
    sent = {a.query["sku"]: a.query["tag"] for a in engine.target.arrivals if "sku" in a.query}
    assert sent == {"pen": "tag-pen", "ink": "tag-ink", "pad": "tag-pad"}
    assert {r.extracted["from_row"] for r in run.of("step:0")} == {"pen", "ink", "pad"}
    after = run.one("step:1")
    assert after.status == "error" and after.error == "after: unknown variable 'from_row'"


async def test_a_fan_out_step_fails_when_any_row_fails(engine: Engine):
    run = await engine.run(
        step(
            "per sku",
            url="/echo?sku={{sku}}",
            dataset_mode="all",
            datasets=DATASETS,
            assertions=[{"source": "body", "expression": "$.query.sku", "op": "ne", "expected": "ink"}],
        ),
        step("after"),
    )
    statuses = {r.dataset_id: r.status for r in run.of("step:0")}
    assert statuses == {1: "passed", 2: "failed", 4: "passed"}
    after = run.one("step:1")
    assert after.status == "skipped" and after.error == "an earlier step failed"
    assert run.outcome.status == "failed" and run.outcome.iterations.failed == 1


async def test_a_fan_out_with_no_enabled_rows_is_skipped(engine: Engine):
    run = await engine.run(step("nothing", dataset_mode="selected", dataset_ids=[99], datasets=DATASETS))
    assert run.one().status == "skipped" and run.one().error == "no enabled datasets to fan out over"
    assert engine.target.count() == 0


# ---- stop_on_failure -----------------------------------------------------------------------------
async def test_stop_on_failure_skips_the_rest_of_the_iteration_with_a_reason(engine: Engine):
    failing = {"assertions": [{"source": "status_code", "op": "eq", "expected": 201}]}
    stopped = await engine.run(step("fails", **failing), step("next"), step("last"))
    assert [(r.status, r.error) for r in stopped.results] == [
        ("failed", None),
        ("skipped", "an earlier step failed"),
        ("skipped", "an earlier step failed"),
    ]
    assert engine.target.count() == 1
    engine.target.reset()
    kept_going = await engine.run(step("fails", **failing), step("next"), options=RunOptions(stop_on_failure=False))
    assert [r.status for r in kept_going.results] == ["failed", "passed"]
    assert engine.target.count() == 2
    assert kept_going.outcome.status == "failed"


# ---- rate limit ----------------------------------------------------------------------------------
async def test_the_rate_limit_caps_requests_per_second_at_the_target(engine: Engine):
    started = time.monotonic()
    run = await engine.run(
        step(),
        rows=rows(*({} for _ in range(16))),
        options=RunOptions(concurrency=8, rate_limit={"per_second": 20, "burst": 4}),
    )
    elapsed = time.monotonic() - started
    assert run.outcome.iterations.passed == 16
    times = [a.at for a in engine.target.arrivals]
    # burst 4 at once, then 12 more at 20/s: about 0.6 s
    assert 0.5 <= elapsed < 1.2
    first = times[0]
    for k, at in enumerate(times):
        allowed = 4 + 20 * (at - first) + 1  # never more than burst + rate x time (+1 for timer slack)
        assert k + 1 <= allowed, (k, at - first)


async def test_the_rate_limit_is_per_host(engine: Engine):
    other_host = engine.target.url.replace("127.0.0.1", "localhost")
    started = time.monotonic()
    await engine.run(
        step("a", url="/echo"),
        step("b", url=other_host + "/echo"),
        rows=rows(*({} for _ in range(4))),
        options=RunOptions(concurrency=4, rate_limit={"per_second": 10, "burst": 4}),
    )
    # each host gets its own bucket of 4: no waiting at all
    assert time.monotonic() - started < 0.3
    assert engine.target.count() == 8


# ---- rows as an async iterator, and the counts ---------------------------------------------------
async def test_rows_can_come_from_an_async_iterator_read_lazily(engine: Engine):
    produced: list[int] = []

    async def data_rows() -> AsyncIterator[DataRow]:
        for index in range(12):
            produced.append(index)
            await asyncio.sleep(0)
            yield DataRow(index=index, variables={"n": index}, row_id=100 + index)

    run = await engine.run(
        step(
            query={"n": "{{n}}"},
            assertions=[{"source": "body", "expression": "$.query.n", "op": "ne", "expected": "5"}],
        ),
        rows=data_rows(),
        options=RunOptions(concurrency=3),
    )
    assert produced == list(range(12))
    assert sorted(int(a.query["n"]) for a in engine.target.arrivals) == list(range(12))
    assert run.outcome.iterations.as_dict() == {"passed": 11, "failed": 1, "error": 0, "skipped": 0, "flaky": 0}
    assert run.outcome.not_passed_iterations == [5]


async def test_a_row_source_that_breaks_ends_the_run_with_an_error_instead_of_hanging(engine: Engine):
    async def broken_rows() -> AsyncIterator[DataRow]:
        yield DataRow(index=0, variables={})
        yield DataRow(index=1, variables={})
        raise ConnectionError("database went away")

    started = time.monotonic()
    run = await engine.run(step(), rows=broken_rows(), options=RunOptions(concurrency=2, timeout_ms=5000))
    assert time.monotonic() - started < 1.0
    assert run.outcome.status == "error"
    assert run.outcome.error == "data rows could not be read: ConnectionError: database went away"
    assert engine.target.count() == 2


async def test_a_row_is_read_only_when_a_worker_is_free_to_run_it(engine: Engine):
    """No read-ahead queue: the rows' source (a database page reader) is asked for a row when one can start."""
    sent_before: list[int] = []

    async def data_rows() -> AsyncIterator[DataRow]:
        for index in range(5):
            sent_before.append(engine.target.count())
            yield DataRow(index=index, variables={})

    run = await engine.run(step(), step("second"), rows=data_rows(), options=RunOptions(concurrency=1))
    assert run.outcome.iterations.passed == 5
    assert sent_before == [0, 2, 4, 6, 8]  # each row after the one before had sent both its requests


async def test_a_plain_row_iterator_that_breaks_ends_the_run_with_an_error(engine: Engine):
    def broken_rows() -> Iterator[DataRow]:
        yield DataRow(index=0, variables={})
        raise OSError("the file went away")

    run = await engine.run(step(), rows=broken_rows(), options=RunOptions(concurrency=3))
    assert run.outcome.status == "error"
    assert run.outcome.error == "data rows could not be read: OSError: the file went away"
    assert run.outcome.iterations.passed == 1 and engine.target.count() == 1


async def test_outcome_counts_iterations_and_requests(engine: Engine):
    run = await engine.run(
        step(
            "check",
            url="/echo?n={{n}}",
            assertions=[{"source": "body", "expression": "$.query.n", "op": "ne", "expected": "1"}],
        ),
        step("broken", skip_if="vars['n'] != 2", url="/echo?x={{missing}}"),
        step("after"),
        rows=rows({"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}),
        options=RunOptions(concurrency=2),
    )
    assert run.outcome.status == "failed"
    assert run.outcome.iterations.as_dict() == {"passed": 2, "failed": 1, "error": 1, "skipped": 0, "flaky": 0}
    # n=0,3: passed, skipped, passed; n=1: failed, skipped, skipped; n=2: passed, error, skipped
    assert run.outcome.requests.as_dict() == {"passed": 5, "failed": 1, "error": 1, "skipped": 5, "flaky": 0}
    assert run.outcome.not_passed_iterations == [1, 2]  # in row order, whatever order they finished in
    assert run.outcome.started_at <= run.outcome.finished_at


async def test_cancel_between_poll_rounds_is_recorded_and_stops_polling(engine: Engine):
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, cancel.set)
    run = await engine.run(
        step(
            url="/orders/ord-c?paid_after=999",
            poll={"until": "body['data']['status'] == 'PAID'", "interval_ms": 30, "max_attempts": 100},
        ),
        cancel=cancel,
    )
    assert run.outcome.status == "cancelled"
    assert [(r.status, r.error) for r in run.results] == [("error", "cancelled")]
    polls = engine.target.count()
    await asyncio.sleep(0.1)
    assert engine.target.count() == polls <= 5
