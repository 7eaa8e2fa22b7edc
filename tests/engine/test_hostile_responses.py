"""What a hostile target can send never takes the engine down (issue 7 items 2, 10, 12).

A real aiohttp target on 127.0.0.1 (tests/hostile.py) sends gzip bombs, huge and endless bodies, resets and
text that makes a backtracking regex explode; the engine reads bodies up to RunOptions.response_max_bytes
(decompressed), says so in the record, matches user regexes on RE2, and keeps every recorded value JSON.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from app.engine.specs import Assertion, RunOptions
from tests.engine.conftest import Engine, Run, step
from tests.hostile import EVIL_TEXT, MIB, HostileTarget, serve

CAP = 10 * MIB  # RunOptions' default, the one a deployment gets from RESPONSE_MAX_BYTES
GENEROUS_PEAK = 200 * MIB  # Python allocations while reading a 1 GiB bomb or a 100 MiB body at a 10 MiB cap


@pytest.fixture(scope="module")
async def hostile() -> AsyncIterator[HostileTarget]:
    async with serve(HostileTarget()) as target:
        yield target


async def traced(run: Callable[[], Awaitable[Run]]) -> tuple[Run, int]:
    """The run, and the peak of memory Python allocated while it ran (bodies and inflated data included)."""
    tracemalloc.start()
    try:
        result = await run()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def recorded_json(run: Run) -> bytes:
    """Every record of the run as the sink writes it: this raises if any value is not JSON."""
    return orjson.dumps([[r.request, r.dataset, r.response, r.assertions, r.extracted, r.error] for r in run.results])


# ---- item 10: bodies are read up to the cap, decompressed ---------------------------------------------
async def test_a_gzip_bomb_is_inflated_only_up_to_the_cap(engine: Engine, hostile: HostileTarget):
    run, peak = await traced(
        lambda: engine.run(
            step("bomb", url=f"{hostile.url}/bomb", assertions=[{"source": "status_code", "expected": 200}])
        )
    )
    result = run.one()
    assert result.status == "passed", result
    assert result.response is not None
    assert result.response["truncated"] is True  # 1 GiB inflated, 10 MiB read
    assert result.response["size"] == CAP
    assert result.response["body"] == "\0" * 65536  # the snapshot keeps its own, smaller limit
    assert peak < GENEROUS_PEAK, f"peak {peak / MIB:.0f} MiB while reading a 1 GiB bomb"


async def test_a_large_plain_body_is_cut_at_the_cap_with_its_declared_size_kept(engine: Engine, hostile: HostileTarget):
    run, peak = await traced(lambda: engine.run(step("plain", url=f"{hostile.url}/plain?mib=100")))
    response = run.one().response
    assert response is not None
    assert response["truncated"] is True
    assert response["size"] == CAP
    assert response["content_length"] == 100 * MIB  # what the target declared
    assert peak < GENEROUS_PEAK, f"peak {peak / MIB:.0f} MiB while reading a 100 MiB body"


async def test_the_cap_is_the_run_option(engine: Engine, hostile: HostileTarget):
    run = await engine.run(step("plain", url=f"{hostile.url}/plain?mib=5"), options=RunOptions(response_max_bytes=MIB))
    response = run.one().response
    assert response is not None
    assert (response["truncated"], response["size"], response["content_length"]) == (True, MIB, 5 * MIB)


async def test_a_body_under_the_cap_is_whole_and_not_marked(engine: Engine, hostile: HostileTarget):
    run = await engine.run(step("bomb", url=f"{hostile.url}/bomb?mib=3"))
    response = run.one().response
    assert response is not None
    assert (response["truncated"], response["size"]) == (False, 3 * MIB)
    assert "content_length" not in response


async def test_a_never_ending_chunked_body_ends_at_the_cap_not_at_the_timeout(engine: Engine, hostile: HostileTarget):
    started = time.monotonic()
    run, peak = await traced(lambda: engine.run(step("endless", url=f"{hostile.url}/endless", timeout_ms=60_000)))
    result = run.one()
    assert result.status == "passed", result.error
    assert result.response is not None and result.response["truncated"] is True
    assert result.response["size"] == CAP
    assert time.monotonic() - started < 30  # liveness only: it stopped reading, it did not wait for the end
    assert peak < GENEROUS_PEAK


async def test_a_redirect_to_a_gzip_bomb_is_capped_on_that_hop_too(engine: Engine, hostile: HostileTarget):
    run, peak = await traced(lambda: engine.run(step("hop", url=f"{hostile.url}/to?url=/bomb")))
    response = run.one().response
    assert response is not None
    assert [hop["status"] for hop in response["redirects"]] == [302]
    assert (response["truncated"], response["size"]) == (True, CAP)
    assert peak < GENEROUS_PEAK


async def test_a_check_on_a_truncated_body_says_the_body_was_cut(engine: Engine, hostile: HostileTarget):
    run = await engine.run(
        step(
            "plain",
            url=f"{hostile.url}/plain?mib=2",
            assertions=[{"source": "text", "op": "contains", "expected": "the end"}],
        ),
        options=RunOptions(response_max_bytes=MIB),
    )
    [check] = run.one().assertions
    assert check["passed"] is False
    assert "cut at 1048576 bytes, the response size cap" in check["message"]
    assert check["actual"]["truncated"] is True and check["actual"]["size"] == MIB  # bounded in the record


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/reset", "the target reset the connection before answering"),
        ("/reset-mid-body", "the connection broke while the response body was read"),
    ],
)
async def test_a_reset_connection_ends_the_step_in_error_and_the_run_goes_on(
    engine: Engine, hostile: HostileTarget, path: str, says: str
):
    run = await engine.run(
        step("reset", url=f"{hostile.url}{path}", retry={"max_attempts": 1}),
        step("after", url=f"{hostile.url}/small"),
        options=RunOptions(stop_on_failure=False),
    )
    reset, after = run.one("step:0"), run.one("step:1")
    assert reset.status == "error"
    assert reset.error is not None and says in reset.error, reset.error
    assert after.status == "passed"
    assert run.outcome.status == "failed"


# ---- item 2: any value an expression makes is recorded as JSON ----------------------------------------
async def test_expression_values_that_are_not_json_are_recorded_as_json(engine: Engine, hostile: HostileTarget):
    expressions = ["headers.items()", "body.keys()", "{1, 'two', 3}", "body.values()", "(1, 2)"]
    run = await engine.run(
        step(
            "odd values",
            url=f"{hostile.url}/small",
            assertions=[{"source": "expression", "expression": e} for e in expressions],
            post_processors=[{"type": "set", "name": "keys", "expression": "body.keys()"}],
        ),
        step("next", url=f"{hostile.url}/small", assertions=[{"source": "expression", "expression": "vars['keys']"}]),
    )
    assert run.outcome.status == "passed", run.outcome.error
    items, keys, a_set, values, a_tuple = (check["actual"] for check in run.one("step:0").assertions)
    assert ["x-trace", "t-1"] in items
    assert keys == ["received", "items"]
    assert a_set == ["two", 1, 3]  # sorted by its JSON text: the same set always reads the same
    assert values == [0, [1, 2]]
    assert a_tuple == [1, 2]
    dataset = run.one("step:1").dataset
    assert dataset is not None and dataset["values"]["keys"] == ["received", "items"]
    recorded_json(run)  # and the sink can write every record


async def test_an_expression_over_a_limit_ends_its_step_in_error_not_the_run(engine: Engine, hostile: HostileTarget):
    run = await engine.run(
        step(
            "too big",
            url=f"{hostile.url}/small",
            assertions=[{"source": "expression", "expression": "len('a' * 10**7) > 0"}],
        ),
        step("next", url=f"{hostile.url}/small"),
        options=RunOptions(stop_on_failure=False),
    )
    too_big, after = run.one("step:0"), run.one("step:1")
    assert too_big.status == "error"
    assert too_big.error is not None and "the limit is 100000" in too_big.error
    assert after.status == "passed"
    assert run.outcome.status == "failed"


# ---- item 12: user regexes run in linear time ---------------------------------------------------------
async def loop_stall(work: Awaitable[Any]) -> tuple[Any, float]:
    """Run `work` while a ticker measures the longest time the event loop did not let it run."""
    longest = 0.0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    ticker = asyncio.ensure_future(tick())
    try:
        return await work, longest
    finally:
        done.set()
        await ticker


async def test_a_backtracking_regex_finishes_at_once_and_the_loop_stays_free(engine: Engine, hostile: HostileTarget):
    evil = "^(a+)+$"
    started = time.monotonic()
    run, stall = await loop_stall(
        engine.run(
            step(
                "evil",
                url=f"{hostile.url}/evil",
                extractors=[{"name": "whole", "source": "regex", "expression": evil}],
                assertions=[{"source": "text", "op": "regex", "expected": evil}],
            ),
            options=RunOptions(stop_on_failure=False),
        )
    )
    assert time.monotonic() - started < 10  # Python's `re` takes tens of seconds here
    assert stall < 1.0, f"the event loop stalled {stall:.2f} s"
    result = run.one()
    assert result.status == "failed"  # no match: a failed check, not a hang
    extractor, assertion = result.assertions
    assert "found nothing in regex" in extractor["message"]
    assert assertion["passed"] is False and assertion["actual"] == EVIL_TEXT


async def test_a_stored_pattern_re2_refuses_ends_only_its_step_in_error(engine: Engine, hostile: HostileTarget):
    """A pattern saved before regexes ran on RE2 (or one rendered from a template) is not a crash."""
    broken = step("lookahead", url=f"{hostile.url}/evil")
    # Stored before RE2: a run's loader refuses it now, but the engine must not crash on it either.
    broken.case.request.assertions = [Assertion.model_construct(source="text", op="regex", expected="a(?=!)")]
    templated = step(
        "templated",
        url=f"{hostile.url}/evil",
        variables={"pattern": "(a)\\1"},
        assertions=[{"source": "text", "op": "regex", "expected": "{{pattern}}"}],
    )
    run = await engine.run(
        broken, templated, step("next", url=f"{hostile.url}/small"), options=RunOptions(stop_on_failure=False)
    )
    for key in ("step:0", "step:1"):
        result = run.one(key)
        assert result.status == "error"
        assert result.error is not None and "RE2 syntax" in result.error, result.error
    assert run.one("step:2").status == "passed"
