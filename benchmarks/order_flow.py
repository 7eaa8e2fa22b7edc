"""Order-flow benchmark: Exile (every request recorded in SQLite) side by side with Newman and a bare aiohttp loop.

    uv run python benchmarks/order_flow.py --rows 1000                 # throughput at concurrency 1 and 16
    uv run python benchmarks/order_flow.py --rows 100000 --no-newman   # the same without Newman
    uv run python benchmarks/order_flow.py --memory 10000,100000       # peak RSS of the Exile flow per row count

The flow, target and data come from ../shared/bench (login -> create order -> pay, with the Postman
collection's assertions and extractions). See benchmarks/README.md for the bars and how to read the output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import resource
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.bootstrap import migrate
from app.core.db import build_engine
from app.engine.flow import CaseSpec, DataRow, EnvironmentSpec, FlowSpec, RunOptions, StepSpec
from app.engine.runner import run_flow
from app.engine.specs import Assertion, Extractor
from app.engine.transport import AiohttpTransport
from app.models import ApiRequestRun, Project, ScenarioRun, User
from app.models.base import utcnow
from app.runs.sink import DatabaseSink

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / ".cache"
TARGET = "http://127.0.0.1:18080"
STEPS_PER_ROW = 3
BATCH_SIZE = 500  # app.core.config Settings.run_batch_size

# The bars of the issue.
BAR_NEWMAN = {1: 15.0, 16: 40.0}  # Exile requests/s >= this many times Newman's
BAR_BARE = {16: 0.3}  # Exile requests/s >= this fraction of the bare loop's
BAR_MEMORY = 1.5  # peak RSS at the largest row count <= this many times the smallest's


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


def order_flow_steps() -> list[StepSpec]:
    """The order flow's cases as the engine's steps."""
    cases = order_flow_cases()
    steps = []
    for case in cases:
        # The shapes the API would accept when the cases are saved (DESIGN 4 and 9).
        for extractor in case.get("extractors", []):
            Extractor.model_validate(extractor)
        for assertion in case["assertions"]:
            Assertion.model_validate(assertion)
        name = case.pop("name")
        steps.append(StepSpec(case=CaseSpec(id=None, name=name, request=case)))
    return steps


def read_rows(path: Path) -> Iterator[DataRow]:
    """The data rows, read lazily. qty becomes a number, as the Postman body's unquoted `{{qty}}` sends it."""
    with path.open(newline="") as f:
        for index, row in enumerate(csv.DictReader(f)):
            row["qty"] = int(row["qty"])
            yield DataRow(index=index, variables=row)


# ---- results ---------------------------------------------------------------------------------------------------
@dataclass
class Measured:
    runner: str
    concurrency: int | None
    requests: int
    seconds: float
    problems: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


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

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    problems = []
    if sent != rows * STEPS_PER_ROW:
        problems.append(f"{sent} requests, expected {rows * STEPS_PER_ROW}")
    if failures:
        problems.append(f"{failures} iterations failed their checks")
    return Measured("bare aiohttp", concurrency, sent, seconds, problems)


# ---- Exile -----------------------------------------------------------------------------------------------------
def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def fresh_database(path: Path) -> int:
    """A new SQLite file, migrated, with the user, project and run that the records point at."""
    remove_database(path)
    log = io.StringIO()
    try:
        with contextlib.redirect_stderr(log):  # Alembic's INFO lines; shown only if the migration fails
            migrate(sqlite_url(path))  # Alembic runs its own event loop: call it outside ours
    except Exception:
        print(log.getvalue(), file=sys.stderr)
        raise
    return asyncio.run(_seed(sqlite_url(path)))


