"""Failure clustering: planted histories (known causes, each seen through several cases and endpoints, with the
ids, uuids, times, emails and quoted values a real run puts in its messages) must come back one cluster a cause.

Quality is measured as purity (how much of each cluster is its main cause) and completeness (how much of each
cause lands in its main cluster), both weighted by failures. Three differently built histories keep the method
from fitting one generator: two draw failures one by one with the engine's own message formats, the third plays
scenario runs over four weeks with causes that come and go and free-form texts of the kind targets write.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.reports.clustering import Cluster, Failure, cluster_failures, cluster_key, signature

START = datetime(2025, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Endpoint:
    case_id: int
    scenario_id: int
    step: str
    method: str
    path: str  # "{id}", "{uuid}" and "{order}" are filled per failure
    expected_status: int = 200


# One failure of a cause seen at an endpoint: (status, status_code, error, assertions).
Outcome = tuple[str, int | None, str | None, list[dict[str, Any]]]


@dataclass(frozen=True)
class Cause:
    label: str
    endpoints: Sequence[Endpoint]
    make: Callable[[random.Random, Endpoint], Outcome]


def shown(value: Any) -> str:
    """A value as the engine's check messages show it."""
    return f"'{value}'" if isinstance(value, str) else repr(value)


def check(source: str, expression: str | None, op: str | None, expected: Any, actual: Any, passed: bool) -> dict:
    where = source + (f" {expression}" if expression else "")
    if passed:
        message = f"{where} {op} {shown(expected)}"
    else:
        message = f"{where}: expected {op} {shown(expected)}, got {shown(actual)}"
    return {
        "source": source,
        "expression": expression,
        "op": op,
        "expected": expected,
        "actual": actual,
        "passed": passed,
        "message": message,
    }


def status_ok(endpoint: Endpoint) -> dict:
    return check("status_code", None, "eq", endpoint.expected_status, endpoint.expected_status, True)


def an_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def a_time(rng: random.Random) -> datetime:
    return START + timedelta(seconds=rng.randint(0, 21 * 86400), microseconds=rng.randint(0, 999_999))


def an_email(rng: random.Random) -> str:
    name = rng.choice(["alice", "bob", "carol", "dave", "erin", "frank"])
    return f"{name}.{rng.randint(1, 99999)}+qa@{rng.choice(['example.com', 'shop.test', 'mail.example.org'])}"


def a_path(rng: random.Random, endpoint: Endpoint) -> str:
    return endpoint.path.format(
        id=rng.randint(1, 10**6), uuid=an_uuid(rng), order=f"ORD-{rng.randint(2023, 2025)}-{rng.randint(0, 999999):06d}"
    )


def generate(causes: Sequence[Cause], count: int, seed: int) -> tuple[list[Failure], list[str]]:
    """`count` failures drawn from the causes (some far more frequent than others), and each one's cause."""
    rng = random.Random(seed)
    weights = [rng.choice([1, 2, 4, 8, 16]) for _ in causes]
    failures: list[Failure] = []
    labels: list[str] = []
    for index in range(count):
        # Every endpoint of every cause is seen at least once; the rest is drawn by weight.
        pairs = [(cause, endpoint) for cause in causes for endpoint in cause.endpoints]
        if index < len(pairs):
            cause, endpoint = pairs[index]
        else:
            cause = rng.choices(causes, weights)[0]
            endpoint = rng.choice(cause.endpoints)
        status, status_code, error, assertions = cause.make(rng, endpoint)
        failures.append(
            Failure(
                request_run_id=index + 1,
                scenario_run_id=1000 + index // 3,
                scenario_id=endpoint.scenario_id,
                case_id=endpoint.case_id,
                step_key="step:0",
                status=status,
                status_code=status_code,
                error=error,
                assertions=assertions,
                started_at=a_time(rng),
            )
        )
        labels.append(cause.label)
    order = list(range(count))
    rng.shuffle(order)
    return [failures[i] for i in order], [labels[i] for i in order]


def status_cause(label: str, got: int, endpoints: Sequence[Endpoint]) -> Cause:
    def make(rng: random.Random, endpoint: Endpoint) -> Outcome:
        failed = check("status_code", None, "eq", endpoint.expected_status, got, False)
        return "failed", got, None, [failed, check("header", "content-type", "contains", "json", "json", True)]

    return Cause(label, endpoints, make)


