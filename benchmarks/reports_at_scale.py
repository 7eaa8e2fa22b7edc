"""Reports at a million runs (issue 11): the report and run-list endpoints on a big project, per database.

    uv run python benchmarks/reports_at_scale.py                          # both backends, 20,000 / 1,000,000
    uv run python benchmarks/reports_at_scale.py --backend postgresql --runs 500 --requests 25000
    uv run python benchmarks/reports_at_scale.py --reuse                  # keep the seeded data from last time

Per backend, one command: a fresh database `exile_reports_bench` (PostgreSQL and MariaDB on 127.0.0.1), migrated
to head, seeded with bulk inserts (PostgreSQL: binary COPY; MariaDB: asyncmy's executemany, one bulk command or
multi-row INSERT per 2,000 rows): one project with 30 cases, 15 scenarios of 3-8 steps, `--runs` scenario runs
over 60 days (more of them lately: a sixth in the last 7 days) and about `--requests` request runs, 30 % of them
failed or errored with messages from 40 causes that carry ids, uuids, timestamps and order numbers. The report
roll-ups are then rebuilt with `app.reports.rollups.rebuild`, and the real API server (`uvicorn app.main:app`,
DATABASE_URL the bench database) is asked each endpoint `--repeat` times after 3 warm-ups, signed in as a project
owner who is not a site admin (so every visibility filter applies). It prints the seeding and rebuild times and,
per endpoint, p50 / p95 / max against the bars of issue 11: p95 < 100 ms (failure clusters of the last 7 days:
< 3 s, 5 times). An endpoint that answers 404 is "not available" (not landed yet). The exit status is 0 even
when a bar fails: it is a measurement; a summary line per backend says how it went. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))  # this tree's `app`, whatever the virtualenv's editable install points at

import httpx  # noqa: E402
import orjson  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker  # noqa: E402

from app.engine.checks import check_result  # noqa: E402
from benchmarks.exile_runs import migrate_quietly  # noqa: E402

DATABASE = "exile_reports_bench"
URLS = {
    "postgresql": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}",
    "mariadb": f"mysql+asyncmy://root@127.0.0.1:3306/{DATABASE}?charset=utf8mb4",
}
NAMES = {"postgresql": "PostgreSQL", "mariadb": "MariaDB"}
EMAIL, PASSWORD = "reports-bench@example.com", "reports-bench-password"
PROJECT_NAME = "reports at scale"
SEED_VERSION = 1  # bump when the seeded data changes shape: --reuse then seeds again
DAYS, RECENT_DAYS, RECENT_SHARE = 60, 7, 1 / 6  # a sixth of the runs (so ~50,000 failures of 1M) in the last week
RUN_OUTCOMES, RUN_OUTCOME_WEIGHTS = ("passed", "failed", "error"), (0.47, 0.50, 0.03)
RETRY_SHARE = 0.02  # passing steps whose first attempt failed (a retried, flaky step)
RUNS_PER_BATCH = 200
MARIADB_ROWS = 2000  # rows per executemany: ~2.5 MB, well under max_allowed_packet (16 MiB)
BAR_MS, CLUSTERS_BAR_MS, CLUSTERS_REPEAT, WARM_UPS, MIN_TIMED = 100.0, 3000.0, 5, 3, 5


# ---- what the project holds ------------------------------------------------------------------------------------
CASES = [  # name, method, path, typical milliseconds
    ("login", "POST", "/auth/login", 60), ("refresh token", "POST", "/auth/refresh", 25),
    ("get profile", "GET", "/users/me", 20), ("update profile", "PATCH", "/users/me", 45),
    ("list products", "GET", "/products", 90), ("search products", "GET", "/products/search", 140),
    ("get product", "GET", "/products/{id}", 30), ("get stock", "GET", "/inventory/{sku}", 35),
    ("reserve stock", "POST", "/inventory/reservations", 80), ("release stock", "DELETE", "/reservations/{id}", 40),
    ("create cart", "POST", "/carts", 50), ("add to cart", "POST", "/carts/{id}/items", 55),
    ("apply coupon", "POST", "/carts/{id}/coupon", 70), ("get cart", "GET", "/carts/{id}", 25),
    ("quote shipping", "POST", "/shipping/quotes", 160), ("create order", "POST", "/orders", 120),
    ("get order", "GET", "/orders/{order}", 30), ("list orders", "GET", "/orders", 85),
    ("pay order", "POST", "/orders/{order}/pay", 220), ("confirm payment", "POST", "/payments/{hex}/confirm", 180),
    ("refund order", "POST", "/orders/{order}/refund", 200), ("cancel order", "POST", "/orders/{order}/cancel", 90),
    ("get invoice", "GET", "/orders/{order}/invoice", 110), ("download invoice pdf", "GET", "/invoices/{id}.pdf", 300),
    ("track shipment", "GET", "/shipments/{id}", 60), ("create return", "POST", "/returns", 95),
    ("list notifications", "GET", "/notifications", 40), ("subscribe webhook", "POST", "/webhooks", 65),
    ("health", "GET", "/health", 5), ("logout", "POST", "/auth/logout", 15),
]  # fmt: skip
SCENARIOS = [
    "checkout", "checkout with coupon", "guest checkout", "refund flow", "cancel before shipping", "reorder",
    "stock reservation", "profile update", "invoice download", "shipment tracking", "returns", "webhooks",
    "search and buy", "payment retry", "smoke",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Cause:
    """Why a step failed: the failing check (none for an error: no usable response), the response status, and
    what the server or the transport said, as a template whose {fields} vary with every failure."""

    status: str  # failed | error
    text: str
    http: int | None = None
    source: str | None = "status_code"
    expression: str | None = None
    op: str = "eq"
    expected: Any = 200
    actual: str | None = None  # template of the actual value; None: the response status (or nothing there)


def answered(http: int, said: str) -> Cause:
    """The server answered `http` (the status check fails) saying why."""
    return Cause("failed", said, http)


def checked(said: str, source: str, expression: str | None, op: str, expected: Any, actual: str | None) -> Cause:
    """A 200 whose content fails a check."""
    return Cause("failed", said, 200, source, expression, op, expected, actual)


def broke(said: str) -> Cause:
    """No usable response: the transport (or an extractor) says why."""
    return Cause("error", said, None, None)


CAUSES = [
    answered(404, "order {order} not found"),
    answered(500, "NullPointerException at OrderService.create(OrderService.java:{line}) request_id={uuid}"),
    answered(401, "token expired at {ts}"),
    answered(403, "user {id} may not access cart {id2}"),
    answered(409, "order {order} already paid (payment {hex})"),
    answered(422, "field 'qty' must be at most {n}, got {m}"),
    answered(503, "upstream inventory-service unavailable (trace {hex})"),
    answered(429, "rate limit exceeded for key {hex}, retry after {n} s"),
    answered(400, "invalid coupon code SAVE{n}-{id}"),
    answered(502, "bad gateway: upstream {ip}:8080 reset the connection"),
    answered(500, "deadlock detected while updating row {id} of orders (transaction {id2})"),
    answered(404, "customer {uuid} not found"),
    answered(401, "invalid signature for request {uuid} at {ts}"),
    answered(504, "timeout waiting for the payment provider after {ms} ms (payment {hex})"),
    answered(400, "duplicate idempotency key {uuid}"),
    answered(410, "cart {id} expired at {ts}"),
    checked("order {order} is PENDING since {ts}", "body", "$.data.status", "eq", "PAID", "PENDING"),
    checked("total of order {order} is {price}", "body", "$.data.total", "eq", 59.9, "{price}"),
    checked("order {order} has {n} items", "body", "$.data.items", "length", 3, "{n}"),
    checked("insufficient stock for {sku} (warehouse {n})", "body", "$.code", "eq", 0, "{code}"),
    checked("maintenance page served until {ts}", "header", "Content-Type", "contains", "json", "text/html"),
    checked("slow answer for request {uuid}", "response_time", None, "lt", 1000, "{ms}"),
    checked("order {order} priced in USD", "body", "$.data.currency", "eq", "EUR", "USD"),
    checked("id {id} returned as a number", "body", "$.data.id", "type", "string", "{id}"),
    checked("created_at {ts} lacks a zone", "body", "$.data.created_at", "regex", "Z$", "{ts}"),
    checked(
        "price of {sku} is '{price}' (a string)", "json_schema", "data/items/0/price", "type", "number", "'{price}'"
    ),
    checked("account {email} answered for {email2}", "body", "$.data.user.email", "eq", "{email}", "{email2}"),
    checked("shipment {id} has no eta yet", "body", "$.data.shipping.eta", "exists", None, None),
    checked("discount {price} applied to order {order}", "body", "$.data.discount", "eq", 0, "{price}"),
    checked("sku {sku} discontinued on {date}", "body", "$.errors", "not_contains", "discontinued", "sku {sku} gone"),
    checked("tax {price} for region {region} on order {order}", "body", "$.data.tax", "eq", 11.38, "{price}"),
    checked("no token in the answer for session {hex}", "body", "$.data.token", "exists", None, None),
    checked("page {n} of orders empty for user {id}", "body", "$.page.total", "ge", 1, "0"),
    checked("webhook {uuid} answered {n} ms late", "body", "$.data.delivered", "eq", True, "false"),
    broke("connection refused: http://orders.staging.internal:8080/api/orders/{order}"),
    broke("timed out after 10000 ms: POST https://api.shop.example.com/payments/{hex}"),
    broke("TLS handshake failed: certificate for pay-{id}.example.com expired on {date}"),
    broke("extractor 'order_id' found nothing in body at $.data.order_id (request {uuid})"),
    broke("DNS lookup failed for cdn-{id}.sandbox.example.com"),
    broke("connection reset by peer after {n} bytes ({ip}:443)"),
]
CAUSE_WEIGHTS = [1 / (rank + 1) ** 0.8 for rank in range(len(CAUSES))]  # a few causes make most failures
TRANSIENT = [CAUSES[6], CAUSES[7], CAUSES[13]]  # what a retried attempt met before it passed


# ---- generating the rows ---------------------------------------------------------------------------------------
RUN_COLUMNS = (
    "id", "project_id", "scenario_id", "kind", "status", "trigger", "executor", "environment_id", "created_by_id",
    "variables", "ci", "settings", "iterations_total", "iterations_passed", "iterations_failed", "iterations_error",
    "iterations_flaky", "requests_passed", "requests_failed", "requests_error", "requests_skipped", "requests_flaky",
    "created_at", "started_at", "finished_at", "heartbeat_at", "owner", "cancel_requested", "error", "chunks",
    "rolled_up",
)  # fmt: skip
REQUEST_COLUMNS = (
    "scenario_run_id", "case_id", "step_id", "dataset_id", "step_key", "name", "iteration", "attempt",
    "iteration_attempt", "is_final", "flaky", "status", "started_at", "duration_ms", "error", "request", "dataset",
    "response", "assertions", "extracted",
)  # fmt: skip
JSON_COLUMNS = {"variables", "ci", "settings", "request", "dataset", "response", "assertions", "extracted"}
TIME_COLUMNS = {"created_at", "started_at", "finished_at", "heartbeat_at"}
BOOL_COLUMNS = {"cancel_requested", "rolled_up", "is_final", "flaky"}


@dataclass(frozen=True, slots=True)
class Step:
    id: int  # test_scenario_cases.id
    case_id: int
    position: int
    name: str
    method: str
    path: str
    base_ms: float
    weakness: float  # how often this step is the one that breaks


@dataclass(frozen=True, slots=True)
class Project:
    user_id: int
    project_id: int
    environments: list[tuple[int, str]]  # id, base URL
    scenarios: list[tuple[int, list[Step]]]


@dataclass(frozen=True, slots=True)
class RunPlan:
    id: int
    scenario: int  # index into Project.scenarios
    environment: int  # index into Project.environments
    created_at: datetime
    outcome: str
    iterations: int
    ran: int  # iterations that ran (an error run stops early)


@dataclass
class SeedStats:
    runs: int = 0
    rows: int = 0
    failing: int = 0  # failed or error, every attempt
    failing_recent: int = 0  # of those, in runs of the last RECENT_DAYS days
    statuses: dict[str, int] = field(default_factory=dict)
    cache: str = ""  # the server's page cache and the request runs' size: what a failure scan reads from memory


class Fields(dict[str, str]):
    """The {fields} of a cause's templates: each one made up the first time a template asks for it."""

    def __init__(self, rng: random.Random, moment: datetime) -> None:
        super().__init__()
        self.rng, self.moment = rng, moment

    def __missing__(self, key: str) -> str:
        value = FIELD_MAKERS[key](self.rng, self.moment)
        self[key] = value
        return value


