"""Hostile-targets benchmark: the API process stays small and responsive while 8 runs meet hostile targets.

    uv run python benchmarks/hostile_targets.py               # 8 runs at once, 30 iterations each
    uv run python benchmarks/hostile_targets.py --iterations 10

One command starts everything: a hostile target (tests/hostile.py) in its own process, and the real API server
(uvicorn, SQLite in a temporary directory, runs executed inline in the API process). It signs in as the first
admin, creates one scenario per hostile behaviour and starts the 8 runs at once: 100 MiB bodies, gzip bombs
(1 GiB each), a never-ending chunked body, a backtracking regex (`^(a+)+$` against 28 `a`s and `!`) and a
connection reset mid-body. While they run it samples the API process's RSS (children included) and asks
`/health` every 20 ms. It prints the peak RSS and the /health latencies, checks what the runs recorded
(bodies cut at the cap and marked `truncated`, the reset an `error`, every run ended), and says PASS or FAIL
against the bars of issue 7: peak RSS < 400 MB and /health < 200 ms. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.hostile: the same target the tests use

from tests.hostile import MIB, HostileTarget, serve  # noqa: E402

BAR_RSS_MB = 400.0
BAR_HEALTH_MS = 200.0
CAP = 10 * MIB  # RESPONSE_MAX_BYTES's default, what the API server runs with here
STATUS = {"source": "status_code", "expected": 200}


@dataclass
class Scenario:
    """One run: its steps (case requests) and what its records must show."""

    name: str
    steps: list[dict[str, Any]]
    truncated: bool = False  # every step's response was cut at the cap
    ends: str = "passed"


SCENARIOS = [
    Scenario(
        "100 MiB body, text checked",
        [
            {
                "url": "/plain",
                "query": {"mib": "100"},
                "assertions": [STATUS, {"source": "text", "op": "contains", "expected": "zzz"}],
            }
        ],
        truncated=True,
    ),
    Scenario(
        "100 MiB body, text extracted and sent on",
        [
            {"url": "/plain", "query": {"mib": "100"}, "extractors": [{"name": "page", "source": "text"}]},
            {
                "url": "/small",
                "method": "POST",
                "body": {"mode": "raw", "content": "{{page}}", "content_type": "text/plain"},
                "assertions": [{"source": "body", "expression": "$.received", "expected": CAP}],
            },
        ],
    ),
    Scenario("100 MiB body", [{"url": "/plain", "query": {"mib": "100"}, "assertions": [STATUS]}], truncated=True),
    Scenario("gzip bomb (1 GiB)", [{"url": "/bomb", "assertions": [STATUS]}], truncated=True),
    Scenario(
        "redirect to a gzip bomb", [{"url": "/to", "query": {"url": "/bomb"}, "assertions": [STATUS]}], truncated=True
    ),
    Scenario("never-ending chunked body", [{"url": "/endless", "assertions": [STATUS]}], truncated=True),
    Scenario(
        "backtracking regex",
        [
            {
                "url": "/evil",
                "extractors": [{"name": "whole", "source": "regex", "expression": "^(a+)+$"}],
                "assertions": [{"source": "text", "op": "regex", "expected": "^(a+)+$"}],
            }
        ],
        ends="failed",  # no match: a failed check, found at once
    ),
    Scenario("connection reset mid-body", [{"url": "/reset-mid-body"}], ends="failed"),
]


# ---- processes -------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_target(port: int) -> None:
    """The hostile target, in its own process so that its work is not the API's or the sampler's."""

    async def forever() -> None:
        async with serve(HostileTarget(), port):
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(forever())


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            found.extend(int(child) for child in task.read_text().split())
    return found


def memory_bytes(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process plus its descendants: the resident size now, and the peak the kernel saw.

    Only these processes' /proc files are read (psutil is used when installed): walking all of /proc every
    50 ms, as a first version did, slowed the API process it measured.
    """
    try:
        import psutil  # type: ignore[import-not-found, unused-ignore]  # optional
    except ImportError:
        psutil = None
    if psutil is not None:
        process = psutil.Process(pid)
        rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        return rss, rss
    rss = peak = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        todo.extend(_children(current))
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    peak += int(line.split()[1]) * 1024
    return rss, max(peak, rss)


async def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url) as answer:
                    if answer.status < 500:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")
            await asyncio.sleep(0.2)


# ---- measuring -------------------------------------------------------------------------------------------------
@dataclass
class Samples:
    rss: list[int] = field(default_factory=list)
    high_water: int = 0  # VmHWM: the kernel's own record of the peak, between samples too
    health_ms: list[float] = field(default_factory=list)
    health_at: list[float] = field(default_factory=list)  # when each /health was asked (perf_counter)
    health_failures: list[str] = field(default_factory=list)


