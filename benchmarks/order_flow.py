"""Order-flow benchmark: Exile's executor (every request recorded) side by side with Newman and a bare aiohttp loop.

    uv run python benchmarks/order_flow.py --rows 2000                            # SQLite, PostgreSQL, MariaDB
    uv run python benchmarks/order_flow.py --rows 2000 --db sqlite --no-newman    # one database, no Newman
    uv run python benchmarks/order_flow.py --memory 10000,100000                  # peak RSS per process

The flow, target and data come from ../shared/bench (login -> create order -> pay, with the Postman
collection's assertions and extractions). Exile runs it as the server does: a queued ScenarioRun executed by
`app.runs.executor.execute_run` (benchmarks/exile_runs.py). See benchmarks/README.md for the bars.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))  # this tree's `app` and `benchmarks`

import aiohttp  # noqa: E402
import orjson  # noqa: E402

from app.core.loops import loop_factory  # noqa: E402
from app.engine.specs import DataRow  # noqa: E402
from benchmarks.exile_runs import (  # noqa: E402
    BACKEND_NAMES,
    STEPS_PER_ROW,
    Database,
    Executed,
    InlineExecutor,
    PeakSampler,
    Seeded,
    fresh_database,
    parse_backends,
    run_inline,
    seed_scenario,
)

CACHE = REPO / "benchmarks" / ".cache"
TARGET = "http://127.0.0.1:18080"

# The bars of issue 8.
BAR_NEWMAN = {1: 40.0, 16: 100.0}  # Exile requests/s >= this many times Newman's
BAR_BARE = {16: 0.8}  # Exile requests/s >= this fraction of the bare loop's at the same concurrency
BAR_MEMORY = 1.5  # peak RSS per process at the largest row count <= this many times the smallest's


# ---- the flow --------------------------------------------------------------------------------------------------
def order_flow_cases() -> list[dict[str, Any]]:
    """The Postman collection's three requests with the same assertions and extractions, as saved cases."""
    json_header = {"Content-Type": "application/json"}
    authorized = {"Authorization": "Bearer {{token}}", "Content-Type": "application/json"}
    status_200 = {"source": "status_code", "op": "eq", "expected": 200}
    return [
        {
            "name": "login",
            "method": "POST",
            "url": "/login",
            "headers": json_header,
            "body": {"mode": "json", "content": {"username": "{{username}}", "password": "{{password}}"}},
            "extractors": [{"name": "token", "source": "body", "expression": "$.data.token"}],
            "assertions": [status_200, {"source": "body", "expression": "$.code", "op": "eq", "expected": 0}],
        },
        {
            "name": "create order",
            "method": "POST",
            "url": "/orders",
            "headers": authorized,
            "body": {"mode": "json", "content": {"sku": "{{sku}}", "qty": "{{qty}}"}},
            "extractors": [{"name": "order_id", "source": "body", "expression": "$.data.order_id"}],
            "assertions": [
                status_200,
                {"source": "body", "expression": "$.data.order_id", "op": "type", "expected": "string"},
            ],
        },
        {
            "name": "pay",
            "method": "POST",
            "url": "/pay",
            "headers": authorized,
            "body": {"mode": "json", "content": {"order_id": "{{order_id}}"}},
            "assertions": [
                status_200,
                {"source": "body", "expression": "$.data.status", "op": "eq", "expected": "PAID"},
            ],
        },
    ]


def read_rows(path: Path) -> Iterator[DataRow]:
    """The data rows, read lazily. qty becomes a number, as the Postman body's unquoted `{{qty}}` sends it."""
    with path.open(newline="") as f:
        for index, row in enumerate(csv.DictReader(f)):
            row["qty"] = int(row["qty"])
            yield DataRow(index=index, variables=row)


def seed_order_flow(db: Database, data: Path) -> Seeded:
    """The order flow saved in `db` as the API saves it, with one scenario data row per CSV row."""
    return seed_scenario(db.url, order_flow_cases(), read_rows(data), TARGET)


# ---- results ---------------------------------------------------------------------------------------------------
@dataclass
class Measured:
    runner: str
    concurrency: int | None
    requests: int
    seconds: float
    problems: list[str] = field(default_factory=list)
    note: str = ""
    cpu_seconds: float = float("nan")  # of the process that ran it, over the same span

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6 if self.requests else float("nan")


