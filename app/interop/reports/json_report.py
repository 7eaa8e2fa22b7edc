"""The run as JSON, shaped like Newman's JSON report: the run, its stats, its steps, then every execution.

`executions` is written one result at a time (the array is never built in memory); what can only be known after
the last result (the assertions counted) comes after it, at the end of the document.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import orjson

from app.engine.results import Counts, StepResult
from app.interop.reports.common import clean, failed_checks, result_label, run_duration_ms, total
from app.interop.reports.model import RecordSource, ReportRun

FORMAT_VERSION = 1


def _counts(counts: Counts) -> dict[str, int]:
    return {"total": total(counts), **counts.as_dict()}


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # a lone surrogate (a record straight from the engine): replaced, then written
        return orjson.dumps(_cleaned(value), default=str, option=orjson.OPT_NON_STR_KEYS)


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {_cleaned(key): _cleaned(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_cleaned(item) for item in value]
    return value


def header(run: ReportRun) -> dict[str, Any]:
    return {
        "format": "exile-report",
        "version": FORMAT_VERSION,
        "run": {
            "id": run.run_id,
            "title": run.title,
            "status": run.status,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "duration_ms": round(run_duration_ms(run), 3),
            "error": run.error,
            "ci": run.ci,
            "links": run.links,
        },
        "stats": {"iterations": _counts(run.iterations), "requests": _counts(run.requests)},
        "steps": [
            {
                "key": step.key,
                "name": step.name,
                "stats": _counts(step.counts),
                "duration_ms": round(step.duration_ms, 3),
                "mean_ms": round(step.duration_ms / total(step.counts), 3) if total(step.counts) else 0.0,
            }
            for step in run.steps
        ],
    }


def execution(run: ReportRun, result: StepResult) -> dict[str, Any]:
    return {
        "step": result.step_key,
        "name": result.name,
        "label": result_label(run, result),
        "iteration": result.iteration,
        "case_id": result.case_id,
        "step_id": result.step_id,
        "dataset_id": result.dataset_id,
        "dataset_name": run.dataset_names.get(result.dataset_id) if result.dataset_id is not None else None,
        "row_name": run.row_names.get(result.iteration),
        "status": result.status,
        "flaky": result.flaky,
        "attempt": result.attempt,
        "iteration_attempt": result.iteration_attempt,
        "started_at": result.started_at,
        "duration_ms": result.duration_ms,
        "request": result.request,
        "response": result.response,
        "dataset": result.dataset,
        "error": result.error,
        "assertions": result.assertions,
        "extracted": result.extracted,
    }


def write(out: BinaryIO, run: ReportRun, records: RecordSource) -> None:
    """Stream the run as one JSON document into `out`."""
    out.write(_dumps(header(run))[:-1] + b',"executions":[')
    assertions = failed = 0
    separator = b"\n"
    for result in records():
        out.write(separator + _dumps(execution(run, result)))
        separator = b",\n"
        assertions += len(result.assertions)
        failed += len(failed_checks(result))
    out.write(b"\n]," + _dumps({"assertions": {"total": assertions, "failed": failed}})[1:] + b"\n")