FIELD_MAKERS: dict[str, Callable[[random.Random, datetime], str]] = {
    "order": lambda rng, at: f"ORD-{at:%Y%m%d}-{rng.randrange(10**5, 10**6)}",
    "uuid": lambda rng, at: _uuid(rng),
    "id": lambda rng, at: str(rng.randrange(1000, 10**7)),
    "id2": lambda rng, at: str(rng.randrange(1000, 10**7)),
    "ts": lambda rng, at: (at - timedelta(seconds=rng.randrange(0, 7200))).isoformat(timespec="milliseconds"),
    "date": lambda rng, at: f"{at - timedelta(days=rng.randrange(1, 400)):%Y-%m-%d}",
    "ms": lambda rng, at: str(rng.randrange(1000, 30000)),
    "hex": lambda rng, at: f"{rng.getrandbits(64):016x}",
    "sku": lambda rng, at: f"SKU-{rng.randrange(10**4, 10**5)}",
    "ip": lambda rng, at: f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    "email": lambda rng, at: f"customer{rng.randrange(10**6)}@example.com",
    "email2": lambda rng, at: f"customer{rng.randrange(10**6)}@example.com",
    "n": lambda rng, at: str(rng.randrange(2, 50)),
    "m": lambda rng, at: str(rng.randrange(50, 500)),
    "line": lambda rng, at: str(rng.randrange(40, 900)),
    "price": lambda rng, at: f"{rng.randrange(100, 99999) / 100:.2f}",
    "region": lambda rng, at: rng.choice(("DE-BY", "FR-IDF", "US-CA", "US-NY", "NL-NH", "IT-LO")),
    "code": lambda rng, at: str(rng.choice((1001, 1002, 2003, 4040))),
}


