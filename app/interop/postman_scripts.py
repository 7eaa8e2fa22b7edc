"""Postman script lines as native checks: the common `pm.*` and legacy `tests[...]` patterns become assertions,
extractors and `set` processors; `ScriptChecks.line` answers why any other line was not translated (the
collection reader lists it with its location). Lines that are only structure are neither.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from app.engine.specs import (
    VARIABLE_NAME,
    Assertion,
    Extractor,
    SetProcessor,
    check_jsonpath,
    check_regex,
)

_STRING = r"(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`$]*`)"
_TEST_OPEN = re.compile(r"^pm\.test\(\s*" + _STRING + r"\s*,\s*(?:(?:async\s+)?function\s*\(\s*\)|\(\s*\)\s*=>)\s*")
_STRUCTURE = re.compile(r"^[\s{}();,]*$")
_IDENT = r"[A-Za-z_$][A-Za-z0-9_$]*"
_ACCESSOR = r"(?:\.\s*" + _IDENT + r"|\[\s*(?:\d+|" + _STRING + r")\s*\])*"
_DECLARE = re.compile(r"^(?:var|let|const)\s+(" + _IDENT + r")\s*=\s*(.+)$")
_EXPECT = re.compile(r"^pm\.expect\((.+?)\)\s*\.\s*to((?:\s*\.\s*[A-Za-z]+)*)\s*(?:\((.*)\))?$", re.S)
_SETTERS = re.compile(
    r"^(?:pm\.(?:environment|collectionVariables|variables|globals)\.set|"
    r"postman\.set(?:Environment|Global)Variable)\(\s*(" + _STRING + r")\s*,\s*(.+)\)$",
    re.S,
)
_GETTER = re.compile(
    r"^(?:pm\.(?:environment|collectionVariables|variables|globals)\.get|"
    r"postman\.get(?:Environment|Global)Variable)\(\s*(" + _STRING + r")\s*\)$"
)
_LEGACY = re.compile(r"^tests\s*\[\s*" + _STRING + r"\s*\]\s*=\s*(.+)$", re.S)
_COMPARE = re.compile(r"^(.+?)\s*(===|!==|==|!=|<=|>=|<|>)\s*(.+)$", re.S)
_TYPES = {"string", "number", "boolean", "object", "array", "null"}
_OPS = {
    "eql": "eq", "equal": "eq", "equals": "eq", "eq": "eq", "deep.equal": "eq", "deep.eql": "eq",
    "include": "contains", "string": "contains", "includes": "contains", "contain": "contains", "contains": "contains",
    "have.string": "contains", "above": "gt", "greaterThan": "gt", "gt": "gt", "below": "lt",
    "lessThan": "lt", "lt": "lt", "at.least": "ge", "least": "ge", "gte": "ge", "at.most": "le",
    "most": "le", "lte": "le", "oneOf": "in", "lengthOf": "length", "length": "length", "match": "regex",
    "a": "type", "an": "type", "within": "between",
}  # fmt: skip
_COMPARISONS = {"===": "eq", "==": "eq", "!==": "ne", "!=": "ne", "<": "lt", ">": "gt", "<=": "le", ">=": "ge"}
_FLIPPED = {"lt": "gt", "gt": "lt", "le": "ge", "ge": "le", "eq": "eq", "ne": "ne"}
_NEGATED = {"eq": "ne", "contains": "not_contains", "in": "not_in", "exists": "not_exists"}


class _NotTranslated(Exception):
    pass


class ScriptChecks:
    """The native checks one request's scripts translate to; `line` answers why a line was not translated."""

    def __init__(self) -> None:
        self.assertions: list[dict[str, Any]] = []
        self.extractors: list[dict[str, Any]] = []
        self.pre: list[dict[str, Any]] = []
        self.post: list[dict[str, Any]] = []
        self.aliases: dict[str, str] = {}  # `var jsonData = pm.response.json();` -> {"jsonData": "$"}

    def line(self, text: str, listen: str) -> str | None:
        """None when the line is structure or was translated, else the reason it was not."""
        statements = _statements(_unwrap(text.strip()))
        if not statements:
            return None
        saved = (list(self.assertions), list(self.extractors), list(self.pre), list(self.post), dict(self.aliases))
        try:
            for statement in statements:
                self._statement(statement, listen)
            for model, made, before in (
                (Assertion, self.assertions, saved[0]),
                (Extractor, self.extractors, saved[1]),
                (SetProcessor, self.pre, saved[2]),
                (SetProcessor, self.post, saved[3]),
            ):
                for check in made[len(before) :]:
                    _valid(model, check)
        except _NotTranslated as exc:
            self.assertions, self.extractors, self.pre, self.post, self.aliases = saved
            return str(exc)
        return None

    def _statement(self, text: str, listen: str) -> None:
        if match := _DECLARE.match(text):
            if listen == "test" and (path := self._path(match[2])) is not None:
                self.aliases[match[1]] = path
                return
            raise _NotTranslated("a script variable that is not the response body or a part of it")
        if match := _SETTERS.match(text):
            name, value = _unquote(match[1]), match[2].strip()
            if not VARIABLE_NAME.match(name):
                raise _NotTranslated(f"'{name}' is not a usable variable name here")
            if listen == "prerequest":
                self.pre.append(_set(name, _literal(value)))
            elif (literal := _try_literal(value)) is not _MISSING:
                self.post.append(_set(name, literal))
            else:
                extractor = self._extractor(name, value)
                if any(existing["name"] == name for existing in self.extractors):
                    raise _NotTranslated(f"'{name}' is already extracted by an earlier line")
                self.extractors.append(extractor)
            return
        if listen != "test":
            raise _NotTranslated("a pre-request script line other than setting a variable to a literal")
        if text.startswith("pm.response.to."):
            self.assertions.append(_response_check(text))
            return
        if match := _EXPECT.match(text):
            self.assertions.append(self._expect(match[1].strip(), match[2], match[3]))
            return
        if match := _LEGACY.match(text):
            self.assertions.append(self._legacy(match[1].strip()))
            return
        raise _NotTranslated("script code with no native equivalent")

    def _path(self, text: str) -> str | None:
        """The JSONPath of a body expression (`jsonData.a[0].b`, `pm.response.json().a`), or None."""
        text = text.strip()
        for head in ("pm.response.json()", "JSON.parse(responseBody)", "JSON.parse(pm.response.text())"):
            if text.startswith(head):
                return _jsonpath("$", text[len(head) :])
        match = re.match(r"^(" + _IDENT + r")(" + _ACCESSOR + r")$", text)
        if match and match[1] in self.aliases:
            return _jsonpath(self.aliases[match[1]], match[2])
        return None

    def _subject(self, text: str) -> dict[str, Any]:
        if text in ("pm.response.code", "responseCode.code"):
            return {"source": "status_code"}
        if text in ("pm.response.responseTime", "responseTime"):
            return {"source": "response_time_ms"}
        if text in ("pm.response.text()", "responseBody"):
            return {"source": "text"}
        if match := re.match(
            r"^(?:pm\.response\.headers\.get|postman\.getResponseHeader)\((" + _STRING + r")\)$", text
        ):
            return {"source": "header", "expression": _unquote(match[1])}
        if (path := self._path(text)) is not None:
            return {"source": "body", "expression": path}
        raise _NotTranslated(f"'{text[:80]}' is not a part of the response this reader knows")

    def _extractor(self, name: str, value: str) -> dict[str, Any]:
        subject = self._subject(value)
        if subject["source"] == "response_time_ms":
            raise _NotTranslated("the response time cannot be extracted")
        return {"name": name, **subject}

    def _expect(self, subject_text: str, chain: str, argument: str | None) -> dict[str, Any]:
        subject = self._subject(subject_text)
        words = [word for word in re.split(r"\s*\.\s*", chain.strip(". ")) if word]
        negate = "not" in words
        words = [word for word in words if word not in ("not", "be", "have", "that", "is", "and", "to", "been")]
        key = ".".join(words)
        if argument is None:
            flags: dict[str, tuple[str, Any]] = {
                "true": ("eq", True),
                "false": ("eq", False),
                "null": ("eq", None),
                "exist": ("exists", None),
            }
            flags |= {"empty": ("length", 0), "undefined": ("not_exists", None)}
            if key not in flags:
                raise _NotTranslated(f"the check '.{key}' has no native equivalent")
            op, expected = flags[key]
        else:
            if key not in _OPS:
                raise _NotTranslated(f"the check '.{key}(...)' has no native equivalent")
            op = _OPS[key]
            if op == "regex":
                expected = _regex(argument)
            elif op == "between":  # .within(low, high)
                expected = [self._value(bound) for bound in _statements(argument.replace(",", ";"))]
            else:
                expected = self._value(argument)
            if op == "type" and expected not in _TYPES:
                raise _NotTranslated(f"the type {expected!r} has no native equivalent")
        if negate:
            if op not in _NEGATED:
                raise _NotTranslated(f"a negated '.{key}' has no native equivalent")
            op = _NEGATED[op]
        return _assertion(subject, op, expected)

    def _legacy(self, expression: str) -> dict[str, Any]:
        expression = expression.strip().rstrip(";").strip()
        while expression.startswith("(") and expression.endswith(")") and _balanced(expression[1:-1]):
            expression = expression[1:-1].strip()
        if match := re.match(
            r"^(responseBody|pm\.response\.text\(\))\.(?:has|includes)\((" + _STRING + r")\)$", expression
        ):
            return _assertion({"source": "text"}, "contains", _unquote(match[2]))
        match = _COMPARE.match(expression)
        if not match:
            raise _NotTranslated("a legacy test that is not a comparison")
        left, op, right = match[1].strip(), _COMPARISONS[match[2]], match[3].strip()
        try:
            subject = self._subject(left)
        except _NotTranslated as exc:
            try:  # `200 === responseCode.code`
                subject, left, right, op = self._subject(right), right, left, _FLIPPED[op]
            except _NotTranslated:
                raise exc from None
        return _assertion(subject, op, self._value(right))

    def _value(self, text: str) -> Any:
        text = text.strip()
        if match := _GETTER.match(text):
            return "{{" + _unquote(match[1]) + "}}"
        return _literal(text)