def median_of(trials: list[Measured]) -> Measured:
    """The trial with the median requests/s; a trial's failed checks count whichever trial is picked."""
    ranked = sorted(trials, key=lambda m: m.rps)
    pick = ranked[len(ranked) // 2]
    problems = [p for m in trials for p in m.problems]
    spread = f"{len(trials)} runs {ranked[0].rps:,.0f}-{ranked[-1].rps:,.0f}/s" if len(trials) > 1 else ""
    return Measured(pick.runner, pick.concurrency, pick.requests, pick.seconds, problems, note=spread)


def median_run(trials: list[Executed]) -> Executed:
    """The run with the median end-to-end requests/s."""
    return sorted(trials, key=lambda e: e.rps)[len(trials) // 2]


def middle(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


# ---- the target and the data -----------------------------------------------------------------------------------
def target_answers() -> bool:
    request = urllib.request.Request(f"{TARGET}/login", data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def ensure_target(bench_dir: Path) -> None:
    if target_answers():
        return
    print(f"starting the nginx target: {bench_dir / 'start_target.sh'}", flush=True)
    subprocess.run(["bash", str(bench_dir / "start_target.sh")], check=True)
    if not target_answers():
        raise SystemExit(f"the target does not answer on {TARGET}")


def make_data(bench_dir: Path, rows: int, work: Path) -> Path:
    out = work / f"data-{rows}.csv"
    if not out.exists():
        subprocess.run([sys.executable, str(bench_dir / "make_data.py"), str(rows), str(out)], check=True)
    return out


def machine() -> str:
    """Cores, load and what else runs on them (the target's nginx workers)."""
    nginx = subprocess.run(["pgrep", "-c", "-f", "nginx: worker"], capture_output=True, text=True).stdout.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc {os.cpu_count()}, load average {load}, nginx target workers {nginx or 0} (same cores)"


# ---- Newman ----------------------------------------------------------------------------------------------------
def ensure_newman() -> Path:
    prefix = CACHE / "newman"
    binary = prefix / "node_modules" / ".bin" / "newman"
    if not binary.exists():
        if shutil.which("npm") is None:
            raise SystemExit("npm is not installed: install Node.js and npm, or pass --no-newman")
        print(f"installing newman@6 into {prefix}", flush=True)
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "newman@6"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return binary


def run_newman(bench_dir: Path, data: Path, rows: int, work: Path) -> Measured:
    binary = ensure_newman()
    report = work / "newman-report.json"
    report.unlink(missing_ok=True)
    started = time.perf_counter()
    collection = bench_dir / "order-flow.postman_collection.json"
    command = [str(binary), "run", str(collection), "-d", str(data), "-r", "json"]
    command += ["--reporter-json-export", str(report)]
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    problems = []
    if done.returncode != 0:
        problems.append(f"newman exited {done.returncode}: {(done.stderr or done.stdout)[-500:]}")
    if not report.exists():
        return Measured("Newman 6", None, 0, wall, [*problems, "no JSON report"])
    run = json.loads(report.read_text())["run"]
    stats = run["stats"]
    requests = stats["requests"]["total"]
    if requests != rows * STEPS_PER_ROW:
        problems.append(f"{requests} requests, expected {rows * STEPS_PER_ROW}")
    if stats["requests"]["failed"] or stats["assertions"]["failed"] or run["failures"]:
        problems.append(f"{stats['assertions']['failed']} assertions failed, {len(run['failures'])} failures")
    # Newman's own run time, without node's start-up: the figure most favourable to Newman.
    seconds = (run["timings"]["completed"] - run["timings"]["started"]) / 1000
    return Measured("Newman 6", None, requests, seconds, problems, note=f"wall {wall:.1f} s with node start-up")


# ---- the bare aiohttp loop -------------------------------------------------------------------------------------
async def run_bare(data: Path, rows: int, concurrency: int) -> Measured:
    """The same three requests per row with the same JSON bodies and checks, and nothing else."""
    headers = {"Content-Type": "application/json"}
    failures = 0
    sent = 0
    connector = aiohttp.TCPConnector(limit=max(8, concurrency * 2))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(path: str, body: dict[str, Any], auth: dict[str, str]) -> tuple[int, Any]:
            nonlocal sent
            async with session.post(TARGET + path, data=orjson.dumps(body), headers=auth) as response:
                raw = await response.read()
                sent += 1
                return response.status, orjson.loads(raw)

        async def one(row: DataRow) -> None:
            nonlocal failures
            v = row.variables
            status, j = await post("/login", {"username": v["username"], "password": v["password"]}, headers)
            ok = status == 200 and j["code"] == 0
            auth = {"Authorization": f"Bearer {j['data']['token']}", **headers}
            status, j = await post("/orders", {"sku": v["sku"], "qty": v["qty"]}, auth)
            order_id = j["data"]["order_id"]
            ok = ok and status == 200 and isinstance(order_id, str)
            status, j = await post("/pay", {"order_id": order_id}, auth)
            ok = ok and status == 200 and j["data"]["status"] == "PAID"
            failures += not ok

        rows_iter = read_rows(data)

        async def worker() -> None:
            for row in rows_iter:  # shared: each worker takes the next row
                await one(row)

        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    problems = []
    if sent != rows * STEPS_PER_ROW:
        problems.append(f"{sent} requests, expected {rows * STEPS_PER_ROW}")
    if failures:
        problems.append(f"{failures} iterations failed their checks")
    return Measured("bare aiohttp", concurrency, sent, seconds, problems, cpu_seconds=cpu)


# ---- Exile through the executor --------------------------------------------------------------------------------
def run_on(choice: str, work: Coroutine[Any, Any, Measured]) -> Measured:
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(work)


def executor_env(args: argparse.Namespace) -> dict[str, str]:
    """The event loop, and RUN_PROCESSES / RUN_CHUNK_ROWS when given (else the app's defaults)."""
    env = {"EVENT_LOOP": args.loop}
    if args.run_processes is not None:
        env["RUN_PROCESSES"] = str(args.run_processes)
    if args.chunk_rows is not None:
        env["RUN_CHUNK_ROWS"] = str(args.chunk_rows)
    return env


def warm_up(executor: InlineExecutor, seeded: Seeded, concurrency: int, rows: int) -> None:
    """One untimed run, so the executor's engine and process pool are as warm as a server's."""
    executed = run_inline(executor, seeded, concurrency, rows)
    if executed.problems:
        raise SystemExit(f"{executor.db.name}: the warm-up run failed: {'; '.join(executed.problems)}")


def exile_row(label: str, concurrency: int, trials: list[Executed]) -> str:
    pick = median_run(trials)
    problems = [p for t in trials for p in t.problems]
    checks = "; ".join(problems) if problems else "all passed"
    each = ", ".join(f"{t.rps:,.0f}" for t in trials)
    row_rps = middle([t.rps_row for t in trials])
    cpu = middle([t.cpu_us_per_request for t in trials])
    return (
        f"| {concurrency} | {label} | {pick.requests} | {pick.end_to_end:.2f} | {pick.rps:,.0f} | {each} "
        f"| {row_rps:,.0f} | {cpu:.0f} | {pick.chunks} | {checks} |"
    )


def throughput(args: argparse.Namespace, work: Path) -> bool:
    data = make_data(args.bench_dir, args.rows, work)
    newman_trials: list[Measured] = []

    databases: list[Database] = []
    executors: dict[str, tuple[InlineExecutor, Seeded]] = {}
    bare: dict[int, list[Measured]] = {c: [] for c in args.concurrency}
    exile: dict[tuple[str, int], list[Executed]] = {}
    try:
        for backend in args.db:
            print(f"{BACKEND_NAMES[backend]}: a fresh database, {args.rows} data rows, the executor ...", flush=True)
            db = fresh_database(backend, work, "", keep=args.keep_db)
            databases.append(db)
            seeded = seed_order_flow(db, data)
            executor = InlineExecutor(db, work / f"inline-executor-{backend}.log", executor_env(args))
            executors[backend] = (executor, seeded)
            warm_up(executor, seeded, max(args.concurrency), args.rows)
        if not args.no_newman:  # after the executors are up: a broken executor fails before minutes of Newman
            for trial in range(1, args.newman_repeat + 1):
                print(f"Newman run {trial}/{args.newman_repeat}: {args.rows} rows ...", flush=True)
                newman_trials.append(run_newman(args.bench_dir, data, args.rows, work))
        for concurrency in args.concurrency:
            for trial in range(1, args.repeat + 1):  # interleaved, so a slow spell of the machine hits every side
                print(f"concurrency {concurrency}, run {trial}/{args.repeat}: bare, {', '.join(args.db)}", flush=True)
                bare[concurrency].append(run_on(args.loop, run_bare(data, args.rows, concurrency)))
                for backend, (executor, seeded) in executors.items():
                    executed = run_inline(executor, seeded, concurrency, args.rows)
                    exile.setdefault((backend, concurrency), []).append(executed)
        settings = next(iter(executors.values()))[0].settings if executors else {}
    finally:
        for executor, _ in executors.values():
            executor.stop()
        for db in databases:
            db.drop()

    newman = median_of(newman_trials) if newman_trials else None
    ok = True
    print()
    print(f"order flow, {args.rows} rows = {args.rows * STEPS_PER_ROW} requests per runner, target {TARGET}")
    print(f"machine: {machine()}")
    print(f"Exile: a queued ScenarioRun executed by execute_run in an executor process (warm); settings {settings}")
    loop_name = loop_factory(args.loop).__module__.split(".")[0]  # uvloop or asyncio
    print(f"event loop of the bare loop and of Exile's processes: {loop_name}")
    print(
        f"median of {args.repeat} interleaved runs (bare, then each database); Newman: median of "
        f"{len(newman_trials)} runs, its own run time without node's start-up"
    )
    print()
    print(
        "| concurrency | runner | requests | seconds | requests/s | runs requests/s "
        "| requests/s claim->finish (run row) | CPU us/request | chunks (most at once) | checks |"
    )
    print("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |")
    if newman is not None:
        ok = ok and not newman.problems
        checks = "; ".join(newman.problems) or "all passed"
        each = ", ".join(f"{m.rps:,.0f}" for m in newman_trials)
        print(
            f"| sequential | Newman 6 | {newman.requests} | {newman.seconds:.2f} | {newman.rps:,.0f} | {each} "
            f"| | | | {checks} |"
        )
    for concurrency in args.concurrency:
        b = median_of(bare[concurrency])
        ok = ok and not b.problems
        each = ", ".join(f"{m.rps:,.0f}" for m in bare[concurrency])
        checks = "; ".join(b.problems) or "all passed"
        cpu = middle([m.cpu_us_per_request for m in bare[concurrency]])
        print(
            f"| {concurrency} | bare aiohttp | {b.requests} | {b.seconds:.2f} | {b.rps:,.0f} | {each} "
            f"| | {cpu:.0f} | | {checks} |"
        )
        for backend in args.db:
            trials = exile[(backend, concurrency)]
            ok = ok and not any(t.problems for t in trials)
            print(exile_row(f"Exile + {BACKEND_NAMES[backend]}", concurrency, trials))
    print()
    print("Ratios of requests/s end to end (claim -> finish from the run row in brackets):")
    print()
    print("| concurrency | database | Exile/Newman | bar | Exile/bare | bar | CPU per request Exile/bare |")
    print("| --- | --- | ---: | --- | ---: | --- | ---: |")
    for concurrency in args.concurrency:
        b = median_of(bare[concurrency])
        for backend in args.db:
            trials = exile[(backend, concurrency)]
            e = median_run(trials)
            row_rps = middle([t.rps_row for t in trials])
            cells = []
            for base, bars in ((newman, BAR_NEWMAN), (b, BAR_BARE)):
                if base is None or not base.rps:
                    cells += ["-", "skipped"]
                    continue
                ratio = e.rps / base.rps
                bar = bars.get(concurrency)
                if bar is None:
                    verdict = "(no bar)"
                else:
                    passed = ratio >= bar and not any(t.problems for t in trials)
                    ok = ok and passed
                    verdict = f">= {bar:g}x {'PASS' if passed else 'FAIL'}"
                cells += [f"{ratio:.2f}x ({row_rps / base.rps:.2f}x)", verdict]
            cpu = middle([t.cpu_us_per_request for t in trials]) / middle(
                [m.cpu_us_per_request for m in bare[concurrency]]
            )
            cells.append(f"{cpu:.1f}x")
            print(f"| {concurrency} | {BACKEND_NAMES[backend]} | " + " | ".join(cells) + " |")
    print()
    print("RESULT:", "PASS" if ok else "FAIL")
    return ok


# ---- memory ----------------------------------------------------------------------------------------------------
def memory(args: argparse.Namespace, work: Path) -> bool:
    concurrency = max(args.concurrency)
    backend = args.db[0]
    peaks: list[dict[str, Any]] = []
    for rows in args.memory:
        data = make_data(args.bench_dir, rows, work)
        db = fresh_database(backend, work, f"memory_{rows}", keep=args.keep_db)
        try:
            seeded = seed_order_flow(db, data)  # in this process: seeding is not the executor's memory
            print(
                f"{rows} rows on {db.name}: a fresh executor process, one run at {concurrency} in flight ...",
                flush=True,
            )
            executor = InlineExecutor(db, work / f"inline-executor-memory-{rows}.log", executor_env(args))
            try:
                sampler = PeakSampler(executor.process.pid)
                executed = run_inline(executor, seeded, concurrency, rows)
                peak = sampler.stop()
            finally:
                executor.stop()
        finally:
            db.drop()
        peaks.append({"rows": rows, "executed": executed, **peak, "settings": executor.settings})
    print()
    print("peak RSS (VmHWM) per process: the executor process and its largest child (the run's process pool)")
    print(
        f"{BACKEND_NAMES[backend]}, concurrency {concurrency}, every request recorded; settings {peaks[0]['settings']}"
    )
    print()
    print("| rows | requests | seconds | requests/s | executor peak MiB | largest child peak MiB | children | checks |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    ok = True
    for p in peaks:
        e: Executed = p["executed"]
        checks = "; ".join(e.problems) or "all passed"
        ok = ok and not e.problems
        print(
            f"| {p['rows']:,} | {e.requests:,} | {e.end_to_end:.1f} | {e.rps:,.0f} | {p['executor'] / 1024:.1f} "
            f"| {p['children'] / 1024:.1f} | {p['n_children']} | {checks} |"
        )
    smallest = min(peaks, key=lambda p: p["rows"])
    largest = max(peaks, key=lambda p: p["rows"])
    print()
    for role in ("executor", "children"):
        if not smallest[role]:
            print(f"{role}: none")
            continue
        ratio = largest[role] / smallest[role]
        passed = ratio <= BAR_MEMORY
        ok = ok and passed
        label = "executor process" if role == "executor" else "largest child process"
        print(
            f"peak RSS of the {label}, {largest['rows']:,} rows / {smallest['rows']:,} rows: {ratio:.2f}x "
            f"(bar <= {BAR_MEMORY:g}x) {'PASS' if passed else 'FAIL'}"
        )
    print()
    print("RESULT:", "PASS" if ok else "FAIL")
    return ok


# ---- the command -----------------------------------------------------------------------------------------------
def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options order_flow.py and celery_vs_inline.py share."""
    parser.add_argument(
        "--loop",
        choices=["auto", "asyncio", "uvloop"],
        default="auto",
        help="event loop of the bare loop and of Exile's processes alike (default auto: uvloop where installed)",
    )
    parser.add_argument(
        "--run-processes", type=int, help="RUN_PROCESSES for the executing processes (default: the app's default)"
    )
    parser.add_argument(
        "--chunk-rows", type=int, help="RUN_CHUNK_ROWS for the executing processes (default: the app's)"
    )
    parser.add_argument(
        "--bench-dir",
        type=Path,
        default=REPO.parent / "shared" / "bench",
        help="the shared bench fixture (start_target.sh, make_data.py, the collection); default ../shared/bench",
    )
    parser.add_argument("--work-dir", type=Path, default=CACHE / "work", help="data files, SQLite databases, logs")
    parser.add_argument("--keep-db", action="store_true", help="keep the databases (SQLite files, server databases)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000, help="data rows (3 requests each); default 2000")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 16],
        help="comma-separated iterations in flight; default 1,16 (memory mode uses the largest)",
    )
    parser.add_argument(
        "--db",
        type=parse_backends,
        default=["sqlite", "postgresql", "mariadb"],
        help="comma-separated databases: sqlite,postgresql,mariadb (default all; memory mode uses the first)",
    )
    parser.add_argument("--no-newman", action="store_true", help="skip Newman")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per runner and concurrency (default 3)")
    parser.add_argument("--newman-repeat", type=int, help="Newman runs (default: --repeat)")
    parser.add_argument(
        "--memory",
        type=lambda s: [int(x) for x in s.split(",")],
        metavar="ROWS,ROWS",
        help="peak RSS per process of one run per row count, each in a fresh executor, e.g. 10000,100000",
    )
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.memory is not None and len(args.memory) < 2:
        parser.error("--memory needs at least two row counts, e.g. 10000,100000")
    if args.newman_repeat is None:
        args.newman_repeat = args.repeat
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C: the executors stopped, the databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.bench_dir = args.bench_dir.resolve()
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    ensure_target(args.bench_dir)
    ok = memory(args, work) if args.memory else throughput(args, work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