def body_mismatch_cause(label: str, path: str, endpoints: Sequence[Endpoint]) -> Cause:
    def make(rng: random.Random, endpoint: Endpoint) -> Outcome:
        expected = rng.randint(1, 600)  # counts in 100-599 must not pass for HTTP statuses
        actual = expected + rng.choice([-3, -2, -1, 1, 2, 5])
        return "failed", 200, None, [status_ok(endpoint), check("body", path, "eq", expected, actual, False)]

    return Cause(label, endpoints, make)


def error_body_cause(label: str, status_code: int, text: Callable[[random.Random, Endpoint], str], endpoints) -> Cause:
    """The target answers with an error in `$.error` where the case expects none."""

    def make(rng: random.Random, endpoint: Endpoint) -> Outcome:
        failed = check("body", "$.error", "eq", None, text(rng, endpoint), False)
        return "failed", status_code, None, [failed]

    return Cause(label, endpoints, make)


def error_cause(label: str, text: Callable[[random.Random, Endpoint], str], endpoints, status_code=None) -> Cause:
    """The step ended in error: the request could not be sent, or a script or processor stopped it."""

    def make(rng: random.Random, endpoint: Endpoint) -> Outcome:
        return "error", status_code, text(rng, endpoint), []

    return Cause(label, endpoints, make)


SHOP = [
    Endpoint(1, 10, "list_orders", "GET", "/api/orders?page={id}"),
    Endpoint(2, 10, "get_order", "GET", "/api/orders/{order}"),
    Endpoint(3, 11, "create_order", "POST", "/api/orders", 201),
    Endpoint(4, 11, "cart", "GET", "/api/users/{id}/cart"),
    Endpoint(5, 12, "add_item", "POST", "/api/carts/{uuid}/items", 201),
    Endpoint(6, 12, "delete_item", "DELETE", "/api/carts/{uuid}/items/{id}", 204),
    Endpoint(7, 13, "invoices", "GET", "/api/invoices?customer={id}"),
    Endpoint(8, 13, "search", "GET", "/api/search?q=shoes&page={id}"),
    Endpoint(9, 14, "register", "POST", "/api/users", 201),
    Endpoint(10, 14, "invite", "POST", "/api/teams/{id}/invites", 201),
    Endpoint(11, 15, "login", "POST", "/api/session"),
    Endpoint(12, 15, "sign_in", "POST", "/api/v2/session"),
    Endpoint(13, 15, "refresh_session", "POST", "/api/session/refresh"),
    Endpoint(14, 16, "reserve_stock", "POST", "/api/stock/{id}/reservations", 201),
    Endpoint(15, 16, "ship_order", "POST", "/api/orders/{order}/shipments", 201),
    Endpoint(16, 16, "track_order", "GET", "/api/orders/{order}/tracking"),
]


def shop_causes() -> list[Cause]:
    """An online shop: statuses that differ by one code, body paths that differ by one name, lookalike texts."""
    e = SHOP

    def order_state(rng: random.Random, endpoint: Endpoint) -> Outcome:
        got = rng.choice(["pending", "processing"])
        return "failed", 200, None, [status_ok(endpoint), check("body", "$.order.status", "eq", "shipped", got, False)]

    return [
        status_cause("unauthorised", 401, [e[0], e[2], e[5]]),
        status_cause("forbidden", 403, [e[1], e[2]]),
        status_cause("server_error", 500, [e[0], e[3], e[6]]),
        body_mismatch_cause("total_mismatch", "$.total", [e[0], e[6], e[7]]),
        body_mismatch_cause("count_mismatch", "$.count", [e[0], e[7]]),
        error_cause(
            "inventory_refused",
            lambda rng, _: (
                "ClientConnectorError: Cannot connect to host inventory.internal:8443 ssl:default "
                f"[Connect call failed ('10.0.3.{rng.randint(2, 250)}', 8443)]"
            ),
            [e[4], e[13], e[5]],
        ),
        error_cause(
            "timeout",
            lambda rng, endpoint: f"timed out after {5000 if endpoint.method == 'GET' else 30000} ms",
            [e[7], e[6], e[2]],
        ),
        error_body_cause(
            "duplicate_user",
            409,
            lambda rng, _: f"User {an_email(rng)} already exists (id {an_uuid(rng)})",
            [e[8], e[9]],
        ),
        error_body_cause(
            "missing_token",
            401,
            lambda rng, endpoint: (
                f"missing token: {endpoint.method} {a_path(rng, endpoint)} requires authentication "
                f"(request {uuid.UUID(int=rng.getrandbits(128)).hex})"
            ),
            [e[1], e[3], e[4]],
        ),
        error_body_cause(
            "token_expired",
            401,
            lambda rng, endpoint: (
                f"token expired at {a_time(rng).isoformat()}: {endpoint.method} {a_path(rng, endpoint)} "
                "requires a fresh token"
            ),
            [e[1], e[3], e[4]],
        ),
        error_cause(
            "login_code_401",
            lambda rng, endpoint: f"{endpoint.step}: test script: assertion failed: $.code == 0 (actual 401)",
            [e[10], e[11], e[12]],
            status_code=200,
        ),
        error_cause(
            "stock_code",
            lambda rng, endpoint: (
                f"{endpoint.step}: test script: assertion failed: $.code == 0 (actual {rng.randint(4000, 4099)}) "
                f"for sku {rng.randint(10000, 99999)}"
            ),
            [e[13], e[14]],
            status_code=200,
        ),
        Cause("not_shipped", [e[14], e[15]], order_state),
    ]


