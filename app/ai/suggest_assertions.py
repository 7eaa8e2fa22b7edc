"""Assertions suggested from a case's recorded responses, with no model: what held in every run, said as checks.

From one or more recorded responses of the same case this proposes: the status code; the content type; a JSON
Schema of the body (inferred by genson); per leaf of a JSON body, `eq` for values that were the same in every run
(with one run, only values that look like constants, at medium confidence) and a type or format check for values
that change by design (ids, uuids, timestamps, tokens: app.reports.normalise tells them apart); a type, length or
value check on arrays; and a response-time bound with headroom over the observed p95.

Every suggestion is an `app.engine.specs.Assertion` that the engine's own evaluator (app.engine.checks) passed on
every given response: a candidate that does not is dropped, so accepting a suggestion never turns a green case
red on the responses it came from. The work is bounded: at most MAX_SUGGESTIONS suggestions, MAX_LEAVES leaves
visited, paths MAX_DEPTH deep, schemas cut at SCHEMA_DEPTH levels, SCHEMA_PROPERTIES members per object and
SCHEMA_CHARS characters.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, TypedDict

import orjson
from genson import SchemaBuilder

from app.engine.checks import NOTHING, CompiledAssertion, json_type, walk_keys
from app.engine.masking import MASK
from app.engine.regexes import compile_regex
from app.engine.specs import Assertion
from app.engine.transport import NOT_JSON, Response
from app.reports.json_diff import child_path
from app.reports.normalise import is_volatile

MAX_SUGGESTIONS = 40
MAX_RESPONSES = 50  # responses compared (the first given); more add little and cost a check each
MAX_LEAVES = 400  # JSON nodes visited per body, breadth first: shallow fields are the ones worth asserting
MAX_DEPTH = 8  # path depth of a leaf assertion
MAX_BODY_CHARS = 2_000_000  # a body longer than this is not analysed as JSON (the snapshot cap is far below)
MAX_EQ_CHARS = 200  # a longer string is asserted by type, not value
SCHEMA_DEPTH = 8  # levels of a body's schema kept; deeper values are accepted as anything
SCHEMA_CHARS = 20_000  # a larger schema is cut shallower, then left out
SCHEMA_PROPERTIES = 100  # members of one object a schema describes
TIME_STEP_MS = 100  # a response-time bound is rounded up to a multiple of this

Confidence = Literal["high", "medium"]


class Suggestion(TypedDict):
    assertion: dict[str, Any]  # valid as app.engine.specs.Assertion
    why: str
    confidence: Confidence


@dataclass(frozen=True)
class RecordedResponse:
    """What a request run recorded of its response: status, headers (in order, as received), body text, time.

    `complete` is False when the recorded body is not the whole body (cut at the snapshot size or the response
    cap): then nothing is said about the body.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    duration_ms: float | None = None
    complete: bool = True
    _lower: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Repeated headers are joined as the engine joins them (app.engine.transport.Response.header).
        for name, value in self.headers:
            key = name.lower()
            self._lower[key] = f"{self._lower[key]}, {value}" if key in self._lower and key != "set-cookie" else value

    @classmethod
    def of_json(
        cls, status: int, document: Any, headers: Sequence[tuple[str, str]] = (), duration_ms: float | None = None
    ) -> RecordedResponse:
        """A response whose body is this JSON document (with a JSON content type unless headers give one)."""
        given = tuple(headers) or (("Content-Type", "application/json"),)
        return cls(status, given, orjson.dumps(document).decode(), duration_ms)

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any], duration_ms: float | None = None) -> RecordedResponse | None:
        """From a request run's `response` snapshot (app.engine.snapshots); None when it holds no status."""
        status = snapshot.get("status")
        if not isinstance(status, int) or isinstance(status, bool):
            return None
        headers = tuple(_header_pairs(snapshot.get("headers")))
        body = snapshot.get("body")
        text = body if isinstance(body, str) else ""
        size = snapshot.get("size")
        # The snapshot keeps the body's first characters only; `size` is the bytes received.
        cut = isinstance(size, int) and len(text.encode("utf-8", "replace")) < size
        elapsed = snapshot.get("elapsed_ms")
        if isinstance(elapsed, int | float) and not isinstance(elapsed, bool):
            duration_ms = float(elapsed)  # what a response_time_ms assertion reads
        complete = not cut and snapshot.get("truncated") is not True
        return cls(status, headers, text, duration_ms, complete)

    def header(self, name: str) -> str | None:
        return self._lower.get(name.lower())

    def header_map(self) -> dict[str, str]:
        """Headers by lower-cased name (repeated ones joined, as the engine's checks see them)."""
        return dict(self._lower)

    @cached_property
    def json(self) -> Any:
        """The parsed body (as the engine parses it), or NOT_JSON."""
        if not self.complete or not self.body or len(self.body) > MAX_BODY_CHARS:
            return NOT_JSON
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return NOT_JSON

    def as_response(self) -> Response:
        """The engine's response object for this record, so the engine's own checks can run on it."""
        return Response(
            status=self.status,
            headers=list(self.headers),
            body=self.body.encode("utf-8", "replace"),
            elapsed_ms=self.duration_ms or 0.0,
        )