def _uuid(rng: random.Random) -> str:
    value = f"{rng.getrandbits(128):032x}"
    return f"{value[:8]}-{value[8:12]}-4{value[13:16]}-{value[16:20]}-{value[20:]}"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value)


def _number(text_value: str) -> Any:
    try:
        return int(text_value)
    except ValueError:
        try:
            return float(text_value)
        except ValueError:
            return text_value


def plan_runs(project: Project, runs: int, requests: int, now: datetime, rng: random.Random) -> list[RunPlan]:
    """When each run was made, of which scenario, how it ends and how many iterations it has, so that the rows
    add up to about `requests`. Run density grows linearly over the DAYS so RECENT_SHARE falls in the last week."""
    span = DAYS * 86400.0
    recent = RECENT_DAYS * 86400.0
    # Density 1 + a t / span over [0, span]: the share of its last `recent` seconds is RECENT_SHARE for this a.
    slope = (RECENT_SHARE * span - recent) / ((2 * span * recent - recent**2) / (2 * span) - RECENT_SHARE * span / 2)
    total = span + slope * span / 2
    offsets = sorted((-1 + math.sqrt(1 + 2 * slope * rng.random() * total / span)) * span / slope for _ in range(runs))
    start = now - timedelta(days=DAYS)
    chosen = [
        (
            rng.randrange(len(project.scenarios)),
            0 if rng.random() < 0.7 else 1,
            rng.choices(RUN_OUTCOMES, RUN_OUTCOME_WEIGHTS)[0],
        )
        for _ in range(runs)
    ]
    per_run_extra = 1 + RETRY_SHARE * 0.7  # retried attempts add rows (only passing steps are retried)
    plans: list[RunPlan] = []
    planned = 0.0
    for index, (offset, (scenario, environment, outcome)) in enumerate(zip(offsets, chosen, strict=True)):
        steps = len(project.scenarios[scenario][1])
        # What the runs so far leave, spread over the runs to come; an error run stops early.
        want = (requests - planned) / (runs - index)
        iterations = max(1, round(want / (steps * per_run_extra)))
        ran = rng.randrange(0, iterations) if outcome == "error" else iterations
        planned += ran * steps * per_run_extra
        created = min(start + timedelta(seconds=offset), now - timedelta(minutes=2))
        plans.append(RunPlan(index + 1, scenario, environment, created, outcome, iterations, ran))
    return plans