async def _seed(url: str) -> int:
    engine = build_engine(url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            user = User(email="bench@example.com", full_name="Bench", password_hash="-")
            session.add(user)
            await session.flush()
            project = Project(name="bench", owner_id=user.id)
            session.add(project)
            await session.flush()
            run = ScenarioRun(
                project_id=project.id,
                kind="scenario",
                status="running",
                created_by_id=user.id,
                created_at=utcnow(),
                started_at=utcnow(),
            )
            session.add(run)
            await session.commit()
            return run.id
    finally:
        await engine.dispose()


async def run_exile(db: Path, run_id: int, data: Path, rows: int, concurrency: int) -> Measured:
    engine = build_engine(sqlite_url(db))
    session_factory = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    transport = AiohttpTransport(limit=max(8, concurrency * 2))  # as app.runs.executor builds it
    sink = DatabaseSink(session_factory, run_id, BATCH_SIZE)
    flow = FlowSpec(steps=order_flow_steps(), environment=EnvironmentSpec(base_url=TARGET), rows=read_rows(data))
    options = RunOptions(concurrency=concurrency)
    async with engine.connect() as connection:  # a server's pool is warm: open SQLite before the clock starts
        await connection.exec_driver_sql("SELECT 1")
    try:
        started = time.perf_counter()
        outcome = await run_flow(flow, options, transport, sink)
        await sink.flush()
        seconds = time.perf_counter() - started
    finally:
        await transport.close()
    try:
        problems = await _verify(engine, run_id, rows, outcome.requests.as_dict(), outcome.status)
    finally:
        await engine.dispose()
    return Measured("Exile + SQLite", concurrency, outcome.requests.passed, seconds, problems)


async def _verify(engine: AsyncEngine, run_id: int, rows: int, counts: dict[str, int], status: str) -> list[str]:
    expected = rows * STEPS_PER_ROW
    problems = []
    if status != "passed" or counts["passed"] != expected or counts["failed"] or counts["error"]:
        problems.append(f"engine outcome {status} {counts}, expected {expected} passed")
    async with AsyncSession(engine) as session:
        recorded = await session.scalar(
            select(func.count()).select_from(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run_id)
        )
        passed = await session.scalar(
            select(func.count())
            .select_from(ApiRequestRun)
            .where(ApiRequestRun.scenario_run_id == run_id, ApiRequestRun.status == "passed")
        )
        run = await session.get(ScenarioRun, run_id)
    if recorded != expected:
        problems.append(f"{recorded} ApiRequestRun rows, expected {expected}")
    if passed != expected:
        problems.append(f"{passed} ApiRequestRun rows passed, expected {expected}")
    if run is None or run.requests_passed != expected:
        problems.append(f"ScenarioRun.requests_passed is {run.requests_passed if run else None}, expected {expected}")
    return problems


# ---- the modes -------------------------------------------------------------------------------------------------
def median_of(trials: list[Measured]) -> Measured:
    """The trial with the median requests/s; a trial's failed checks count whichever trial is picked."""
    ranked = sorted(trials, key=lambda m: m.rps)
    pick = ranked[len(ranked) // 2]
    problems = [p for m in trials for p in m.problems]
    spread = f"{len(trials)} runs {ranked[0].rps:,.0f}-{ranked[-1].rps:,.0f}/s" if len(trials) > 1 else ""
    return Measured(pick.runner, pick.concurrency, pick.requests, pick.seconds, problems, note=spread)


def throughput(args: argparse.Namespace, work: Path) -> bool:
    data = make_data(args.bench_dir, args.rows, work)
    results: list[Measured] = []
    newman = None
    if not args.no_newman:
        print(f"Newman: {args.rows} rows ...", flush=True)
        newman = run_newman(args.bench_dir, data, args.rows, work)
        results.append(newman)
    for concurrency in args.concurrency:
        bare_trials: list[Measured] = []
        exile_trials: list[Measured] = []
        for trial in range(1, args.repeat + 1):  # interleaved, so a slow spell of the machine hits both
            print(f"concurrency {concurrency}, run {trial}/{args.repeat}: bare aiohttp, Exile ...", flush=True)
            bare_trials.append(asyncio.run(run_bare(data, args.rows, concurrency)))
            db = work / f"exile-c{concurrency}.db"
            run_id = fresh_database(db)
            exile_trials.append(asyncio.run(run_exile(db, run_id, data, args.rows, concurrency)))
            if not args.keep_db:
                remove_database(db)
        results += [median_of(bare_trials), median_of(exile_trials)]

    ok = True
    print()
    print(f"order flow, {args.rows} rows = {args.rows * STEPS_PER_ROW} requests per runner, target {TARGET}")
    if args.repeat > 1:
        print(f"bare aiohttp and Exile: the median of {args.repeat} interleaved runs; Newman: one run")
    print()
    print("| concurrency | runner | requests | seconds | requests/s | checks |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for m in results:
        checks = "all passed" if not m.problems else "; ".join(m.problems)
        ok = ok and not m.problems
        level = "sequential" if m.concurrency is None else str(m.concurrency)
        note = f" ({m.note})" if m.note else ""
        print(f"| {level} | {m.runner}{note} | {m.requests} | {m.seconds:.2f} | {m.rps:,.0f} | {checks} |")
    print()
    print("| concurrency | Exile/Newman | bar | Exile/bare | bar |")
    print("| --- | ---: | --- | ---: | --- |")
    for concurrency in args.concurrency:
        exile = next(m for m in results if m.runner.startswith("Exile") and m.concurrency == concurrency)
        bare = next(m for m in results if m.runner.startswith("bare") and m.concurrency == concurrency)
        cells = []
        for base, bars in ((newman, BAR_NEWMAN), (bare, BAR_BARE)):
            if base is None or not base.rps:
                cells += ["-", "skipped"]
                continue
            ratio = exile.rps / base.rps
            bar = bars.get(concurrency)
            if bar is None:
                verdict = "(no bar)"
            else:
                passed = ratio >= bar and not exile.problems
                ok = ok and passed
                verdict = f">= {bar:g}x {'PASS' if passed else 'FAIL'}"
            cells += [f"{ratio:.2f}x", verdict]
        print(f"| {concurrency} | " + " | ".join(cells) + " |")
    print()
    print("RESULT:", "PASS" if ok else "FAIL")
    return ok


def memory(args: argparse.Namespace, work: Path) -> bool:
    concurrency = max(args.concurrency)
    peaks: list[dict[str, Any]] = []
    for rows in args.memory:
        data = make_data(args.bench_dir, rows, work)
        db = work / f"exile-memory-{rows}.db"
        run_id = fresh_database(db)
        print(f"Exile in a fresh process: {rows} rows, concurrency {concurrency} ...", flush=True)
        command = [sys.executable, __file__, "--memory-child", "--rows", str(rows)]
        command += ["--concurrency", str(concurrency), "--db", str(db), "--run-id", str(run_id), "--data", str(data)]
        child = subprocess.run(command, capture_output=True, text=True)
        if not args.keep_db:
            remove_database(db)
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            raise SystemExit(f"the child for {rows} rows exited {child.returncode}")
        peaks.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print()
    print(f"peak RSS of the Exile flow (fresh process each, concurrency {concurrency}, every request in SQLite)")
    print()
    print("| rows | requests | seconds | requests/s | peak RSS MiB | checks |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    ok = True
    for p in peaks:
        checks = "all passed" if not p["problems"] else "; ".join(p["problems"])
        ok = ok and not p["problems"]
        print(
            f"| {p['rows']:,} | {p['requests']:,} | {p['seconds']:.1f} | {p['requests'] / p['seconds']:,.0f} "
            f"| {p['max_rss_kib'] / 1024:.1f} | {checks} |"
        )
    smallest = min(peaks, key=lambda p: p["rows"])
    largest = max(peaks, key=lambda p: p["rows"])
    ratio = largest["max_rss_kib"] / smallest["max_rss_kib"]
    passed = ratio <= BAR_MEMORY
    ok = ok and passed
    print()
    print(
        f"peak RSS {largest['rows']:,} rows / {smallest['rows']:,} rows: {ratio:.2f}x "
        f"(bar <= {BAR_MEMORY:g}x) {'PASS' if passed else 'FAIL'}"
    )
    print()
    print("RESULT:", "PASS" if ok else "FAIL")
    return ok


def memory_child(args: argparse.Namespace) -> None:
    """Runs only the Exile flow and prints its peak RSS (kernel's high-water mark of this process) as JSON."""
    measured = asyncio.run(run_exile(args.db, args.run_id, args.data, args.rows, max(args.concurrency)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "rows": args.rows,
                "requests": measured.requests,
                "seconds": measured.seconds,
                "max_rss_kib": peak,
                "problems": measured.problems,
            }
        )
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000, help="data rows (3 requests each); default 1000")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 16],
        help="comma-separated iterations in flight; default 1,16 (memory mode uses the largest)",
    )
    parser.add_argument("--no-newman", action="store_true", help="skip Newman")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="interleaved runs of the bare loop and Exile per concurrency; the median counts (default 3)",
    )
    parser.add_argument(
        "--memory",
        type=lambda s: [int(x) for x in s.split(",")],
        metavar="ROWS,ROWS",
        help="peak RSS of the Exile flow per row count, each in a fresh process, e.g. 10000,100000",
    )
    parser.add_argument(
        "--bench-dir",
        type=Path,
        default=REPO.parent / "shared" / "bench",
        help="the shared bench fixture (start_target.sh, make_data.py, the collection); default ../shared/bench",
    )
    parser.add_argument("--work-dir", type=Path, default=CACHE / "work", help="data files and SQLite databases")
    parser.add_argument("--keep-db", action="store_true", help="keep the SQLite files of the Exile runs to inspect")
    # Internal: the fresh process of --memory.
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory is not None and len(args.memory) < 2:
        parser.error("--memory needs at least two row counts, e.g. 10000,100000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args)
        return 0
    args.bench_dir = args.bench_dir.resolve()
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    ensure_target(args.bench_dir)
    ok = memory(args, work) if args.memory else throughput(args, work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
