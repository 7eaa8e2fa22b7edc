"""Reports of a run (JSON, JUnit XML, HTML), written by the same code for the server and for `exile run`.

Each reporter is `write(out: BinaryIO, run: ReportRun, records: RecordSource) -> None` and streams: it writes as
the records come and never holds them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from app.interop.reports import html, json_report, junit
from app.interop.reports.model import RecordSource, ReportRun

Reporter = Callable[[BinaryIO, ReportRun, RecordSource], None]


@dataclass(frozen=True)
class ReportFormat:
    write: Reporter
    media_type: str
    extension: str


REPORTERS: dict[str, ReportFormat] = {
    "json": ReportFormat(json_report.write, "application/json", "json"),
    "junit": ReportFormat(junit.write, "application/xml; charset=utf-8", "xml"),
    "html": ReportFormat(html.write, "text/html; charset=utf-8", "html"),
}