def run_rows(project: Project, plan: RunPlan) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """One scenario run's row and its request runs' rows (in RUN_COLUMNS and REQUEST_COLUMNS order), with
    counters that agree with the rows. Deterministic per run."""
    rng = random.Random(plan.id * 7919 + 11)
    scenario_id, steps = project.scenarios[plan.scenario]
    environment_id, base_url = project.environments[plan.environment]
    broken: dict[int, tuple[Cause, float]] = {}  # step position -> its cause and how often it strikes
    if plan.outcome == "failed":
        share = rng.uniform(0.3, 0.9)  # of this run's requests that fail: 0.6 on average
        count = max(1, math.ceil(share * len(steps)))
        positions: list[int] = []
        pool = list(range(len(steps)))
        while len(positions) < count:
            pick = rng.choices(pool, [steps[p].weakness for p in pool])[0]
            positions.append(pick)
            pool.remove(pick)
        strike = min(1.0, share * len(steps) / count)
        for position in positions:
            # Each case tends to break in its own few ways; sometimes in one of the common ones.
            own = [(steps[position].case_id * 7 + k * 13) % len(CAUSES) for k in range(3)]
            picked = CAUSES[rng.choice(own)] if rng.random() < 0.6 else rng.choices(CAUSES, CAUSE_WEIGHTS)[0]
            broken[position] = (picked, strike)
    started = plan.created_at + timedelta(seconds=rng.uniform(0.05, 3.0))
    moment = started
    rows: list[tuple[Any, ...]] = []
    counts = dict.fromkeys(("passed", "failed", "error", "skipped", "flaky"), 0)
    iterations = dict.fromkeys(("passed", "failed", "error", "flaky"), 0)

    def row(step: Step, iteration: int, attempt: int, final: bool, flaky: bool, cause: Cause | None) -> None:
        nonlocal moment
        fields = Fields(rng, moment)
        path = step.path.format_map(fields)
        status = "passed" if cause is None else cause.status
        duration = rng.lognormvariate(math.log(step.base_ms), 0.55)
        body = None
        if step.method in ("POST", "PATCH"):
            body = _json({"username": f"user{iteration}", "qty": 1 + iteration % 5, "ref": fields["order"]})
        request: dict[str, Any] = {
            "method": step.method,
            "url": f"{base_url}{path}",
            "headers": {"Content-Type": "application/json", "Accept": "application/json", "Authorization": "***"},
            "body": body,
        }
        if body is not None:
            request["size"] = len(body)
        checks = [check_result("status_code", None, "eq", 200, 200, True, "status_code eq 200")]
        error = response = None
        if cause is not None and cause.status == "error":
            error = f"{step.name}: {cause.text.format_map(fields)}"
            duration = 10000.0 if "timed out" in cause.text else duration
            checks = []
        else:
            http = 200 if cause is None else (cause.http or 200)
            if cause is None:
                payload: Any = {"code": 0, "data": {"id": fields["id"], "ref": fields["order"], "status": "OK"}}
                checks.append(check_result("body", "$.code", "eq", 0, 0, True, "body $.code eq 0"))
            elif cause.source == "status_code":
                said = cause.text.format_map(fields)
                payload = {"error": {"code": f"http_{http}", "message": said}}
                checks = [
                    check_result(
                        "status_code", None, "eq", 200, http, False, f"status_code: expected eq 200, got {http}"
                    )
                ]
                error = f"{step.name}: status_code: expected eq 200, got {http} ({said})"
            else:
                said = cause.text.format_map(fields)
                where = f"{cause.source} {cause.expression}" if cause.expression else cause.source
                expected = cause.expected.format_map(fields) if isinstance(cause.expected, str) else cause.expected
                if cause.actual is None:
                    actual, message = None, f"{where} does not exist"
                else:
                    actual = _number(cause.actual.format_map(fields))
                    message = f"{where}: expected {cause.op.replace('_', ' ')} {_show(expected)}, got {_show(actual)}"
                checks.append(
                    check_result(cause.source or "body", cause.expression, cause.op, expected, actual, False, message)
                )
                payload = {"code": 0, "data": {"id": fields["id"], "ref": fields["order"], "note": said}}
                error = f"{step.name}: {message} ({said})"
            answer = _json(payload)
            response = {
                "status": http,
                "headers": {"content-type": "application/json", "x-request-id": _uuid(rng)},
                "body": answer,
                "size": len(answer),
                "sha256": hashlib.sha256(answer.encode()).hexdigest(),
                "truncated": False,
                "elapsed_ms": round(duration * 0.9, 3),
                "url": f"{base_url}{path}",
                "redirects": [],
            }
        dataset = {"row": {"username": f"user{iteration}", "qty": 1 + iteration % 5}, "dataset": None, "values": {}}
        extracted = {"token": "***"} if step.name == "login" and status == "passed" else {}
        rows.append(
            (
                plan.id, step.case_id, step.id, None, f"step:{step.position}", step.name, iteration, attempt, 1, final,
                flaky, status, moment, round(duration, 3), error, _json(request), _json(dataset),
                None if response is None else _json(response), _json(checks), _json(extracted),
            )
        )  # fmt: skip
        moment += timedelta(milliseconds=duration + rng.uniform(0.2, 3.0))

    for iteration in range(plan.ran):
        statuses = set()
        flaky_iteration = False
        for step in steps:
            cause: Cause | None = None
            if step.position in broken and rng.random() < broken[step.position][1]:
                cause = broken[step.position][0]
            retried = cause is None and rng.random() < RETRY_SHARE
            if retried:
                row(step, iteration, 1, False, False, rng.choice(TRANSIENT))
            row(step, iteration, 2 if retried else 1, True, retried, cause)
            final_status = "passed" if cause is None else cause.status
            counts[final_status] += 1
            counts["flaky"] += retried
            flaky_iteration |= retried
            statuses.add(final_status)
        outcome = "error" if "error" in statuses else "failed" if "failed" in statuses else "passed"
        iterations[outcome] += 1
        iterations["flaky"] += outcome == "passed" and flaky_iteration
    failing = iterations["failed"] + iterations["error"]
    if plan.outcome == "error":
        status, error = "error", f"the data source broke after row {plan.ran}: connection to the dataset store lost"
    elif failing:
        status, error = "failed", f"{failing} of {plan.ran} iterations failed"
    else:
        status, error = "passed", None
    finished = moment + timedelta(milliseconds=rng.uniform(5, 60))
    trigger = rng.choices(("manual", "api", "ci", "schedule"), (2, 1, 5, 2))[0]
    ci = {"commit": f"{rng.getrandbits(160):040x}", "branch": "main"} if trigger == "ci" else {}
    run = (
        plan.id, project.project_id, scenario_id, "scenario", status, trigger, "inline", environment_id,
        project.user_id, "{}", _json(ci), _json({"concurrency": 4}), plan.iterations, iterations["passed"],
        iterations["failed"], iterations["error"], iterations["flaky"], counts["passed"], counts["failed"],
        counts["error"], counts["skipped"], counts["flaky"], plan.created_at, started, finished, finished,
        "reports-bench", False, error, 0, False,
    )  # fmt: skip
    return run, rows


# ---- databases -------------------------------------------------------------------------------------------------
async def _admin(backend: str, statements: Sequence[str]) -> list[Any]:
    """Statements on the server itself (no database of ours), outside a transaction; the last one's rows."""
    rows: list[Any] = []
    if backend == "postgresql":
        import asyncpg

        pg = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
        try:
            for sql in statements:
                rows = await pg.fetch(sql)
        finally:
            await pg.close()
        return rows
    import asyncmy

    my = await asyncmy.connect(host="127.0.0.1", port=3306, user="root", password="")
    try:
        async with my.cursor() as cursor:
            for sql in statements:
                await cursor.execute(sql)
                rows = list(await cursor.fetchall() or [])
    finally:
        my.close()
    return rows