PAYMENTS = [
    Endpoint(101, 50, "authorise", "POST", "/v1/payments", 201),
    Endpoint(102, 50, "capture", "POST", "/v1/payments/{uuid}/capture"),
    Endpoint(103, 51, "refund", "POST", "/v1/payments/{uuid}/refunds", 201),
    Endpoint(104, 51, "payment", "GET", "/v1/payments/{uuid}"),
    Endpoint(105, 52, "balance", "GET", "/v1/accounts/{id}/balance"),
    Endpoint(106, 52, "statement", "GET", "/v1/accounts/{id}/statements/{id}"),
    Endpoint(107, 53, "payout", "POST", "/v1/payouts", 202),
    Endpoint(108, 53, "payout_status", "GET", "/v1/payouts/{uuid}"),
    Endpoint(109, 54, "webhook_list", "GET", "/v1/webhooks"),
]


def payment_causes() -> list[Cause]:
    """A payments API: network errors of one host told apart by their reason, schema violations that differ by
    one field, scripts that fail differently, JWTs and RFC-1123 dates in the text."""
    e = PAYMENTS

    def poll(rng: random.Random, endpoint: Endpoint) -> Outcome:
        attempts = rng.randint(3, 12)
        until = "response.json.state == 'settled'"
        message = f"poll.until never held ({attempts} attempts)"
        failed = {"source": "poll", "expression": until, "op": None, "expected": True}
        failed |= {"actual": False, "passed": False, "message": message}
        return "failed", 200, None, [failed]

    def schema(field: str, problem: Callable[[random.Random], tuple[Any, str]]) -> Callable[..., Outcome]:
        def make(rng: random.Random, endpoint: Endpoint) -> Outcome:
            where = f"{endpoint.step}s/{rng.randint(0, 40)}/{field}"
            value, reason = problem(rng)
            message = f"schema violation at {where}: {value!r} {reason}"
            failed = {"source": "json_schema", "expression": None, "op": None, "expected": {"type": "object"}}
            failed |= {"actual": where, "passed": False, "message": message}
            return "failed", 200, None, [status_ok(endpoint), failed]

        return make

    def header(rng: random.Random, endpoint: Endpoint) -> Outcome:
        got = f"text/html; charset=utf-8; boundary={uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
        return "failed", 502, None, [check("header", "content-type", "contains", "application/json", got, False)]

    def jwt(rng: random.Random) -> str:
        segment = "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") for _ in range(43)
        )
        return f"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI{rng.randint(10**6, 10**7)}In0.{segment}"

    def rfc_date(rng: random.Random) -> str:
        return a_time(rng).strftime("%a, %d %b %Y %H:%M:%S GMT")

    return [
        error_cause(
            "dns",
            lambda rng, _: (
                "ClientConnectorDNSError: Cannot connect to host payments.example.com:443 ssl:default "
                "[Name or service not known]"
            ),
            [e[0], e[1], e[2]],
        ),
        error_cause(
            "refused",
            lambda rng, _: (
                "ClientConnectorError: Cannot connect to host payments.example.com:443 ssl:default "
                f"[Connect call failed ('93.184.{rng.randint(0, 255)}.{rng.randint(1, 254)}', 443)]"
            ),
            [e[0], e[3]],
        ),
        error_cause(
            "disconnected",
            lambda rng, _: (
                "the target closed the connection without answering (ServerDisconnectedError: Server disconnected)"
            ),
            [e[4], e[6], e[7]],
        ),
        Cause("poll_never_settled", [e[1], e[7]], poll),
        Cause(
            "amount_type",
            [e[0], e[2], e[3]],
            schema(
                "amount", lambda rng: (f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}", "is not of type 'number'")
            ),
        ),
        Cause(
            "currency_enum",
            [e[0], e[3]],
            schema("currency", lambda rng: (rng.choice(["eur", "usd", "Euro"]), "is not one of ['EUR', 'USD', 'GBP']")),
        ),
        Cause("html_error_page", [e[4], e[5], e[8]], header),
        status_cause("rate_limited", 429, [e[0], e[1], e[6]]),
        status_cause("unavailable", 503, [e[0], e[4]]),
        error_cause(
            "balance_script",
            lambda rng, endpoint: (
                f"{endpoint.step}: test script: AssertionError: expected balance {rng.uniform(0, 9999):.2f} "
                f"to equal {rng.uniform(0, 9999):.2f} (account acct_{uuid.UUID(int=rng.getrandbits(128)).hex[:14]})"
            ),
            [e[4], e[5]],
            status_code=200,
        ),
        error_cause(
            "script_type_error",
            lambda rng, endpoint: (
                f"{endpoint.step}: test script: TypeError: Cannot read properties of undefined (reading "
                f"'{rng.choice(['amount', 'currency', 'id'])}')"
            ),
            [e[4], e[5], e[1]],
            status_code=200,
        ),
        error_body_cause(
            "jwt_rejected",
            401,
            lambda rng, _: f"Signature verification failed for token {jwt(rng)} issued {rfc_date(rng)}",
            [e[0], e[2], e[6]],
        ),
        body_mismatch_cause("amount_mismatch", "$.amount", [e[1], e[3]]),
        body_mismatch_cause("fee_mismatch", "$.fee", [e[1], e[3], e[2]]),
    ]


