"""`exile run` (serverless) against Newman on the same collection, data file and nginx target, in one command.

    uv run python benchmarks/cli_vs_newman.py                     # 1,000 rows; c=1 and c=16; memory 10k vs 100k
    uv run python benchmarks/cli_vs_newman.py --no-memory --repeat 1

Both run ../shared/bench/order-flow.postman_collection.json with a data file from make_data.py. Bars (issue 9):
`exile run` requests/s >= 20x Newman's at --concurrency 1 and >= 60x at 16, the same pass/fail counts per
request, and the peak RSS of `exile run` at 100,000 rows within 1.5x of 10,000 rows. Requests/s are each
runner's own run time (Newman's from its JSON report, `exile run`'s from its summary line), without the
interpreter's start-up; the wall time with start-up is shown beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))

from benchmarks.order_flow import (  # noqa: E402
    CACHE,
    TARGET,
    ensure_target,
    machine,
    make_data,
    middle,
    run_newman,
)

BAR_NEWMAN = {1: 20.0, 16: 60.0}
BAR_MEMORY = 1.5
COLLECTION = "order-flow.postman_collection.json"
SUMMARY = re.compile(r"requests: .*\((\d+) sent in ([\d.]+) s")
OUTCOMES = re.compile(r"requests: (?P<passed>\d+) passed, (?P<failed>\d+) failed, (?P<error>\d+) error")


@dataclass
class CliRun:
    concurrency: int
    rows: int
    exit_code: int
    requests: int
    seconds: float  # the run's own time, from its summary line
    wall: float  # with the interpreter's start-up and the report written
    peak_kib: int
    cpu_seconds: float = float("nan")  # user + system of the process, start-up included
    outcomes: dict[str, int] = field(default_factory=dict)  # per request: passed / failed / error
    problems: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def exile_binary() -> Path:
    """The `exile` script of this interpreter's environment (run directly: `uv run` would add its own process)."""
    binary = Path(sys.executable).parent / "exile"
    if not binary.exists():
        raise SystemExit(f"{binary} is missing: run this with `uv run python benchmarks/cli_vs_newman.py`")
    return binary