def _header_pairs(headers: Any) -> Iterator[tuple[str, str]]:
    if isinstance(headers, Mapping):
        headers = list(headers.items())
    if not isinstance(headers, list | tuple):
        return
    for pair in headers:
        if isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(part, str) for part in pair):
            yield pair[0], pair[1]


@dataclass
class _Candidate:
    assertion: dict[str, Any]
    why: str
    confidence: Confidence
    rank: tuple[int, int] = (0, 0)  # (depth, order): shallow leaves first


def suggest(responses: Sequence[RecordedResponse]) -> list[Suggestion]:
    """Assertions that held on every given response of one case, most useful first, at most MAX_SUGGESTIONS.

    Args:
        responses: recorded responses of the same case (several runs make `eq` suggestions trustworthy).

    Returns:
        `{"assertion", "why", "confidence"}` items; each assertion validates as `Assertion` and passed the
        engine's evaluator on every response given.
    """
    runs = list(responses)[:MAX_RESPONSES]
    if not runs:
        return []
    candidates = [*_status(runs), *_content_type(runs), *_response_time(runs), *_body(runs)]
    engine_responses = [run.as_response() for run in runs]
    suggestions: list[Suggestion] = []
    seen: set[bytes] = set()
    for candidate in sorted(candidates, key=lambda c: c.rank):
        key = orjson.dumps(candidate.assertion, option=orjson.OPT_SORT_KEYS)
        if key in seen or not _holds(candidate.assertion, engine_responses):
            continue
        seen.add(key)
        suggestions.append({"assertion": candidate.assertion, "why": candidate.why, "confidence": candidate.confidence})
        if len(suggestions) >= MAX_SUGGESTIONS:
            break
    return suggestions


def _holds(assertion: dict[str, Any], responses: list[Response]) -> bool:
    """Valid as an Assertion, and passed by the engine's evaluator on every response.

    A schema is checked on the first response only: genson's schema holds for every document it was inferred
    from by construction (pruning only loosens it), and validating 50 bodies of 64 KB took seconds.
    """
    if assertion["source"] == "json_schema":
        responses = responses[:1]
    try:
        compiled = CompiledAssertion(Assertion.model_validate(assertion))
        return all(compiled.evaluate(response, {})["passed"] for response in responses)
    except Exception:  # not a valid assertion, or one the engine cannot run (a regex RE2 refuses, a limit)
        return False


def _runs_text(count: int) -> str:
    return (
        "the one recorded run" if count == 1 else "both recorded runs" if count == 2 else f"all {count} recorded runs"
    )