def purity_and_completeness(clusters: list[Cluster], label_of: dict[int, str]) -> tuple[float, float]:
    """Purity: the share of failures that are of their cluster's main cause. Completeness: the share of failures
    that are in their cause's main cluster. Both 1.0 for a perfect clustering."""
    total = len(label_of)
    by_cluster = [Counter(label_of[run_id] for run_id in cluster.member_ids) for cluster in clusters]
    purity = sum(max(counts.values()) for counts in by_cluster) / total
    per_label: dict[str, Counter[int]] = defaultdict(Counter)
    for index, counts in enumerate(by_cluster):
        for label, count in counts.items():
            per_label[label][index] += count
    completeness = sum(max(counts.values()) for counts in per_label.values()) / total
    return purity, completeness


def quality(failures: list[Failure], labels: list[str], **options: Any) -> tuple[float, float, list[Cluster]]:
    clusters = cluster_failures(failures, **options)
    label_of = {failure.request_run_id: label for failure, label in zip(failures, labels, strict=True)}
    assert sum(cluster.size for cluster in clusters) == len(failures)
    assert sorted(run_id for cluster in clusters for run_id in cluster.member_ids) == sorted(label_of)
    purity, completeness = purity_and_completeness(clusters, label_of)
    return purity, completeness, clusters


def assert_one_cluster_per_cause(name: str, failures: list[Failure], labels: list[str]) -> None:
    purity, completeness, clusters = quality(failures, labels)
    causes = len(set(labels))
    print(f"{name}: {len(failures)} failures, {causes} causes, {len(clusters)} clusters, ", end="")
    print(f"purity {purity:.3f}, completeness {completeness:.3f}")
    assert purity >= 0.9
    assert completeness >= 0.9


def test_planted_shop_history_comes_back_one_cluster_per_cause() -> None:
    assert_one_cluster_per_cause("shop", *generate(shop_causes(), 4000, seed=7))


def test_planted_payments_history_built_differently_comes_back_one_cluster_per_cause() -> None:
    assert_one_cluster_per_cause("payments", *generate(payment_causes(), 3000, seed=11))


