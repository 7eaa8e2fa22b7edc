"""Extractors and assertions, compiled once per run (JSONPath per RFC 9535, JSON Schema, safe expressions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonpath_rfc9535
from jsonpath_rfc9535 import JSONPathQuery
from jsonpath_rfc9535.segments import JSONPathChildSegment
from jsonpath_rfc9535.selectors import IndexSelector, NameSelector
from jsonschema.validators import validator_for

from app.engine.expressions import ExpressionLimitError, compile_expression
from app.engine.regexes import RegexError, compile_regex
from app.engine.specs import Assertion, Extractor
from app.engine.templates import UnknownVariable, compile_value, has_template
from app.engine.transport import NOT_JSON, Response

NOTHING = object()


class ExtractionError(Exception):
    pass


class HeaderMap(dict[str, str]):
    """Response headers as expressions see them: names match in any case (`headers["Content-Type"]`),
    as header assertions and extractors do. Keys are the lower-cased names."""

    __slots__ = ()

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower() if isinstance(name, str) else name)

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name.lower() if isinstance(name, str) else name)

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower() if isinstance(name, str) else name, default)


def expression_names(response: Response | None, variables: Any) -> dict[str, Any]:
    """The names every expression sees: status_code, body (parsed JSON), headers, text, elapsed_ms, vars."""
    if response is None:
        return {"status_code": None, "body": None, "headers": {}, "text": "", "elapsed_ms": None, "vars": variables}
    body = response.json
    return {
        "status_code": response.status,
        "body": None if body is NOT_JSON else body,
        "headers": HeaderMap(response.header_dict()),
        "text": response.text,
        "elapsed_ms": response.elapsed_ms,
        "vars": variables,
    }


def plain_keys(query: JSONPathQuery) -> tuple[str | int, ...] | None:
    """The keys of a plain path (`$.a.b`, `$.a[0].b`, `$['a'].b`, `$`): child segments of one name or index each.

    Read from the library's own parse, so every spelling it accepts means the same here; anything else
    (wildcards, slices, filters, `..`, several selectors in one segment) is None and stays with the library.
    """
    keys: list[str | int] = []
    for segment in query.segments:
        if type(segment) is not JSONPathChildSegment or len(segment.selectors) != 1:
            return None
        selector = segment.selectors[0]
        if type(selector) is NameSelector:
            keys.append(selector.name)
        elif type(selector) is IndexSelector:
            keys.append(selector.index)
        else:
            return None
    return tuple(keys)


def walk_keys(keys: tuple[str | int, ...]) -> Callable[[Any], Any]:
    """A plain path as a key walk: the value it selects in a document, or NOTHING (as the library's find_one).

    A name selects a member of an object only, an index an element of an array only (negative from the end).
    """

    def walk(document: Any) -> Any:
        node = document
        for key in keys:
            if isinstance(key, str):
                if not isinstance(node, dict):
                    return NOTHING
                node = node.get(key, NOTHING)
                if node is NOTHING:
                    return NOTHING
            else:
                if not isinstance(node, list) or not -len(node) <= key < len(node):
                    return NOTHING
                node = node[key]
        return node

    return walk


def first_match(query: JSONPathQuery) -> Callable[[Any], Any]:
    """The first match's value in a document, or NOTHING: a key walk for a plain path, else the library."""
    keys = plain_keys(query)
    if keys is not None:
        return walk_keys(keys)

    def find(document: Any) -> Any:
        node = query.find_one(document)
        return NOTHING if node is None else node.value

    return find


def _jsonpath_first(query: Any) -> Callable[[Response], Any]:
    find = first_match(query)

    def read(response: Response) -> Any:
        document = response.json
        if document is NOT_JSON:
            return NOTHING
        return find(document)

    return read


def _jsonpath_all(query: Any, when_none: Any) -> Callable[[Response], Any]:
    """Every match's value, in document order (for `length`, `exists` and `not_exists` on a path with several)."""

    def read(response: Response) -> Any:
        document = response.json
        if document is NOT_JSON:
            return NOTHING
        values = query.find(document).values()
        return values if values else when_none

    return read


# Ops that see every match of a JSONPath that can match several nodes; the others compare the first match.
ALL_MATCHES_OPS = frozenset({"length", "exists", "not_exists"})


def _reader(source: str, expression: str | None) -> Callable[[Response], Any]:
    if source == "body":
        return _jsonpath_first(jsonpath_rfc9535.compile(expression or "$"))
    if source == "header":
        name = expression or ""
        return lambda response: _or_nothing(response.header(name))
    if source == "cookie":
        name = expression or ""
        return lambda response: _or_nothing(response.set_cookies().get(name))
    if source == "status_code":
        return lambda response: response.status
    if source == "text":
        return lambda response: response.text
    if source == "response_time_ms":
        return lambda response: response.elapsed_ms
    if source == "regex":
        try:
            pattern = compile_regex(expression or "")
        except RegexError as exc:
            return _refused(exc)

        def search(response: Response) -> Any:
            match = pattern.search(response.text)
            if match is None:
                return NOTHING
            return match.group(1) if pattern.groups else match.group(0)

        return search
    raise ValueError(f"unknown source '{source}'")


def _refused(exc: RegexError) -> Callable[..., Any]:
    """A stored pattern RE2 refuses (saved before regexes ran on RE2): only the steps that use it end in error."""

    def refuse(*_: Any) -> Any:
        raise exc

    return refuse


def _or_nothing(value: Any) -> Any:
    return NOTHING if value is None else value


def check_result(
    source: str, expression: str | None, op: str | None, expected: Any, actual: Any, passed: bool, message: str
) -> dict[str, Any]:
    """A check's result in the one shape records keep (DESIGN 3): assertions, extractors, poll and processors."""
    return {
        "source": source,
        "expression": expression,
        "op": op,
        "expected": expected,
        "actual": actual,
        "passed": passed,
        "message": message,
    }


class CompiledExtractor:
    __slots__ = ("expression", "name", "read", "source")

    def __init__(self, spec: Extractor) -> None:
        self.name = spec.name
        self.source = spec.source
        self.expression = spec.expression
        self.read = _reader(self.source, self.expression)

    def extract(self, response: Response) -> Any:
        value = self.read(response)
        if value is NOTHING:
            where = f" at {self.expression}" if self.expression else ""
            note = truncation_note(response) if self.source in BODY_SOURCES else ""
            raise ExtractionError(f"extractor '{self.name}' found nothing in {self.source}{where}{note}")
        return value


# Checks and extractors that read the body: on a body cut at the size cap they see its first bytes only.
BODY_SOURCES = frozenset({"body", "text", "regex", "json_schema", "expression"})


def truncation_note(response: Response) -> str:
    """Said after a failed check on a truncated body: a JSON body cut short is not JSON any more."""
    if not response.truncated:
        return ""
    return f" (the response body was cut at {len(response.body)} bytes, the response size cap; checks saw only that)"


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _same(actual: Any, expected: Any) -> bool:
    # JSON true is not 1: bool and number never compare equal.
    if isinstance(actual, bool) != isinstance(expected, bool):
        return False
    return bool(actual == expected)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return str(expected) in actual if not isinstance(expected, str) else expected in actual
    if isinstance(actual, list):
        return any(_same(item, expected) for item in actual)
    if isinstance(actual, dict):
        return expected in actual
    return False


def _in(actual: Any, expected: list[Any]) -> bool:
    return any(_same(actual, item) for item in expected)


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _same,
    "ne": lambda a, e: not _same(a, e),
    "gt": lambda a, e: a > e,
    "ge": lambda a, e: a >= e,
    "lt": lambda a, e: a < e,
    "le": lambda a, e: a <= e,
    "between": lambda a, e: e[0] <= a <= e[1],
    "in": _in,
    "not_in": lambda a, e: not _in(a, e),
    "contains": _contains,
    "not_contains": lambda a, e: not _contains(a, e),
    "regex": lambda a, e: compile_regex(e).search(a if isinstance(a, str) else str(a)) is not None,
    "type": lambda a, e: json_type(a) == e or (e == "number" and json_type(a) == "integer"),
    "length": lambda a, e: len(a) == e,
}


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 200 else text[:197] + "..."


