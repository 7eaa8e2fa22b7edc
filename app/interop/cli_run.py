"""`exile run`: a Postman collection or an Exile file run from the shell with no server and no database (a
scenario run on a server, `--server`, is app.interop.run_server). Flags follow Newman's so a CI line moves over.

Serverless, the file goes through the same reader as an import (app.interop.service.read), becomes a FlowSpec
(app.interop.flow_from_content) and runs in the engine. Results are never all held in memory: every final one
is spilled to a temporary SQLite file as it comes (with per-step counters kept aside), and the reporters read
them back in (step, iteration) order. Exit codes: 0 all passed, 1 a check failed or a request errored (or
the run stopped), 2 a usage or file problem, with a message naming it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import multiprocessing
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.core import loops
from app.core.config import get_settings
from app.engine.http1 import open_transport
from app.engine.results import Counts, StepResult
from app.engine.runner import FlowRunner
from app.engine.specs import VARIABLE_NAME, DataRow, FlowSpec, RunOptions
from app.engine.statuses import FAILING, ResultStatus, RunStatus
from app.interop import data_files
from app.interop.content import ProjectContent
from app.interop.flow_from_content import (
    ContentNotRunnable,
    RunEnvironment,
    build_flow,
    carried_reads,
    numbered,
    pick_scenario,
)
from app.interop.reports.model import ReportRun, StepSummary

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
REPORT_SUFFIX = {"json": "json", "junit": "xml", "html": "html"}
REPORT_DIR = Path("exile-reports")  # like Newman's `newman/`: reports without an export path go here
FAILURES_SHOWN = 20
FINAL_RUN_STATUSES = {status.value for status in RunStatus} - {"queued", "running"}


class UsageError(Exception):
    """Exit code 2: a bad flag or a file that cannot be used; the message names which and why."""


# ---- what the command was asked ------------------------------------------------------------------------------
@dataclass
class FileRunArgs:
    file: Path
    environment: Path | None = None
    data: Path | None = None
    iterations: int | None = None
    concurrency: int = 1
    env_vars: list[str] = field(default_factory=list)
    timeout_request_ms: int | None = None
    timeout_ms: int | None = None
    bail: bool = False
    insecure: bool = False
    folder: str | None = None
    reporters: list[str] = field(default_factory=lambda: ["cli"])
    exports: dict[str, Path] = field(default_factory=dict)  # reporter -> path
    processes: int | None = None  # processes sharing the iterations above --concurrency 1 (default: the cores)


def parse_env_vars(values: Iterable[str]) -> dict[str, str]:
    """`--env-var NAME=VALUE` (repeatable): the value may hold '=', the name must be a usable variable name."""
    parsed: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--env-var {value!r}: expected NAME=VALUE")
        if not VARIABLE_NAME.match(name.strip()):
            raise UsageError(
                f"--env-var {value!r}: '{name}' is not a usable variable name (letters, digits, _ . - $; "
                "starting with a letter or _)"
            )
        parsed[name.strip()] = rest
    return parsed


def reporters_available() -> dict[str, Callable[[BinaryIO, ReportRun, Callable[[], Iterator[StepResult]]], None]]:
    """The file reporters (json, junit, html) from app.interop.reports, as plain `write` functions."""
    try:
        from app.interop import reports
    except ImportError:  # pragma: no cover - the package is in the tree
        return {}
    found: dict[str, Any] = dict(getattr(reports, "REPORTERS", {}) or {})
    return {name: (value if callable(value) else value.write) for name, value in found.items()}


def check_reporters(reporters: list[str], exports: dict[str, Path], known: set[str] | None = None) -> None:
    known = known or {"cli", *reporters_available()}
    for name in reporters:
        if name not in known:
            raise UsageError(f"--reporters: '{name}' is not one of {', '.join(sorted(known))}")
    for name in exports:
        if name not in reporters:
            raise UsageError(f"--reporter-{name}-export is given but '{name}' is not in --reporters")


def report_path(name: str, exports: dict[str, Path], stamp: str) -> Path:
    if name in exports:
        return exports[name]
    return REPORT_DIR / f"exile-run-{stamp}.{REPORT_SUFFIX.get(name, name)}"


# ---- reading the file --------------------------------------------------------------------------------------------
def detect_kind(data: bytes, path: Path) -> str:
    """A JSON document with `info` and `item` is a Postman collection; one with `version` and `scenario` (JSON or
    YAML) is an Exile file. Anything else goes to the Postman reader, whose message says what it expected."""
    from app.interop.service import READERS

    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        document = None
        if "exile" in READERS and path.suffix.lower() in (".yaml", ".yml"):
            return "exile"
    if isinstance(document, dict) and "info" not in document and "version" in document and "scenario" in document:
        if "exile" not in READERS:
            raise UsageError(f"{path}: an Exile file, but this version of exile cannot read Exile files yet")
        return "exile"
    return "postman"


def read_content(path: Path, kind: str | None = None) -> ProjectContent:
    from app.core.errors import AppError
    from app.interop import service

    try:
        service.check_size(path.stat().st_size)  # before a byte of it is read
        data = path.read_bytes()
    except AppError as exc:
        raise UsageError(f"{path}: {exc.message}") from None
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    kind = kind or detect_kind(data, path)
    try:
        return service.read(kind, data)
    except AppError as exc:
        raise UsageError(f"{path}: {exc.message}") from None


# ---- results spilled to disk -------------------------------------------------------------------------------------


class ResultSpill:
    """The engine's sink: each final result is appended to a temporary file, with its place in a SQLite index.

    The index (step's place in the flow, iteration, arrival, offset, length) is what gets sorted; `read()` gives
    the results back ordered by step, then iteration, as the reporters' RecordSource promises, with nothing but
    the current page in memory. Per-step counters and the first few failures stay here for the summary.
    """

    BATCH = 1000

    def __init__(self, directory: Path, step_keys: list[str], on_failure: Callable[[StepResult], None]) -> None:
        self.path = directory / "results.sqlite"
        self._data = (directory / "results.jsonl").open("wb")
        self._offset = 0
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE result (step INTEGER, iteration INTEGER, seq INTEGER, at INTEGER, size INTEGER)")
        self._position = {key: index for index, key in enumerate(step_keys)}
        self.summaries: dict[str, StepSummary] = {}
        self.failures: list[StepResult] = []  # the first few, for the summary
        self.attempts = 0  # every request sent, retried ones included
        self._batch: list[tuple[int, int, int, int, int]] = []
        self._seq = 0
        self._on_failure = on_failure

    def summary(self, key: str, name: str) -> StepSummary:
        found = self.summaries.get(key)
        if found is None:
            found = self.summaries[key] = StepSummary(key=key, name=name)
        return found

    async def put(self, result: StepResult) -> None:
        if result.request is not None:
            self.attempts += 1
        if not result.is_final:
            return
        summary = self.summary(result.step_key, result.name)
        summary.counts.add(result.status, result.flaky)
        summary.duration_ms += result.duration_ms
        if result.status in FAILING:
            if len(self.failures) < FAILURES_SHOWN:
                self.failures.append(result)
            self._on_failure(result)
        self._seq += 1
        data = orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS)  # a dataclass: orjson reads its fields
        self._data.write(data)
        step = self._position.get(result.step_key, len(self._position))
        self._batch.append((step, result.iteration, self._seq, self._offset, len(data)))
        self._offset += len(data)
        if len(self._batch) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self._batch:
            self._db.execute("BEGIN")  # one transaction per batch (the connection is in autocommit mode)
            self._db.executemany("INSERT INTO result VALUES (?, ?, ?, ?, ?)", self._batch)
            self._db.execute("COMMIT")
            self._batch.clear()

    def close(self) -> None:
        self.flush()
        self._db.close()
        self._data.close()

    @classmethod
    def read(cls, path: Path) -> Iterator[tuple[int, int, int, StepResult]]:
        """A closed spill's results with their order key (step, iteration, seq), in that order."""
        db = sqlite3.connect(path, isolation_level=None)
        try:
            with path.with_suffix(".jsonl").open("rb") as data:
                db.execute("CREATE INDEX IF NOT EXISTS result_order ON result (step, iteration, seq)")
                cursor = db.execute("SELECT step, iteration, seq, at, size FROM result ORDER BY step, iteration, seq")
                while page := cursor.fetchmany(cls.BATCH):
                    for step, iteration, seq, at, size in page:
                        data.seek(at)
                        values = orjson.loads(data.read(size))
                        values["status"] = ResultStatus(values["status"])
                        values["started_at"] = datetime.fromisoformat(values["started_at"])
                        yield step, iteration, seq, StepResult(**values)
        finally:
            db.close()


# ---- output --------------------------------------------------------------------------------------------------------
class Output:
    """A progress bar and a rich table on a terminal; plain lines (a CI log) otherwise."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.console = Console(file=out or sys.stdout, highlight=False, soft_wrap=True)
        self.err = Console(file=err or sys.stderr, highlight=False, soft_wrap=True)
        self.terminal = self.console.is_terminal

    def line(self, text: str) -> None:
        self.console.print(text, markup=False)

    def warn(self, text: str) -> None:
        self.err.print(f"warning: {text}", markup=False)


class ProgressView:
    """Finished iterations out of the total, ticking while the run goes."""

    def __init__(self, output: Output, total: int | None, counts: Callable[[], Counts]) -> None:
        self.output, self.total, self.counts = output, total, counts
        self._bar: Progress | None = None
        self._task: Any = None
        self._last_plain = -1

    def _done(self) -> int:
        c = self.counts()
        return c.passed + c.failed + c.error

    def start(self) -> None:
        if self.output.terminal:
            self._bar = Progress(
                TextColumn("iterations"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                console=self.output.console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("run", total=self.total, failed=0)

    def tick(self) -> None:
        done = self._done()
        if self._bar is not None:
            c = self.counts()
            self._bar.update(self._task, completed=done, failed=c.failed + c.error)
        elif self.total and self.total >= 20:  # a plain line at each tenth of the way
            tenth = done * 10 // self.total
            if done and self._last_plain < tenth < 10:
                self._last_plain = tenth
                self.output.line(f"progress: {done}/{self.total} iterations")

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _counts_text(counts: Counts) -> str:
    parts = [f"{counts.passed} passed", f"{counts.failed} failed", f"{counts.error} error"]
    if counts.skipped:
        parts.append(f"{counts.skipped} skipped")
    if counts.flaky:
        parts.append(f"{counts.flaky} flaky")
    return ", ".join(parts)


def print_summary(output: Output, run: ReportRun, failures: list[StepResult], attempts: int) -> None:
    seconds = ((run.finished_at or run.started_at) - run.started_at).total_seconds()
    if output.terminal:
        table = Table(title=f"{run.title}: {run.status}", title_justify="left")
        for column in ("step", "passed", "failed", "error", "skipped", "avg ms"):
            table.add_column(column, justify="left" if column == "step" else "right")
        for step in run.steps:
            c = step.counts
            total = c.passed + c.failed + c.error
            average = f"{step.duration_ms / total:.1f}" if total else "-"
            table.add_row(step.name, str(c.passed), str(c.failed), str(c.error), str(c.skipped), average)
        output.console.print(table)
    else:
        output.line(f"{run.title}: {run.status}")
        for step in run.steps:
            c = step.counts
            total = c.passed + c.failed + c.error
            average = f", avg {step.duration_ms / total:.1f} ms" if total else ""
            output.line(f"  {step.key} {step.name}: {_counts_text(c)}{average}")
    output.line(f"iterations: {_counts_text(run.iterations)}")
    rate = f", {attempts / seconds:,.0f} requests/s" if seconds > 0 else ""
    output.line(f"requests: {_counts_text(run.requests)} ({attempts} sent in {seconds:.2f} s{rate})")
    for result in failures:
        where = f"iteration {result.iteration}, " if result.iteration >= 0 else ""
        why = result.error or "; ".join(
            str(check.get("message") or check) for check in result.assertions if not check.get("passed")
        )
        output.line(f"  {result.status}: {where}{result.name}: {why}"[:1000])
    if run.error:
        output.line(f"error: {run.error}"[:2000])


def write_reports(
    reporters: list[str], exports: dict[str, Path], run: ReportRun, records: Callable[[], Iterator[StepResult]]
) -> list[Path]:
    available = reporters_available()
    stamp = run.started_at.strftime("%Y%m%d-%H%M%S")
    written = []
    for name in reporters:
        if name == "cli":
            continue
        path = report_path(name, exports, stamp)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                available[name](out, run, records)
        except OSError as exc:
            raise UsageError(f"--reporter-{name}-export {path}: cannot be written ({exc.strerror or exc})") from None
        written.append(path)
    return written


# ---- exile run FILE --------------------------------------------------------------------------------------------------
@dataclass
class Prepared:
    content: ProjectContent
    flow: FlowSpec
    options: RunOptions
    title: str
    total: int | None
    carried: list[str]


def prepare(args: FileRunArgs) -> Prepared:
    """Everything checked before anything is sent: flags, the file, the environment, the data file."""
    if args.concurrency < 1 or args.concurrency > 256:
        raise UsageError(f"--concurrency {args.concurrency}: must be between 1 and 256")
    if args.iterations is not None and args.iterations < 1:
        raise UsageError(f"-n {args.iterations}: the iteration count must be at least 1")
    if args.processes is not None and not 1 <= args.processes <= 64:
        raise UsageError(f"--processes {args.processes}: must be between 1 and 64")
    if args.timeout_request_ms is not None and not 1 <= args.timeout_request_ms <= 600_000:
        raise UsageError(f"--timeout-request {args.timeout_request_ms}: must be 1 to 600000 ms")
    check_reporters(args.reporters, args.exports)
    env_vars = parse_env_vars(args.env_vars)
    content = read_content(args.file)
    environment = RunEnvironment()
    environment.merge(content)
    if args.environment is not None:
        environment.merge(read_content(args.environment, "postman_environment"))
    environment.set_values(env_vars)
    if args.insecure:
        environment.verify_tls = False
    try:
        scenario = pick_scenario(content, args.folder)
    except ContentNotRunnable as exc:
        raise UsageError(f"{args.file}: {exc}") from None

    columns: set[str] = set()
    rows: Iterable[DataRow] | None
    total: int | None
    if args.data is not None:
        try:
            count = 0
            for row in data_files.rows(args.data):
                count += 1
                if len(columns) < 10_000:
                    columns.update(row)
        except data_files.DataFileError as exc:
            raise UsageError(str(exc)) from None
        if count == 0:
            raise UsageError(f"data file {args.data}: holds no rows")
        data_path = args.data
        total = args.iterations or count
        rows = _Rows(lambda: numbered(data_files.rows(data_path), args.iterations))
    elif scenario.rows:
        for row in scenario.rows:
            columns.update(row)
        stored = scenario.rows
        total = args.iterations or len(stored)
        rows = _Rows(lambda: numbered(iter(stored), args.iterations))
    elif args.iterations is not None:
        count_only = args.iterations
        total = count_only
        rows = _Rows(lambda: (DataRow(index=i, variables={}) for i in range(count_only)))
    else:
        total, rows = 1, None
    try:
        flow = build_flow(content, scenario, environment, rows, args.timeout_request_ms)
    except ContentNotRunnable as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    settings = scenario.settings
    options = RunOptions(
        concurrency=args.concurrency,
        carry_over=args.concurrency == 1,
        # Newman goes on with an iteration's next request after a failed test; an Exile file says for itself.
        stop_on_failure=settings.stop_on_failure if content.kind == "exile" else False,
        timeout_ms=args.timeout_ms or 30 * 86_400_000,
        retry=settings.retry,
        rate_limit=settings.rate_limit,
    )
    initial = {*environment.variables, *environment.secrets, *scenario.variables, *columns}
    carried = carried_reads(flow, initial) if args.concurrency > 1 else []
    return Prepared(content, flow, options, scenario.name, total, carried)


class _Rows:
    """Rows the engine reads once, opened when it starts reading (the data file is read again, lazily)."""

    def __init__(self, make: Callable[[], Iterator[DataRow]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[DataRow]:
        return self._make()


class _Shard:
    """Every `count`-th row from `first`: one process's share of the iterations (indexes keep their numbers)."""

    def __init__(self, rows: Iterable[DataRow], first: int, count: int) -> None:
        self._rows, self._first, self._count = rows, first, count

    def __iter__(self) -> Iterator[DataRow]:
        return (row for row in self._rows if row.index % self._count == self._first)


@dataclass
class ShardResult:
    """What one process's part of the run did; the results themselves are in its spill file."""

    status: RunStatus
    error: str | None
    started_at: datetime
    finished_at: datetime
    requests: Counts
    iterations: Counts
    summaries: dict[str, StepSummary]
    failures: list[StepResult]
    attempts: int
    spill: Path
    bailed: str | None = None


def step_keys(flow: FlowSpec) -> list[str]:
    return (
        [f"setup:{i}" for i in range(len(flow.setup))]
        + [f"step:{i}" for i in range(len(flow.steps))]
        + [f"teardown:{i}" for i in range(len(flow.teardown))]
    )


async def _run_shard(
    flow: FlowSpec,
    options: RunOptions,
    spill_dir: Path,
    bail: bool,
    progress: Callable[[Counts], None],
    bail_elsewhere: Callable[[], bool] = lambda: False,
    on_bail: Callable[[], None] = lambda: None,
) -> ShardResult:
    """The flow (or one process's rows of it) through the engine, its final results spilled to `spill_dir`."""
    environment = flow.environment
    transport = open_transport(
        get_settings().engine_http_client,
        limit=max(8, options.concurrency * 2),
        verify_tls=environment.verify_tls,
        proxy=environment.proxy,
    )
    cancel = asyncio.Event()
    bailed: list[StepResult] = []

    def on_failure(result: StepResult) -> None:
        if bail and not cancel.is_set():
            bailed.append(result)
            cancel.set()
            on_bail()

    spill = ResultSpill(spill_dir, step_keys(flow), on_failure)
    runner = FlowRunner(flow, options, transport, spill, cancel)
    for step in [*runner.setup, *runner.steps, *runner.teardown]:
        if step.spec.enabled:
            spill.summary(step.key, step.name)

    async def follow() -> None:
        while True:
            progress(runner.iterations)
            if bail_elsewhere() and not cancel.is_set():
                cancel.set()
            await asyncio.sleep(0.1)

    ticker = asyncio.ensure_future(follow())
    try:
        outcome = await runner.run()
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        progress(runner.iterations)
        await transport.close()
        spill.flush()
        spill.close()
    bailed_text = None
    if bailed:
        first = bailed[0]
        where = f"iteration {first.iteration}, " if first.iteration >= 0 else ""
        bailed_text = f"--bail: stopped at the first failure ({where}step '{first.name}' {first.status})"
    return ShardResult(
        status=outcome.status,
        error=outcome.error,
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
        requests=outcome.requests,
        iterations=outcome.iterations,
        summaries=spill.summaries,
        failures=spill.failures,
        attempts=spill.attempts,
        spill=spill.path,
        bailed=bailed_text,
    )


def shard_count(prepared: Prepared, concurrency: int, processes: int | None) -> int:
    """Processes for the iterations: one at --concurrency 1 (carry-over needs one order), with setup or teardown
    (they run once), for few rows, or where processes cannot be forked; else up to one per core."""
    flow = prepared.flow
    if processes is None:
        processes = os.cpu_count() or 1
    if (
        concurrency == 1
        or processes <= 1
        or flow.setup
        or flow.teardown
        or flow.rows is None
        or (prepared.total or 0) < 100
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 1
    return max(1, min(processes, concurrency, 8))


def _shard_main(
    prepared: Prepared, bail: bool, first: int, count: int, spill_dir: Path, done: Any, stop: Any, pipe: Any
) -> None:
    """A forked process's part: its rows at its share of the concurrency; its ShardResult (or crash) to the pipe."""
    try:
        rows = prepared.flow.rows
        assert isinstance(rows, _Rows)
        flow = dataclasses.replace(prepared.flow, rows=_Shard(rows, first, count))
        spill_dir.mkdir(parents=True)
        share = max(1, -(-prepared.options.concurrency // count))
        options = prepared.options.model_copy(update={"concurrency": share})

        def progress(counts: Counts) -> None:
            done[first] = counts.passed + counts.failed + counts.error
            done[count + first] = counts.failed + counts.error

        result = loops.run(_run_shard(flow, options, spill_dir, bail, progress, stop.is_set, stop.set))
        pipe.send(result)
    except BaseException as exc:  # the parent reports it: the run ends in error
        pipe.send(f"{type(exc).__name__}: {exc}")
    finally:
        pipe.close()


def _run_forked(prepared: Prepared, bail: bool, count: int, spill_dir: Path, view: ProgressView) -> list[ShardResult]:
    context = multiprocessing.get_context("fork")
    done = context.Array("q", 2 * count, lock=False)
    stop = context.Event()
    workers = []
    for first in range(count):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_shard_main,
            args=(prepared, bail, first, count, spill_dir / f"shard-{first}", done, stop, sender),
            daemon=True,
        )
        process.start()
        sender.close()
        workers.append((process, receiver))
    view.start()  # after the forks: the bar's refresh thread is never copied into a child mid-write
    view.counts = lambda: Counts(passed=sum(done[:count]) - sum(done[count:]), failed=sum(done[count:]))
    results: list[ShardResult] = []
    crashes: list[str] = []
    try:
        for process, receiver in workers:
            while not receiver.poll(0.2):
                view.tick()
                if not process.is_alive() and not receiver.poll(0):
                    break
            try:
                answer = receiver.recv()
            except EOFError:
                answer = (
                    f"the process for rows {len(results) + len(crashes)} of every {count} ended ({process.exitcode})"
                )
            if isinstance(answer, ShardResult):
                results.append(answer)
            else:
                crashes.append(str(answer))
                stop.set()
            process.join()
    except BaseException:
        stop.set()
        for process, _ in workers:
            process.terminate()
        raise
    view.tick()
    if crashes:
        now = datetime.now(UTC)
        results.append(
            ShardResult(
                RunStatus.ERROR, f"internal error: {crashes[0]}", now, now, Counts(), Counts(), {}, [], 0, Path()
            )
        )
    return results


def _merged_status(results: list[ShardResult]) -> RunStatus:
    statuses = {result.status for result in results}
    for status in (RunStatus.ERROR, RunStatus.CANCELLED, RunStatus.FAILED):
        if status in statuses:
            return status
    return RunStatus.PASSED


def _sum_counts(counts: Iterable[Counts]) -> Counts:
    total = Counts()
    for one in counts:
        for name, value in one.as_dict().items():
            setattr(total, name, getattr(total, name) + value)
    return total


def merged_records(paths: list[Path]) -> Iterator[StepResult]:
    """The spill files' results in (step, iteration) order: each file is in that order, their rows are disjoint."""
    readers = [ResultSpill.read(path) for path in paths if path.name]
    for _, _, _, result in heapq.merge(*readers, key=lambda item: (item[0], item[1], item[2])):
        yield result


def run_file(args: FileRunArgs, output: Output | None = None) -> int:
    """The serverless run; returns the exit code (UsageError is turned into 2 by the caller)."""
    output = output or Output()
    prepared = prepare(args)
    for item in prepared.content.not_translated:
        output.warn(f"not translated: {item.location}: {item.source[:200]} ({item.reason})")
    if prepared.carried:
        names = ", ".join(prepared.carried)
        output.warn(
            f"the collection reads {names} before a later request sets it: at --concurrency 1 each iteration sees "
            f"what the one before it set (Newman's behaviour), at --concurrency {args.concurrency} every iteration "
            "starts from the initial values, so these reads find nothing the first time"
        )
    count = shard_count(prepared, args.concurrency, args.processes)
    flow = prepared.flow
    with tempfile.TemporaryDirectory(prefix="exile-run-") as spill_dir:
        live = Counts()
        view = ProgressView(output, prepared.total, lambda: live)
        try:
            if count == 1:
                view.start()

                def progress(counts: Counts) -> None:
                    nonlocal live
                    live = counts
                    view.tick()

                (Path(spill_dir) / "shard-0").mkdir()
                shard = _run_shard(flow, prepared.options, Path(spill_dir) / "shard-0", args.bail, progress)
                results = [loops.run(shard)]
            else:
                results = _run_forked(prepared, args.bail, count, Path(spill_dir), view)
        finally:
            view.stop()
        keys = step_keys(flow)
        summaries: dict[str, StepSummary] = {}
        for result in results:
            for key, summary in result.summaries.items():
                merged = summaries.setdefault(key, StepSummary(key=key, name=summary.name))
                merged.counts = _sum_counts([merged.counts, summary.counts])
                merged.duration_ms += summary.duration_ms
        bailed = [result.bailed for result in results if result.bailed]
        errors = [result.error for result in results if result.error]
        run = ReportRun(
            title=prepared.title,
            run_id=None,
            status=str(_merged_status(results)),
            started_at=min(result.started_at for result in results),
            finished_at=max(result.finished_at for result in results),
            requests=_sum_counts(result.requests for result in results),
            iterations=_sum_counts(result.iterations for result in results),
            steps=[summaries[key] for key in keys if key in summaries],
            error=bailed[0] if bailed else (errors[0] if errors else None),
            dataset_names={
                dataset.id: dataset.name
                for step in [*flow.setup, *flow.steps, *flow.teardown]
                for dataset in step.case.datasets
                if dataset.id is not None
            },
        )
        if "cli" in args.reporters:
            failures = sorted((f for result in results for f in result.failures), key=lambda f: f.iteration)
            print_summary(output, run, failures[:FAILURES_SHOWN], sum(result.attempts for result in results))
        paths = [result.spill for result in results]
        for path in write_reports(args.reporters, args.exports, run, lambda: merged_records(paths)):
            output.line(f"report written: {path}")
    return EXIT_PASSED if run.status == RunStatus.PASSED else EXIT_FAILED
