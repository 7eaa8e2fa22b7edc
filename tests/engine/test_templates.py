"""Templates: `{{name}}` in URL, headers, query and body; exact templates keep their type; unknown names fail loudly."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime

from app.engine.specs import RunOptions
from tests.engine.conftest import Engine, rows, step


async def test_an_exact_template_in_a_json_body_keeps_the_variable_type(engine: Engine):
    run = await engine.run(
        step(
            method="POST",
            body={
                "mode": "json",
                "content": {
                    "qty": "{{qty}}",
                    "price": "{{price}}",
                    "gift": "{{gift}}",
                    "tags": "{{tags}}",
                    "address": "{{address}}",
                    "spaced": "{{ qty }}",
                    "nested": [{"qty": "{{qty}}"}],
                },
            },
            variables={"qty": 3, "price": 9.5, "gift": False, "tags": ["a", "b"], "address": {"city": "Oslo"}},
        )
    )
    sent = run.body()["parsed"]
    assert sent == {
        "qty": 3,
        "price": 9.5,
        "gift": False,
        "tags": ["a", "b"],
        "address": {"city": "Oslo"},
        "spaced": 3,
        "nested": [{"qty": 3}],
    }


async def test_a_template_inside_a_longer_string_renders_as_text(engine: Engine):
    run = await engine.run(
        step(
            method="POST",
            url="/echo?page={{page}}",
            headers={"X-Order": "order-{{qty}}-{{gift}}"},
            query={"who": "{{user}} smith", "n": "{{qty}}"},
            body={"mode": "json", "content": {"note": "qty={{qty}} gift={{gift}} tags={{tags}}", "{{key}}": "v"}},
            variables={"qty": 3, "gift": True, "tags": ["a"], "user": "ann", "page": 2, "key": "dynamic_key"},
        )
    )
    echoed = run.body()
    assert echoed["parsed"] == {"note": 'qty=3 gift=true tags=["a"]', "dynamic_key": "v"}
    assert echoed["headers"]["X-Order"] == "order-3-true"
    assert echoed["query"] == {"page": "2", "who": "ann smith", "n": "3"}
    request = run.one().request
    assert request is not None
    assert request["url"].endswith("/echo?page=2&who=ann%20smith&n=3")
    assert ("X-Order", "order-3-true") in request["headers"]


async def test_a_relative_url_joins_the_base_url_and_base_url_is_a_variable(engine: Engine):
    run = await engine.run(step(url="/echo"), step(url="{{base_url}}/echo?via=template"))
    assert run.outcome.status == "passed"
    assert run.one("step:0").request["url"] == f"{engine.target.url}/echo"  # type: ignore[index]
    assert engine.target.paths() == ["/echo", "/echo"]
    assert engine.target.arrivals[1].query == {"via": "template"}


async def test_dynamic_values_are_fresh_per_use(engine: Engine):
    before = int(time.time())
    dynamic = {"guid": "{{$guid}}", "ts": "{{$timestamp}}", "iso": "{{$isoTimestamp}}", "n": "{{$randomInt}}"}
    run = await engine.run(
        step(
            method="POST",
            headers={"X-Trace": "trace-{{$guid}}"},
            body={"mode": "json", "content": {**dynamic, "other_guid": "{{$guid}}", "text": "at {{$timestamp}}"}},
        ),
        rows=rows({}, {}),
    )
    first, second = run.body(iteration=0), run.body(iteration=1)
    sent = first["parsed"]
    assert uuid.UUID(sent["guid"]).version == 4
    assert sent["guid"] != sent["other_guid"]
    assert sent["guid"] != second["parsed"]["guid"]
    assert isinstance(sent["ts"], int) and before <= sent["ts"] <= int(time.time()) + 1
    parsed_iso = datetime.fromisoformat(sent["iso"].replace("Z", "+00:00"))
    assert sent["iso"].endswith("Z") and abs((parsed_iso - datetime.now(UTC)).total_seconds()) < 5
    assert isinstance(sent["n"], int) and 0 <= sent["n"] <= 1000
    assert re.fullmatch(r"at \d{10}", sent["text"])
    assert re.fullmatch(r"trace-[0-9a-f-]{36}", first["headers"]["X-Trace"])


async def test_a_variable_with_a_dynamic_name_wins_over_the_generator(engine: Engine):
    run = await engine.run(step(query={"id": "{{$guid}}"}, variables={"$guid": "fixed"}))
    assert run.body()["query"] == {"id": "fixed"}


async def test_an_unknown_variable_is_an_error_naming_it_and_the_step_and_sends_nothing(engine: Engine):
    run = await engine.run(
        step("create order", method="POST", body={"mode": "json", "content": {"qty": "{{quantity}}"}}),
        step("in the url", url="/echo?token={{tokn}}"),
        step("in a header", headers={"X-A": "{{nope}}"}),
        step("in basic auth", auth={"type": "basic", "username": "{{who}}", "password": "x"}),
        options=RunOptions(stop_on_failure=False),
    )
    errors = [r.error for r in run.final]
    assert [r.status for r in run.final] == ["error"] * 4
    assert errors == [
        "create order: unknown variable 'quantity'",
        "in the url: unknown variable 'tokn'",
        "in a header: unknown variable 'nope'",
        "in basic auth: unknown variable 'who'",
    ]
    assert all(r.response is None and r.request is None for r in run.final)
    assert engine.target.count() == 0
    assert run.outcome.status == "failed"
    assert run.outcome.iterations.error == 1
    assert run.outcome.requests.error == 4


async def test_an_empty_or_falsy_value_is_rendered_not_treated_as_missing(engine: Engine):
    run = await engine.run(
        step(
            method="POST",
            query={"empty": "{{empty}}", "zero": "{{zero}}"},
            body={"mode": "json", "content": {"none": "{{none}}", "zero": "{{zero}}", "text": "[{{none}}]"}},
            variables={"empty": "", "zero": 0, "none": None},
        )
    )
    echoed = run.body()
    assert echoed["query"] == {"empty": "", "zero": "0"}
    assert echoed["parsed"] == {"none": None, "zero": 0, "text": "[null]"}
