"""The order-flow run executed inline (the API's executor) and by Celery workers; and Celery's scale-out.

    uv run python benchmarks/celery_vs_inline.py --workers 2                  # 2,000 rows, 16 in flight, 3 databases
    uv run python benchmarks/celery_vs_inline.py --scale-out 50000            # 1 vs 2 workers, PostgreSQL
    uv run python benchmarks/celery_vs_inline.py --scale-out 50000 --db sqlite,mariadb

The scenario is order_flow.py's (login -> create order -> pay against ../shared/bench's nginx), saved through the
ORM into a fresh, migrated database (benchmarks/exile_runs.py). Each trial queues a ScenarioRun:

- inline: executed by `execute_run` in a warm executor process (the API's way; its process pool is RUN_PROCESSES);
- celery: sent with `send_to_workers` (the API's way) to N real workers, each its own process:
  `celery -A app.tasks.celery_app:celery_app worker -Q exile_scenario_tasks --pool=threads --concurrency=1`,
  broker redis://127.0.0.1:6379/12 by default.

Timed end to end (dispatch -> the run's finished_at seen) and claim -> finish as the run's row says; median of
--repeat interleaved trials. --scale-out compares 1 and 2 workers (restarted for each trial, so only the named
workers consume the queue) and checks that every run's records are the same multiset.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))

from benchmarks.exile_runs import (  # noqa: E402
    BACKEND_NAMES,
    STEPS_PER_ROW,
    CeleryWorkers,
    Database,
    Executed,
    InlineExecutor,
    Seeded,
    executor_settings,
    fresh_database,
    parse_backends,
    record_fingerprint,
    run_celery,
    run_inline,
    use_broker,
)
from benchmarks.order_flow import (  # noqa: E402
    add_common_arguments,
    ensure_target,
    executor_env,
    machine,
    make_data,
    median_run,
    middle,
    seed_order_flow,
    warm_up,
)

DEFAULT_BROKER = "redis://127.0.0.1:6379/12"
BAR_CELERY = 0.9  # Celery on N workers >= this fraction of the inline run's requests/s (within 10 %)
BAR_SCALE_OUT = 1.7  # 2 workers >= this many times 1 worker's requests/s
WARM_UP_ROWS = 200


def table(results: list[tuple[str, list[Executed]]]) -> bool:
    """Prints one line per (label, trials); False if any trial failed a check."""
    ok = True
    print("| database | executor | requests | seconds | requests/s | runs requests/s | claim->finish req/s "
          "| CPU us/request | chunks (most at once) | checks |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |")
    for label, trials in results:
        pick = median_run(trials)
        problems = [p for t in trials for p in t.problems]
        ok = ok and not problems
        each = ", ".join(f"{t.rps:,.0f}" for t in trials)
        row_rps = middle([t.rps_row for t in trials])
        cpu = middle([t.cpu_us_per_request for t in trials])
        print(
            f"| {BACKEND_NAMES[pick.backend]} | {label} | {pick.requests} | {pick.end_to_end:.2f} | {pick.rps:,.0f} "
            f"| {each} | {row_rps:,.0f} | {cpu:.0f} "
            f"| {pick.chunks} | {'; '.join(problems) or 'all passed'} |"
        )
    return ok


def verdict(name: str, ratio: float, bar: float, checks_ok: bool) -> bool:
    passed = ratio >= bar and checks_ok
    print(f"{name}: {ratio:.2f}x (bar >= {bar:g}x) {'PASS' if passed else 'FAIL'}")
    return passed


def with_database(
    backend: str, args: argparse.Namespace, work: Path, data: Path, body: Callable[[Database, Seeded], None]
) -> None:
    db = fresh_database(backend, work, "celery", keep=args.keep_db)
    try:
        body(db, seed_order_flow(db, data))
    finally:
        db.drop()


def workers_env(args: argparse.Namespace) -> dict[str, str]:
    env = executor_env(args)
    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
        env["EXILE_TASK_PROFILE_DIR"] = str(args.profile_dir.resolve())
    return env


def compare(args: argparse.Namespace, work: Path) -> bool:
    """Inline against N Celery workers, interleaved, on each database."""
    data = make_data(args.bench_dir, args.rows, work)
    results: list[tuple[str, list[Executed], list[Executed]]] = []

    def body(db: Database, seeded: Seeded) -> None:
        executor = InlineExecutor(db, work / f"inline-executor-{db.backend}.log", executor_env(args))
        workers = CeleryWorkers(db, args.broker, args.workers, work, args.worker_concurrency, workers_env(args))
        inline: list[Executed] = []
        celery: list[Executed] = []
        try:
            print(f"{db.name}: warm-up runs, inline and on the {args.workers} workers ...", flush=True)
            warm_up(executor, seeded, args.concurrency, args.rows)
            run_celery(workers, db, seeded, args.concurrency, args.rows)
            for trial in range(1, args.repeat + 1):
                print(f"{db.name}: run {trial}/{args.repeat}: inline, celery x{args.workers} ...", flush=True)
                inline.append(run_inline(executor, seeded, args.concurrency, args.rows))
                celery.append(run_celery(workers, db, seeded, args.concurrency, args.rows))
        finally:
            workers.stop()
            executor.stop()
        results.append((db.name, inline, celery))

    for backend in args.db:
        with_database(backend, args, work, data, body)
    print()
    print(f"order flow, {args.rows} rows = {args.rows * STEPS_PER_ROW} requests, {args.concurrency} in flight")
    print(f"machine: {machine()}")
    print(f"settings {executor_settings(executor_env(args))}; {args.workers} Celery worker processes "
          f"(--pool=threads --concurrency={args.worker_concurrency}), broker {args.broker}")  # fmt: skip
    print(f"median of {args.repeat} interleaved trials; seconds and requests/s end to end (dispatch -> finished)")
    print()
    ok = table(
        [
            (label, trials)
            for _, inline, celery in results
            for label, trials in (("inline", inline), (f"celery x{args.workers}", celery))
        ]
    )
    print()
    for name, inline, celery in results:
        checks = not any(t.problems for t in inline + celery)
        e2e = median_run(celery).rps / median_run(inline).rps
        row = middle([t.rps_row for t in celery]) / middle([t.rps_row for t in inline])
        ok = (
            verdict(
                f"{name}: celery x{args.workers} / inline, end to end (claim->finish {row:.2f}x)",
                e2e,
                BAR_CELERY,
                checks,
            )
            and ok
        )
    print("\nRESULT:", "PASS" if ok else "FAIL")
    return ok


def scale_out(args: argparse.Namespace, work: Path) -> bool:
    """The same run on 1 and on 2 workers (restarted per trial), with the records of every run compared."""
    rows = args.scale_out
    data = make_data(args.bench_dir, rows, work)
    results: list[tuple[str, dict[int, list[Executed]], list[str]]] = []

    def body(db: Database, seeded: Seeded) -> None:
        trials: dict[int, list[Executed]] = {1: [], 2: []}
        for trial in range(1, args.repeat + 1):
            for count in (1, 2):
                print(f"{db.name}: run {trial}/{args.repeat} on {count} worker(s), {rows} rows ...", flush=True)
                workers = CeleryWorkers(db, args.broker, count, work, args.worker_concurrency, workers_env(args))
                try:
                    warm = run_celery(workers, db, seeded, args.concurrency, WARM_UP_ROWS, list(range(WARM_UP_ROWS)))
                    if warm.problems:
                        print(f"  warm-up run: {'; '.join(warm.problems)}", flush=True)
                    trials[count].append(run_celery(workers, db, seeded, args.concurrency, rows))
                finally:
                    workers.stop()
        print(f"{db.name}: comparing the records of the {2 * args.repeat} runs ...", flush=True)
        differences = []
        runs = trials[1] + trials[2]
        reference = record_fingerprint(db.url, runs[0].run_id)
        for other in runs[1:]:
            records = record_fingerprint(db.url, other.run_id)
            if records != reference:
                missing = sum((reference - records).values())
                extra = sum((records - reference).values())
                differences.append(
                    f"run {other.run_id} ({other.executor}) differs from run {runs[0].run_id}: "
                    f"{missing} records missing, {extra} extra"
                )
        results.append((db.name, trials, differences))

    for backend in args.db:
        with_database(backend, args, work, data, body)
    print()
    print(f"scale-out: order flow, {rows:,} rows = {rows * STEPS_PER_ROW:,} requests, {args.concurrency} in flight")
    print(f"machine: {machine()}")
    print(f"settings {executor_settings(executor_env(args))}; workers --pool=threads "
          f"--concurrency={args.worker_concurrency}, each its own process, broker {args.broker}")  # fmt: skip
    print(f"median of {args.repeat} interleaved trials; seconds and requests/s end to end (dispatch -> finished)")
    print()
    ok = table([(f"celery x{n}", trials[n]) for _, trials, _ in results for n in (1, 2)])
    print()
    for name, trials, differences in results:
        checks = not any(t.problems for t in trials[1] + trials[2])
        ratio = median_run(trials[2]).rps / median_run(trials[1]).rps
        row = middle([t.rps_row for t in trials[2]]) / middle([t.rps_row for t in trials[1]])
        ok = (
            verdict(
                f"{name}: 2 workers / 1 worker, end to end (claim->finish {row:.2f}x)", ratio, BAR_SCALE_OUT, checks
            )
            and ok
        )
        same = not differences
        ok = ok and same
        print(
            f"{name}: records of all {2 * args.repeat} runs (iteration, step_key, status, is_final, request minus "
            f"timings): {'identical' if same else 'DIFFERENT: ' + '; '.join(differences)}"
        )
    print("\nRESULT:", "PASS" if ok else "FAIL")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000, help="data rows (3 requests each); default 2000")
    parser.add_argument("--concurrency", type=int, default=16, help="iterations in flight; default 16")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes against inline; default 2")
    parser.add_argument("--scale-out", type=int, metavar="ROWS", help="1 vs 2 workers on a run of ROWS rows")
    parser.add_argument(
        "--db",
        type=parse_backends,
        help="comma-separated databases (default: sqlite,postgresql,mariadb; postgresql for --scale-out)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="interleaved trials per side; default 3")
    parser.add_argument("--broker", default=DEFAULT_BROKER, help=f"Celery broker; default {DEFAULT_BROKER}")
    parser.add_argument("--worker-concurrency", type=int, default=1, help="threads per worker; default 1")
    parser.add_argument("--profile-dir", type=Path, help="workers save a cProfile per task here")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.db is None:
        args.db = ["postgresql"] if args.scale_out else ["sqlite", "postgresql", "mariadb"]
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C: workers and executors stopped, databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.bench_dir = args.bench_dir.resolve()
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    ensure_target(args.bench_dir)
    use_broker(args.broker)
    os.environ.pop("EXILE_TASK_PROFILE_DIR", None)
    ok = scale_out(args, work) if args.scale_out else compare(args, work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