async def sample_rss(pid: int, samples: Samples, stop: asyncio.Event) -> None:
    while True:
        rss, samples.high_water = memory_bytes(pid)
        samples.rss.append(rss)
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def poll_health(api_url: str, samples: Samples, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        while not stop.is_set():
            asked = time.perf_counter()
            try:
                async with http.get(f"{api_url}/health") as answer:
                    await answer.read()
                    if answer.status != 200:
                        samples.health_failures.append(f"HTTP {answer.status}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                samples.health_failures.append(f"{type(exc).__name__}: {exc}")
            samples.health_ms.append((time.perf_counter() - asked) * 1000)
            samples.health_at.append(asked)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.02)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


# ---- the runs --------------------------------------------------------------------------------------------------
class Api:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        async with self.http.request(method, f"{self.url}/api/v1{path}", json=body) as answer:
            data = await answer.json(content_type=None)
            if answer.status != expect:
                raise RuntimeError(f"{method} {path}: {answer.status} {data}")
            return data


async def sign_in(http: aiohttp.ClientSession, api_url: str, data_dir: Path) -> None:
    password = (data_dir / "initial_admin_password").read_text().strip()
    form = {"username": "admin@exile.local", "password": password}
    async with http.post(f"{api_url}/api/v1/auth/token", data=form) as answer:
        token = (await answer.json())["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"


async def create_project(api: Api, target_url: str) -> tuple[int, int]:
    """A project and an environment whose base_url is the hostile target."""
    project = await api.call("POST", "/projects", {"name": "hostile targets"}, 201)
    env = await api.call(
        "POST", f"/projects/{project['id']}/environments", {"name": "hostile", "base_url": target_url}, 201
    )
    return project["id"], env["id"]


async def create_scenarios(api: Api, project_id: int, scenarios: list[Scenario], iterations: int) -> list[int]:
    scenario_ids = []
    for scenario in scenarios:
        created = await api.call(
            "POST",
            "/scenarios",
            {"project_id": project_id, "name": scenario.name, "settings": {"stop_on_failure": False}},
            201,
        )
        steps = []
        for index, request in enumerate(scenario.steps):
            case = await api.call(
                "POST",
                "/cases",
                {"project_id": project_id, "name": f"{scenario.name} #{index + 1}", "method": "GET", **request},
                201,
            )
            steps.append({"case_id": case["id"]})
        await api.call("PUT", f"/scenarios/{created['id']}/steps", steps)
        await api.call(
            "PUT", f"/scenarios/{created['id']}/datasets", [{"variables": {"n": n}} for n in range(iterations)]
        )
        scenario_ids.append(created["id"])
    return scenario_ids


async def warm_up(api: Api, project_id: int, env_id: int) -> None:
    """One small, harmless run before measuring, read back like the others: the first use of each endpoint
    (FastAPI and pydantic build some of their machinery on a route's first request) is not counted as a
    hostile target's doing."""
    warm = Scenario("warm-up", [{"url": "/small", "assertions": [STATUS]}])
    [scenario_id] = await create_scenarios(api, project_id, [warm], 2)
    [run] = await run_all(api, env_id, [scenario_id], 60)
    if await check_records(api, warm, run, 2):
        raise RuntimeError(f"the warm-up run did not pass: {run}")


async def run_all(api: Api, env_id: int, scenario_ids: list[int], timeout_s: float) -> list[dict[str, Any]]:
    """Start every run at once; wait until all have ended."""
    started = await asyncio.gather(
        *(api.call("POST", f"/scenarios/{sid}/runs", {"environment_id": env_id}, 202) for sid in scenario_ids)
    )
    deadline = time.monotonic() + timeout_s
    while True:
        runs = [await api.call("GET", f"/scenario-runs/{run['id']}") for run in started]
        if all(run["status"] not in ("queued", "running") for run in runs):
            return runs
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs still going after {timeout_s:.0f} s: {[r['status'] for r in runs]}")
        await asyncio.sleep(0.25)


async def check_records(api: Api, scenario: Scenario, run: dict[str, Any], iterations: int) -> list[str]:
    """What the run recorded must be what the target did; returns the problems found."""
    problems = []
    if run["status"] != scenario.ends:
        problems.append(f"ended {run['status']} (expected {scenario.ends}): {run['error']}")
    records: list[dict[str, Any]] = []
    for page_number in itertools.count(1):
        path = f"/scenario-runs/{run['id']}/request-runs?page_size=200&page={page_number}"
        page = await api.call("GET", path)
        records.extend(page["items"])
        if not page["items"] or len(records) >= page["total"]:
            break
    if len(records) != iterations * len(scenario.steps):
        problems.append(f"{len(records)} records for {iterations * len(scenario.steps)} requests")
    for record in records:
        detail = await api.call("GET", f"/request-runs/{record['id']}")
        response = detail["response"]
        if scenario.truncated and not (response and response["truncated"] and response["size"] == CAP):
            problems.append(f"record {record['id']} not cut at the cap: {response and response.get('size')}")
        if scenario.name.startswith("connection reset") and "connection broke" not in (detail["error"] or ""):
            problems.append(f"record {record['id']}: {detail['status']} {detail['error']}")
    return problems


# ---- main ------------------------------------------------------------------------------------------------------
@dataclass
class Processes:
    target: subprocess.Popen[bytes]
    server: subprocess.Popen[bytes]
    target_url: str
    api_url: str

    def stop(self) -> None:
        for process in (self.server, self.target):
            process.send_signal(signal.SIGINT)
        for process in (self.server, self.target):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def start_processes(work: Path) -> Processes:
    """The hostile target, and the API server (uvicorn) on a fresh SQLite database with the inline executor."""
    target_port, api_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "DB_", "DATABASE_"))}
    env.update(
        {
            "EXILE_DATA_DIR": str(work),
            "DATABASE_URL": f"sqlite+aiosqlite:///{work}/exile.db",
            "ENVIRONMENT": "development",
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "1024",
        }
    )
    target = subprocess.Popen([sys.executable, __file__, "--serve-target", str(target_port)], cwd=work)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--app-dir", str(REPO), "--host", "127.0.0.1",
         "--port", str(api_port), "--log-level", "warning", "--no-access-log"],
        cwd=work, env=env,
    )  # fmt: skip
    return Processes(target, server, f"http://127.0.0.1:{target_port}", f"http://127.0.0.1:{api_port}")


