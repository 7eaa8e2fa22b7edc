"""The HTML report in a real headless Chromium: it renders with no network, shows the run's counts, draws its
charts with its own inline script, and a <script> planted in a response body never runs.

Debian's chromium at /usr/bin/chromium (or CHROMIUM); without it the test skips and says so.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.interop.test_reports import fetch, mixed_run, report_target  # noqa: F401  (report_target: a fixture)

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)),
    reason=f"no headless Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)",
)


def chromium(profile: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Chromium headless, offline, with a throwaway profile."""
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={profile}", *arguments,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


def attribute(dom: str, element_id: str, name: str) -> str:
    found = re.search(rf'<[^>]*\bid="{element_id}"[^>]*>', dom)
    assert found, f"no element #{element_id} in the rendered page"
    value = re.search(rf'\b{name}="([^"]*)"', found.group(0))
    assert value, f"#{element_id} has no {name}: {found.group(0)}"
    return value.group(1)


async def test_the_html_report_renders_its_counts_and_charts_and_never_runs_a_planted_script(
    api,
    report_target,  # noqa: F811
    tmp_path,
):
    run = await mixed_run(api, report_target)
    page = tmp_path / "report.html"
    page.write_bytes((await fetch(api, run["id"], "html")).content)

    dumped = await asyncio.to_thread(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    dom = dumped.stdout
    assert "<html" in dom, dumped.stderr[-2000:]

    # The counts shown are the run's.
    for name, value in run["requests"].items():
        assert attribute(dom, f"requests-{name}", "data-count") == str(value)
    assert attribute(dom, "iterations-failed", "data-count") == str(run["iterations"]["failed"])
    assert re.search(r'id="pass-rate"[^>]*>50\.0 %<', dom), "the inline script fills the pass rate: 6 of 12"
    steps = re.findall(r'<tr data-step="([^"]+)" data-status="([^"]+)"', dom)
    assert steps == [
        ("setup:0", "passed"), ("step:0", "passed"), ("step:1", "failed"), ("step:2", "error"), ("step:3", "failed"),
        ("teardown:0", "passed"),
    ]  # fmt: skip

    # The charts were drawn by the page's own script (allowed by its CSP hash), in the rendered DOM only.
    assert attribute(dom, "chart", "data-drawn") == "true"
    assert attribute(dom, "chart-steps", "data-bars") == "6"
    assert int(attribute(dom, "chart-histogram", "data-bars")) >= 1
    chart = dom.split('id="chart-steps"', 1)[1].split("</svg>", 1)[0]
    assert chart.count("<rect") == 6

    # The planted script is shown as text and never ran.
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title and title.group(1) == "Exile report: report &lt;checkout&gt; &amp; co"
    assert "<pwned-node" not in dom
    assert "document.title='pwned'" in dom.replace("&#39;", "'").replace("&#x27;", "'")  # visible, as text
    assert len(re.findall(r'<details class="result"', dom)) == 6

    shot = tmp_path / "report.png"
    taken = await asyncio.to_thread(
        chromium, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()
    )
    assert shot.is_file(), taken.stderr[-2000:]
    image = shot.read_bytes()
    assert image.startswith(b"\x89PNG") and len(image) > 20_000  # a drawn page, not a blank one
