"""OpenAPI schemas as standalone JSON Schemas, and the smallest valid instance of one.

An OpenAPI 3.0 schema is not JSON Schema (`nullable`, boolean `exclusiveMinimum`, `example`), and both 3.0
and 3.1 schemas point into the rest of the document with `$ref`. A case's `json_schema` assertion needs a
schema a real validator reads on its own, so each schema is rewritten as a draft 2020-12 schema: its refs
inlined, a recursive one kept once under `$defs` (a recursive schema cannot be inlined), `nullable` turned
into a `null` type, and the direction applied (a request never requires a `readOnly` property, a response
never a `writeOnly` one). A body with no example is generated from that same schema, and kept only if the
validator accepts it, so what is sent and what is checked are read the one way.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from app.interop.content import UnreadableFile

DIALECT = "https://json-schema.org/draft/2020-12/schema"
Direction = Literal["request", "response"]
_BASE = "urn:exile:openapi"
_MAX_NODES = 5_000  # past this (or this deep) a schema keeps its refs in $defs instead of inlining them
_MAX_DEPTH = 24
_DROP = {"nullable", "discriminator", "xml", "externalDocs", "$id", "$anchor", "$dynamicAnchor", "$schema"}
_DROP |= {"$defs", "definitions"}  # reached through refs, which are resolved here, never through these
_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = (
    "items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
    "unevaluatedProperties", "unevaluatedItems", "additionalItems",
)  # fmt: skip


def location(pointer: str) -> str:
    """`#/components/schemas/Pet` as the dotted path the reports use: `components.schemas.Pet`."""
    parts = pointer.removeprefix("#").strip("/").split("/")
    return ".".join(part.replace("~1", "/").replace("~0", "~") for part in parts) or "$"


class Document:
    """The parsed document and its `$ref` lookups (RFC 6901 pointers, resolved by `referencing`)."""

    def __init__(self, root: dict[str, Any], version: Literal["3.0", "3.1"]) -> None:
        self.root = root
        self.version = version
        registry: Registry[Any] = Registry().with_resource(_BASE, Resource.opaque(root))
        self._resolver = registry.resolver(_BASE)

    def lookup(self, ref: str, where: str) -> Any:
        try:
            return self._resolver.lookup(ref).contents
        except (Unresolvable, LookupError, TypeError, ValueError):  # ValueError: a name where a list needs an index
            raise UnreadableFile(f"{where}.$ref", f"a $ref to a part of this document; {ref!r} is not there") from None

    def follow(self, node: Any, where: str) -> tuple[Any, str]:
        """A Reference Object followed to what it names (a parameter, response, body, example...)."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:
                raise UnreadableFile(f"{where}.$ref", f"a $ref that leads to an object; {ref!r} loops")
            seen.add(ref)
            node, where = self.lookup(ref, where), location(ref)
        return node, where


class _TooBig(Exception):
    """Inlining would make the schema too large or too deep: keep its refs in $defs instead."""


class _Converter:
    def __init__(self, document: Document, direction: Direction, inline: bool) -> None:
        self.document = document
        self.direction = direction
        self.inline = inline
        self.names: dict[str, str] = {}  # ref -> its name under $defs
        self.pending: list[str] = []
        self.nodes = 0

    def run(self, schema: Any, where: str) -> dict[str, Any]:
        converted = self.convert(schema, where, ())
        defs: dict[str, Any] = {}
        while self.pending:
            ref = self.pending.pop()
            defs[self.names[ref]] = self.convert(self.document.lookup(ref, where), location(ref), (ref,))
        out: dict[str, Any] = {"$schema": DIALECT}
        if isinstance(converted, bool):
            out["allOf"] = [converted]
        else:
            out.update(converted)
        if defs:
            out["$defs"] = defs
        return out

    def _def_ref(self, ref: str) -> dict[str, Any]:
        if ref not in self.names:
            base = re.sub(r"[^A-Za-z0-9_.-]", "_", location(ref).rsplit(".", 1)[-1]) or "schema"
            name, number = base, 2
            while name in self.names.values():
                name, number = f"{base}_{number}", number + 1
            self.names[ref] = name
            self.pending.append(ref)
        return {"$ref": f"#/$defs/{self.names[ref]}"}

    def convert(self, node: Any, where: str, stack: tuple[str, ...]) -> Any:
        self.nodes += 1
        if self.inline and (self.nodes > _MAX_NODES or len(stack) > _MAX_DEPTH):
            raise _TooBig
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            raise UnreadableFile(where, "a schema (an object)")
        if "$ref" in node and not isinstance(node["$ref"], str):
            raise UnreadableFile(f"{where}.$ref", "a $ref that is a string (#/components/...)")
        if isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in stack or not self.inline:
                target: Any = self._def_ref(ref)
            else:
                target = self.convert(self.document.lookup(ref, where), location(ref), (*stack, ref))
            # 3.0 ignores a ref's siblings; in 3.1 they apply beside it (a description changes nothing)
            siblings = {key: value for key, value in node.items() if key not in ("$ref", "description", "summary")}
            if self.document.version == "3.0" or not siblings:
                return target
            return {"allOf": [target, self.convert(siblings, where, stack)]}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP or key.startswith("x-"):
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: self.convert(sub, f"{where}.{key}.{name}", stack) for name, sub in value.items()}
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                out[key] = [self.convert(sub, f"{where}.{key}[{i}]", stack) for i, sub in enumerate(value)]
            elif key == "items" and isinstance(value, list):  # the old tuple form
                out["prefixItems"] = [self.convert(sub, f"{where}.items[{i}]", stack) for i, sub in enumerate(value)]
            elif key in _SCHEMA_ONE:
                out[key] = self.convert(value, f"{where}.{key}", stack)
            elif key == "example":
                out.setdefault("examples", [value])
            elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                if value and bound in node:
                    out[key] = node[bound]
            else:
                out[key] = value
        for key in ("exclusiveMinimum", "exclusiveMaximum"):  # the 3.0 form replaced its bound
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if node.get(key) is True:
                out.pop(bound, None)
        if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
            hidden = "readOnly" if self.direction == "request" else "writeOnly"
            out["required"] = [
                name for name in out["required"] if not self._flag(node.get("properties", {}).get(name), hidden, where)
            ]
        if self.document.version == "3.0" and node.get("nullable") is True:
            out = _nullable(out)
        return out

    def _flag(self, schema: Any, flag: str, where: str) -> bool:
        schema, _ = self.document.follow(schema, where)
        return isinstance(schema, dict) and schema.get(flag) is True


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """3.0's `nullable: true` in JSON Schema: null joins the type (and the enum), or the whole schema."""
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if "null" not in kinds:
            schema["type"] = [*kinds, "null"]
        return schema
    if any(key in schema for key in ("allOf", "anyOf", "oneOf", "$ref", "const")):
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def json_schema(document: Document, schema: Any, where: str, direction: Direction) -> dict[str, Any]:
    """The schema as a standalone draft 2020-12 JSON Schema (refs inlined; recursive ones under $defs)."""
    try:
        return _Converter(document, direction, inline=True).run(schema, where)
    except _TooBig:
        return _Converter(document, direction, inline=False).run(schema, where)


# ---- the smallest valid instance --------------------------------------------------------------------------------
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
