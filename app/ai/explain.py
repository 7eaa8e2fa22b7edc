"""Why a request run failed, said by rules (no model): the likely cause, the evidence, and what changed since the
step last passed.

Each rule reads the facts (app.ai.failure_facts gathers them) and may name a cause with a weight: 3 when the
evidence says it outright (a refused connection, a 401, a timeout, a schema violation, a later attempt that
passed), 2 when it points there, 1 when it only hints. The heaviest cause wins; a tie goes to the cause listed
first in CAUSES (the more specific). Every finding's evidence is listed, so a reader sees why, and what else
was seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict
from urllib.parse import urlsplit

import orjson

from app.reports.json_diff import json_diff, summary
from app.reports.normalise import is_volatile

Cause = Literal[
    "flaky", "network", "environment", "authentication", "data", "slowness", "contract_change", "unknown"
]  # fmt: skip
# Ties go to the cause listed first: a 401 also fails a schema, a refused 422 also changes the body.
CAUSES: tuple[Cause, ...] = (
    "flaky", "network", "environment", "authentication", "data", "slowness", "contract_change", "unknown"
)  # fmt: skip
Confidence = Literal["high", "medium", "low"]

MAX_FAILED_ASSERTIONS = 20
MAX_EVIDENCE = 12
MAX_EVIDENCE_CHARS = 300
MAX_BODY_DIFF = 100
MAX_HEADER_CHANGES = 30
SCANNED_CHARS = 4000  # of a body, searched for words (an error body says its cause first)


# ---- the facts ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResponseFacts:
    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased names
    body: Any = None  # parsed JSON, else the text, else None


@dataclass(frozen=True)
class AttemptFacts:
    """One recorded attempt of a step: what was sent, what came back, and its checks as recorded."""

    request_run_id: int
    status: str  # passed | failed | error | skipped
    error: str | None = None
    assertions: list[dict[str, Any]] = field(default_factory=list)  # app.engine.checks.check_result shape
    method: str | None = None
    url: str | None = None
    response: ResponseFacts | None = None
    duration_ms: float | None = None
    environment_id: int | None = None


@dataclass(frozen=True)
class ClusterFacts:
    """The failure cluster the run belongs to (app.reports.clustering); size and label None when not computed."""

    id: str
    signature: str
    size: int | None = None
    label: str | None = None  # new | known | flaky


@dataclass(frozen=True)
class FailureFacts:
    run: AttemptFacts
    name: str = ""  # the step's name
    last_pass: AttemptFacts | None = None  # the last passing run of the same step and dataset, before this one
    cluster: ClusterFacts | None = None
    attempt: int = 1  # this attempt's number (1-based)
    attempts: int = 1  # attempts recorded for this step in its iteration
    passed_later: bool = False  # a later attempt of the same step in the same run passed
    flaky: bool = False  # recorded flaky (its final attempt passed after a failed one)


class DiffFromLastPass(TypedDict):
    request_run_id: int
    status: tuple[int | None, int | None] | None  # (before, after) when it changed
    headers: dict[str, Any]  # {"added": {name: value}, "removed": {...}, "changed": {name: [before, after]}}
    body: list[dict[str, Any]]  # app.reports.json_diff entries


class Explanation(TypedDict):
    summary: str
    likely_cause: Cause
    confidence: Confidence
    evidence: list[str]
    failed_assertions: list[dict[str, Any]]
    diff_from_last_pass: DiffFromLastPass | None
    suggestion: str


@dataclass(frozen=True)
class Finding:
    cause: Cause
    weight: int  # 3 says it outright, 2 points there, 1 hints
    evidence: str


# ---- reading the facts ------------------------------------------------------------------------------------------
def failed_checks(attempt: AttemptFacts) -> list[dict[str, Any]]:
    return [check for check in attempt.assertions if isinstance(check, dict) and check.get("passed") is False]


def _status(attempt: AttemptFacts | None) -> int | None:
    return attempt.response.status if attempt is not None and attempt.response is not None else None


def _body_text(attempt: AttemptFacts) -> str:
    body = attempt.response.body if attempt.response is not None else None
    if body is None:
        return ""
    text = body if isinstance(body, str) else orjson.dumps(body, default=str).decode()
    return text[:SCANNED_CHARS]


def _words(facts: FailureFacts) -> str:
    """What the target and the engine said, lower-cased: the error and the response body (not the checks' own
    messages, which always speak of what was expected)."""
    run = facts.run
    return f"{run.error or ''} {_body_text(run)}".lower()


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- the rules ------------------------------------------------------------------------------------------------
_DNS = re.compile(
    r"name or service not known|nodename nor servname|name resolution|getaddrinfo|no address associated|dns"
)
_TLS = re.compile(r"certificate|sslerror|ssl error|sslv|tlsv|\btls\b|handshake|wrong version number")
_REFUSED = re.compile(r"connection refused|connect call failed|econnrefused|cannot connect to host")
_BROKEN = re.compile(
    r"reset the connection|connection reset|closed the connection|disconnected|broke while|broken pipe|"
    r"network is unreachable|no route to host|connection aborted|econnreset"
)
_TIMEOUT = re.compile(r"timed out|timeout")
_AUTH = re.compile(
    r"unauthori[sz]ed|forbidden|not authenticated|authentication|invalid token|token (?:has )?expired|"
    r"expired token|jwt expired|access denied|permission denied|invalid credentials|bad credentials|login required"
)
_VALIDATION = re.compile(
    r"invalid|validation|required|must be|must not|missing|malformed|already exists|duplicate|conflict|not found|"
    r"does not exist|out of stock|insufficient|unprocessable|not allowed|too (?:long|short|many)"
)


def _no_response(facts: FailureFacts) -> Iterator[Finding]:
    """No usable response: the error says why (the engine's transport errors, app.engine.transport)."""
    run = facts.run
    if run.response is not None or not run.error:
        return
    error = run.error.lower()
    said = _short(run.error)
    if _TIMEOUT.search(error):
        yield Finding("slowness", 3, f"no answer in time: {said}")
    elif _DNS.search(error):
        yield Finding("environment", 3, f"the target's host name does not resolve: {said}")
    elif _TLS.search(error):
        yield Finding("environment", 3, f"the TLS connection failed (certificate or protocol): {said}")
    elif _REFUSED.search(error):
        yield Finding("environment", 3, f"nothing accepted the connection at the target's address: {said}")
    elif _BROKEN.search(error):
        yield Finding("network", 3, f"the connection broke: {said}")
    elif "unknown variable" in error:
        yield Finding("data", 3, f"a variable the request uses has no value: {said}")
    elif "found nothing" in error:
        yield Finding("contract_change", 2, f"a value the step reads from the response was not there: {said}")


def _authentication(facts: FailureFacts) -> Iterator[Finding]:
    status = _status(facts.run)
    if status in (401, 403):
        before = _status(facts.last_pass)
        was = f" (the last passing run got {before})" if before is not None else ""
        yield Finding("authentication", 3, f"the target answered {status}{was}")
    elif (status is None or 400 <= status < 500) and (match := _AUTH.search(_words(facts))):
        yield Finding("authentication", 2, f"the failure speaks of authentication ('{match.group()}')")


def _slowness(facts: FailureFacts) -> Iterator[Finding]:
    for check in failed_checks(facts.run):
        if check.get("source") == "response_time_ms":
            wanted = f"{check.get('op')} {check.get('expected')}"
            yield Finding("slowness", 3, f"the response took {check.get('actual')} ms; the check wants {wanted}")
    run, last = facts.run, facts.last_pass
    if run.duration_ms and last is not None and last.duration_ms and run.duration_ms >= 3 * last.duration_ms + 100:
        yield Finding(
            "slowness", 1, f"it took {run.duration_ms:.0f} ms, against {last.duration_ms:.0f} ms in the last pass"
        )


def _data(facts: FailureFacts) -> Iterator[Finding]:
    status = _status(facts.run)
    if status not in (400, 404, 409, 422):
        return
    words = _words(facts)
    if _AUTH.search(words):
        return  # "invalid token" is about who asks, not what is sent: the authentication rule speaks
    match = _VALIDATION.search(words)
    if status == 404:
        if match:
            yield Finding("data", 2, f"the target answered 404 saying '{match.group()}': a record the data names")
        return
    if match:
        yield Finding("data", 3, f"the target refused the data sent ({status}, '{match.group()}')")
    else:
        yield Finding("data", 2, f"the target refused the request as sent ({status})")


def _contract(facts: FailureFacts, body_diff: list[dict[str, Any]] | None) -> Iterator[Finding]:
    for check in failed_checks(facts.run):
        if check.get("source") == "json_schema":
            yield Finding(
                "contract_change", 3, f"the body no longer matches its schema: {_short(str(check.get('message')))}"
            )
            break
    if not body_diff or _status(facts.run) != _status(facts.last_pass):
        return  # another status brings another body: that is not a change of the contract
    gone = [entry["path"] for entry in body_diff if entry["change"] in ("removed", "type_changed")]
    added = [entry["path"] for entry in body_diff if entry["change"] == "added"]
    if not gone:
        return
    failing_paths = {
        str(check.get("expression")) for check in failed_checks(facts.run) if check.get("source") == "body"
    }
    hit = [path for path in gone if path in failing_paths or any(f.startswith(path) for f in failing_paths)]
    renamed = [f"{old} -> {new}" for old in gone for new in added if old.rsplit(".", 1)[0] == new.rsplit(".", 1)[0]][:3]
    said = ", ".join(gone[:5]) + (" ..." if len(gone) > 5 else "")
    if renamed:
        said += f" (renamed? {', '.join(renamed)})"
    weight = 3 if hit else 2
    yield Finding("contract_change", weight, f"since the last pass the body lost or retyped {said}")


def _missing_paths(facts: FailureFacts) -> Iterator[Finding]:
    for check in failed_checks(facts.run):
        message = str(check.get("message") or "")
        if check.get("source") == "body" and ("nothing there" in message or "does not exist" in message):
            if 200 <= (_status(facts.run) or 0) < 300:
                yield Finding("contract_change", 2, f"{check.get('expression')} is missing from a successful answer")
                return


def _server(facts: FailureFacts) -> Iterator[Finding]:
    status = _status(facts.run)
    if status in (502, 503, 504):
        yield Finding("environment", 3, f"the target or its gateway is unavailable ({status})")
    elif status is not None and status >= 500:
        yield Finding("environment", 1, f"the target failed with {status}")


def _flaky(facts: FailureFacts) -> Iterator[Finding]:
    if facts.passed_later or facts.flaky:
        yield Finding("flaky", 3, f"attempt {facts.attempt} failed but a later attempt of the same step passed")
    cluster = facts.cluster
    if cluster is not None and cluster.label == "flaky":
        yield Finding("flaky", 2, f"its failure cluster ({cluster.size or 'several'} failures) is labelled flaky")


def _moved(facts: FailureFacts) -> Iterator[Finding]:
    """Where the request went, against the last pass: another environment or another host."""
    run, last = facts.run, facts.last_pass
    if last is None:
        return
    if run.environment_id != last.environment_id:
        yield Finding(
            "environment", 1, f"it ran in environment {run.environment_id}; the last pass in {last.environment_id}"
        )
    host, last_host = _host(run.url), _host(last.url)
    if host and last_host and host != last_host:
        yield Finding("environment", 1, f"the request went to {host}; in the last pass to {last_host}")


def _host(url: str | None) -> str | None:
    try:
        return (urlsplit(url).netloc.lower() or None) if url else None
    except ValueError:
        return None


# ---- the diff ---------------------------------------------------------------------------------------------------
# Headers that change on every answer, whatever changed in substance.
_VOLATILE_HEADERS = frozenset(
    {
        "date", "age", "expires", "last-modified", "etag", "content-length", "set-cookie", "keep-alive",
        "connection", "x-request-id", "x-correlation-id", "x-trace-id", "traceparent", "tracestate",
        "server-timing", "x-runtime", "x-response-time", "cf-ray", "x-amzn-trace-id", "x-amz-request-id",
        "request-id", "via", "x-served-by", "x-cache", "x-cache-hits", "x-timer", "report-to", "nel",
    }
)  # fmt: skip


def _headers_diff(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, Any]:
    def kept(name: str, value: str) -> bool:
        return name not in _VOLATILE_HEADERS and not is_volatile(name, value)

    old = {name.lower(): value for name, value in before.items()}
    new = {name.lower(): value for name, value in after.items()}
    added = {name: summary(value) for name, value in new.items() if name not in old and kept(name, value)}
    removed = {name: summary(value) for name, value in old.items() if name not in new and kept(name, value)}
    changed = {
        name: [summary(old[name]), summary(value)]
        for name, value in new.items()
        if name in old and old[name] != value and kept(name, value) and kept(name, old[name])
    }

    def first(entries: dict[str, Any]) -> dict[str, Any]:
        return dict(list(entries.items())[:MAX_HEADER_CHANGES])

    return {"added": first(added), "removed": first(removed), "changed": first(changed)}


def diff_from_last_pass(facts: FailureFacts) -> DiffFromLastPass | None:
    """Status, headers and body against the last passing run (ids and timestamps left out); None without one."""
    last = facts.last_pass
    if last is None:
        return None
    before, after = last.response, facts.run.response
    status_before, status_after = _status(last), _status(facts.run)
    # No response now (a refused connection): the body did not change, it is missing; the error says so.
    body = [] if after is None else json_diff(before.body if before else None, after.body, limit=MAX_BODY_DIFF)
    return DiffFromLastPass(
        request_run_id=last.request_run_id,
        status=(status_before, status_after) if status_before != status_after else None,
        headers=_headers_diff(before.headers if before else {}, after.headers if after else {}),
        body=body,
    )


# ---- the explanation --------------------------------------------------------------------------------------------
_SUGGESTIONS: dict[Cause, str] = {
    "environment": "Check that the target service is up and that the environment (base_url, verify_tls, proxy) "
    "points at it; run again once it answers.",
    "network": "The connection broke on the way: check the network path (proxy, firewall, load balancer) and run "
    "again; if it repeats now and then, retry on network errors (retry.on_network_error).",
    "authentication": "Check the credentials: the token may have expired, been revoked or lack the rights; refresh "
    "it in the environment or in the step that signs in.",
    "slowness": "The target answered slower than allowed: check its load and recent changes, or raise timeout_ms "
    "or the response_time_ms bound if the new time is expected.",
    "data": "The target refused the data sent: check the dataset and data row values (records that no longer "
    "exist, duplicates, missing or malformed fields).",
    "contract_change": "The response's shape changed: if the change is intended, update the case's assertions "
    "(suggest-assertions proposes new ones from recent runs); if not, report it to the API's owners.",
    "flaky": "The step fails now and then: look for timing or ordering dependencies (data another step or run "
    "changes, eventual consistency); a retry hides it but does not fix it.",
    "unknown": "Compare the request and response with the last passing run, and the failing checks' messages.",
}
_CAUSE_WORDS: dict[Cause, str] = {
    "environment": "the environment (the target or where it is reached)",
    "network": "the network",
    "authentication": "authentication",
    "slowness": "slowness",
    "data": "the data sent",
    "contract_change": "a change of the API's contract",
    "flaky": "a flaky step",
    "unknown": "unknown",
}

Rule = Callable[[FailureFacts], Iterator[Finding]]
RULES: tuple[Rule, ...] = (_flaky, _no_response, _authentication, _data, _slowness, _missing_paths, _server, _moved)


def findings(facts: FailureFacts, diff: DiffFromLastPass | None = None) -> list[Finding]:
    """Every rule's findings, in rule order."""
    found = [finding for rule in RULES for finding in rule(facts)]
    found += _contract(facts, diff["body"] if diff else None)
    return found


def _choose(found: list[Finding]) -> tuple[Cause, Confidence]:
    if not found:
        return "unknown", "low"
    best: dict[Cause, int] = {}
    for finding in found:
        best[finding.cause] = max(best.get(finding.cause, 0), finding.weight)
    cause = min(best, key=lambda c: (-best[c], CAUSES.index(c)))
    weight = best[cause]
    rivals = sum(1 for other, w in best.items() if other != cause and w == weight)
    level = weight - (1 if rivals else 0)
    confidence: Confidence = "high" if level >= 3 else "medium" if level == 2 else "low"
    return cause, confidence


def _what_failed(run: AttemptFacts) -> str:
    checks = failed_checks(run)
    if checks:
        more = f" (and {len(checks) - 1} more failing checks)" if len(checks) > 1 else ""
        return _short(str(checks[0].get("message") or "a check failed")) + more
    if run.error:
        return _short(run.error)
    return f"it ended {run.status}"


def explain(facts: FailureFacts) -> Explanation:
    """The likely cause of a failed request run, with the evidence for it and the diff from the last pass.

    Args:
        facts: the failed attempt, the last passing attempt of its step (if any), its cluster and retries.

    Returns:
        summary, likely_cause (one of CAUSES), confidence, evidence, failed_assertions (as recorded),
        diff_from_last_pass (None without a last pass) and a suggestion of what to do.
    """
    run = facts.run
    who = f"'{facts.name}'" if facts.name else f"request run {run.request_run_id}"
    diff = diff_from_last_pass(facts)
    if run.status in ("passed", "skipped"):
        return {
            "summary": f"{who} {run.status}: there is no failure to explain",
            "likely_cause": "unknown",
            "confidence": "low",
            "evidence": [],
            "failed_assertions": [],
            "diff_from_last_pass": diff,
            "suggestion": "Explain a failed or errored request run.",
        }
    found = findings(facts, diff)
    cause, confidence = _choose(found)
    evidence = [_short(finding.evidence, MAX_EVIDENCE_CHARS) for finding in found]
    if facts.last_pass is None:
        evidence.append("no earlier passing run of this step (and dataset) to compare with")
    elif diff is not None and diff["status"] is not None:
        evidence.append(f"status {diff['status'][0]} in the last pass, {diff['status'][1]} now")
    if facts.attempts > 1:
        evidence.append(f"attempt {facts.attempt} of {facts.attempts} recorded for this step")
    if facts.cluster is not None and facts.cluster.size:
        evidence.append(f"one of {facts.cluster.size} failures in cluster {facts.cluster.id} ({facts.cluster.label})")
    summary_text = f"{who} {run.status}: {_what_failed(run)}. Likely cause: {_CAUSE_WORDS[cause]}"
    return {
        "summary": summary_text + ("." if cause != "unknown" else " (no rule matched)."),
        "likely_cause": cause,
        "confidence": confidence,
        "evidence": list(dict.fromkeys(evidence))[:MAX_EVIDENCE],
        "failed_assertions": failed_checks(run)[:MAX_FAILED_ASSERTIONS],
        "diff_from_last_pass": diff,
        "suggestion": _SUGGESTIONS[cause],
    }