SERVICES = [
    # (step name, method, path, service)
    ("get order", "GET", "/orders/{id}", "orders-svc"),
    ("list carts", "GET", "/users/{id}/carts", "cart-svc"),
    ("pay", "POST", "/payments", "pay-svc"),
    ("refund", "POST", "/payments/{uuid}/refund", "pay-svc"),
    ("profile", "GET", "/me", "users-svc"),
    ("search", "GET", "/search?q=boots&page={id}", "search-svc"),
    ("webhook", "POST", "/hooks/{id}", "hooks-svc"),
    ("export", "GET", "/exports/{uuid}", "export-svc"),
]


def free_form_causes() -> list[tuple[str, range, Callable[[random.Random, int], Outcome]]]:
    """(label, the endpoints it is seen at, one failure at an endpoint): texts as targets and proxies write them."""

    def where(rng: random.Random, at: int) -> str:
        _, method, path, _ = SERVICES[at]
        return f"{method} {path.format(id=rng.randint(1, 99999), uuid=an_uuid(rng))}"

    def status(got: int) -> Callable[[random.Random, int], Outcome]:
        def make(rng: random.Random, at: int) -> Outcome:
            message = f"expected status 200 got {got} on {where(rng, at)}"
            failed = {"source": "status_code", "expression": None, "op": "eq", "expected": 200, "actual": got}
            return "failed", got, None, [failed | {"passed": False, "message": message}]

        return make

    def body(
        path: str, code: int, text: Callable[[random.Random, int], str]
    ) -> Callable[[random.Random, int], Outcome]:
        def make(rng: random.Random, at: int) -> Outcome:
            failed = {"source": "jsonpath", "expression": path, "op": "eq", "expected": None, "actual": None}
            return "failed", code, None, [failed | {"passed": False, "message": text(rng, at)}]

        return make

    def error(text: Callable[[random.Random, int], str]) -> Callable[[random.Random, int], Outcome]:
        return lambda rng, at: ("error", None, text(rng, at), [])

    def step(at: int) -> str:
        return SERVICES[at][0]

    def host(at: int) -> str:
        return f"{SERVICES[at][3]}.prod.internal:{8000 + at}"

    def jwt(rng: random.Random) -> str:
        return f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOi{rng.randint(10**8, 10**9)}.c2ln{rng.getrandbits(64):x}"

    def declined(reason: str) -> Callable[[random.Random, int], str]:
        return lambda rng, at: f"{step(at)}: payment declined: {reason} for order {rng.randint(10**4, 10**6)}"

    return [
        ("401", range(0, 3), status(401)),
        ("403", range(1, 4), status(403)),
        ("500", range(0, 3), status(500)),
        (
            "total",
            range(0, 2),
            body(
                "$.total", 200, lambda r, _: f"$.total mismatch: expected {r.randint(100, 599)} got {r.randint(0, 599)}"
            ),
        ),
        (
            "count",
            range(1, 4),
            body(
                "$.count", 200, lambda r, _: f"$.count mismatch: expected {r.randint(100, 599)} got {r.randint(0, 599)}"
            ),
        ),
        ("refused", range(4, 8), error(lambda rng, at: f"{step(at)}: connection refused by {host(at)}")),
        ("dns", range(4, 8), error(lambda rng, at: f"could not resolve host {host(at)}")),
        ("reset", range(4, 8), error(lambda rng, at: f"connection reset by peer while reading {where(rng, at)}")),
        (
            "not_found",
            range(4, 6),
            body("$.error", 404, lambda rng, _: f"user {an_email(rng)} not found (trace {rng.getrandbits(64):016x})"),
        ),
        (
            "exists",
            range(4, 6),
            body("$.error", 409, lambda rng, _: f"user {an_email(rng)} already exists since {a_time(rng).isoformat()}"),
        ),
        (
            "state",
            range(0, 3),
            body(
                "$.state",
                200,
                lambda rng, _: f"order ORD-{rng.randint(10**5, 10**6)} is in state 'pending', expected 'paid'",
            ),
        ),
        (
            "jwt",
            range(0, 4),
            error(lambda rng, at: f"{step(at)} rejected: token {jwt(rng)} expired at {a_time(rng).isoformat()}"),
        ),
        (
            "timeout",
            range(2, 6),
            error(lambda rng, at: f"request {an_uuid(rng)} to {where(rng, at)} timed out after 10000ms"),
        ),
        ("funds", range(2, 5), body("$.error", 402, declined("insufficient funds"))),
        ("card", range(2, 5), body("$.error", 402, declined("card expired"))),
        (
            "fraud",
            range(3, 6),
            body(
                "$.error",
                402,
                lambda rng, at: f"{step(at)}: payment declined: suspected fraud for customer {an_email(rng)}",
            ),
        ),
        (
            "signature",
            range(6, 8),
            error(
                lambda rng, _: (
                    f"invalid signature for webhook {rng.getrandbits(64):016x} "
                    f"received {a_time(rng).strftime('%a, %d %b %Y %H:%M:%S GMT')}"
                )
            ),
        ),
    ]


