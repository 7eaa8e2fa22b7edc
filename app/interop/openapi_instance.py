"""The smallest valid instance of a JSON Schema: a request body when the document gives no example.

It reads the standalone schemas app.interop.openapi_schema makes (one dialect, refs under $defs only when
recursive), so what is sent and what is checked are read the one way. Examples and defaults the schema
gives win when they are valid; `allOf` is merged, the first `oneOf`/`anyOf` alternative whose instance the
validator accepts is taken; optional properties are left out, and so is an optional one that recurses.
"""

from __future__ import annotations

import math
import re
from typing import Any

from jsonschema import Draft202012Validator


class NoInstance(Exception):
    """No finite instance found (a required property that recurses forever, `false`, an empty type)."""


_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "duration": "P1D",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com",
    "uri-reference": "https://example.com",
    "iri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "byte": "",
    "binary": "",
    "password": "password",
    "json-pointer": "/",
    "regex": ".*",
}
_MAX_GENERATION_DEPTH = 32


class _Generator:
    def __init__(self, root: dict[str, Any]) -> None:
        self.defs: dict[str, Any] = root.get("$defs", {})
        self.validator = Draft202012Validator(root)

    def valid(self, schema: Any, instance: Any) -> bool:
        standalone = {"allOf": [schema], "$defs": self.defs} if self.defs else schema
        return _valid(self.validator.evolve(schema=standalone), instance)

    def resolve(self, schema: Any, stack: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
        """A `$ref` into $defs replaced by its target (its siblings merged in); NoInstance when it recurses."""
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            name = schema["$ref"].removeprefix("#/$defs/")
            if name in stack or name not in self.defs:
                raise NoInstance(f"'{name}' recurses")
            stack = (*stack, name)
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            schema = _merge(self.defs[name], siblings) if siblings else self.defs[name]
        return schema, stack

    def value(self, schema: Any, stack: tuple[str, ...], variant: int = 0, full: bool = False) -> Any:
        if len(stack) > _MAX_GENERATION_DEPTH:
            raise NoInstance("too deep")
        schema, stack = self.resolve(schema, stack)
        if schema is True or schema == {}:
            return None
        if schema is False:
            raise NoInstance("the schema `false` has no instance")
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            choices = [v for v in schema["enum"] if v is not None] or [None]
            return choices[variant % len(choices)]
        examples = schema.get("examples")
        known = list(examples) if isinstance(examples, list) else []
        if "default" in schema:
            known.append(schema["default"])
        for candidate in known[variant:] if variant < len(known) else []:
            if self.valid(schema, candidate):
                return candidate
        if isinstance(schema.get("allOf"), list):
            merged = {key: value for key, value in schema.items() if key != "allOf"}
            for part in schema["allOf"]:
                part, stack = self.resolve(part, stack)
                merged = _merge(merged, part)
            return self.value(merged, stack, variant, full)
        for key in ("oneOf", "anyOf"):
            if isinstance(schema.get(key), list):
                return self.alternative(schema, key, stack, variant)
        return self.typed(schema, stack, variant, full)

    def alternative(self, schema: dict[str, Any], key: str, stack: tuple[str, ...], variant: int) -> Any:
        """The first alternative that yields a valid instance (smallest first, then with every property)."""
        rest = {k: v for k, v in schema.items() if k != key}
        fallback: list[Any] = []
        for option in schema[key]:
            for full in (False, True):
                try:
                    option_schema, option_stack = self.resolve(option, stack)
                    candidate = self.value(_merge(rest, option_schema), option_stack, variant, full)
                except NoInstance:
                    break
                if self.valid(schema, candidate):
                    return candidate
                fallback.append(candidate)
        if fallback:
            return fallback[0]
        raise NoInstance(f"no alternative of `{key}` has an instance")

    def typed(self, schema: dict[str, Any], stack: tuple[str, ...], variant: int, full: bool) -> Any:
        kinds = schema.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds] if isinstance(kinds, str) else [_guess(schema)]
        kind = next((k for k in kinds if k != "null"), "null")
        if kind == "object":
            return self.object(schema, stack, full)
        if kind == "array":
            return self.array(schema, stack)
        if kind == "string":
            return _string(schema, variant)
        if kind in ("integer", "number"):
            return _number(schema, kind, variant)
        if kind == "boolean":
            return variant % 2 == 1
        return None

    def object(self, schema: dict[str, Any], stack: tuple[str, ...], full: bool) -> dict[str, Any]:
        given = schema.get("properties")
        properties: dict[str, Any] = given if isinstance(given, dict) else {}
        required = [name for name in schema.get("required", []) if isinstance(name, str)]
        optional = [name for name in properties if name not in required and not _read_only(properties[name])]
        wanted = max(int(schema.get("minProperties", 0) or 0), len(required))
        out: dict[str, Any] = {}
        for name in [*required, *optional]:
            if name not in required and not full and len(out) >= wanted:
                break
            extra = schema.get("additionalProperties")
            sub = properties.get(name, extra if isinstance(extra, dict) else {})
            try:
                out[name] = self.value(sub, stack)
            except NoInstance:
                if name in required:
                    raise
        extra = schema.get("additionalProperties")
        number = 0
        while len(out) < wanted and extra is not False:  # minProperties past the named ones
            number += 1
            out[f"key{number}"] = self.value(extra if isinstance(extra, dict) else {}, stack, number)
        return out

    def array(self, schema: dict[str, Any], stack: tuple[str, ...]) -> list[Any]:
        given = schema.get("prefixItems")
        prefix: list[Any] = given if isinstance(given, list) else []
        items = schema.get("items", {})
        count = max(int(schema.get("minItems", 0) or 0), 0)
        return [self.value(prefix[index] if index < len(prefix) else items, stack, index) for index in range(count)]


