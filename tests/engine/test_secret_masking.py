"""Secrets in records (issue 7 item 6): every spelling of a secret, and every value derived from one, is masked.

Each test runs against the real local target (tests/engine/conftest.py) and then looks for the secret in the
whole record, decoded every way a reader could decode it (percent-decoding, form-decoding, JSON unescaping,
lower case, base64 of Basic credentials): tests.secret_traces.assert_no_trace, written independently of
app.engine.masking, so a form the masker forgets shows up here.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import orjson

from app.engine.masking import MASK
from app.engine.results import StepResult
from app.engine.specs import RunOptions
from tests.engine.conftest import Engine, rows, step
from tests.secret_traces import assert_no_trace

SECRET = "Zq7-Hidden-Secret/42"  # upper case, a slash and a dash: several spellings on the way out


def record_text(result: StepResult | Any) -> str:
    """A record as the database would get it: its JSON text."""
    data = dataclasses.asdict(result) if dataclasses.is_dataclass(result) and not isinstance(result, type) else result
    return orjson.dumps(data, default=str).decode()


def assert_run_clean(run: Any, *values: str) -> None:
    for result in run.results:
        assert_no_trace(record_text(result), *values)
    assert_no_trace(record_text(run.outcome), *values)


async def test_values_a_set_processor_derives_from_a_secret_are_secret_too(engine: Engine):
    """Reversed, sliced and lower-cased copies are masked in the dataset, the request and the echoed response,
    while the real values are sent."""
    derived = {
        "reversed": SECRET[::-1],
        "sliced": SECRET[2:12],
        "lowered": SECRET.lower(),
        "templated": f"x-{SECRET}-y",
        "upper": SECRET.upper(),
    }
    run = await engine.run(
        step(
            "derive",
            method="POST",
            query={"low": "{{lowered}}"},
            body={"mode": "json", "content": {name: "{{" + name + "}}" for name in derived}},
            pre_processors=[
                {"type": "set", "name": "reversed", "expression": "vars['pw'][::-1]"},
                {"type": "set", "name": "sliced", "expression": "vars['pw'][2:12]"},
                {"type": "set", "name": "lowered", "expression": "vars['pw'].lower()"},
                {"type": "set", "name": "templated", "value": "x-{{pw}}-y"},
                {"type": "set", "name": "upper", "expression": "vars['pw'].upper()"},
                {"type": "set", "name": "harmless", "expression": "'plain-value'"},
            ],
            # a post-processor copies the echoed (reversed) secret out of the response
            post_processors=[{"type": "set", "name": "echoed", "expression": "body['parsed']['reversed']"}],
        ),
        environment={"secrets": {"pw": SECRET}},
    )
    result = run.one()
    assert result.status == "passed", result.error
    # the target received the real derived values
    assert engine.target.arrivals[0].query == {"low": SECRET.lower()}
    assert result.dataset is not None
    values = result.dataset["values"]
    assert {name: values[name] for name in derived} == dict.fromkeys(derived, MASK)
    assert values["echoed"] == MASK and values["harmless"] == "plain-value"
    assert_run_clean(run, SECRET, *derived.values())


async def test_a_derived_value_too_short_to_mask_is_refused_before_anything_is_sent(engine: Engine):
    run = await engine.run(
        step(
            "short piece",
            query={"p": "{{piece}}"},
            pre_processors=[{"type": "set", "name": "piece", "expression": "vars['pw'][:3]"}],
        ),
        step("length", pre_processors=[{"type": "set", "name": "n", "expression": "len(vars['pw'])"}]),
        environment={"secrets": {"pw": SECRET}},
        options=RunOptions(stop_on_failure=False),
    )
    first, second = run.one("step:0"), run.one("step:1")
    assert first.status == "error" and "3-character value from a secret" in (first.error or "")
    assert second.status == "error" and "2-character value from a secret" in (second.error or "")
    assert engine.target.count() == 0
    assert_run_clean(run, SECRET, SECRET[:3])


async def test_a_comparison_with_a_secret_is_not_secret(engine: Engine):
    """A boolean tells one bit and shows in the record anyway: skip_if and assertions may compare secrets."""
    run = await engine.run(
        step(
            "compare",
            skip_if="vars['pw'] == 'guess'",
            assertions=[{"source": "expression", "expression": "vars['pw'].startswith('Zq7')"}],
        ),
        environment={"secrets": {"pw": SECRET}},
    )
    assert run.one().status == "passed"
    assert run.one().assertions[0]["actual"] is True


async def test_skip_if_and_processor_errors_never_spell_a_secret(engine: Engine):
    """`KeyError: 'Zq7...'` and friends: the error keeps its kind, not its text, once secret data was read."""
    run = await engine.run(
        step("key", skip_if="vars[vars['pw']] == 1"),
        step("reversed key", skip_if="vars[vars['pw'][::-1]] == 1"),
        step("int", skip_if="int(vars['pw'].lower()) > 1"),
        step("pre", pre_processors=[{"type": "set", "name": "x", "expression": "{'a': 1}[vars['pw'][1:9]]"}]),
        step("post", post_processors=[{"type": "set", "name": "y", "expression": "body['query'][vars['pw'][::-1]]"}]),
        step(
            "echoed",
            query={"pw": "{{pw}}"},
            post_processors=[{"type": "set", "name": "z", "expression": "body['x'][body['query']['pw'].lower()]"}],
        ),
        step("poll", poll={"until": "body[vars['pw'].upper()]", "max_attempts": 1}),
        step("assert", assertions=[{"source": "expression", "expression": "body[vars['pw'][::-1]] == 1"}]),
        environment={"secrets": {"pw": SECRET}},
        options=RunOptions(stop_on_failure=False),
    )
    for key in ("step:0", "step:1", "step:2", "step:3", "step:4", "step:5", "step:6"):
        result = run.one(key)
        assert result.status == "error", (key, result)
        assert "details hidden: the expression read secret data" in (result.error or ""), result.error
    assert "KeyError" in (run.one("step:0").error or "") and "ValueError" in (run.one("step:2").error or "")
    check = run.one("step:7").assertions[0]
    assert check["passed"] is False and "details hidden" in check["message"]
    assert_run_clean(run, SECRET, SECRET[::-1], SECRET.upper(), SECRET[1:9])


async def test_a_secret_in_a_url_host_is_masked_in_the_connection_error(engine: Engine):
    """The client lower-cases a host: the connection error spells the secret that way."""
    run = await engine.run(
        step("host", url="http://{{tenant}}.exile-test.invalid/x", retry={"max_attempts": 1}),
        environment={"secrets": {"tenant": "AcmeTenant-Key"}},
    )
    result = run.one()
    assert result.status == "error" and result.error is not None
    assert MASK in result.error and ".exile-test.invalid" in result.error
    assert_run_clean(run, "AcmeTenant-Key")


async def test_regex_extractors_taking_an_echoed_secret_in_pieces_are_masked_or_refused(engine: Engine):
    """An echoing target answers the secret; extractors cut it in pieces. Each piece is itself secret: masked in
    the extracted values, in the dataset and wherever a later step sends it; a piece too short to mask is refused."""
    pieces = [
        {"name": "head", "source": "regex", "expression": r'"pw": "(.{8})'},
        {"name": "tail", "source": "regex", "expression": r'"pw": ".{8}(.{8})'},
    ]
    run = await engine.run(
        step("echo", query={"pw": "{{pw}}"}, extractors=pieces),
        step("send the pieces", method="POST", body={"mode": "json", "content": {"h": "{{head}}", "t": "{{tail}}"}}),
        environment={"secrets": {"pw": SECRET}},
    )
    first = run.one("step:0")
    assert first.status == "passed", first.error
    assert first.extracted == {"head": MASK, "tail": MASK}
    assert run.one("step:1").status == "passed"
    assert run.one("step:1").dataset["values"] == {"head": MASK, "tail": MASK}  # type: ignore[index]
    assert_run_clean(run, SECRET, SECRET[:8], SECRET[8:16])

    short = await engine.run(
        step(
            "echo",
            query={"pw": "{{pw}}"},
            extractors=[{"name": "bit", "source": "regex", "expression": r'"pw": "(.{3})'}],
        ),
        environment={"secrets": {"pw": SECRET}},
    )
    result = short.one()
    assert result.status == "error" and "3-character value from a secret" in (result.error or "")
    assert_run_clean(short, SECRET, SECRET[:3])


async def test_basic_credentials_echoed_by_the_target_are_masked(engine: Engine):
    run = await engine.run(
        step(
            "basic",
            auth={"type": "basic", "username": "ann", "password": "{{pw}}"},
            extractors=[{"name": "auth", "source": "body", "expression": "$.headers.Authorization"}],
        ),
        environment={"secrets": {"pw": SECRET}},
    )
    result = run.one()
    assert result.status == "passed"
    encoded = base64.b64encode(f"ann:{SECRET}".encode()).decode()
    assert encoded not in record_text(result) and result.extracted == {"auth": MASK}
    # the echoed header is masked (whole, here: the extractor made all of it a derived value)
    assert run.body()["headers"]["Authorization"] in (MASK, f"Basic {MASK}")
    assert_run_clean(run, SECRET, encoded)


async def test_a_secret_in_the_query_is_masked_in_every_encoding_of_the_url(engine: Engine):
    """The query value goes out percent-encoded and comes back re-quoted in response.url: both are masked."""
    secret = "p@ss w/rd+é&x=1"
    run = await engine.run(
        step("query", query={"pw": "{{pw}}"}, url="/echo?pw2={{pw}}"),
        step("form", method="POST", body={"mode": "urlencoded", "content": {"pw": "{{pw}}"}}),
        step("json", method="POST", body={"mode": "json", "content": {"pw": "{{pw}}"}}),
        environment={"secrets": {"pw": secret}},
    )
    assert engine.target.arrivals[0].query == {"pw": secret, "pw2": secret}  # sent right, in one piece
    first = run.one("step:0")
    assert first.response is not None and first.request is not None
    assert MASK in first.response["url"] and MASK in first.request["url"]
    assert_run_clean(run, secret)


async def test_derived_values_stay_secret_in_later_steps_and_iterations_but_not_across_iterations(engine: Engine):
    """Setup's derivations seed every iteration; one iteration's derivations are not another's business."""
    run = await engine.run(
        step(
            "derive per row",
            pre_processors=[{"type": "set", "name": "mine", "expression": "vars['pw'] + vars['suffix']"}],
            query={"v": "{{mine}}"},
        ),
        step("later", method="POST", body={"mode": "json", "content": {"again": "{{mine}}"}}),
        rows=rows({"suffix": "-one"}, {"suffix": "-two"}),
        setup=[step("setup", pre_processors=[{"type": "set", "name": "rev", "expression": "vars['pw'][::-1]"}])],
        environment={"secrets": {"pw": SECRET}},
    )
    assert run.outcome.status == "passed", run.outcome.error
    assert_run_clean(run, SECRET, SECRET[::-1], f"{SECRET}-one", f"{SECRET}-two")


async def test_a_secret_too_short_to_mask_stops_the_run_before_anything_is_sent(engine: Engine):
    """Masking a one-letter secret would hide that letter everywhere, not masking it would show it: an
    environment saved before the minimum length existed cannot run until its secret is longer."""
    run = await engine.run(
        step("uses it", query={"k": "{{k}}"}),
        environment={"secrets": {"k": "x", "fine": "long-enough"}},
    )
    assert run.outcome.status == "error" and run.results == []
    assert run.outcome.error is not None and "secret 'k' is shorter than 6 characters" in run.outcome.error
    assert engine.target.count() == 0


async def test_an_empty_secret_hides_nothing_and_runs(engine: Engine):
    run = await engine.run(step("plain"), environment={"secrets": {"unset": ""}})
    assert run.outcome.status == "passed"
