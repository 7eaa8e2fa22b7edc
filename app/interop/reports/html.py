"""One self-contained HTML page: summary, pass/fail per step, charts of durations, the failures in detail.

It opens with no network: CSS and JS are inline, and a Content-Security-Policy allows exactly those two (by their
hashes) and nothing else, so even a markup mistake could not load or run anything. Everything that comes from a
record is escaped (html.escape; the JSON blobs with <, > and & as \\u escapes), so a response body can never
become markup or script. Written as the results come: only the failures (the first MAX_SHOWN) are shown in full.
"""

from __future__ import annotations

import base64
import hashlib
import html
from datetime import datetime
from typing import Any, BinaryIO

import orjson

from app.engine.results import Counts, StepResult
from app.engine.statuses import ResultStatus
from app.interop.reports.common import (
    Histogram,
    check_where,
    clean,
    failed_checks,
    request_text,
    response_text,
    result_label,
    run_duration_ms,
    step_label,
    summary_line,
    total,
    value_text,
)
from app.interop.reports.model import RecordSource, ReportRun

MAX_SHOWN = 200  # failed and error results shown in full; the rest are counted

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header,main{max-width:1100px;margin:0 auto;padding:16px 24px}
header{background:#fff;border-bottom:1px solid #dde1e7;max-width:none}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:17px;margin:24px 0 8px}
h4{margin:12px 0 4px}
.meta{color:#5b6475;margin:0}
.meta span{margin-right:16px}
.status{
  display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px;color:#fff;background:#7a8496
}
.status.passed{background:#1f8a4c}
.status.failed{background:#c62f2f}
.status.error{background:#b35c00}
.status.skipped,.status.cancelled,.status.interrupted{background:#7a8496}
.status.running{background:#2f6fc6}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:10px 14px}
.card dl{display:grid;grid-template-columns:repeat(7,auto);gap:2px 18px;margin:0}
.card dt{color:#5b6475;font-size:12px}
.card dd{margin:0;font-size:20px;font-weight:600}
.card h3{margin:0 0 6px;font-size:13px;color:#5b6475}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid #dde1e7;padding:4px 8px;text-align:left}
th{background:#eef0f4;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
svg text{font-size:12px;fill:#1d2330}
.bar{fill:#7a8496}
.bar.passed{fill:#1f8a4c}
.bar.failed{fill:#c62f2f}
.bar.error{fill:#b35c00}
.bar.skipped{fill:#a9b0bd}
.chart{background:#fff;border:1px solid #dde1e7;padding:8px;overflow-x:auto}
details.result{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:8px 0;padding:6px 10px}
details.result summary{cursor:pointer}
pre{
  background:#f0f2f5;padding:8px;overflow:auto;max-height:420px;white-space:pre-wrap;word-break:break-all;margin:0
}
table.checks{table-layout:fixed}
table.checks td{vertical-align:top;overflow-wrap:anywhere;white-space:pre-wrap}
.error-text{color:#8a2020;white-space:pre-wrap;overflow-wrap:anywhere}
.note{color:#5b6475}
""".strip()

JS = """
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  function svgNode(name, attributes, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attributes).forEach(function (key) { node.setAttribute(key, String(attributes[key])); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function bars(container, items, unit) {
    var width = 760, row = 22, labelWidth = 280, room = width - labelWidth - 110;
    var height = items.length * row + 8, max = 0;
    items.forEach(function (item) { if (item.value > max) { max = item.value; } });
    var svg = svgNode("svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img"});
    items.forEach(function (item, index) {
      var y = index * row + 4, length = max > 0 ? Math.max(1, room * item.value / max) : 1;
      svg.appendChild(svgNode("text", {x: labelWidth - 8, y: y + 14, "text-anchor": "end"}, item.label));
      var bar = svgNode("rect", {x: labelWidth, y: y + 2, width: length.toFixed(1), height: row - 6,
                                 "class": "bar " + (item.status || "")});
      bar.appendChild(svgNode("title", {}, item.label + ": " + item.value + unit));
      svg.appendChild(bar);
      svg.appendChild(svgNode("text", {x: labelWidth + length + 6, y: y + 14}, item.value + unit));
    });
    container.appendChild(svg);
    container.setAttribute("data-bars", String(items.length));
  }
  var summary = data("report-data");
  var histogram = data("histogram-data");
  var chart = document.getElementById("chart");
  if (!summary || !chart) { return; }
  bars(document.getElementById("chart-steps"), summary.steps.map(function (step) {
    return {label: step.label, value: step.mean_ms, status: step.status};
  }), " ms");
  if (histogram) {
    bars(document.getElementById("chart-histogram"), histogram.buckets.map(function (bucket) {
      return {label: bucket.label, value: bucket.count};
    }), "");
  }
  var requests = summary.requests, rate = document.getElementById("pass-rate");
  var counted = requests.passed + requests.failed + requests.error;
  rate.textContent = counted ? (100 * requests.passed / counted).toFixed(1) + " %" : "n/a";
  chart.setAttribute("data-drawn", "true");
})();
""".strip()


def _hash(source: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()


# Nothing but this page's own style and script: no network, no other script, no forms, no frames.
CSP = (
    f"default-src 'none'; script-src '{_hash(JS)}'; style-src '{_hash(CSS)}'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def esc(value: object) -> str:
    return html.escape(clean(str(value)), quote=True)


def json_blob(value: Any) -> str:
    """JSON for a <script type="application/json">: no <, > or & left that could close it or open markup."""
    text = orjson.dumps(value, default=str).decode()
    return clean(text).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "—"


def _step_status(counts: Counts) -> str:
    if counts.error:
        return "error"
    if counts.failed:
        return "failed"
    if counts.passed:
        return "passed"
    return "skipped"


def _counts_card(title: str, prefix: str, counts: Counts, extra: str = "") -> str:
    cells = [("total", total(counts)), *counts.as_dict().items()]
    items = "".join(
        f'<div><dt>{esc(name)}</dt><dd id="{prefix}-{name}" data-count="{value}">{value}</dd></div>'
        for name, value in cells
    )
    return f'<div class="card"><h3>{esc(title)}</h3><dl>{items}{extra}</dl></div>'


def _head(run: ReportRun) -> str:
    meta = [f'<span>status <span id="run-status" class="status {esc(run.status)}">{esc(run.status)}</span></span>']
    if run.run_id is not None:
        meta.append(f'<span>run <b id="run-id">{run.run_id}</b></span>')
    meta.append(f"<span>started {esc(_when(run.started_at))}</span>")
    meta.append(f"<span>finished {esc(_when(run.finished_at))}</span>")
    meta.append(f'<span>duration <b id="run-duration">{run_duration_ms(run) / 1000:.3f} s</b></span>')
    ci = "".join(f"<span>{esc(key)}: {esc(value)}</span>" for key, value in run.ci.items() if value not in (None, ""))
    links = "".join(f"<span>{esc(key)}: {esc(value)}</span>" for key, value in run.links.items())
    error = f'<p class="error-text" id="run-error">{esc(run.error)}</p>' if run.error else ""
    rate = '<div><dt>pass rate</dt><dd id="pass-rate">…</dd></div>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Exile report: {esc(run.title)}</title><style>{CSS}</style></head>\n"
        f'<body data-status="{esc(run.status)}"><header><h1 id="run-title">{esc(run.title)}</h1>'
        f'<p class="meta">{"".join(meta)}</p><p class="meta">{ci}</p><p class="meta">{links}</p>{error}</header>\n'
        '<main><h2>Summary</h2><section id="summary" class="cards">'
        f"{_counts_card('Requests', 'requests', run.requests, rate)}"
        f"{_counts_card('Iterations', 'iterations', run.iterations)}</section>\n"
    )


def _steps(run: ReportRun) -> str:
    rows = []
    for step in run.steps:
        counts, count = step.counts, total(step.counts)
        status = _step_status(counts)
        mean = step.duration_ms / count if count else 0.0
        numbers = "".join(
            f'<td class="n" data-count="{value}">{value}</td>'
            for value in (counts.passed, counts.failed, counts.error, counts.skipped, count)
        )
        rows.append(
            f'<tr data-step="{esc(step.key)}" data-status="{status}"><td>{esc(step.key)}</td><td>{esc(step.name)}</td>'
            f'<td><span class="status {status}">{status}</span></td>{numbers}<td class="n">{mean:.1f}</td></tr>'
        )
    return (
        '<h2>Steps</h2><table id="steps"><thead><tr><th>step</th><th>name</th><th>result</th><th>passed</th>'
        "<th>failed</th><th>error</th><th>skipped</th><th>total</th><th>mean ms</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>\n"
    )


def _chart(run: ReportRun) -> str:
    summary = {
        "requests": {"total": total(run.requests), **run.requests.as_dict()},
        "steps": [
            {
                "key": step.key,
                "label": step_label(step),
                "status": _step_status(step.counts),
                "mean_ms": round(step.duration_ms / total(step.counts), 1) if total(step.counts) else 0.0,
            }
            for step in run.steps
        ],
    }
    return (
        '<h2>Durations</h2><section id="chart" data-drawn="false">'
        '<h3 class="note">Mean time per step</h3><div id="chart-steps" class="chart"></div>'
        '<h3 class="note">Requests by duration</h3><div id="chart-histogram" class="chart"></div></section>\n'
        f'<script type="application/json" id="report-data">{json_blob(summary)}</script>\n'
    )


def _result(run: ReportRun, result: StepResult, index: int) -> str:
    status = esc(result.status)
    parts = [
        f'<details class="result" data-status="{status}" id="result-{index}"{" open" if index < 20 else ""}>'
        f'<summary><span class="status {status}">{status}</span> {esc(result_label(run, result))}'
        f" &mdash; {esc(summary_line(result))}</summary>"
    ]
    if result.error:
        parts.append(f'<p class="error-text">{esc(result.error)}</p>')
    failed = failed_checks(result)
    if failed:
        rows = "".join(
            f"<tr><td>{esc(check_where(check))}</td><td><code>{esc(value_text(check.get('expected')))}"
            f"</code></td><td><code>{esc(value_text(check.get('actual')))}</code></td>"
            f"<td>{esc(check.get('message') or '')}</td></tr>"
            for check in failed
        )
        parts.append(
            '<h4>Failed assertions</h4><table class="checks"><thead><tr><th>check</th><th>expected</th>'
            f"<th>actual</th><th>message</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    if result.request:
        parts.append(f"<h4>Request</h4><pre>{esc(request_text(result.request))}</pre>")
    if result.response:
        parts.append(f"<h4>Response</h4><pre>{esc(response_text(result.response))}</pre>")
    parts.append("</details>\n")
    return "".join(parts)


def write(out: BinaryIO, run: ReportRun, records: RecordSource) -> None:
    """Stream the page into `out`: the summary first, then the failures as they come, the histogram last."""

    def put(text: str) -> None:
        out.write(text.encode("utf-8", "replace"))

    put(_head(run) + _steps(run) + _chart(run))
    put('<h2>Failures</h2><section id="failures">\n')
    shown = failing = 0
    histogram = Histogram()
    for result in records():
        histogram.add(result)
        if result.status not in (ResultStatus.FAILED, ResultStatus.ERROR):
            continue
        failing += 1
        if shown < MAX_SHOWN:
            put(_result(run, result, shown))
            shown += 1
    if not failing:
        put('<p class="note" id="failures-note" data-shown="0" data-failing="0">Every result passed or was skipped.')
        put("</p>")
    elif failing > shown:
        put(
            f'<p class="note" id="failures-note" data-shown="{shown}" data-failing="{failing}">The first {shown} of '
            f"{failing} failed or error results are shown; the JSON and JUnit reports hold every one.</p>"
        )
    else:
        put(f'<p class="note" id="failures-note" data-shown="{shown}" data-failing="{failing}">{failing} shown.</p>')
    put(
        "</section></main>\n"
        f'<script type="application/json" id="histogram-data">{json_blob({"buckets": histogram.as_list()})}</script>\n'
        f"<script>{JS}</script>\n</body></html>\n"
    )