# ---- status, headers, time ------------------------------------------------------------------------------------
def _status(runs: list[RecordedResponse]) -> Iterator[_Candidate]:
    statuses = sorted({run.status for run in runs})
    if len(statuses) == 1:
        yield _Candidate(
            {"source": "status_code", "op": "eq", "expected": statuses[0]},
            f"status {statuses[0]} in {_runs_text(len(runs))}",
            "high",
            (-4, 0),
        )
    else:
        yield _Candidate(
            {"source": "status_code", "op": "in", "expected": statuses},
            f"the recorded runs answered {', '.join(map(str, statuses))}",
            "medium",
            (-4, 0),
        )


def _content_type(runs: list[RecordedResponse]) -> Iterator[_Candidate]:
    first = runs[0].header("content-type")
    media_type = (first or "").split(";", 1)[0].strip()
    if not media_type or not all(media_type in (run.header("content-type") or "") for run in runs):
        return
    yield _Candidate(
        {"source": "header", "expression": "Content-Type", "op": "contains", "expected": media_type},
        f"Content-Type was {media_type} in {_runs_text(len(runs))}",
        "high",
        (-3, 0),
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _response_time(runs: list[RecordedResponse]) -> Iterator[_Candidate]:
    durations = [run.duration_ms for run in runs if run.duration_ms is not None and math.isfinite(run.duration_ms)]
    if len(durations) != len(runs):
        return
    p95 = _percentile(durations, 0.95)
    headroom = max(2 * p95, p95 + 200)
    # Never below the slowest run: a suggestion must pass on the runs it came from.
    bound = int(math.ceil(max(headroom, max(durations)) / TIME_STEP_MS) * TIME_STEP_MS) or TIME_STEP_MS
    yield _Candidate(
        {"source": "response_time_ms", "op": "le", "expected": bound},
        f"p95 of {_runs_text(len(runs))} was {p95:.0f} ms; the bound leaves headroom (max(2 x p95, p95 + 200 ms))",
        "medium",
        (-1, 0),
    )


# ---- the body ---------------------------------------------------------------------------------------------------
def _body(runs: list[RecordedResponse]) -> Iterator[_Candidate]:
    documents = [run.json for run in runs]
    if all(document is not NOT_JSON for document in documents):
        yield from _schema(documents, len(runs))
        yield from _leaves(documents)
    elif all(document is NOT_JSON and run.complete for document, run in zip(documents, runs, strict=True)):
        yield from _text(runs)


def _text(runs: list[RecordedResponse]) -> Iterator[_Candidate]:
    text = runs[0].body
    if len(runs) > 1 and text and len(text) <= MAX_EQ_CHARS and MASK not in text and all(r.body == text for r in runs):
        yield _Candidate(
            {"source": "text", "op": "eq", "expected": text},
            f"the body was this same text in {_runs_text(len(runs))}",
            "high",
            (0, 0),
        )


def _schema(documents: list[Any], count: int) -> Iterator[_Candidate]:
    builder = SchemaBuilder()
    try:
        for document in documents:
            builder.add_object(_cut(document, SCHEMA_DEPTH))
        inferred = builder.to_schema()
    except (RecursionError, ValueError, TypeError):
        return
    inferred.pop("$schema", None)  # genson's draft URI is not one jsonschema knows: the latest draft applies
    for depth in (SCHEMA_DEPTH, 4, 2, 1):
        schema = _prune(inferred, depth)
        if len(orjson.dumps(schema)) <= SCHEMA_CHARS:
            shallower = "" if depth == SCHEMA_DEPTH else f" (its first {depth} levels)"
            yield _Candidate(
                {"source": "json_schema", "expected": schema},
                f"the body's structure{shallower}, inferred from {_runs_text(count)}: "
                "fields present in every run are required",
                "high",
                (-2, 0),
            )
            return


def _cut(value: Any, depth: int) -> Any:
    """The value with everything deeper than `depth` levels replaced (genson recurses; the schema is cut there)."""
    if depth <= 0:
        return None
    if isinstance(value, dict):
        return {key: _cut(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_cut(item, depth - 1) for item in value]
    return value


def _prune(schema: dict[str, Any], depth: int) -> dict[str, Any]:
    """Subschemas of values `depth` levels down become `{}` (anything): what `_cut` replaced is not described."""
    if depth <= 0:
        return {}
    pruned = dict(schema)
    if isinstance(schema.get("properties"), dict):
        # A wide object keeps its first SCHEMA_PROPERTIES members described (and required); others may be anything.
        kept = list(schema["properties"].items())[:SCHEMA_PROPERTIES]
        pruned["properties"] = {name: _prune(sub, depth - 1) for name, sub in kept}
        if isinstance(schema.get("required"), list):
            pruned["required"] = [name for name in schema["required"] if name in pruned["properties"]]
            if not pruned["required"]:
                del pruned["required"]
    if isinstance(schema.get("items"), dict):
        pruned["items"] = _prune(schema["items"], depth - 1)
    if isinstance(schema.get("anyOf"), list):
        pruned["anyOf"] = [_prune(sub, depth) for sub in schema["anyOf"]]
    return pruned


@dataclass
class _Leaf:
    path: str
    keys: tuple[str | int, ...]
    name: str | None  # the member name it is under (an array's items: the array's)
    in_array: bool


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _walk(document: Any) -> Iterator[tuple[_Leaf, Any]]:
    """Nodes of the first document, breadth first, at most MAX_LEAVES, each with its path (arrays: item 0 only)."""
    queue: deque[tuple[_Leaf, Any]] = deque([(_Leaf("$", (), None, False), document)])
    visited = 0
    while queue and visited < MAX_LEAVES:
        leaf, value = queue.popleft()
        visited += 1
        yield leaf, value
        if len(leaf.keys) >= MAX_DEPTH:
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if _CONTROL.search(key):
                    continue  # not worth escaping in a JSONPath name
                queue.append((_Leaf(child_path(leaf.path, key), (*leaf.keys, key), key, leaf.in_array), item))
        elif isinstance(value, list) and value:
            # Items may come in any order: only the first is described, by type and format, never by value.
            queue.append((_Leaf(child_path(leaf.path, 0), (*leaf.keys, 0), leaf.name, True), value[0]))


def _leaves(documents: list[Any]) -> Iterator[_Candidate]:
    order = 0
    for leaf, _ in _walk(documents[0]):
        if not leaf.keys:
            continue
        find = walk_keys(leaf.keys)  # what the engine's first match reads for this plain path
        values = [find(document) for document in documents]
        if any(value is NOTHING for value in values):
            continue  # not in every run: the schema says it is optional
        order += 1
        rank = (len(leaf.keys), order)
        if isinstance(values[0], list):
            yield from _array(leaf, values, rank)
        elif not isinstance(values[0], dict):
            yield from _scalar(leaf, values, rank, len(documents))


def _array(leaf: _Leaf, values: list[Any], rank: tuple[int, int]) -> Iterator[_Candidate]:
    if not all(isinstance(value, list) for value in values):
        return
    count = len(values)
    if count > 1 and not leaf.in_array and all(value == values[0] for value in values):
        if len(orjson.dumps(values[0])) <= MAX_EQ_CHARS and MASK not in orjson.dumps(values[0]).decode():
            yield _Candidate(
                {"source": "body", "expression": leaf.path, "op": "eq", "expected": values[0]},
                f"{leaf.path} was this same list in {_runs_text(count)}",
                "high",
                rank,
            )
            return
    lengths = {len(value) for value in values}
    if count > 1 and len(lengths) == 1 and not leaf.in_array:
        yield _Candidate(
            {"source": "body", "expression": leaf.path, "op": "length", "expected": lengths.pop()},
            f"{leaf.path} had the same length in {_runs_text(count)}",
            "medium",
            rank,
        )
    else:
        yield _Candidate(
            {"source": "body", "expression": leaf.path, "op": "type", "expected": "array"},
            f"{leaf.path} was a list in {_runs_text(count)}",
            "high" if not leaf.in_array else "medium",
            rank,
        )


# Names whose values are people's words or names: one run's value is no constant.
_FREE_TEXT = frozenset(
    {
        "name", "title", "description", "username", "user_name", "first_name", "last_name", "nickname", "email",
        "address", "city", "comment", "content", "text", "summary", "label", "display_name", "full_name", "phone",
    }
)  # fmt: skip
# Names of integer result codes (`"code": 0`): in one run they already look like a constant.
_CODE_NAMES = frozenset({"code", "status", "errcode", "err_code", "error_code", "ret", "retcode", "result_code"})
_ENUM_LIKE = re.compile(r"[A-Za-z][A-Za-z_.-]{0,31}")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _snake(name: str | None) -> str:
    return _CAMEL.sub("_", name or "").lower().replace("-", "_")


def _scalar(leaf: _Leaf, values: list[Any], rank: tuple[int, int], count: int) -> Iterator[_Candidate]:
    if any(isinstance(value, str) and MASK in value for value in values):
        return  # a masked secret: neither its value nor its look is known
    if any(is_volatile(leaf.path, value) for value in values):
        yield from _format(leaf, values, rank, count)
        return
    if leaf.in_array:
        yield from _type(leaf, values, rank, count, "medium")
        return
    first = values[0]
    if count > 1:
        same = all(json_type(value) == json_type(first) and value == first for value in values)
        if same and not (isinstance(first, str) and len(first) > MAX_EQ_CHARS):
            yield _eq(leaf, first, f"{leaf.path} was {_show(first)} in {_runs_text(count)}", "high", rank)
        return
    name = _snake(leaf.name)
    if isinstance(first, bool):
        yield _eq(leaf, first, f"{leaf.path} is a flag ({_show(first)} in the one recorded run)", "medium", rank)
    elif isinstance(first, str) and _ENUM_LIKE.fullmatch(first) and name not in _FREE_TEXT:
        yield _eq(leaf, first, f"{leaf.path} looks like a fixed value ({_show(first)})", "medium", rank)
    elif isinstance(first, int) and name in _CODE_NAMES:
        yield _eq(leaf, first, f"{leaf.path} looks like a result code ({first})", "medium", rank)


def _eq(leaf: _Leaf, value: Any, why: str, confidence: Confidence, rank: tuple[int, int]) -> _Candidate:
    return _Candidate({"source": "body", "expression": leaf.path, "op": "eq", "expected": value}, why, confidence, rank)


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."


# Formats a value that changes by design keeps, most specific first; the first that every value matches is used.
_FORMATS = (
    ("a uuid", r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
    ("an ISO 8601 timestamp", r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$"),
    ("an HTTP date", r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$"),
    ("a JWT", r"^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$"),
)


def _format(leaf: _Leaf, values: list[Any], rank: tuple[int, int], count: int) -> Iterator[_Candidate]:
    if all(isinstance(value, str) for value in values):
        for what, pattern in _FORMATS:
            regex = compile_regex(pattern)
            if all(regex.search(value) for value in values):
                yield _Candidate(
                    {"source": "body", "expression": leaf.path, "op": "regex", "expected": pattern},
                    f"{leaf.path} changes by design; it was {what} in {_runs_text(count)}",
                    "high",
                    rank,
                )
                return
    yield from _type(leaf, values, rank, count, "high", "changes by design (an id, time or token); ")


def _type(
    leaf: _Leaf, values: list[Any], rank: tuple[int, int], count: int, confidence: Confidence, because: str = ""
) -> Iterator[_Candidate]:
    types = {json_type(value) for value in values}
    if types <= {"integer", "number"} and len(types) == 2:
        types = {"number"}
    if len(types) != 1 or types == {"null"}:
        return
    kind = types.pop()
    yield _Candidate(
        {"source": "body", "expression": leaf.path, "op": "type", "expected": kind},
        f"{leaf.path} {because}was {'an' if kind[0] in 'aeiou' else 'a'} {kind} in {_runs_text(count)}",
        confidence,
        rank,
    )