def create_database(backend: str) -> None:
    if backend == "postgresql":
        sql = [f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{DATABASE}"']
    else:
        sql = [f"DROP DATABASE IF EXISTS `{DATABASE}`", f"CREATE DATABASE `{DATABASE}` CHARACTER SET utf8mb4"]
    asyncio.run(_admin(backend, sql))


def database_exists(backend: str) -> bool:
    if backend == "postgresql":
        sql = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
    else:
        sql = f"SELECT 1 FROM information_schema.schemata WHERE schema_name = '{DATABASE}'"
    return bool(asyncio.run(_admin(backend, [sql])))


def _engine(url: str) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    from app.core.db import build_engine

    engine = build_engine(url)
    return engine, async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def _signature(runs: int, requests: int) -> str:
    return f"reports_at_scale v{SEED_VERSION} runs={runs} requests={requests}"


async def seeded_at(url: str, runs: int, requests: int) -> datetime | None:
    """When this database was seeded with exactly this plan (None: it was not, or not completely)."""
    from app.models import Project as ProjectRow
    from app.models import ScenarioRun

    engine, sessions = _engine(url)
    try:
        async with sessions() as session:
            found = await session.scalar(select(ProjectRow.description).where(ProjectRow.name == PROJECT_NAME))
            if found is None or not found.startswith(_signature(runs, requests) + " seeded_at="):
                return None
            if await session.scalar(select(func.count()).select_from(ScenarioRun)) != runs:
                return None
            return datetime.fromisoformat(found.rsplit(" seeded_at=", 1)[1])
    finally:
        await engine.dispose()


async def seed_project(url: str) -> Project:
    """The small tables, through the ORM as the API would save them: a user who can sign in, owner of one
    project with two environments, 30 cases and 15 scenarios of 3-8 steps."""
    from app.cases.schemas import CaseCreate
    from app.core.security import hash_password
    from app.models import ApiRequest, Environment, ProjectMember, TestScenario, TestScenarioCase, User
    from app.models import Project as ProjectRow

    rng = random.Random(11)
    engine, sessions = _engine(url)
    try:
        async with sessions() as session:
            user = User(email=EMAIL, full_name="Reports Bench", password_hash=hash_password(PASSWORD))
            session.add(user)
            await session.flush()
            project = ProjectRow(name=PROJECT_NAME, owner_id=user.id, description="seeding")
            session.add(project)
            await session.flush()
            session.add(ProjectMember(project_id=project.id, user_id=user.id, role="owner"))
            environments = [
                Environment(project_id=project.id, name="staging", base_url="https://staging.shop.example.com/api"),
                Environment(project_id=project.id, name="production", base_url="https://shop.example.com/api"),
            ]
            session.add_all(environments)
            cases: list[tuple[ApiRequest, tuple[str, str, str, int]]] = []
            for name, method, path, base_ms in CASES:
                spec = {
                    "project_id": project.id,
                    "name": name,
                    "method": method,
                    "url": "{{base_url}}" + path.replace("{", "{{").replace("}", "}}"),
                    "headers": {"Content-Type": "application/json"},
                    "assertions": [
                        {"source": "status_code", "op": "eq", "expected": 200},
                        {"source": "body", "expression": "$.code", "op": "eq", "expected": 0},
                    ],
                }
                fields = CaseCreate.model_validate(spec).model_dump(mode="json", by_alias=True, exclude={"tags"})
                case = ApiRequest(owner_id=user.id, **fields)
                session.add(case)
                cases.append((case, (name, method, path, base_ms)))
            await session.flush()
            weakness = {case.id: rng.paretovariate(1.5) for case, _ in cases}  # a few cases break most often
            scenarios: list[tuple[int, list[Step]]] = []
            for name in SCENARIOS:
                scenario = TestScenario(project_id=project.id, owner_id=user.id, name=name)
                session.add(scenario)
                await session.flush()
                chosen = [cases[0], *rng.sample(cases[1:], rng.randint(2, 7))]  # login first, then 2-7 more
                steps = []
                for position, (case, (case_name, method, path, base_ms)) in enumerate(chosen):
                    link = TestScenarioCase(scenario_id=scenario.id, case_id=case.id, position=position)
                    session.add(link)
                    await session.flush()
                    steps.append(Step(link.id, case.id, position, case_name, method, path, base_ms, weakness[case.id]))
                scenarios.append((scenario.id, steps))
            await session.commit()
            return Project(user.id, project.id, [(env.id, env.base_url) for env in environments], scenarios)
    finally:
        await engine.dispose()


class Writer:
    """Bulk writes through the raw driver: PostgreSQL's binary COPY, MariaDB's executemany (one bulk command,
    or multi-row INSERTs, per MARIADB_ROWS rows)."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend, self.url = backend, make_url(url)
        self.connection: Any = None

    async def __aenter__(self) -> Writer:
        if self.backend == "postgresql":
            import asyncpg

            self.connection = await asyncpg.connect(
                host=self.url.host, port=self.url.port, user=self.url.username, database=self.url.database
            )
        else:
            import asyncmy

            self.connection = await asyncmy.connect(
                host=self.url.host, port=self.url.port, user=self.url.username, password="",
                db=self.url.database, charset="utf8mb4", autocommit=False,
            )  # fmt: skip
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.backend == "postgresql":
            await self.connection.close()
        else:
            self.connection.close()

    async def write(self, runs: list[tuple], rows: list[tuple]) -> None:
        if self.backend == "postgresql":
            async with self.connection.transaction():
                await self.connection.copy_records_to_table("scenario_runs", records=runs, columns=RUN_COLUMNS)
                await self.connection.copy_records_to_table("api_request_runs", records=rows, columns=REQUEST_COLUMNS)
            return
        async with self.connection.cursor() as cursor:
            for table, columns, values in (
                ("scenario_runs", RUN_COLUMNS, runs),
                ("api_request_runs", REQUEST_COLUMNS, rows),
            ):
                # MariaDB's DATETIME has no zone: naive UTC, as app.models.base.UTCDateTime stores it.
                times = [i for i, name in enumerate(columns) if name in TIME_COLUMNS]
                flags = [i for i, name in enumerate(columns) if name in BOOL_COLUMNS]
                ready = []
                for value in values:
                    value_list = list(value)
                    for i in times:
                        if value_list[i] is not None:
                            value_list[i] = value_list[i].replace(tzinfo=None)
                    for i in flags:
                        value_list[i] = int(value_list[i])
                    ready.append(tuple(value_list))
                names = ", ".join(f"`{name}`" for name in columns)
                sql = f"INSERT INTO `{table}` ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
                for start in range(0, len(ready), MARIADB_ROWS):
                    await cursor.executemany(sql, ready[start : start + MARIADB_ROWS])
        await self.connection.commit()

    async def finish(self) -> None:
        """The id sequence past the ids given, and what autovacuum / InnoDB do after a million inserts: planner
        statistics and (PostgreSQL) the visibility map that index-only scans need. Done here because the local
        server may run without autovacuum (this machine's does)."""
        if self.backend == "postgresql":
            await self.connection.execute(
                "SELECT setval(pg_get_serial_sequence('scenario_runs', 'id'), (SELECT max(id) FROM scenario_runs))"
            )
            await self.connection.execute("VACUUM (ANALYZE)")
        else:
            async with self.connection.cursor() as cursor:
                await cursor.execute("ANALYZE TABLE scenario_runs, api_request_runs")
                await cursor.fetchall()


async def seed(backend: str, url: str, runs: int, requests: int) -> None:
    project = await seed_project(url)
    now = datetime.now(UTC)
    plans = plan_runs(project, runs, requests, now, random.Random(20261204))
    written_runs = written_rows = 0
    async with Writer(backend, url) as writer:
        for first in range(0, len(plans), RUNS_PER_BATCH):
            run_batch: list[tuple[Any, ...]] = []
            row_batch: list[tuple[Any, ...]] = []
            for plan in plans[first : first + RUNS_PER_BATCH]:
                run, rows = run_rows(project, plan)
                run_batch.append(run)
                row_batch.extend(rows)
            await writer.write(run_batch, row_batch)
            written_runs += len(run_batch)
            written_rows += len(row_batch)
            if sys.stdout.isatty():
                print(f"\r  seeded {written_runs:,} runs, {written_rows:,} request runs", end="", flush=True)
            elif written_runs * 10 // len(plans) != (written_runs - len(run_batch)) * 10 // len(plans):
                print(f"  seeded {written_runs:,} runs, {written_rows:,} request runs", flush=True)
        if sys.stdout.isatty():
            print()
        await writer.finish()
    from app.models import Project as ProjectRow

    engine, sessions = _engine(url)
    try:
        async with sessions() as session:
            row = await session.get(ProjectRow, project.project_id)
            assert row is not None
            row.description = f"{_signature(runs, requests)} seeded_at={now.isoformat()}"
            await session.commit()
    finally:
        await engine.dispose()


async def data_figures(url: str) -> SeedStats:
    """What the database holds (for --reuse, and as a check of what seeding said)."""
    from app.models import ApiRequestRun, ScenarioRun

    engine, sessions = _engine(url)
    try:
        async with sessions() as session:
            stats = SeedStats()
            stats.runs = int(await session.scalar(select(func.count()).select_from(ScenarioRun)) or 0)
            stats.rows = int(await session.scalar(select(func.count()).select_from(ApiRequestRun)) or 0)
            failing = ApiRequestRun.status.in_(("failed", "error"))
            stats.failing = int(await session.scalar(select(func.count()).where(failing)) or 0)
            recent = datetime.now(UTC) - timedelta(days=RECENT_DAYS)
            stats.failing_recent = int(
                await session.scalar(
                    select(func.count())
                    .select_from(ApiRequestRun)
                    .join(ScenarioRun, ScenarioRun.id == ApiRequestRun.scenario_run_id)
                    .where(failing, ScenarioRun.created_at >= recent)
                )
                or 0
            )
            for status, count in await session.execute(
                select(ScenarioRun.status, func.count()).group_by(ScenarioRun.status)
            ):
                stats.statuses[str(status)] = int(count)
            stats.cache = await _cache_figures(session)
            return stats
    finally:
        await engine.dispose()


async def rebuild_rollups(url: str) -> tuple[int, float]:
    from app.reports.rollups import rebuild

    engine, sessions = _engine(url)
    try:
        started = time.perf_counter()
        counted = await rebuild(sessions)
        elapsed = time.perf_counter() - started
        # The roll-ups are new and every run was updated: what autovacuum would do next (see Writer.finish).
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql":
                await connection.execute(
                    text("VACUUM (ANALYZE) report_rollups, report_rollup_durations, scenario_runs")
                )
            else:
                await connection.execute(text("ANALYZE TABLE report_rollups, report_rollup_durations, scenario_runs"))
        return counted, elapsed
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Targets:
    project: int
    failed_run: int  # the newest failed run: its failed request runs, and compare
    older_run: int  # a failed run of the same scenario about a week earlier: compare ?with=
    scenario: int
    case: int  # the case with the most request runs


async def pick_targets(url: str) -> Targets:
    from app.models import Project as ProjectRow
    from app.models import ScenarioRun, TestScenarioCase

    engine, sessions = _engine(url)
    try:
        async with sessions() as session:
            project = await session.scalar(select(ProjectRow.id).where(ProjectRow.name == PROJECT_NAME))
            run = (
                await session.execute(
                    select(ScenarioRun.id, ScenarioRun.scenario_id, ScenarioRun.created_at)
                    .where(ScenarioRun.project_id == project, ScenarioRun.status == "failed")
                    .order_by(ScenarioRun.created_at.desc())
                    .limit(1)
                )
            ).one()
            older = await session.scalar(
                select(ScenarioRun.id)
                .where(
                    ScenarioRun.scenario_id == run.scenario_id,
                    ScenarioRun.status == "failed",
                    ScenarioRun.created_at < run.created_at - timedelta(days=7),
                )
                .order_by(ScenarioRun.created_at.desc())
                .limit(1)
            )
            case = await session.scalar(
                select(TestScenarioCase.case_id)
                .group_by(TestScenarioCase.case_id)
                .order_by(func.count().desc(), TestScenarioCase.case_id)
                .limit(1)
            )
            assert project is not None and case is not None
            return Targets(project, run.id, older or run.id, run.scenario_id, case)
    finally:
        await engine.dispose()


# ---- the API server and the measurements -----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def api_server(url: str, work: Path) -> Iterator[str]:
    """`uvicorn app.main:app` on the bench database, executor and Celery settings left at their defaults."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "DB_", "DATABASE_"))}
    env.update({"EXILE_DATA_DIR": str(work), "DATABASE_URL": url, "ENVIRONMENT": "development"})
    log = (work / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--app-dir", str(REPO), "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the API server stopped:\n{(work / 'server.log').read_text()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not answer:\n{(work / 'server.log').read_text()[-4000:]}")
            time.sleep(0.2)
        yield base
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@dataclass
class Endpoint:
    label: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    bar_ms: float = BAR_MS
    repeat: int | None = None  # None: --repeat
    times_ms: list[float] = field(default_factory=list)
    outcome: str = ""  # "" measured | "not available" | "ERROR <status>"
    detail: str = ""


def endpoints(targets: Targets) -> list[Endpoint]:
    now = datetime.now(UTC)

    def ago(days: float) -> str:
        return (now - timedelta(days=days)).isoformat(timespec="seconds").replace("+00:00", "Z")

    p, run, older = targets.project, targets.failed_run, targets.older_run
    return [
        Endpoint("/scenario-runs?project_id=", "/scenario-runs", {"project_id": p}),
        Endpoint(
            "/scenario-runs/{id}/request-runs?status=failed", f"/scenario-runs/{run}/request-runs", {"status": "failed"}
        ),
        Endpoint("/request-runs?case_id=", "/request-runs", {"case_id": targets.case}),
        Endpoint("trends bucket=day, 30 days", f"/projects/{p}/trends", {"bucket": "day", "since": ago(30)}),
        Endpoint("trends bucket=hour, 2 days", f"/projects/{p}/trends", {"bucket": "hour", "since": ago(2)}),
        Endpoint(
            "trends bucket=day, 30 days, scenario_id=", f"/projects/{p}/trends",
            {"bucket": "day", "since": ago(30), "scenario_id": targets.scenario},
        ),
        Endpoint("compare (vs last passed)", f"/scenario-runs/{run}/compare"),
        Endpoint("compare ?with= (a week before)", f"/scenario-runs/{run}/compare", {"with": older}),
        Endpoint("flaky, 30 days", f"/projects/{p}/flaky", {"since": ago(30)}),
        Endpoint("hotspots, 30 days", f"/projects/{p}/hotspots", {"since": ago(30)}),
        Endpoint("dashboard", f"/projects/{p}/dashboard"),
        Endpoint(
            "failure-clusters, 7 days", f"/projects/{p}/failure-clusters", {"since": ago(RECENT_DAYS)},
            CLUSTERS_BAR_MS, CLUSTERS_REPEAT,
        ),
    ]  # fmt: skip


def measure(base: str, targets: Targets, repeat: int, budget_s: float) -> list[Endpoint]:
    """Each endpoint, one call at a time: WARM_UPS untimed, then `repeat` timed, fewer (at least MIN_TIMED) when
    they take longer than `budget_s` together: an endpoint seconds over its bar would hold the run for an hour."""
    with httpx.Client(base_url=f"{base}/api/v1", timeout=600) as client:
        answer = client.post("/auth/token", data={"username": EMAIL, "password": PASSWORD})
        answer.raise_for_status()
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        measured = endpoints(targets)
        for endpoint in measured:
            count = endpoint.repeat or repeat
            print(f"  {endpoint.label}: ", end="", flush=True)
            for attempt in range(WARM_UPS + count):
                started = time.perf_counter()
                response = client.get(endpoint.path, params=endpoint.params)
                elapsed_ms = (time.perf_counter() - started) * 1000
                if response.status_code == 404:
                    endpoint.outcome, endpoint.detail = "not available", response.text[:300]
                    break
                if response.status_code != 200:
                    endpoint.outcome, endpoint.detail = f"ERROR {response.status_code}", response.text[:2000]
                    break
                if attempt >= WARM_UPS:
                    endpoint.times_ms.append(elapsed_ms)
                    if len(endpoint.times_ms) >= MIN_TIMED and sum(endpoint.times_ms) > budget_s * 1000:
                        break
            print(endpoint.outcome or f"{len(endpoint.times_ms)} x, median {_quantile(endpoint.times_ms, 0.5):.1f} ms")
        return measured


def _quantile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank: the smallest value at least `fraction` of the values are at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# ---- the report ------------------------------------------------------------------------------------------------
@dataclass
class BackendResult:
    backend: str
    data: SeedStats
    seed_seconds: float | None  # None: reused
    seeded_at: datetime
    rebuild: tuple[int, float] | None  # None: the roll-ups of the last run were kept (--keep-rollups)
    measured: list[Endpoint]


async def _cache_figures(session: Any) -> str:
    """The database server's page cache against the request runs' table: a failure scan of a week reads a few
    hundred MB of rows, slow from disk or the OS cache when the server's own cache (MariaDB's 128 MiB default
    innodb_buffer_pool_size) cannot hold them."""
    if session.bind.dialect.name == "postgresql":
        shared = await session.scalar(text("SELECT current_setting('shared_buffers')"))
        size = await session.scalar(text("SELECT pg_total_relation_size('api_request_runs')"))
        return f"shared_buffers {shared}; api_request_runs {int(size or 0) / 2**20:,.0f} MiB with indexes"
    pool = await session.scalar(text("SELECT @@innodb_buffer_pool_size"))
    size = await session.scalar(
        text(
            "SELECT data_length + index_length FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = 'api_request_runs'"
        )
    )
    return (
        f"innodb_buffer_pool_size {int(pool or 0) / 2**20:,.0f} MiB; api_request_runs {int(size or 0) / 2**20:,.0f} MiB"
    )


async def set_buffer_pool(url: str, mib: int) -> None:
    """MariaDB: resize the buffer pool (dynamic since 10.2; the server's setting until it restarts)."""
    engine, sessions = _engine(url)
    try:
        async with sessions() as session:
            await session.execute(text(f"SET GLOBAL innodb_buffer_pool_size = {int(mib) * 2**20}"))
    finally:
        await engine.dispose()


def report(result: BackendResult) -> str:
    data, name = result.data, NAMES[result.backend]
    lines = [f"\n### {name} (`{DATABASE}`)\n"]
    statuses = ", ".join(f"{status} {count:,}" for status, count in sorted(result.data.statuses.items()))
    lines.append(
        f"data: {data.runs:,} scenario runs ({statuses}), {data.rows:,} request runs, {data.failing:,} failed or "
        f"error ({data.failing / max(1, data.rows):.1%}), {data.failing_recent:,} of them in the last "
        f"{RECENT_DAYS} days"
    )
    lines.append(f"database cache: {data.cache}")
    if result.seed_seconds is None:
        lines.append(f"seeding: reused (seeded {result.seeded_at:%Y-%m-%d %H:%M} UTC)")
    else:
        rate = data.rows / result.seed_seconds
        lines.append(f"seeding: {result.seed_seconds:.1f} s ({rate:,.0f} request runs/s, bulk inserts)")
    if result.rebuild is None:
        lines.append("roll-up rebuild: skipped (--keep-rollups: the roll-ups of the last run)\n")
    else:
        counted, seconds = result.rebuild
        lines.append(f"roll-up rebuild (app.reports.rollups.rebuild): {seconds:.1f} s for {counted:,} runs\n")
    lines.append("| endpoint | n | p50 ms | p95 ms | max ms | bar (p95) | result |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for endpoint in result.measured:
        bar = f"< {endpoint.bar_ms:,.0f} ms"
        if endpoint.outcome:
            lines.append(f"| {endpoint.label} | | | | | {bar} | {endpoint.outcome} |")
            continue
        p50, p95 = _quantile(endpoint.times_ms, 0.5), _quantile(endpoint.times_ms, 0.95)
        verdict = "PASS" if p95 < endpoint.bar_ms else "FAIL"
        lines.append(
            f"| {endpoint.label} | {len(endpoint.times_ms)} | {p50:,.1f} | {p95:,.1f} | {max(endpoint.times_ms):,.1f} "
            f"| {bar} | {verdict} |"
        )
    for endpoint in result.measured:
        if endpoint.outcome.startswith("ERROR"):
            lines.append(f"\n{endpoint.label} ({endpoint.path}): {endpoint.outcome}\n{endpoint.detail}")
    return "\n".join(lines)


def summary(result: BackendResult) -> str:
    measured = [e for e in result.measured if not e.outcome]
    failed = [e.label for e in measured if _quantile(e.times_ms, 0.95) >= e.bar_ms]
    missing = [e.label for e in result.measured if e.outcome == "not available"]
    errors = [e.label for e in result.measured if e.outcome.startswith("ERROR")]
    parts = [f"{len(measured) - len(failed)} of {len(result.measured)} endpoints within their bars"]
    if failed:
        parts.append(f"{len(failed)} over ({', '.join(failed)})")
    if missing:
        parts.append(f"{len(missing)} not available")
    if errors:
        parts.append(f"{len(errors)} errors ({', '.join(errors)})")
    return f"{NAMES[result.backend]}: " + "; ".join(parts)


# ---- main ------------------------------------------------------------------------------------------------------
def run_backend(backend: str, args: argparse.Namespace, work: Path) -> BackendResult:
    url = URLS[backend]
    print(f"\n== {NAMES[backend]}: {url}")
    seeded = None
    if args.reuse and database_exists(backend):
        migrate_quietly(url)  # migrations that landed since: the data stays
        seeded = asyncio.run(seeded_at(url, args.runs, args.requests))
    seed_seconds: float | None = None
    if seeded is None:
        create_database(backend)
        migrate_quietly(url)
        print(f"  seeding {args.runs:,} runs, ~{args.requests:,} request runs")
        started = time.perf_counter()
        asyncio.run(seed(backend, url, args.runs, args.requests))
        seed_seconds = time.perf_counter() - started
        seeded = asyncio.run(seeded_at(url, args.runs, args.requests))
        assert seeded is not None, "the seeded data is not what was planned"
    else:
        print(f"  reusing the data seeded {seeded:%Y-%m-%d %H:%M} UTC")
    if backend == "mariadb" and args.buffer_pool_mib:
        asyncio.run(set_buffer_pool(url, args.buffer_pool_mib))
        print(f"  innodb_buffer_pool_size set to {args.buffer_pool_mib:,} MiB (until the server restarts)")
    data = asyncio.run(data_figures(url))
    rebuilt: tuple[int, float] | None = None
    if seed_seconds is not None or not args.keep_rollups:
        print("  rebuilding the report roll-ups")
        rebuilt = asyncio.run(rebuild_rollups(url))
        print(f"  rebuilt: {rebuilt[0]:,} runs in {rebuilt[1]:.1f} s")
    targets = asyncio.run(pick_targets(url))
    with api_server(url, work) as base:
        measured = measure(base, targets, args.repeat, args.budget)
    return BackendResult(backend, data, seed_seconds, seeded, rebuilt, measured)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("postgresql", "mariadb", "both"), default="both")
    parser.add_argument("--runs", type=int, default=20_000, help="scenario runs (default 20,000)")
    parser.add_argument("--requests", type=int, default=1_000_000, help="request runs, about (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=50, help="timed calls per endpoint (default 50)")
    parser.add_argument(
        "--budget",
        type=float,
        default=60,
        help="seconds of timed calls per endpoint before stopping early (default 60)",
    )
    parser.add_argument(
        "--buffer-pool-mib",
        type=int,
        default=0,
        help="MariaDB: SET GLOBAL innodb_buffer_pool_size to this many MiB first (default: leave the server's)",
    )
    parser.add_argument("--reuse", action="store_true", help="keep the data when the database holds this seed")
    parser.add_argument(
        "--keep-rollups", action="store_true", help="with --reuse: keep the last run's roll-ups (no rebuild)"
    )
    args = parser.parse_args(argv)
    if args.runs < 10 or args.requests < args.runs or args.repeat < 1:
        parser.error("--runs >= 10, --requests >= --runs and --repeat >= 1")
    return args


def main() -> int:
    args = parse_args()
    backends = ["postgresql", "mariadb"] if args.backend == "both" else [args.backend]
    work = Path(tempfile.mkdtemp(prefix="exile-reports-bench-"))
    results = []
    try:
        for backend in backends:
            results.append(run_backend(backend, args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\n## Reports at scale: --runs {args.runs:,} --requests {args.requests:,} --repeat {args.repeat}")
    print(f"machine: nproc {os.cpu_count()}, load average {load}; times are client-side, sequential calls")
    for result in results:
        print(report(result))
    print()
    for result in results:
        print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