class CompiledAssertion:
    __slots__ = (
        "_check",
        "_compare",
        "_exists_message",
        "_expected_text",
        "_missing_message",
        "_pass_message",
        "_read",
        "_render_expected",
        "_verb",
        "_where",
        "expected",
        "expression",
        "op",
        "reads_response",
        "source",
    )

    def __init__(self, spec: Assertion) -> None:
        self.source = spec.source
        self.expression = spec.expression
        self.op: str | None = spec.op  # the model sets "eq" where an op applies and none was given
        self.expected = spec.expected
        self._read: Callable[[Response], Any] | None = None
        self.reads_response = False
        if self.source == "expression":
            compiled = compile_expression(self.expression or "")
            self._check = compiled.evaluate
            self.reads_response = compiled.reads_response
        elif self.source == "json_schema":
            schema = self.expected
            self._check = validator_for(schema)(schema).iter_errors
            self._read = _jsonpath_first(jsonpath_rfc9535.compile(self.expression)) if self.expression else None
        elif self.source == "body" and self.op in ALL_MATCHES_OPS:
            query = jsonpath_rfc9535.compile(self.expression or "$")
            when_none = [] if self.op == "length" else NOTHING  # no match: a count of 0, or "does not exist"
            self._read = _jsonpath_first(query) if query.singular_query() else _jsonpath_all(query, when_none)
        else:
            self._read = _reader(self.source, self.expression)
        # Everything a check needs that does not depend on the response is prepared here, once per run.
        self._compare = OPS.get(self.op or "")
        self._expected_text = _show(self.expected)
        # `"expected": "{{expected_status}}"` takes its value from the scope (exact templates keep the type).
        self._render_expected = (
            compile_value(self.expected) if self.source != "json_schema" and has_template(self.expected) else None
        )
        if self.op == "regex" and isinstance(self.expected, str) and self._render_expected is None:
            try:
                pattern = compile_regex(self.expected)
            except RegexError as exc:
                self._compare = _refused(exc)
            else:
                self._compare = lambda actual, _expected: (
                    pattern.search(actual if isinstance(actual, str) else str(actual)) is not None
                )
        self._where = self.source + (f" {self.expression}" if self.expression else "")
        self._verb = (self.op or "eq").replace("_", " ")
        # What a passing check says, when it does not depend on the response: written once here, not per check.
        where = self._where
        self._exists_message = f"{where} exists"
        self._missing_message = f"{where} does not exist"
        self._pass_message = None if self._render_expected else f"{where} {self._verb} {self._expected_text}"

    def evaluate(self, response: Response, variables: Any) -> dict[str, Any]:
        """The check's result, built once: source, expression, op, expected, actual, passed, message."""
        expected = self.expected
        try:
            if self._render_expected is not None:
                expected = self._render_expected(variables)
            passed, actual, message = self._evaluate(response, variables, expected)
            if not passed and self.source in BODY_SOURCES:
                message += truncation_note(response)
        except (ExpressionLimitError, RegexError):
            raise  # not a failed check: the step ends in error, naming the limit (or what RE2 refused)
        except UnknownVariable as exc:
            passed, actual, message = False, None, f"could not evaluate: expected uses {exc}"
        except Exception as exc:  # a comparison that cannot be made is a failed check, said plainly
            passed, actual, message = False, None, f"could not evaluate: {type(exc).__name__}: {exc}"
        return check_result(self.source, self.expression, self.op, expected, actual, passed, message)

    def _evaluate(self, response: Response, variables: Any, expected: Any) -> tuple[bool, Any, str]:
        if self.source == "expression":
            value = self._check(expression_names(response, variables))
            return bool(value), value, "expression holds" if value else f"expression is false: {self.expression}"
        if self.source == "json_schema":
            document = self._read(response) if self._read else response.json
            if document is NOT_JSON or document is NOTHING:
                return False, None, "the body is not JSON, so it cannot match the schema"
            errors = list(self._check(document))
            if not errors:
                return True, None, "the body matches the schema"
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(root)"
            return False, where, f"schema violation at {where}: {first.message}"
        assert self._read is not None
        actual = self._read(response)
        where = self._where
        if self.op == "exists":
            if actual is NOTHING:
                return False, None, self._missing_message
            return True, actual, self._exists_message
        if self.op == "not_exists":
            if actual is NOTHING:
                return True, None, self._missing_message
            return False, actual, f"{where} exists but should not"
        if actual is NOTHING:
            return False, None, f"{where}: nothing there to compare"
        assert self._compare is not None
        passed = self._compare(actual, expected)
        expected_text = self._expected_text if self._render_expected is None else _show(expected)
        if passed:
            return True, actual, self._pass_message or f"{where} {self._verb} {expected_text}"
        got = actual
        if self.op == "type":
            got = json_type(actual)
        elif self.op == "length" and hasattr(actual, "__len__"):
            got = len(actual)
        return False, actual, f"{where}: expected {self._verb} {expected_text}, got {_show(got)}"
