"""JUnit XML as Jenkins, GitLab and GitHub Actions read it: a testsuite per step, a testcase per result.

Written as the results come (the stdlib's streaming XMLGenerator does the escaping): a testsuite's counts come
from its StepSummary, so its attributes are known before its first testcase. The shape follows the Jenkins
JUnit schema (tests/interop/fixtures/junit.xsd): `<testsuites>` carries no `skipped` there, its testsuites do.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any, BinaryIO
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesImpl

from app.engine.results import Counts, StepResult
from app.engine.statuses import ResultStatus
from app.interop.reports.common import (
    TEXT_LIMIT,
    check_line,
    clean,
    clip,
    failed_checks,
    request_text,
    response_text,
    result_label,
    run_duration_ms,
    step_label,
    summary_line,
    total,
)
from app.interop.reports.model import RecordSource, ReportRun, StepSummary

MESSAGE_LIMIT = 1_000  # a failure's message attribute (the element's text holds the rest)


def _seconds(ms: float) -> str:
    return f"{max(ms, 0.0) / 1000:.3f}"


def _timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC without a zone: what the Ant schema (and Jenkins) expect."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


class _Forward(io.RawIOBase):
    """Hands `out` what the buffers above it gathered, without ever closing it."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._out.write(bytes(data))
        return len(data)


class _Writer:
    def __init__(self, out: BinaryIO) -> None:
        # XMLGenerator hands each piece (a tag, an attribute) to its stream as it goes: buffered text here,
        # `out` gets large writes instead of one per piece.
        self.stream = io.TextIOWrapper(io.BufferedWriter(_Forward(out), 64 * 1024), encoding="utf-8", newline="\n")
        self.xml = XMLGenerator(self.stream, encoding="utf-8", short_empty_elements=True)

    def finish(self) -> None:
        self.xml.endDocument()
        self.stream.flush()
        self.stream.detach()  # leaves `out` open for its owner

    def start(self, tag: str, /, **attributes: str) -> None:
        self.xml.startElement(tag, AttributesImpl({key: clean(value) for key, value in attributes.items()}))

    def end(self, tag: str, newline: bool = True) -> None:
        self.xml.endElement(tag)
        if newline:
            self.xml.characters("\n")

    def text(self, text: str) -> None:
        self.xml.characters(clean(text))

    def element(self, tag: str, text: str = "", /, **attributes: str) -> None:
        self.start(tag, **attributes)
        if text:
            self.text(text)
        self.end(tag)


def _properties(writer: _Writer, run: ReportRun) -> None:
    properties = {"exile.status": run.status}
    if run.run_id is not None:
        properties["exile.run_id"] = str(run.run_id)
    properties.update({f"ci.{key}": str(value) for key, value in run.ci.items() if value not in (None, "")})
    properties.update({f"link.{key}": value for key, value in run.links.items()})
    writer.start("properties")
    for name, value in properties.items():
        writer.element("property", name=name, value=clip(value, MESSAGE_LIMIT))
    writer.end("properties")


def _testcase(writer: _Writer, run: ReportRun, step: StepSummary, result: StepResult) -> None:
    writer.start(
        "testcase",
        classname=step_label(step),
        name=result_label(run, result),
        time=_seconds(result.duration_ms),
        assertions=str(len(result.assertions)),
    )
    failed = failed_checks(result)
    if result.status == ResultStatus.SKIPPED:
        writer.element("skipped", message=clip(result.error or "skipped", MESSAGE_LIMIT))
    elif result.status == ResultStatus.ERROR:
        message = clip((result.error or "error").splitlines()[0] if result.error else "error", MESSAGE_LIMIT)
        writer.element("error", result.error or "", message=message, type="RequestError")
    elif result.status == ResultStatus.FAILED:
        lines = [check_line(check) for check in failed]
        if result.error:
            lines.append(result.error)
        plural = "s" if len(failed) != 1 else ""
        message = f"{len(failed)} assertion{plural} failed: {lines[0]}" if failed else (result.error or "failed")
        writer.element("failure", "\n".join(lines), message=clip(message, MESSAGE_LIMIT), type="AssertionError")
    out = [summary_line(result)]
    if result.status in (ResultStatus.FAILED, ResultStatus.ERROR):
        if result.request:
            out += ["", "--- request ---", request_text(result.request)]
        if result.response:
            out += ["", "--- response ---", response_text(result.response)]
    writer.element("system-out", clip("\n".join(out), TEXT_LIMIT * 2))
    writer.end("testcase")


def write(out: BinaryIO, run: ReportRun, records: RecordSource) -> None:
    """Stream the run as JUnit XML into `out`; results must come grouped by step in `run.steps` order."""
    writer = _Writer(out)
    writer.xml.startDocument()
    requests = run.requests
    writer.start(
        "testsuites",
        name=run.title,
        tests=str(total(requests)),
        failures=str(requests.failed),
        errors=str(requests.error),
        time=_seconds(run_duration_ms(run)),
    )
    writer.text("\n")
    timestamp = _timestamp(run.started_at)
    steps = list(run.steps)
    position = 0  # the next step of `steps` not written yet
    current: StepSummary | None = None

    def open_suite(step: StepSummary, index: int) -> None:
        counts = step.counts
        writer.start(
            "testsuite",
            name=f"{run.title} / {step_label(step)}",
            tests=str(total(counts)),
            failures=str(counts.failed),
            errors=str(counts.error),
            skipped=str(counts.skipped),
            time=_seconds(step.duration_ms),
            timestamp=timestamp,
            id=str(index),
            package=run.title,
        )
        writer.text("\n")
        _properties(writer, run)

    for result in records():
        if current is None or result.step_key != current.key:
            if current is not None:
                writer.end("testsuite")
            found = next((i for i in range(position, len(steps)) if steps[i].key == result.step_key), None)
            if found is None:  # not in the summary (or out of order): its own suite, counted as zero
                current = StepSummary(result.step_key, result.name, Counts())
                open_suite(current, len(steps))
            else:
                for index in range(position, found):  # steps without a result still get their (empty) suite
                    open_suite(steps[index], index)
                    writer.end("testsuite")
                current = steps[found]
                position = found + 1
                open_suite(current, found)
        _testcase(writer, run, current, result)
    if current is not None:
        writer.end("testsuite")
    for index in range(position, len(steps)):
        open_suite(steps[index], index)
        writer.end("testsuite")
    writer.end("testsuites")
    writer.finish()
