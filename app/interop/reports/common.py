"""What the three reporters say alike: how a result is named, how its request and response read as text.

Every text from a record has already been masked and bounded by the engine; these helpers bound what a report
adds around it again (a report of 100,000 results must stay a file a CI server can read).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from app.engine.results import Counts, StepResult
from app.interop.reports.model import ReportRun, StepSummary

_PARTS = {"setup": 0, "step": 1, "teardown": 2}
# Characters XML 1.0 forbids (C0 controls but tab, LF and CR; lone surrogates; U+FFFE/U+FFFF). HTML renders them
# as garbage or drops them, so both reports replace them with U+FFFD: the reader sees that something was there.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
VALUE_LIMIT = 2_000  # an expected or actual value in a failure line
TEXT_LIMIT = 32_000  # a request or response as text (a body is at most the record's snapshot, 64 KiB by default)
# Buckets of the duration histogram (upper bounds in ms; the last one is open).
DURATION_BUCKETS = (10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000)


def step_order(key: str) -> tuple[int, int, str]:
    """setup:N, then step:N, then teardown:N, each numerically ("step:10" after "step:9")."""
    part, _, number = key.partition(":")
    try:
        return _PARTS.get(part, 3), int(number), key
    except ValueError:
        return _PARTS.get(part, 3), 0, key


def clean(text: str) -> str:
    """Text that XML 1.0 can carry and HTML shows as it is: forbidden characters become U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [clipped: {len(text)} characters]"


def total(counts: Counts) -> int:
    return counts.passed + counts.failed + counts.error + counts.skipped


def step_label(step: StepSummary) -> str:
    return f"{step.name or step.key} ({step.key})"


def result_label(run: ReportRun, result: StepResult) -> str:
    """The step's name, the iteration and the data that make this result one of a kind."""
    parts = []
    if result.iteration < 0:
        parts.append(result.step_key.partition(":")[0])  # setup or teardown: once per run
    else:
        parts.append(f"iteration {result.iteration}")  # counted from 0, as the API and the run's error count them
        row = run.row_names.get(result.iteration)
        if row:
            parts.append(f"row '{row}'")
    if result.dataset_id is not None:
        dataset = run.dataset_names.get(result.dataset_id)
        parts.append(f"dataset '{dataset}'" if dataset else f"dataset {result.dataset_id}")
    return f"{result.name or result.step_key} [{', '.join(parts)}]"


def value_text(value: Any) -> str:
    """A value as JSON (what a person compares), bounded."""
    try:
        text = orjson.dumps(value, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = repr(value)
    return clip(text, VALUE_LIMIT)


def failed_checks(result: StepResult) -> list[dict[str, Any]]:
    return [check for check in result.assertions if isinstance(check, dict) and not check.get("passed", True)]


def check_where(check: dict[str, Any]) -> str:
    """What a check looked at and how: `body $.data.status eq`."""
    where = " ".join(str(check[k]) for k in ("source", "expression") if check.get(k) not in (None, ""))
    op = check.get("op") or ("extract" if "name" in check and "op" not in check else "")
    return f"{where} {op}".strip() or "check"


def check_line(check: dict[str, Any]) -> str:
    """`body $.data.status eq: expected "PAID", actual "DECLINED" (message)`."""
    line = check_where(check)
    line += f": expected {value_text(check.get('expected'))}, actual {value_text(check.get('actual'))}"
    message = check.get("message")
    if message:
        line += f" ({clip(str(message), VALUE_LIMIT)})"
    return line


def _headers(headers: Any) -> list[str]:
    if isinstance(headers, dict):
        return [f"{name}: {value}" for name, value in headers.items()]
    if isinstance(headers, list):  # [[name, value], ...] keeps repeated headers
        return [f"{pair[0]}: {pair[1]}" for pair in headers if isinstance(pair, list | tuple) and len(pair) == 2]
    return []


def request_text(request: dict[str, Any] | None) -> str:
    """The request as it went out (masked): request line, headers, body."""
    if not request:
        return ""
    lines = [f"{request.get('method', '')} {request.get('url', '')}", *_headers(request.get("headers"))]
    body = request.get("body")
    if body not in (None, ""):
        lines += ["", body if isinstance(body, str) else value_text(body)]
    return clip("\n".join(lines), TEXT_LIMIT)


def response_text(response: dict[str, Any] | None) -> str:
    """The response as it came back (masked, the body as the snapshot kept it)."""
    if not response:
        return ""
    status_line = f"HTTP {response.get('status', '')} ({response.get('elapsed_ms', '?')} ms)"
    lines = [status_line, *_headers(response.get("headers"))]
    body = response.get("body")
    if body not in (None, ""):
        lines += ["", body if isinstance(body, str) else value_text(body)]
    if response.get("truncated"):
        lines.append(f"[the target sent more than the response size cap; {response.get('size')} bytes read]")
    return clip("\n".join(lines), TEXT_LIMIT)


def summary_line(result: StepResult) -> str:
    """One line for a result: what was sent and what came back."""
    request, response = result.request or {}, result.response or {}
    line = f"{request.get('method', '')} {request.get('url', '')}".strip() or "(no request sent)"
    if response:
        line += f" -> {response.get('status')}"
    return f"{line} in {result.duration_ms:.1f} ms: {result.status}"


def run_duration_ms(run: ReportRun) -> float:
    if run.finished_at is None:
        return sum(step.duration_ms for step in run.steps)
    return max(0.0, (run.finished_at - run.started_at).total_seconds() * 1000)


class Histogram:
    """Durations of the results that sent a request, in fixed buckets: a chart of any run size in bounded memory."""

    def __init__(self) -> None:
        self.counts = [0] * (len(DURATION_BUCKETS) + 1)

    def add(self, result: StepResult) -> None:
        if result.request is None and result.response is None:
            return  # skipped, or stopped before sending: no duration to speak of
        for index, bound in enumerate(DURATION_BUCKETS):
            if result.duration_ms < bound:
                self.counts[index] += 1
                return
        self.counts[-1] += 1

    def as_list(self) -> list[dict[str, Any]]:
        labels = [f"< {bound} ms" for bound in DURATION_BUCKETS] + [f">= {DURATION_BUCKETS[-1]} ms"]
        return [{"label": label, "count": count} for label, count in zip(labels, self.counts, strict=True)]
