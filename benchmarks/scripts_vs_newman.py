"""`exile run` against Newman with a JavaScript script on every request of the order flow (issue 10), one command.

    uv run python benchmarks/scripts_vs_newman.py                 # 1,000 rows; Newman once, exile run 3x at c=16
    uv run python benchmarks/scripts_vs_newman.py --rows 200 --repeat 1

The collection is ../shared/bench/order-flow.postman_collection.json with, on each of its three requests, a
pre-request script (an HMAC-SHA256 signature of the body and a timestamp from moment, sent as two headers) and a
test script (its own two checks plus: the content type and response time, a loop over every field of the
response's data, the signature headers that were sent, and a value set for the next request), written into the
benchmark's cache directory. Newman runs it once and `exile run` --repeat times at --concurrency 16 with the same
data file (make_data.py). Bars: `exile run` requests/s >= 20x Newman's (median run), and pass/fail counts per
(request, test name) identical in the two JSON reports. Requests/s are each runner's own run time (Newman's from
its JSON report, `exile run`'s from its summary line), without the interpreter's start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))

from benchmarks.cli_vs_newman import COLLECTION, exile_binary, summary_of  # noqa: E402
from benchmarks.order_flow import CACHE, TARGET, ensure_target, machine, make_data, middle, run_newman  # noqa: E402

BAR_NEWMAN = 20.0
SIGNING_SECRET = "bench-signing-secret"

PRE_REQUEST = """var moment = require('moment');
var timestamp = moment().toISOString();
var body = pm.variables.replaceIn(pm.request.body.raw || '');
var secret = pm.collectionVariables.get('signing_secret');
var signature = CryptoJS.HmacSHA256(body + '\\n' + timestamp, secret).toString(CryptoJS.enc.Hex);
pm.request.headers.upsert({ key: 'X-Timestamp', value: timestamp });
pm.request.headers.upsert({ key: 'X-Signature', value: signature });"""

TEST = """var body = pm.response.json();
pm.test('a JSON response in time', function () {
    pm.expect(pm.response.headers.get('Content-Type')).to.include('application/json');
    pm.expect(pm.response.responseTime).to.be.below(5000);
});
pm.test('every data field is set', function () {
    var fields = Object.keys(body.data);
    pm.expect(fields).to.not.be.empty;
    for (var i = 0; i < fields.length; i++) {
        var value = body.data[fields[i]];
        pm.expect(value, fields[i]).to.not.be.oneOf([null, undefined, '']);
        pm.expect(typeof value).to.be.oneOf(['string', 'number', 'boolean']);
    }
});
pm.test('the request was signed', function () {
    pm.expect(pm.request.headers.get('X-Signature')).to.match(/^[0-9a-f]{64}$/);
    pm.expect(pm.request.headers.get('X-Timestamp')).to.have.lengthOf(24);
});
pm.collectionVariables.set('last_step', pm.info.requestName);"""


def scripted_collection(bench_dir: Path, out_dir: Path) -> Path:
    """The bench collection with the two scripts added to every request (its own test lines kept first)."""
    document = json.loads((bench_dir / COLLECTION).read_text())
    document.setdefault("variable", []).append({"key": "signing_secret", "value": SIGNING_SECRET})
    for item in document["item"]:
        own: list[str] = []
        for event in item.get("event", []):
            if event.get("listen") == "test":
                own += event["script"]["exec"]
        item["event"] = [
            {"listen": "prerequest", "script": {"type": "text/javascript", "exec": PRE_REQUEST.split("\n")}},
            {"listen": "test", "script": {"type": "text/javascript", "exec": [*own, *TEST.split("\n")]}},
        ]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / COLLECTION  # the file name run_newman expects in its bench_dir
    path.write_text(json.dumps(document, indent=1))
    return path


@dataclass
class ExileRun:
    exit_code: int
    requests: int = 0
    seconds: float = 0.0
    wall: float = 0.0
    tests: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_exile(collection: Path, data: Path, rows: int, concurrency: int, work: Path, timeout: float = 600) -> ExileRun:
    report = work / "exile-scripts-report.json"
    report.unlink(missing_ok=True)
    command = [str(exile_binary()), "run", str(collection), "-d", str(data), "--concurrency", str(concurrency)]
    command += ["-r", "cli,json", "--reporter-json-export", str(report)]
    started = time.perf_counter()
    log = work / "exile-scripts-run.log"
    with log.open("w") as out:
        # its own session: a run that hangs (its forked processes too) is ended whole after `timeout` seconds
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=work, start_new_session=True)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    run = ExileRun(process.returncode, wall=time.perf_counter() - started)
    output = log.read_text()
    if run.wall >= timeout:
        run.problems.append(f"did not finish within {timeout:g} s: ended (output ends: {output[-300:]!r})")
        return run
    if "warning: not translated" in output:
        run.problems.append(
            "the import left script lines out: " + output[output.index("warning: not translated") :][:300]
        )
    run.requests, run.seconds, problems = summary_of(output, process.returncode, rows * 3)
    run.problems += problems
    if not run.requests:
        return run
    if not report.exists():
        run.problems.append("no JSON report")
        return run
    executions = json.loads(report.read_text())["executions"]
    for execution in executions:
        for assertion in execution["assertions"]:
            if assertion["source"] != "script":
                run.problems.append(f"{execution['name']}: a native check ({assertion['source']}), not the script")
                continue
            key = (execution["name"], assertion["expression"])
            outcome = "passed" if assertion["passed"] else "failed"
            run.tests.setdefault(key, Counter())[outcome] += 1
    report.unlink()
    return run


def newman_tests(report: Path) -> dict[tuple[str, str], Counter[str]]:
    tests: dict[tuple[str, str], Counter[str]] = {}
    for execution in json.loads(report.read_text())["run"]["executions"]:
        for assertion in execution.get("assertions", []):
            key = (execution["item"]["name"], assertion["assertion"])
            tests.setdefault(key, Counter())["failed" if assertion.get("error") else "passed"] += 1
    return tests


def _counts(tests: dict[tuple[str, str], Counter[str]]) -> dict[tuple[str, str], dict[str, int]]:
    return {key: dict(sorted(counter.items())) for key, counter in sorted(tests.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000, help="data rows (default 1000)")
    parser.add_argument("--concurrency", type=int, default=16, help="exile run's --concurrency (default 16)")
    parser.add_argument("--repeat", type=int, default=3, help="exile runs (median); default 3")
    parser.add_argument("--bench-dir", type=Path, default=REPO.parent / "shared" / "bench")
    parser.add_argument("--work-dir", type=Path, default=CACHE / "work-scripts")
    args = parser.parse_args(argv)
    bench_dir, work = args.bench_dir.resolve(), args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    ensure_target(bench_dir)
    scripted = work / "collection"
    collection = scripted_collection(bench_dir, scripted)
    data = make_data(bench_dir, args.rows, work)

    print(f"Newman: {args.rows} rows, scripts on every request ...", flush=True)
    newman = run_newman(scripted, data, args.rows, work)
    expected = _counts(newman_tests(work / "newman-report.json")) if (work / "newman-report.json").exists() else {}
    runs: list[ExileRun] = []
    for trial in range(1, args.repeat + 1):
        print(f"exile run, concurrency {args.concurrency}, run {trial}/{args.repeat} ...", flush=True)
        runs.append(run_exile(collection, data, args.rows, args.concurrency, work))

    pick = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
    print()
    print(f"order flow with scripts, {args.rows} rows = {args.rows * 3} requests per runner, target {TARGET}")
    print(f"collection: {collection}")
    print(f"machine: {machine()}")
    print()
    print("| runner | concurrency | requests | run seconds | requests/s | runs requests/s | wall s |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    print(f"| Newman 6 | 1 | {newman.requests} | {newman.seconds:.2f} | {newman.rps:,.1f} | | {newman.note} |")
    each = ", ".join(f"{r.rps:,.0f}" for r in runs)
    print(
        f"| exile run | {args.concurrency} | {pick.requests} | {pick.seconds:.2f} | {pick.rps:,.0f} | {each} "
        f"| {middle([r.wall for r in runs]):.1f} |"
    )
    print()
    ok = True
    for problem in newman.problems:
        print(f"Newman: {problem}")
        ok = False
    for run in runs:
        for problem in run.problems[:5]:
            print(f"exile run: {problem}")
            ok = False
    print("| request | test | Newman | exile run (each run) |")
    print("| --- | --- | --- | --- |")
    got = [_counts(run.tests) for run in runs]
    for key in sorted(set(expected).union(*got)):
        mine = "; ".join(str(g.get(key, "-")) for g in got)
        print(f"| {key[0]} | {key[1]} | {expected.get(key, '-')} | {mine} |")
    same = bool(expected) and all(g == expected for g in got)
    ok = ok and same
    ratio = pick.rps / newman.rps if newman.rps else 0.0
    passed = ratio >= BAR_NEWMAN
    ok = ok and passed
    print()
    print(
        f"exile run / Newman requests/s = {ratio:.1f}x (bar >= {BAR_NEWMAN:g}x) {'PASS' if passed else 'FAIL'}; "
        f"pass/fail per test name {'identical' if same else 'DIFFERENT'} "
        f"({sum(sum(c.values()) for c in expected.values())} test results each)"
    )
    print()
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