def run_exile(bench_dir: Path, data: Path, rows: int, concurrency: int, work: Path, reporter: str = "json") -> CliRun:
    """One `exile run` with a report written (streamed from the spilled results) besides the summary."""
    report = work / f"exile-report-{rows}-{concurrency}.{reporter}"
    report.unlink(missing_ok=True)
    command = [str(exile_binary()), "run", str(bench_dir / COLLECTION), "-d", str(data)]
    command += [
        "--concurrency",
        str(concurrency),
        "-r",
        f"cli,{reporter}",
        f"--reporter-{reporter}-export",
        str(report),
    ]
    started = time.perf_counter()
    with open(work / "exile-run.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    output = (work / "exile-run.log").read_text()
    run = CliRun(concurrency, rows, process.returncode, 0, 0.0, wall, usage.ru_maxrss)
    run.cpu_seconds = usage.ru_utime + usage.ru_stime
    run.requests, run.seconds, run.problems = summary_of(output, process.returncode, rows * 3)
    if not run.requests:
        return run
    outcomes = OUTCOMES.search(output)
    if outcomes is not None:
        run.outcomes = {name: int(outcomes.group(name)) for name in ("passed", "failed", "error")}
        run.outcomes = {name: count for name, count in run.outcomes.items() if count}
    if not report.exists() or report.stat().st_size == 0:
        run.problems.append(f"no {reporter} report")
    elif reporter == "json" and rows <= 10_000:  # the report holds one execution per request, as counted
        with report.open() as f:
            executions = json.load(f)["executions"]
        if len(executions) != run.requests:
            run.problems.append(f"the JSON report holds {len(executions)} executions, not {run.requests}")
    report.unlink(missing_ok=True)  # 100,000 rows make a large file
    return run


def summary_of(output: str, exit_code: int, expected: int) -> tuple[int, float, list[str]]:
    """Requests sent and the run's seconds from `exile run`'s summary line, and what is wrong with the run."""
    found = SUMMARY.search(output)
    if found is None:
        return 0, 0.0, [f"no summary line; output ends: {output[-500:]}"]
    requests, seconds = int(found.group(1)), float(found.group(2))
    problems = [f"exit code {exit_code}"] if exit_code != 0 else []
    if requests != expected:
        problems.append(f"{requests} requests, expected {expected}")
    return requests, seconds, problems


def newman_outcomes(work: Path) -> dict[str, int]:
    """Per request from Newman's JSON report: error (no response), failed (a test failed), else passed."""
    run = json.loads((work / "newman-report.json").read_text())["run"]
    outcomes: dict[str, int] = {}
    for execution in run["executions"]:
        if execution.get("requestError"):
            outcome = "error"
        elif any(assertion.get("error") for assertion in execution.get("assertions", [])):
            outcome = "failed"
        else:
            outcome = "passed"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def throughput(args: argparse.Namespace, work: Path) -> bool:
    data = make_data(args.bench_dir, args.rows, work)
    ok = True
    newman = None
    newman_counts: dict[str, int] = {}
    if not args.no_newman:
        print(f"Newman: {args.rows} rows ...", flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        newman = run_newman(args.bench_dir, data, args.rows, work)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        newman.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        newman_counts = newman_outcomes(work) if (work / "newman-report.json").exists() else {}
    trials: dict[int, list[CliRun]] = {c: [] for c in args.concurrency}
    for trial in range(1, args.repeat + 1):
        for concurrency in args.concurrency:
            print(f"exile run, concurrency {concurrency}, run {trial}/{args.repeat} ...", flush=True)
            trials[concurrency].append(run_exile(args.bench_dir, data, args.rows, concurrency, work))
    print()
    print(f"order flow, {args.rows} rows = {args.rows * 3} requests per runner, target {TARGET}")
    print(f"machine: {machine()}")
    print()
    print(
        "| runner | concurrency | requests | run seconds | requests/s | runs requests/s | wall s "
        "| CPU us/request (with start-up) | per request |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |")
    if newman is not None:
        print(
            f"| Newman 6 | 1 | {newman.requests} | {newman.seconds:.2f} | {newman.rps:,.1f} | | {newman.note} "
            f"| {newman.cpu_us_per_request:,.0f} | {newman_counts} |"
        )
        ok = ok and not newman.problems
        for problem in newman.problems:
            print(f"Newman: {problem}")
    for concurrency, runs in trials.items():
        pick = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
        each = ", ".join(f"{r.rps:,.0f}" for r in runs)
        print(
            f"| exile run | {concurrency} | {pick.requests} | {pick.seconds:.2f} | {pick.rps:,.0f} | {each} "
            f"| {middle([r.wall for r in runs]):.1f} | {middle([r.cpu_seconds / r.requests * 1e6 for r in runs]):,.0f} "
            f"| {pick.outcomes} |"
        )
    print()
    for concurrency, runs in trials.items():
        pick = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
        problems = [p for r in runs for p in r.problems]
        same = all(r.outcomes == newman_counts for r in runs) if newman is not None else True
        ok = ok and not problems and same
        for problem in problems:
            print(f"exile run c={concurrency}: {problem}")
        if newman is None or not newman.rps:
            print(f"c={concurrency}: Newman skipped")
            continue
        ratio = pick.rps / newman.rps
        bar = BAR_NEWMAN.get(concurrency)
        passed = bar is None or ratio >= bar
        ok = ok and passed
        verdict = "(no bar)" if bar is None else f"bar >= {bar:g}x {'PASS' if passed else 'FAIL'}"
        cpu = newman.cpu_us_per_request / middle([r.cpu_seconds / r.requests * 1e6 for r in runs])
        print(
            f"c={concurrency}: exile run / Newman requests/s = {ratio:.1f}x {verdict}; Newman's CPU per request / "
            f"exile run's = {cpu:.1f}x; "
            f"pass/fail per request {'identical' if same else 'DIFFERENT'} ({pick.outcomes} vs Newman {newman_counts})"
        )
    return ok


def memory(args: argparse.Namespace, work: Path) -> bool:
    concurrency = max(args.concurrency)
    peaks: list[CliRun] = []
    for rows in args.memory:
        data = make_data(args.bench_dir, rows, work)
        print(f"exile run, {rows:,} rows at concurrency {concurrency}, JUnit report written ...", flush=True)
        peaks.append(run_exile(args.bench_dir, data, rows, concurrency, work, reporter="junit"))
    print()
    print("| rows | requests | run seconds | requests/s | peak RSS MiB | checks |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    ok = True
    for run in peaks:
        ok = ok and not run.problems
        checks = "; ".join(run.problems) or f"all {run.outcomes}"
        print(
            f"| {run.rows:,} | {run.requests:,} | {run.seconds:.1f} | {run.rps:,.0f} | {run.peak_kib / 1024:.1f} "
            f"| {checks} |"
        )
    smallest, largest = min(peaks, key=lambda r: r.rows), max(peaks, key=lambda r: r.rows)
    ratio = largest.peak_kib / smallest.peak_kib
    passed = ratio <= BAR_MEMORY
    print()
    print(
        f"peak RSS of exile run, {largest.rows:,} rows / {smallest.rows:,} rows: {ratio:.2f}x "
        f"(bar <= {BAR_MEMORY:g}x) {'PASS' if passed else 'FAIL'}"
    )
    return ok and passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000, help="data rows for the throughput runs (default 1000)")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16], help="default 1,16"
    )
    parser.add_argument("--repeat", type=int, default=3, help="exile runs per concurrency (median); default 3")
    parser.add_argument("--no-newman", action="store_true", help="skip Newman")
    parser.add_argument(
        "--memory",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[10_000, 100_000],
        help="row counts for the peak RSS comparison (default 10000,100000)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak RSS comparison")
    parser.add_argument("--bench-dir", type=Path, default=REPO.parent / "shared" / "bench")
    parser.add_argument("--work-dir", type=Path, default=CACHE / "work-cli")
    args = parser.parse_args(argv)
    args.bench_dir = args.bench_dir.resolve()
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    ensure_target(args.bench_dir)
    ok = throughput(args, work)
    if not args.no_memory:
        print()
        ok = memory(args, work) and ok
    print()
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
