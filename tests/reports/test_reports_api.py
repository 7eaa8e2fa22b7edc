"""Reports over real runs: roll-ups written at each run's end equal the rebuilt ones; trends, comparison,
clusters, flaky, hotspots and the dashboard answer from them; bad input is refused and nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete

from app.core.db import get_session_factory
from app.models import Base, ReportRollup
from app.reports import repository
from app.reports.repository import RollupFilter
from app.reports.rollups import rebuild
from tests.conftest import assert_error, bearer, count_rows
from tests.reports.conftest import Phased, forget_rollups, phased_flow, rollup_table_rows, run_to_end

API = "/api/v1"


async def test_roll_ups_written_at_each_end_equal_the_rebuilt_ones_and_trends_read_them(
    api: httpx.AsyncClient, phased: Phased
) -> None:
    ids = await phased_flow(api, phased.url)  # type: ignore[attr-defined]
    statuses = []
    for phase in (0, 0, 1, 2, 0):
        phased.phase = phase
        statuses.append((await run_to_end(api, ids))["status"])
    assert statuses == ["passed", "passed", "failed", "failed", "passed"]

    incremental = await rollup_table_rows()
    assert incremental, "each run's end wrote its roll-ups"
    # Weeks and days count the same runs (a range read as whole weeks plus edge days equals its day rows), and
    # the pre-summed scopes equal the sums of the rows they stand for.
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime.now(UTC) + timedelta(days=1)
    project_id = ids["project"]
    async with get_session_factory()() as session:
        for scope, summed, group in (("run", "project", []), ("case", "case_all", ["case_key"])):
            by_days = await repository.rollup_sums(session, RollupFilter(project_id, "day", scope, start, end), group)
            by_weeks = await repository.rollup_sums(session, RollupFilter(project_id, "days", scope, start, end), group)
            presummed = await repository.rollup_sums(
                session, RollupFilter(project_id, "days", summed, start, end), group
            )
            assert by_weeks == by_days == presummed and by_days[0]["duration_count"] > 0
            histograms = [
                await repository.histograms(session, RollupFilter(project_id, "days", name, start, end), group)
                for name in (scope, summed)
            ]
            assert histograms[0] == histograms[1] and histograms[0]
    assert await rebuild(get_session_factory()) == 5
    assert await rollup_table_rows() == incremental
    # Runs that ended before the roll-ups existed (never counted) are added even before a rebuild's window.
    await forget_rollups()
    assert await rebuild(get_session_factory(), since=datetime.now(UTC) + timedelta(days=2)) == 5
    assert await rollup_table_rows() == incremental

    trend = (await api.get(f"{API}/projects/{ids['project']}/trends", params={"bucket": "hour"})).json()
    today = [b for b in trend["buckets"] if b["runs"]["total"]]
    assert len(today) == 1
    bucket = today[0]
    assert bucket["runs"] | {} == {"total": 5, "passed": 3, "failed": 2, "error": 0, "cancelled": 0, "interrupted": 0}
    assert bucket["requests"] == {"total": 20, "passed": 18, "failed": 2, "error": 0, "skipped": 0, "flaky": 0}
    assert bucket["pass_rate"] == 0.9
    assert 0 < bucket["duration_ms"]["p50"] <= bucket["duration_ms"]["p95"] <= bucket["duration_ms"]["p99"]

    by_case = (
        await api.get(f"{API}/projects/{ids['project']}/trends", params={"case_id": ids["b"], "bucket": "week"})
    ).json()
    week = [b for b in by_case["buckets"] if b["runs"]["total"]]
    assert week[0]["requests"]["failed"] == 1 and week[0]["requests"]["total"] == 5

    # Flips between consecutive runs make /a and /b flaky; /c and /d never flipped.
    flaky = (await api.get(f"{API}/projects/{ids['project']}/flaky")).json()["items"]
    assert {item["case_id"] for item in flaky} == {ids["a"], ids["b"]}
    assert all(item["flips"] == 2 and item["compared"] == 4 for item in flaky)

    hotspots = (await api.get(f"{API}/projects/{ids['project']}/hotspots")).json()
    assert {item["case_id"] for item in hotspots["most_failing"]} == {ids["a"], ids["b"]}
    assert len(hotspots["slowest"]) == 4 and hotspots["slowest"][0]["p95_ms"] >= hotspots["slowest"][-1]["p95_ms"]

    dashboard = (await api.get(f"{API}/projects/{ids['project']}/dashboard")).json()
    assert dashboard["totals"]["runs"]["total"] == 5
    assert dashboard["pass_rate_7d"]["run_pass_rate"] == 0.6
    assert [(r["scenario_id"], r["status"]) for r in dashboard["latest_runs"]] == [(ids["scenario"], "passed")]
    assert dashboard["failure_clusters"]["clusters"]


async def test_comparison_shows_exactly_the_four_differences(api: httpx.AsyncClient, phased: Phased) -> None:
    ids = await phased_flow(api, phased.url)  # type: ignore[attr-defined]
    phased.phase = 1
    before = await run_to_end(api, ids)
    phased.phase = 2
    after = await run_to_end(api, ids)

    compared = (await api.get(f"{API}/scenario-runs/{after['id']}/compare", params={"with": before["id"]})).json()
    changes = {item["case_id"]: item for item in compared["differences"]}
    assert set(changes) == {ids["a"], ids["b"], ids["c"]}, "d changed only its ids and timestamps"
    assert changes[ids["a"]]["change"] == "fixed"
    assert changes[ids["b"]]["change"] == "newly_failing"
    assert [(a["source"], a["before"]["passed"], a["after"]["passed"]) for a in changes[ids["b"]]["assertions"]] == [
        ("status_code", True, False),
        ("body", True, False),
    ]
    assert changes[ids["c"]]["change"] == "unchanged"
    assert changes[ids["c"]]["body_diff"] == [{"path": "$.discount", "change": "added", "before": None, "after": 0.1}]
    summary = compared["summary"]
    # Bodies differ for a, b (error body <-> ok body) and c; d only in its ids.
    assert (summary["fixed"], summary["newly_failing"], summary["unchanged"], summary["body_changed"]) == (1, 1, 2, 3)

    # Without ?with= the last passed run before it is the baseline; with none, a 404 says what to do.
    assert_error(await api.get(f"{API}/scenario-runs/{after['id']}/compare"), 404)
    phased.phase = 0
    green = await run_to_end(api, ids)
    phased.phase = 2
    latest = await run_to_end(api, ids)
    default = (await api.get(f"{API}/scenario-runs/{latest['id']}/compare")).json()
    assert default["with_run_id"] == green["id"]
    assert {i["case_id"]: i["change"] for i in default["differences"]} == {
        ids["b"]: "newly_failing",
        ids["c"]: "unchanged",
    }


async def test_one_cause_through_two_endpoints_is_one_cluster_and_its_label_is_kept(
    api: httpx.AsyncClient, phased: Phased
) -> None:
    ids = await phased_flow(api, phased.url)  # type: ignore[attr-defined]
    for phase in (1, 2, 1):
        phased.phase = phase
        await run_to_end(api, ids)
    clusters = (await api.get(f"{API}/projects/{ids['project']}/failure-clusters")).json()
    assert clusters["failures"] == 3  # one record per failed step attempt: a, b, a
    [cluster] = clusters["clusters"]
    assert cluster["size"] == 3 and sorted(cluster["case_ids"]) == sorted([ids["a"], ids["b"]])
    assert cluster["label"] in ("new", "flaky")

    named = await api.put(
        f"{API}/projects/{ids['project']}/failure-clusters/{cluster['id']}",
        json={"name": "order lookup 500", "ticket_url": "https://tracker.example/T-1"},
    )
    assert named.status_code == 200, named.text
    again = (await api.get(f"{API}/projects/{ids['project']}/failure-clusters")).json()["clusters"][0]
    assert (again["id"], again["name"], again["ticket_url"]) == (
        cluster["id"],
        "order lookup 500",
        "https://tracker.example/T-1",
    )


async def test_a_private_scenario_of_another_member_never_reaches_a_project_wide_report(
    api: httpx.AsyncClient, client: httpx.AsyncClient, make_user: Any, phased: Phased
) -> None:
    ids = await phased_flow(api, phased.url, visibility="private")  # type: ignore[attr-defined]
    phased.phase = 1
    await run_to_end(api, ids)
    viewer = await make_user("viewer@example.com")
    assert (
        await api.post(f"{API}/projects/{ids['project']}/members", json={"email": viewer.email, "role": "viewer"})
    ).status_code == 201
    as_viewer = {"headers": bearer(viewer)}
    path = f"{API}/projects/{ids['project']}"
    mine = (await api.get(f"{path}/trends")).json()["buckets"]
    theirs = (await client.get(f"{path}/trends", **as_viewer)).json()["buckets"]
    assert sum(b["runs"]["total"] for b in mine) == 1 and sum(b["runs"]["total"] for b in theirs) == 0
    assert (await client.get(f"{path}/failure-clusters", **as_viewer)).json()["clusters"] == []
    assert (await client.get(f"{path}/hotspots", **as_viewer)).json()["most_failing"] == []
    assert (await client.get(f"{path}/dashboard", **as_viewer)).json()["latest_runs"] == []
    assert (await client.get(f"{path}/trends", params={"scenario_id": ids["scenario"]}, **as_viewer)).status_code == 404


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    api: httpx.AsyncClient, phased: Phased
) -> None:
    ids = await phased_flow(api, phased.url)  # type: ignore[attr-defined]
    run = await run_to_end(api, ids)
    before = {table.name: await count_rows(table) for table in Base.metadata.sorted_tables}
    path = f"{API}/projects/{ids['project']}"
    now = datetime.now(UTC)
    refused = [
        (f"{path}/trends", {"since": now.isoformat(), "until": (now - timedelta(days=1)).isoformat()}, "since"),
        (f"{path}/trends", {"bucket": "month"}, "bucket"),
        (f"{path}/trends", {"since": (now - timedelta(days=401)).isoformat()}, "since"),
        (f"{path}/trends", {"bucket": "hour", "since": (now - timedelta(days=40)).isoformat()}, "since"),
        (f"{path}/failure-clusters", {"since": "yesterday"}, "since"),
        (f"{path}/flaky", {"since": (now + timedelta(days=1)).isoformat()}, "since"),
    ]
    for url, params, field in refused:
        body = assert_error(await api.get(url, params=params), 422)
        assert field in str(body), (url, params, body)
    too_long = {"ticket_url": "https://tracker.example/" + "t" * 2100}
    body = assert_error(await api.put(f"{path}/failure-clusters/0123456789abcdef", json=too_long), 422)
    assert "ticket_url" in str(body)
    for url in (
        f"{API}/projects/999999/trends",
        f"{API}/projects/999999/dashboard",
        f"{API}/projects/999999/failure-clusters",
        f"{API}/scenario-runs/999999/compare",
        f"{API}/scenario-runs/{run['id']}/compare?with=999999",
    ):
        assert_error(await api.get(url), 404)
    for url in ("trends", "flaky", "hotspots", "dashboard", "failure-clusters"):
        assert (await api.get(f"{path}/{url}")).status_code == 200
    assert (await api.get(f"{API}/scenario-runs/{run['id']}/compare?with={run['id']}")).status_code == 200
    after = {table.name: await count_rows(table) for table in Base.metadata.sorted_tables}
    assert after == before


async def test_exile_reports_rebuild_recounts_from_the_raw_rows(api: httpx.AsyncClient, phased: Phased) -> None:
    from tests.reports.test_retention import exile

    ids = await phased_flow(api, phased.url)  # type: ignore[attr-defined]
    await run_to_end(api, ids)
    incremental = await rollup_table_rows()
    async with get_session_factory()() as session:
        await session.execute(delete(ReportRollup))
        await session.commit()
    code, out, err = await exile("reports", "rebuild", "--since", "2020-01-01")
    assert code == 0, err
    assert "1" in out, out
    assert await rollup_table_rows() == incremental
    code, _, err = await exile("reports", "rebuild", "--since", "not a date")
    assert code == 2 and "since" in err