async def benchmark(args: argparse.Namespace, work: Path, processes: Processes) -> bool:
    target_url, api_url, server = processes.target_url, processes.api_url, processes.server
    try:
        await wait_for(f"{target_url}/small", 30)
        await wait_for(f"{api_url}/health", 60)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            await sign_in(http, api_url, work)
            api = Api(http, api_url)
            project_id, env_id = await create_project(api, target_url)
            scenario_ids = await create_scenarios(api, project_id, SCENARIOS, args.iterations)
            samples, stop = Samples(), asyncio.Event()
            await warm_up(api, project_id, env_id)
            baseline = memory_bytes(server.pid)[0]
            watchers = [
                asyncio.ensure_future(sample_rss(server.pid, samples, stop)),
                asyncio.ensure_future(poll_health(api_url, samples, stop)),
            ]
            await asyncio.sleep(0.5)  # a few idle samples first
            started = time.perf_counter()
            try:
                runs = await run_all(api, env_id, scenario_ids, args.timeout)
            finally:
                elapsed = time.perf_counter() - started
                stop.set()
                await asyncio.gather(*watchers)
            problems = {
                scenario.name: await check_records(api, scenario, run, args.iterations)
                for scenario, run in zip(SCENARIOS, runs, strict=True)
            }
    finally:
        processes.stop()  # before the figures are printed (also done by main, for any other way out)
    return report(args, runs, problems, samples, baseline, elapsed)


def report(
    args: argparse.Namespace,
    runs: list[dict[str, Any]],
    problems: dict[str, list[str]],
    samples: Samples,
    baseline: int,
    elapsed: float,
) -> bool:
    print(f"\n8 runs at once, {args.iterations} iterations each, response cap {CAP // MIB} MiB: ", end="")
    print(f"all ended in {elapsed:.1f} s\n")
    print(f"{'run':42} {'status':8} {'requests':>8} {'seconds':>8}  checks")
    for scenario, run in zip(SCENARIOS, runs, strict=True):
        found = problems[scenario.name]
        print(
            f"{scenario.name:42} {run['status']:8} {run['requests']['total'] or 0:>8} "
            f"{(run['duration_ms'] or 0) / 1000:>8.1f}  {'ok' if not found else '; '.join(found)}"
        )
    peak_mb = max(max(samples.rss, default=0), samples.high_water) / 1e6
    health_max, health_p99 = max(samples.health_ms, default=0.0), percentile(samples.health_ms, 0.99)
    print(f"\nAPI process RSS: {baseline / 1e6:.0f} MB before the runs, ", end="")
    print(f"peak {peak_mb:.0f} MB ({len(samples.rss)} samples, and the kernel's high-water mark)")
    print(
        f"/health: {len(samples.health_ms)} answers, median {percentile(samples.health_ms, 0.5):.1f} ms, "
        f"p99 {health_p99:.1f} ms, max {health_max:.1f} ms, {len(samples.health_failures)} failed"
    )
    checks_ok = not any(problems.values()) and not samples.health_failures
    bars = [
        (f"peak RSS {peak_mb:.0f} MB < {BAR_RSS_MB:.0f} MB", peak_mb < BAR_RSS_MB),
        (f"/health max {health_max:.0f} ms < {BAR_HEALTH_MS:.0f} ms", health_max < BAR_HEALTH_MS),
        ("every run recorded what its target did", checks_ok),
    ]
    print()
    for what, passed in bars:
        print(f"{'PASS' if passed else 'FAIL'}  {what}")
    return all(passed for _, passed in bars)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=30, help="iterations (data rows) per run (default 30)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds the runs may take (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (SQLite file, logs)")
    parser.add_argument("--serve-target", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    if args.serve_target:
        # The target is meant to be cut off mid-body: aiohttp's "Cannot write to closing transport" is expected.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        serve_target(args.serve_target)
        return 0
    work = Path(tempfile.mkdtemp(prefix="exile-hostile-"))
    try:
        processes = start_processes(work)
        try:
            return 0 if asyncio.run(benchmark(args, work, processes)) else 1
        finally:
            processes.stop()
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