def run_history(seed: int) -> tuple[list[Failure], list[str]]:
    """Scenario runs every two hours for four weeks; each cause is live for a few days of it and fails each of its
    endpoints in some of the runs then."""
    rng = random.Random(seed)
    causes = free_form_causes()
    live = {label: (rng.uniform(0, 20), rng.uniform(3, 10), rng.uniform(0.2, 0.9)) for label, _, _ in causes}
    failures: list[Failure] = []
    labels: list[str] = []
    for run in range(28 * 12):
        day = run / 12
        for label, endpoints, make in causes:
            start, days, rate = live[label]
            for at in endpoints:
                if start <= day < start + days and rng.random() < rate:
                    status, status_code, error, assertions = make(rng, at)
                    failures.append(
                        Failure(
                            request_run_id=len(failures) + 1,
                            scenario_run_id=run,
                            scenario_id=at // 3,
                            case_id=200 + at,
                            step_key=f"step:{at % 3}",
                            status=status,
                            status_code=status_code,
                            error=error,
                            assertions=assertions,
                            started_at=START + timedelta(hours=2 * run, seconds=at),
                        )
                    )
                    labels.append(label)
    return failures, labels


def test_planted_history_of_scenario_runs_with_free_form_texts_comes_back_one_cluster_per_cause() -> None:
    failures, labels = run_history(seed=23)
    assert 1000 <= len(failures) <= 10_000
    assert_one_cluster_per_cause("runs", failures, labels)


def failure(
    run_id: int, *, case_id: int = 1, status_code: int | None = 200, error: str | None = None, **fields
) -> Failure:
    values: dict[str, Any] = {
        "request_run_id": run_id,
        "scenario_run_id": 500 + run_id,
        "scenario_id": 40 + case_id,
        "case_id": case_id,
        "step_key": "step:0",
        "status": "failed" if error is None else "error",
        "status_code": status_code,
        "error": error,
        "assertions": [],
        "started_at": START + timedelta(minutes=run_id),
    }
    return Failure(**(values | fields))


def test_the_signature_names_the_first_failing_check_and_drops_the_noise() -> None:
    def refused(order: str, email: str) -> Failure:
        checks = [
            check("status_code", None, "eq", 200, 200, True),
            check("body", "$.error", "eq", None, f"order {order} refused for {email}", False),
            check("body", "$.total", "eq", 3, 4, False),
        ]
        return failure(1, status_code=422, assertions=checks)

    first = signature(refused("ORD-2025-000017", "bob@example.com"))
    assert first == signature(refused("ORD-2024-998877", "erin.5@shop.test"))
    assert first.startswith("4xx | body $.error eq | ")
    assert "order ord-<n>-<n> refused for <email>" in first
    assert (
        signature(failure(2, status_code=None, error="timed out after 5000 ms")) == "none | - | timed out after <n> ms"
    )
    assert cluster_key(first) == cluster_key(first) and len(cluster_key(first)) == 16
    assert cluster_key(first) != cluster_key(signature(failure(2, status_code=None, error="timed out after 5000 ms")))


