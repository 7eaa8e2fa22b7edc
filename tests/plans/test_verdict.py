"""The verdict of an ended plan run, from its counts and criteria alone (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from app.models import PlanRun, PlanRunStatus
from app.plans.progress import verdict


def _ended(**counts: Any) -> PlanRun:
    fields: dict[str, Any] = {
        "scenarios_total": 0,
        "scenarios_passed": 0,
        "scenarios_failed": 0,
        "requests_passed": 0,
        "requests_failed": 0,
        "requests_error": 0,
        "stopped": False,
        "cancel_requested": False,
        "error": None,
        "pass_criteria": {},
    }
    fields.update(counts)
    return PlanRun(**fields)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # 19 of 20 is exactly the 95 % asked for: a pass, whatever the float rounding.
        ({"scenarios_total": 20, "scenarios_passed": 19, "scenarios_failed": 1}, (PlanRunStatus.PASSED, 0.95)),
        ({"scenarios_total": 20, "scenarios_passed": 18, "scenarios_failed": 2}, (PlanRunStatus.FAILED, 0.9)),
        # A scenario never started (stopped, missing) counts against the rate: total is what was selected.
        ({"scenarios_total": 3, "scenarios_passed": 2}, (PlanRunStatus.FAILED, 2 / 3)),
    ],
)
def test_scenario_runs_basis(counts: dict[str, Any], expected: tuple[PlanRunStatus, float]) -> None:
    status, rate, _ = verdict(_ended(pass_criteria={"min_pass_rate": 0.95}, **counts))
    assert status == expected[0] and rate == pytest.approx(expected[1])


def test_the_default_criterion_is_every_scenario_passing() -> None:
    assert verdict(_ended(scenarios_total=2, scenarios_passed=2))[0] == PlanRunStatus.PASSED
    status, rate, error = verdict(_ended(scenarios_total=2, scenarios_passed=1, scenarios_failed=1))
    assert (status, rate) == (PlanRunStatus.FAILED, 0.5)
    assert error == "pass rate 50.0% (1 of 2 scenarios passed) is below the required 100.0%"


def test_requests_basis_ignores_skipped_and_counts_errors_as_not_passed() -> None:
    counts = {"scenarios_total": 1, "scenarios_failed": 1, "requests_passed": 8, "requests_failed": 1}
    criteria = {"min_pass_rate": 0.8, "basis": "requests"}
    assert verdict(_ended(pass_criteria=criteria, requests_error=1, **counts))[:2] == (PlanRunStatus.PASSED, 0.8)
    assert verdict(_ended(pass_criteria=criteria, requests_error=2, **counts))[0] == PlanRunStatus.FAILED


def test_nothing_tested_is_an_error_never_a_pass() -> None:
    everything_errored = _ended(scenarios_total=3, pass_criteria={"min_pass_rate": 0})
    assert verdict(everything_errored)[0] == PlanRunStatus.ERROR
    no_requests = _ended(scenarios_total=1, scenarios_passed=1, pass_criteria={"min_pass_rate": 0, "basis": "requests"})
    assert verdict(no_requests)[0] == PlanRunStatus.ERROR


def test_a_stopped_plan_fails_and_a_cancelled_one_is_cancelled_whatever_the_rate() -> None:
    stopped = _ended(scenarios_total=10, scenarios_passed=9, scenarios_failed=1, stopped=True, error="stopped")
    assert verdict(stopped)[0] == PlanRunStatus.FAILED
    stopped.pass_criteria = {"min_pass_rate": 0.5}
    assert verdict(stopped)[::2] == (PlanRunStatus.FAILED, "stopped")
    cancelled = _ended(scenarios_total=1, scenarios_passed=1, cancel_requested=True)
    assert verdict(cancelled)[0] == PlanRunStatus.CANCELLED