_MISSING = object()


def _try_literal(text: str) -> Any:
    try:
        return _literal(text)
    except _NotTranslated:
        return _MISSING


def _literal(text: str) -> Any:
    """A JavaScript literal as a value: numbers, strings, true/false/null, JSON arrays and objects."""
    text = text.strip()
    if re.fullmatch(_STRING, text):
        return _unquote(text)
    if text == "undefined":
        raise _NotTranslated("undefined has no native equivalent")
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:  # ['a', 'b'] written with single quotes
        return json.loads(re.sub(r"'((?:[^'\\]|\\.)*)'", lambda m: json.dumps(m[1]), text))
    except ValueError:
        raise _NotTranslated(f"'{text[:80]}' is not a literal value") from None


def _unquote(text: str) -> str:
    body = text[1:-1]
    if text[0] == "`":
        return body
    if text[0] == "'":
        body = body.replace('\\"', '"').replace("\\'", "'").replace('"', '\\"')
    return str(json.loads('"' + body + '"'))


def _regex(argument: str) -> str:
    argument = argument.strip()
    match = re.fullmatch(r"/(.*)/([a-z]*)", argument, re.S)
    if not match:
        raise _NotTranslated("a match that is not a regex literal")
    pattern = f"(?{match[2]}){match[1]}" if match[2].replace("g", "") else match[1]
    try:
        check_regex(pattern)
    except ValueError as exc:
        raise _NotTranslated(str(exc)) from None
    return pattern


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _jsonpath(base: str, accessors: str) -> str:
    if not re.fullmatch(_ACCESSOR, accessors.strip()):
        raise _NotTranslated(f"'{accessors.strip()[:80]}' is not a plain path into the body")
    if re.search(r"\.\s*length\s*$", accessors):
        raise _NotTranslated("'.length' of a value: only `.to.have.lengthOf(N)` has a native equivalent")
    path = base
    for name, index in re.findall(r"\.\s*(" + _IDENT + r")|\[\s*(\d+|" + _STRING + r")\s*\]", accessors):
        if name:
            path += f".{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"[{json.dumps(name)}]"
        elif index.isdigit():
            path += f"[{index}]"
        else:
            path += f"[{json.dumps(_unquote(index))}]"
    try:
        check_jsonpath(path)
    except ValueError as exc:
        raise _NotTranslated(str(exc)) from None
    return path


