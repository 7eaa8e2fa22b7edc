"""`exile run --server URL --token T --scenario ID [--wait]`: a scenario run started on a server with the CI's
metadata, followed to its end, its reports downloaded from the server (streamed to disk), and the same exit
codes as a run here (app.interop.cli_run)."""

from __future__ import annotations

import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from app.engine.results import Counts
from app.engine.statuses import RunStatus
from app.interop.cli_run import (
    EXIT_FAILED,
    EXIT_PASSED,
    FINAL_RUN_STATUSES,
    REPORT_SUFFIX,
    Output,
    ProgressView,
    UsageError,
    _counts_text,
    check_reporters,
    parse_env_vars,
    report_path,
)
from app.interop.reports.model import ReportRun


@dataclass
class ServerRunArgs:
    server: str
    token: str
    scenario: int
    environment: int | None = None
    wait: bool = False
    env_vars: list[str] = field(default_factory=list)
    concurrency: int | None = None
    reporters: list[str] = field(default_factory=lambda: ["cli"])
    exports: dict[str, Path] = field(default_factory=dict)
    poll_seconds: float = 1.0
    timeout_s: float | None = None
    callback_url: str | None = None


def ci_metadata(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Commit, branch and build URL from GitHub Actions, GitLab CI or Jenkins variables, where set."""
    env = dict(os.environ if environ is None else environ)
    commit = env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA") or env.get("GIT_COMMIT")
    branch = (
        env.get("GITHUB_HEAD_REF")
        or env.get("GITHUB_REF_NAME")
        or env.get("GITHUB_REF")
        or env.get("CI_COMMIT_REF_NAME")
        or env.get("BRANCH_NAME")
        or env.get("GIT_BRANCH")
    )
    build_url = env.get("BUILD_URL") or env.get("CI_JOB_URL")
    if not build_url and env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        build_url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    found = {"commit": commit, "branch": branch, "build_url": build_url}
    limits = {"commit": 200, "branch": 500, "build_url": 2048}
    return {key: value[: limits[key]] for key, value in found.items() if value}


class ServerClient:
    """The few calls `exile run --server` makes, with the standard library (no client library at run time)."""

    def __init__(self, base: str, token: str, timeout_s: float = 30.0) -> None:
        base = base.rstrip("/")
        if not base.lower().startswith(("http://", "https://")):
            raise UsageError(f"--server {base!r}: expected an http:// or https:// URL")
        self.base = base if base.endswith("/api/v1") else f"{base}/api/v1"
        self.token = token
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = orjson.dumps(body) if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UsageError(f"--server {self.base}: cannot reach it ({reason})") from None

    def download(self, path: str, target: Path) -> tuple[int, bytes]:
        """GET into a file as it arrives (a report of 100,000 results is tens of MB): (200, b"") or the error."""
        request = urllib.request.Request(f"{self.base}{path}", method="GET")
        request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response, target.open("wb") as out:
                shutil.copyfileobj(response, out, 64 * 1024)
                return response.status, b""
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UsageError(f"{self.base}{path}: the report could not be downloaded ({reason})") from None

    def json(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        status, data = self.call(method, path, body)
        if status not in ok:
            raise UsageError(f"{method} {self.base}{path}: {status} {_server_message(data)}")
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UsageError(f"{method} {self.base}{path}: the answer is not JSON") from None


def _server_message(data: bytes) -> str:
    try:
        body = orjson.loads(data)
        return str(body["error"]["message"])[:500]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return data[:300].decode("utf-8", "replace")


def _run_counts(values: dict[str, Any] | None) -> Counts:
    values = values or {}
    return Counts(**{key: int(values.get(key) or 0) for key in ("passed", "failed", "error", "skipped", "flaky")})


def run_server(args: ServerRunArgs, output: Output | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    output = output or Output()
    check_reporters(args.reporters, args.exports, {"cli", *REPORT_SUFFIX})  # the server writes the files
    variables = parse_env_vars(args.env_vars)
    client = ServerClient(args.server, args.token)
    body: dict[str, Any] = {"trigger": "ci", "ci": ci_metadata(), "variables": variables}
    if args.environment is not None:
        body["environment_id"] = args.environment
    if args.concurrency is not None:
        body["concurrency"] = args.concurrency
    if args.callback_url is not None:
        body["callback_url"] = args.callback_url
    run = client.json("POST", f"/scenarios/{args.scenario}/runs", body, ok=(200, 201, 202))
    run_id = run["id"]
    output.line(f"run {run_id} started on {client.base} (scenario {args.scenario})")
    if not args.wait:
        return EXIT_PASSED
    started = time.monotonic()
    view = ProgressView(output, None, lambda: _run_counts(run.get("iterations")))
    if output.terminal:
        total = (run.get("iterations") or {}).get("total")
        view.total = int(total) if total else None
        view.start()
    try:
        while run["status"] not in FINAL_RUN_STATUSES:
            if args.timeout_s is not None and time.monotonic() - started > args.timeout_s:
                output.warn(f"run {run_id} still {run['status']} after {args.timeout_s:g} s; it goes on on the server")
                return EXIT_FAILED
            sleep(args.poll_seconds)
            run = client.json("GET", f"/scenario-runs/{run_id}")
            total = (run.get("iterations") or {}).get("total")
            view.total = int(total) if total else view.total
            view.tick()
    finally:
        view.stop()
    report = ReportRun(
        title=f"scenario {args.scenario}, run {run_id}",
        run_id=run_id,
        status=run["status"],
        started_at=_parse_time(run.get("started_at") or run.get("created_at")),
        finished_at=_parse_time(run.get("finished_at")) if run.get("finished_at") else None,
        requests=_run_counts(run.get("requests")),
        iterations=_run_counts(run.get("iterations")),
        steps=[],
        error=run.get("error"),
        ci=dict(run.get("ci") or {}),
    )
    if "cli" in args.reporters:
        output.line(f"run {run_id}: {report.status}")
        output.line(f"iterations: {_counts_text(report.iterations)}")
        output.line(f"requests: {_counts_text(report.requests)}")
        if report.error:
            output.line(f"error: {report.error}"[:2000])
    stamp = report.started_at.strftime("%Y%m%d-%H%M%S")
    for name in args.reporters:
        if name == "cli":
            continue
        path = report_path(name, args.exports, stamp)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--reporter-{name}-export {path}: cannot be written ({exc.strerror or exc})") from None
        status, data = client.download(f"/scenario-runs/{run_id}/report?format={name}", path)
        if status != 200:
            path.unlink(missing_ok=True)
            output.warn(f"the {name} report could not be fetched: {status} {_server_message(data)}")
            continue
        output.line(f"report written: {path}")
    return EXIT_PASSED if run["status"] == RunStatus.PASSED else EXIT_FAILED


def _parse_time(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
