"""A plan run's report, written by the same reporters as a scenario run's (JSON, JUnit, HTML).

The reporters take one run whose results come grouped by step. A plan run is given to them as a run whose
"steps" are its scenario runs: one StepSummary per scenario run (its requests counted from the same GROUP BY as
its own report), and its final results relabelled with that summary's key, each keeping its own step in its
name. So the JUnit report has one <testsuite> per scenario run, the JSON report lists the scenario runs under
`steps`, and the HTML page charts them side by side.

The report is written in a worker thread into a spooled file (memory up to SPOOL_MEMORY, then disk), with the
records read from the database a page at a time on the event loop; the file is then streamed to the client.
Written whole before the answer starts, so a failure is an error status rather than a report cut short.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import IO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.engine.results import Counts, StepResult
from app.engine.statuses import ResultStatus
from app.interop import report_source
from app.interop.reports import Reporter
from app.interop.reports.model import ReportRun, StepSummary
from app.models import PlanRun, ScenarioRun
from app.plans.launch import child_ci

SPOOL_MEMORY = 4 * 1024 * 1024
CHUNK = 64 * 1024
FIRST = (-(2**31), 0)  # before any (iteration, id)


@dataclasses.dataclass
class _Part:
    """One scenario run of the plan run, as a "step" of its report."""

    run_id: int
    key: str
    step_keys: list[str]


async def plan_report(session: AsyncSession, plan_run: PlanRun, links: dict[str, str]) -> tuple[ReportRun, list[_Part]]:
    """The plan run as one ReportRun (a "step" per scenario run, in plan order) and where its records are."""
    run_ids = [item["run_id"] for item in plan_run.items or [] if item.get("run_id")]
    children = {run.id: run for run in await session.scalars(select(ScenarioRun).where(ScenarioRun.id.in_(run_ids)))}
    steps: list[StepSummary] = []
    parts: list[_Part] = []
    requests = Counts()
    dataset_names: dict[int, str] = {}
    for position, item in enumerate(item for item in plan_run.items or [] if item.get("run_id") in children):
        child = children[item["run_id"]]
        summary = await report_source.report_run(session, child)
        key = f"scenario:{position}"
        counts = Counts(**summary.requests.as_dict())
        steps.append(
            StepSummary(
                key=key,
                name=f"{item['name']} (run {child.id}: {child.status})",
                counts=counts,
                duration_ms=sum(step.duration_ms for step in summary.steps),
            )
        )
        for status in ResultStatus:
            setattr(requests, status, getattr(requests, status) + getattr(counts, status))
        requests.flaky += counts.flaky
        dataset_names.update(summary.dataset_names)
        parts.append(_Part(child.id, key, [step.key for step in summary.steps]))
    iterations = Counts(
        passed=plan_run.iterations_passed,
        failed=plan_run.iterations_failed,
        error=plan_run.iterations_error,
        flaky=plan_run.iterations_flaky,
    )
    trigger = plan_run.trigger or {}
    report = ReportRun(
        title=plan_run.plan_name or f"plan run {plan_run.id}",
        run_id=plan_run.id,
        status=str(plan_run.status),
        started_at=plan_run.started_at or plan_run.created_at,
        finished_at=plan_run.finished_at,
        requests=requests,
        iterations=iterations,
        steps=steps,
        error=plan_run.error,
        ci={"trigger": str(trigger.get("type", "")), **child_ci(trigger)},
        links=links,
        dataset_names=dataset_names,
    )
    return report, parts


def _relabelled(result: StepResult, key: str) -> StepResult:
    """A scenario run's result as a result of the plan's "step" `key`, its own step kept in its name."""
    own = result.name or result.step_key
    return dataclasses.replace(result, step_key=key, name=f"{own} ({result.step_key})")


async def write_report(
    reporter: Reporter, report: ReportRun, parts: list[_Part], sessions: async_sessionmaker[AsyncSession]
) -> IO[bytes]:
    """The whole report in a spooled file, rewound; the caller closes it."""
    loop = asyncio.get_running_loop()

    def records() -> Iterator[StepResult]:  # in the writer thread: each page is read on the event loop
        for part in parts:
            for step_key in part.step_keys:
                after = FIRST
                while True:
                    page_read = report_source.record_page(sessions, part.run_id, step_key, after)
                    page, after = asyncio.run_coroutine_threadsafe(page_read, loop).result()
                    for result in page:
                        yield _relabelled(result, part.key)
                    if len(page) < report_source.PAGE:
                        break

    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
    try:
        await loop.run_in_executor(None, reporter, spool, report, records)  # type: ignore[arg-type]
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


async def stream_file(spool: IO[bytes]) -> AsyncIterator[bytes]:
    """The spooled report in chunks; closes it at the end (or when the client goes away)."""
    try:
        while chunk := await asyncio.to_thread(spool.read, CHUNK):
            yield chunk
    finally:
        spool.close()
