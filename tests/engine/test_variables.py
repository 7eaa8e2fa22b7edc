"""Variable scopes, low to high: environment < scenario < run < data row < step < fan-out dataset row < run time."""

from __future__ import annotations

from app.engine.specs import DatasetSpec, RunOptions
from tests.engine.conftest import Engine, rows, step

LAYERS = ["environment", "scenario", "run", "row", "step", "dataset", "runtime"]


def defined_from(layer: int) -> dict[str, str]:
    """Layer k defines v_k .. v_7, so v_j is defined by layers 1..j and its highest definer is layer j."""
    return {f"v{j}": LAYERS[layer - 1] for j in range(layer, len(LAYERS) + 1)}


async def test_each_scope_layer_overrides_the_ones_below_it(engine: Engine):
    run = await engine.run(
        step(
            query={f"v{j}": f"{{{{v{j}}}}}" for j in range(1, 8)},
            variables=defined_from(5),
            dataset_mode="all",
            datasets=[DatasetSpec(id=1, name="only row", variables=defined_from(6))],
            pre_processors=[{"type": "set", "name": "v7", "value": "runtime"}],
        ),
        environment={"variables": defined_from(1)},
        scenario_variables=defined_from(2),
        run_variables=defined_from(3),
        rows=rows(defined_from(4)),
    )
    assert run.body()["query"] == {f"v{j}": LAYERS[j - 1] for j in range(1, 8)}


async def test_extracted_values_override_step_variables_of_later_steps(engine: Engine):
    run = await engine.run(
        step(
            "login",
            method="POST",
            url="/login",
            body={"mode": "json", "content": {"username": "alice", "password": "wonderland-pw"}},
            extractors=[{"name": "token", "source": "body", "expression": "$.data.token"}],
        ),
        step("use", query={"token": "{{token}}"}, variables={"token": "stale-from-step"}),
        rows=rows({"token": "stale-from-row"}),
    )
    assert run.body("step:1")["query"] == {"token": "tok-alice"}


async def test_setup_values_seed_every_iteration_above_the_data_row(engine: Engine):
    login = step(
        "login",
        method="POST",
        url="/login",
        body={"mode": "json", "content": {"username": "alice", "password": "wonderland-pw"}},
        extractors=[{"name": "token", "source": "body", "expression": "$.data.token"}],
    )
    run = await engine.run(
        step(
            "create order",
            method="POST",
            url="/orders",
            auth={"type": "bearer", "token": "{{token}}"},
            body={"mode": "json", "content": {"item": "{{item}}", "qty": 1}},
            assertions=[{"source": "status_code", "op": "eq", "expected": 201}],
        ),
        setup=[login],
        # A data row cannot shadow what setup extracted: run-time values are the highest layer.
        rows=rows({"item": "pen", "token": "row-token"}, {"item": "ink"}, {"item": "pad"}),
        options=RunOptions(concurrency=3),
    )
    assert engine.target.count("/login") == 1
    assert engine.target.count("/orders") == 3
    assert run.outcome.status == "passed"
    assert sorted(run.body(iteration=i)["data"]["item"] for i in range(3)) == ["ink", "pad", "pen"]
    setup_result = run.one("setup:0")
    assert setup_result.iteration == -1 and setup_result.extracted == {"token": "tok-alice"}


async def test_iterations_never_see_each_others_values(engine: Engine):
    run = await engine.run(
        step(
            "remember",
            skip_if="not vars['remember']",
            post_processors=[{"type": "set", "name": "remembered", "value": "from row {{n}}"}],
        ),
        step("read", query={"got": "{{remembered}}"}),
        rows=rows({"n": 0, "remember": True}, {"n": 1, "remember": False}),
        options=RunOptions(concurrency=1),
    )
    assert run.one("step:1", iteration=0).status == "passed"
    assert engine.target.arrivals[1].query == {"got": "from row 0"}
    second = run.one("step:1", iteration=1)
    assert second.status == "error" and second.error == "read: unknown variable 'remembered'"
    assert run.outcome.not_passed_iterations == [1]


async def test_an_iteration_changing_a_seeded_value_changes_it_only_for_itself(engine: Engine):
    run = await engine.run(
        step(
            "overwrite",
            skip_if="vars['n'] != 0",
            pre_processors=[{"type": "set", "name": "token", "value": "changed"}],
            query={"token": "{{token}}"},
        ),
        step("read", query={"token": "{{token}}", "n": "{{n}}"}),
        setup=[step("seed", post_processors=[{"type": "set", "name": "token", "value": "seeded"}])],
        rows=rows({"n": 0}, {"n": 1}, {"n": 2}),
        options=RunOptions(concurrency=3),
    )
    reads = {r.query["n"]: r.query["token"] for r in engine.target.arrivals if "n" in r.query}
    assert reads == {"0": "changed", "1": "seeded", "2": "seeded"}
    assert run.outcome.status == "passed"


async def test_carry_over_keeps_newman_semantics_values_flow_to_the_next_iteration(engine: Engine):
    run = await engine.run(
        step("read", query={"last": "{{last}}"}),
        step("write", post_processors=[{"type": "set", "name": "last", "value": "row {{n}}"}]),
        run_variables={"last": "none yet"},
        rows=rows({"n": 0}, {"n": 1}, {"n": 2}),
        options=RunOptions(carry_over=True, concurrency=4),
    )
    reads = [a.query["last"] for a in engine.target.arrivals if "last" in a.query]
    assert reads == ["none yet", "row 0", "row 1"]
    assert run.outcome.iterations.passed == 3


async def test_the_dataset_snapshot_shows_run_time_values_and_the_fan_out_row(engine: Engine):
    run = await engine.run(
        step(
            query={"sku": "{{sku}}"},
            dataset_mode="all",
            datasets=[DatasetSpec(id=7, name="pen", variables={"sku": "P-1"})],
            extractors=[{"name": "echoed_sku", "source": "body", "expression": "$.query.sku"}],
        )
    )
    result = run.one()
    assert result.dataset_id == 7
    assert result.dataset == {"row": {}, "dataset": {"sku": "P-1"}, "values": {"echoed_sku": "P-1"}}
    assert result.extracted == {"echoed_sku": "P-1"}


async def test_the_dataset_snapshot_records_the_data_row_of_the_iteration(engine: Engine):
    run = await engine.run(step(query={"user": "{{user}}"}), rows=rows({"user": "ann"}, {"user": "ben"}))
    assert sorted(r.dataset["row"]["user"] for r in run.results if r.dataset) == ["ann", "ben"]