def test_a_cluster_reports_its_reach_its_latest_runs_and_an_example() -> None:
    def unauthorised(run_id: int, case_id: int, path: str) -> Failure:
        text = f"missing token: GET {path} requires authentication"
        return failure(
            run_id, case_id=case_id, status_code=401, assertions=[check("body", "$.error", "eq", None, text, False)]
        )

    failures = [
        unauthorised(1, 3, "/api/orders/17"),
        unauthorised(2, 1, "/api/users/9/cart"),
        unauthorised(4, 3, "/api/orders/18"),
        unauthorised(3, 1, "/api/users/12/cart"),
        failure(5, case_id=2, status_code=None, error="timed out after 5000 ms"),
    ]
    clusters = cluster_failures(failures, max_ids=3)
    assert clusters == cluster_failures(list(reversed(failures)), max_ids=3)
    assert [cluster.size for cluster in clusters] == [4, 1]
    tokens, timeouts = clusters
    assert tokens.case_ids == [1, 3] and tokens.scenario_ids == [41, 43]
    assert tokens.request_run_ids == [4, 3, 2] and tokens.member_ids == [4, 3, 2, 1]
    assert (tokens.total, timeouts.total) == (4, 1)
    assert (tokens.first_seen, tokens.last_seen) == (START + timedelta(minutes=1), START + timedelta(minutes=4))
    assert tokens.example.request_run_id == 4
    assert tokens.example.status_code == 401
    assert "GET /api/orders/18" in tokens.example.message
    # Two endpoints' texts, one cause; the key is the first-seen member's, so it stays as endpoints join.
    assert len(tokens.signatures) == 2
    assert tokens.signature == signature(failures[0]) and tokens.key == cluster_key(signature(failures[0]))
    assert tokens.signature_keys == [cluster_key(member) for member in tokens.signatures]
    assert timeouts.example.message == "timed out after 5000 ms" and timeouts.case_ids == [2]
    assert cluster_failures([]) == []


def test_lookalike_causes_stay_apart() -> None:
    def status(run_id: int, got: int) -> Failure:
        return failure(run_id, status_code=got, assertions=[check("status_code", None, "eq", 200, got, False)])

    def mismatch(run_id: int, path: str) -> Failure:
        return failure(run_id, assertions=[check("body", path, "eq", 10, 11, False)])

    def error(run_id: int, text: str) -> Failure:
        return failure(run_id, case_id=run_id, status_code=None, error=text)

    host = "Cannot connect to host pay.example.com:443 ssl:default"
    failures = [
        *(status(run_id, got) for run_id, got in [(1, 401), (2, 403), (3, 500), (4, 401)]),
        mismatch(5, "$.total"),
        mismatch(6, "$.count"),
        error(7, "expected status 200 got 401 from GET /orders/7"),
        error(8, "expected status 200 got 404 from GET /orders/8"),
        error(9, f"ClientConnectorDNSError: {host} [Name or service not known]"),
        error(10, f"ClientConnectorError: {host} [Connect call failed ('93.184.216.34', 443)]"),
        error(11, "checkout: payment declined: insufficient funds for order 1234"),
        error(12, "checkout: payment declined: card expired for order 5678"),
    ]
    apart = sorted(sorted(cluster.request_run_ids) for cluster in cluster_failures(failures))
    assert apart == [[1, 4], [2], [3], [5], [6], [7], [8], [9], [10], [11], [12]]


def test_ids_that_look_like_words_do_not_split_a_cause() -> None:
    rng = random.Random(2)
    causes = ["quota exceeded for tenant", "stale read from replica", "ledger entry rejected by"]
    failures = [
        failure(run_id, case_id=run_id % 7, error=f"{causes[run_id % 3]} {''.join(rng.sample('abcdefghjkmnpq', 10))}")
        for run_id in range(300)
    ]
    clusters = cluster_failures(failures)
    assert [cluster.size for cluster in clusters] == [100, 100, 100]


def test_the_result_does_not_depend_on_the_input_order() -> None:
    failures, _ = generate(shop_causes(), 1500, seed=3)
    shuffled = failures[:]
    random.Random(1).shuffle(shuffled)
    assert cluster_failures(failures) == cluster_failures(shuffled)
    sizes = [(-cluster.size, cluster.key) for cluster in cluster_failures(failures)]
    assert sizes == sorted(sizes)


def test_a_lower_similarity_merges_more_and_a_higher_one_splits_more() -> None:
    failures, _ = generate(shop_causes(), 1500, seed=5)
    counts = [len(cluster_failures(failures, similarity=similarity)) for similarity in (0.3, 0.85, 1.0)]
    assert counts[0] < counts[1] < counts[2]


def test_the_history_of_all_causes_at_once_keeps_its_runs() -> None:
    causes = [dataclasses.replace(cause, label=f"shop:{cause.label}") for cause in shop_causes()]
    causes += [dataclasses.replace(cause, label=f"payments:{cause.label}") for cause in payment_causes()]
    failures, labels = generate(causes, 6000, seed=13)
    purity, completeness, clusters = quality(failures, labels)
    assert purity >= 0.9 and completeness >= 0.9
    assert len(clusters) <= len(causes) + 3