def _read_only(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("readOnly") is True


def _guess(schema: dict[str, Any]) -> str:
    """The type a schema without `type` means, from the keywords it uses."""
    if any(key in schema for key in ("properties", "required", "additionalProperties", "minProperties")):
        return "object"
    if any(key in schema for key in ("items", "prefixItems", "minItems")):
        return "array"
    if any(key in schema for key in ("minLength", "maxLength", "pattern", "format")):
        return "string"
    if any(key in schema for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return "null"


def _string(schema: dict[str, Any], variant: int) -> str:
    low = int(schema.get("minLength", 0) or 0)
    high = schema.get("maxLength")
    base = _FORMATS.get(str(schema.get("format")), "string")
    candidates = [base + (str(variant) if variant else "")]
    pattern = schema.get("pattern")
    compiled = None
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except (re.error, RecursionError, OverflowError):
            compiled = None
        if compiled is not None and compiled.search(candidates[0]) is None:
            candidates = [_matching(pattern, variant), *candidates]
    for text in candidates:
        if len(text) < low:
            text += "x" * (low - len(text))
        if isinstance(high, int) and len(text) > high:
            text = text[:high]
        if compiled is None or compiled.search(text):
            return text
    return candidates[0]


def _matching(pattern: str, variant: int) -> str:
    """A short text the pattern matches (`^SKU-[0-9]{3}$` gives `SKU-000`), from Python's own regex parser."""
    try:
        parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
        return _from_regex(parsed, variant)
    except Exception:  # an unusual construct: no text from it, the caller falls back
        return ""


def _from_regex(parsed: Any, variant: int) -> str:
    constants = re._constants  # type: ignore[attr-defined]
    out: list[str] = []
    for op, argument in parsed:
        if op is constants.LITERAL:
            out.append(chr(argument))
        elif op is constants.NOT_LITERAL:
            out.append("a" if chr(argument) != "a" else "b")
        elif op is constants.ANY:
            out.append("a")
        elif op is constants.IN:
            out.append(_from_class(argument, constants, variant))
        elif op in (constants.MAX_REPEAT, constants.MIN_REPEAT, constants.POSSESSIVE_REPEAT):
            low, _high, inner = argument
            out.append("".join(_from_regex(inner, variant) for _ in range(low)))
        elif op is constants.SUBPATTERN:
            out.append(_from_regex(argument[-1], variant))
        elif op is constants.BRANCH:
            out.append(_from_regex(argument[1][0], variant))
        elif op is constants.ATOMIC_GROUP:
            out.append(_from_regex(argument, variant))
        elif op is constants.AT:
            continue
        else:
            raise ValueError(f"no text for {op}")
    return "".join(out)


def _from_class(items: Any, constants: Any, variant: int) -> str:
    if items and items[0][0] is constants.NEGATE:
        raise ValueError("a negated class")
    for op, argument in items:
        if op is constants.LITERAL:
            return chr(argument)
        if op is constants.RANGE:
            return chr(min(argument[0] + variant, argument[1]))
        if op is constants.CATEGORY:
            return {constants.CATEGORY_DIGIT: "0", constants.CATEGORY_SPACE: " "}.get(argument, "a")
    raise ValueError("an empty class")


def _number(schema: dict[str, Any], kind: str, variant: int) -> int | float:
    def bound(key: str) -> float | None:
        value = schema.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    low, high = bound("minimum"), bound("maximum")
    above, below = bound("exclusiveMinimum"), bound("exclusiveMaximum")
    if above is not None:
        low = above + 1 if low is None else max(low, above + 1)
    if below is not None:
        high = below - 1 if high is None else min(high, below - 1)
    value: float = low if low is not None else 0 if high is None or high >= 0 else high
    value += variant
    if high is not None and value > high:
        value = high
    if low is not None and high is not None and low > high:  # a narrow open interval: its middle
        value = ((above if above is not None else low) + (below if below is not None else high)) / 2
    step = bound("multipleOf")
    if step:
        value = math.ceil(value / step) * step
    if kind == "integer":
        return math.ceil(value)
    return value


def _merge(left: Any, right: Any) -> Any:
    """Two schemas that must both hold, as one (for generating from `allOf`): properties and required joined."""
    if not isinstance(left, dict) or not isinstance(right, dict):
        if left is False or right is False:
            return False
        return right if isinstance(right, dict) else left
    out = dict(left)
    for key, value in right.items():
        if key not in out:
            out[key] = value
        elif key == "properties" and isinstance(value, dict):
            properties = dict(out[key])
            for name, sub in value.items():
                properties[name] = {"allOf": [properties[name], sub]} if name in properties else sub
            out[key] = properties
        elif key == "required" and isinstance(value, list):
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key == "type":
            mine = out[key] if isinstance(out[key], list) else [out[key]]
            theirs = value if isinstance(value, list) else [value]
            both = [kind for kind in mine if kind in theirs or (kind == "integer" and "number" in theirs)]
            both += [kind for kind in theirs if kind == "integer" and "number" in mine and kind not in both]
            if not both:
                raise NoInstance(f"types {mine} and {theirs} have nothing in common")
            out[key] = both if len(both) > 1 else both[0]
        elif key in ("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum"):
            out[key] = max(out[key], value)
        elif key in ("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum"):
            out[key] = min(out[key], value)
        elif key == "allOf":
            out[key] = [*out[key], *value]
        elif key in ("oneOf", "anyOf"):
            out["allOf"] = [*out.get("allOf", []), {key: value}]
        elif key == "enum" and isinstance(value, list):
            out[key] = [item for item in out[key] if item in value]
        else:
            out[key] = value
    return out


def instance(schema: dict[str, Any]) -> Any:
    """The smallest valid instance of a standalone schema (from `json_schema(..., "request")`).

    Examples and defaults the schema gives win when they are valid; optional properties are left out, and so
    is an optional property that recurses. Raises NoInstance when none is found.
    """
    generator = _Generator(schema)
    return generator.value({key: value for key, value in schema.items() if key != "$defs"}, ())


def is_valid(schema: dict[str, Any], value: Any) -> bool:
    return _valid(Draft202012Validator(schema), value)


def _valid(validator: Draft202012Validator, value: Any) -> bool:
    try:
        return bool(validator.is_valid(value))
    except Exception:  # a schema the validator cannot apply (a pattern Python cannot compile...): no match
        return False