def _valid(model: type[BaseModel], check: dict[str, Any]) -> None:
    """A translated check the API would refuse (a length that is not a number...) is reported instead."""
    try:
        model.model_validate(check)
    except ValidationError as exc:
        raise _NotTranslated(f"no valid native check: {exc.errors()[0]['msg']}") from None


def _assertion(subject: dict[str, Any], op: str, expected: Any) -> dict[str, Any]:
    source = subject["source"]
    if source in ("status_code", "response_time_ms") and op in ("eq", "ne", "gt", "ge", "lt", "le"):
        if not isinstance(expected, int | float) or isinstance(expected, bool):
            raise _NotTranslated(f"{source} is compared with a number, got {expected!r}")
    if op in ("exists", "not_exists"):
        return {**subject, "op": op}
    return {**subject, "op": op, "expected": expected}


def _response_check(text: str) -> dict[str, Any]:
    if match := re.fullmatch(r"pm\.response\.to\.have\.status\((\d{3})\)", text):
        return {"source": "status_code", "op": "eq", "expected": int(match[1])}
    if match := re.fullmatch(r"pm\.response\.to\.have\.header\((" + _STRING + r")\)", text):
        return {"source": "header", "expression": _unquote(match[1]), "op": "exists"}
    if match := re.fullmatch(r"pm\.response\.to\.have\.header\((" + _STRING + r")\s*,\s*(" + _STRING + r")\)", text):
        return {"source": "header", "expression": _unquote(match[1]), "op": "eq", "expected": _unquote(match[2])}
    if text == "pm.response.to.be.ok":
        return {"source": "status_code", "op": "eq", "expected": 200}
    if text == "pm.response.to.be.success":
        return {"source": "status_code", "op": "between", "expected": [200, 299]}
    raise _NotTranslated("a response check with no native equivalent")


def _set(name: str, value: Any) -> dict[str, Any]:
    return {"type": "set", "name": name, "value": value}


def _unwrap(text: str) -> str:
    """The code inside a one-line `pm.test("x", () => ...)`; a line that only opens or closes a test is empty."""
    if text.startswith("//") or (text.startswith("/*") and text.endswith("*/")):
        return ""
    match = _TEST_OPEN.match(text)
    if not match:
        return "" if _STRUCTURE.match(text) else text
    rest = text[match.end() :].strip()
    rest = rest[:-1].rstrip() if rest.endswith(";") else rest
    if rest.startswith("{"):
        rest = rest[1:]
        rest = rest[:-2] if rest.endswith("})") else rest
    elif rest.endswith(")"):
        rest = rest[:-1]
    return rest.strip()


def _statements(text: str) -> list[str]:
    """`a; b;` split at semicolons outside strings, brackets and regex literals."""
    statements: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            current.append(char)
            if char == quote and (len(current) < 2 or current[-2] != "\\"):
                quote = ""
            continue
        if char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == ";" and depth == 0:
            statements.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    statements.append("".join(current).strip())
    return [statement for statement in statements if statement and not _STRUCTURE.match(statement)]
