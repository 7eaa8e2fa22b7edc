"""Named boundary and negative values of a JSON Schema: what a request just inside and just outside its
documented contract looks like, each with whether a correct server must accept or refuse it.

It reads the standalone schemas app.interop.openapi_schema makes (refs under `$defs` only when recursive).
A body is varied one field at a time from a valid instance (app.interop.openapi_instance.instance, which
prefers the document's examples): each required field left out, a value of the wrong type, `null`, each
bound (minLength/maxLength, minimum/maximum, exclusiveMinimum/exclusiveMaximum, minItems/maxItems) just
inside and just outside, each enum member and a non-member, a pattern match and a miss, the empty string,
a Unicode text and an oversized one. Every variant is then checked against the whole schema with a real
validator (formats included): an "accept" variant must be valid, a "reject" one invalid, and a rejected
bound must be the only reason (still valid with that keyword removed), so its name says why it fails. A
variant that is not what it claims is dropped, never sent with a wrong expectation.

Why not hypothesis-jsonschema: it draws random *valid* instances; it gives neither "one past maxLength"
nor "the minimum minus one", and not the same values twice, which is the point here. The output is
deterministic (same schema, same variants, in the same order) and bounded (MAX_VARIANTS, taken in turn
from each field so every field is tried before any field gets its tenth variant).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema import Draft202012Validator

from app.engine.checks import json_type
from app.interop.openapi_instance import NoInstance, instance

Expect = Literal["accept", "reject"]
Location = Literal["body", "query", "path", "header"]
MAX_VARIANTS = 60
MAX_ENUM_MEMBERS = 8
_MAX_TEXT = {"body": 10_000, "query": 4_000, "path": 1_000, "header": 1_000}  # a generated text is never longer
_MAX_ITEMS = 100
_MAX_DEPTH = 4  # nested objects varied this deep
_NUMBER_STEP = 0.01  # "just outside" a bound of a `number` (an `integer` steps by 1)
_UNICODE = ("Zoë Ünïcødé 東京 ✓", "Zoë", "é")
_MISSES = ("!", "no match ~", "0", "a", "")  # texts tried for a pattern miss, the first that misses
_FILLS = ("x", "a", "0")
_PATH_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$'()*+,;=:@")
_WRONG = {"string": {"not": "a string"}, "integer": "abc", "number": "abc", "boolean": "maybe", "null": 0}
_WRONG |= {"object": "not an object", "array": "not an array"}
_TEXT_TYPES = ("integer", "number", "boolean")  # the only types a text-borne parameter can get wrong
_FORMATS = Draft202012Validator.FORMAT_CHECKER
_MISSING = object()


@dataclass(frozen=True)
class Variant:
    """One value to send, what a correct server does with it, and why."""

    name: str
    value: Any
    expect: Expect
    why: str


def body_variants(schema: dict[str, Any], base: Any = None, limit: int = MAX_VARIANTS) -> list[Variant]:
    """Variants of a JSON body, one field changed at a time from `base` (if valid) or a minimal instance."""
    return _Builder(schema, "body", "body").run(base, limit)


def parameter_variants(
    schema: dict[str, Any], location: Location, name: str, base: Any = None, limit: int = MAX_VARIANTS
) -> list[Variant]:
    """Variants of one parameter's value. It travels as text: no `null`, no missing value (a template always
    sends one); a path only gets values a correct server refuses (any other id may name nothing) and its enum
    members; path and header values stay printable ASCII."""
    return _Builder(schema, location, f"{location}.{name}").run(base, limit)


def interleave(groups: Iterable[Sequence[Variant]], limit: int = MAX_VARIANTS) -> list[Variant]:
    """At most `limit` variants, taken in turn from each group (first of each, then second...)."""
    pending = [list(group) for group in groups]
    out: list[Variant] = []
    index = 0
    while len(out) < limit and any(index < len(group) for group in pending):
        out.extend(group[index] for group in pending if index < len(group))
        index += 1
    return out[:limit]


class _Builder:
    def __init__(self, schema: dict[str, Any], location: Location, label: str) -> None:
        self.root = schema
        self.defs: dict[str, Any] = schema.get("$defs", {}) if isinstance(schema.get("$defs"), dict) else {}
        self.location = location
        self.label = label
        self.max_text = _MAX_TEXT[location]
        self.validator = Draft202012Validator(schema, format_checker=_FORMATS)
        self.groups: dict[str, list[Variant]] = {}
        self.seen: set[str] = set()

    # -- checking ------------------------------------------------------------------------------------------------
    def valid(self, value: Any) -> bool | None:
        """Whether the whole value is valid; None when the validator cannot tell (a pattern it cannot compile)."""
        try:
            return bool(self.validator.is_valid(value))
        except Exception:
            return None

    def valid_as(self, schema: Any, value: Any) -> bool | None:
        standalone = {"$defs": self.defs, "allOf": [schema]} if self.defs else schema
        try:
            return bool(Draft202012Validator(standalone, format_checker=_FORMATS).is_valid(value))
        except Exception:
            return None

    def resolve(self, schema: Any) -> Any:
        seen: set[str] = set()
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"] not in seen:
            seen.add(schema["$ref"])
            target = self.defs.get(schema["$ref"].removeprefix("#/$defs/"), True)
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            schema = {"allOf": [target, siblings]} if siblings else target
        return schema

    def flat(self, schema: Any, depth: int = 0) -> dict[str, Any]:
        """The keywords that constrain a value: `allOf` merged, a choice read as its first alternative that is
        not `null` (`[X, null]` is X). Only used to propose candidates: the validator has the last word."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict) or depth > 8:
            return {}
        out = {key: value for key, value in schema.items() if key not in ("allOf", "anyOf", "oneOf", "$defs")}
        for part in schema.get("allOf") or []:
            out = _merge(out, self.flat(part, depth + 1))
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list):
                real = [
                    flat for flat in (self.flat(option, depth + 1) for option in options) if flat.get("type") != "null"
                ]
                if real:
                    out = _merge(out, real[0])
        return out

    # -- building ------------------------------------------------------------------------------------------------
    def run(self, base: Any, limit: int) -> list[Variant]:
        if base is None or not self.valid(base):
            try:
                base = instance(self.root)
            except NoInstance:
                return []
            if not self.valid(base):
                return []  # no valid starting point: nothing could be varied one thing at a time
        self.vary(base, (), self.root, depth=0)
        return interleave(self.groups.values(), limit)

    def add(self, path: tuple[str, ...], value: Any, expect: Expect, what: str, why: str) -> bool:
        """Kept unless the same field already has a variant with this value (the same request twice)."""
        key = _key([path, "(missing)" if _get(value, path) is _MISSING else _get(value, path)])
        if key in self.seen:
            return True  # already covered by an earlier variant
        self.seen.add(key)
        label = ".".join((self.label, *path))
        self.groups.setdefault(label, []).append(Variant(f"{label}: {what}"[:200], value, expect, why))
        return True

    def offer(
        self,
        base: Any,
        path: tuple[str, ...],
        field: Any,
        claim: Expect | None,
        what: str,
        why: str | tuple[str, str],
        without: dict[str, Any] | None = None,
        member: bool = False,
    ) -> bool:
        """A candidate for the value at `path`, kept when the validator agrees with its claim (a claim of None
        takes the validator's verdict). A refused one with `without` (the field's keywords less the one it
        breaks) must be valid against that: refused for that reason alone, so its name says why."""
        if field is not _MISSING and not self.sendable(field):
            return False
        whole = _replace(base, path, field)
        verdict = self.valid(whole)
        if verdict is None:
            return False
        expect: Expect = claim or ("accept" if verdict else "reject")
        if verdict != (expect == "accept"):
            return False
        if expect == "reject" and without is not None and not self.valid_as(without, field):
            return False
        if self.location == "path" and expect == "accept" and not member:
            return False  # another id than the documented one may name nothing: a 404 is no bug
        if isinstance(why, tuple):  # a probe: why it is accepted, or why refused, as the validator found
            why = why[0] if expect == "accept" else why[1]
        return self.add(path, whole, expect, what, why)

    def sendable(self, value: Any) -> bool:
        if self.location == "body":
            return True
        if value is None or isinstance(value, dict | list):
            return False
        if self.location == "path":
            return isinstance(value, int | float) or (bool(value) and set(str(value)) <= _PATH_SAFE)
        if self.location == "header":
            return bool(str(value)) and all(" " <= char <= "~" for char in str(value))
        return True

    def vary(self, base: Any, path: tuple[str, ...], schema: Any, depth: int) -> None:
        flat = self.flat(schema)
        current = _get(base, path)
        self.common(base, path, flat)
        kinds = set(_declared(flat)) or {json_type(current)}
        if "object" in kinds and isinstance(current, dict) and depth < _MAX_DEPTH:
            self.object(base, path, flat, depth)
        if "string" in kinds and isinstance(current, str):
            self.string(base, path, flat, current)
        if kinds & {"integer", "number"} and _is_number(current):
            self.number(base, path, flat, current, "number" if "number" in kinds else "integer")
        if "array" in kinds and isinstance(current, list):
            self.array(base, path, flat, current)

    def common(self, base: Any, path: tuple[str, ...], flat: dict[str, Any]) -> None:
        kinds = _declared(flat)
        # a parameter travels as text: only a number or a boolean can be sent as the wrong type
        if kinds and (self.location == "body" or all(kind in _TEXT_TYPES for kind in kinds)):
            wrong = _WRONG.get(kinds[0], _MISSING)
            if wrong is not _MISSING:
                without = {key: value for key, value in flat.items() if key not in ("type", "enum", "const")}
                why = f"the type is {' or '.join(kinds)}: {json.dumps(wrong)} must be refused"
                self.offer(base, path, wrong, "reject", f"wrong type ({json_type(wrong)})", why, without)
        if self.location == "body":
            self.offer(base, path, None, None, "null", ("the schema allows null", "the schema does not allow null"))
        members = flat.get("enum")
        if isinstance(members, list) and members:
            for member in members[:MAX_ENUM_MEMBERS]:
                self.offer(
                    base, path, member, "accept", f"enum {json.dumps(member)}", "a documented member", member=True
                )
            without = {key: value for key, value in flat.items() if key != "enum"}
            why = f"not one of {json.dumps(members)[:120]}"
            for other in _non_members(members):
                self.offer(base, path, other, "reject", "not in enum", why, without)

    def object(self, base: Any, path: tuple[str, ...], flat: dict[str, Any], depth: int) -> None:
        given = flat.get("properties")
        properties: dict[str, Any] = given if isinstance(given, dict) else {}
        required = [name for name in flat.get("required") or [] if isinstance(name, str)]
        for name in required:
            why = f"'{name}' is required: without it the request must be refused"
            self.offer(base, (*path, name), _MISSING, "reject", "missing (required)", why)
        for name, sub in properties.items():
            if _flag(self.resolve(sub), "readOnly"):
                continue
            start = base
            if name not in _get(base, path):  # an optional field: given a valid value first, then varied
                start = self.present(base, (*path, name), sub)
                if start is None:
                    continue
                self.add((*path, name), start, "accept", "present (optional)", f"'{name}' may be given")
            elif _get(base, path)[name] is None:  # a null has no bounds: varied from a value where there is one
                given = self.present(base, (*path, name), sub)
                start = base if given is None else given
            self.vary(start, (*path, name), sub, depth + 1)

    def present(self, base: Any, path: tuple[str, ...], schema: Any) -> Any:
        """`base` with a valid value at `path`: not null when it may be something else (null has no bounds)."""
        flat = {key: value for key, value in self.flat(schema).items() if key not in ("default", "examples")}
        for source in (flat, schema):
            try:
                whole = _replace(base, path, instance({"$defs": self.defs, "allOf": [source]}))
            except NoInstance:
                continue
            if self.valid(whole):
                return whole
        return None

    def string(self, base: Any, path: tuple[str, ...], flat: dict[str, Any], current: str) -> None:
        low, high = _int(flat.get("minLength")), _int(flat.get("maxLength"))
        # A format no checker knows (password, byte...) may break unseen when the text changes: only refusals.
        free = not isinstance(flat.get("format"), str) or flat["format"] in _FORMATS.checkers
        most = self.max_text

        def sized(length: int, fill: str) -> str:
            return current[:length] if len(current) >= length else current + fill * (length - len(current))

        def bound(keyword: str, inside: int, outside: int | None, sign: str) -> None:
            without = {key: value for key, value in flat.items() if key != keyword}
            given = _shown(flat[keyword])
            if free and inside <= most:
                why = f"{keyword} is {given}: {inside} characters are allowed"
                for fill in _FILLS:
                    if self.offer(base, path, sized(inside, fill), "accept", f"{keyword} {given} (just inside)", why):
                        break
            if outside is not None and 0 <= outside <= most:
                what, why = (
                    f"{keyword} {given} {sign} 1 (just outside)",
                    f"{keyword} is {given}: {outside} must be refused",
                )
                for fill in _FILLS:
                    if self.offer(base, path, sized(outside, fill), "reject", what, why, without):
                        break

        if low is not None:
            bound("minLength", low, low - 1 if low > 0 else None, "-")
        if high is not None:
            bound("maxLength", high, high + 1, "+")
            big = min(max(high * 10, 1_000), most)
            if big > high + 1 and self.location in ("body", "query"):
                why = f"maxLength is {high}: a text of {big} characters must be refused"
                self.offer(base, path, sized(big, "x"), "reject", f"oversized ({big} characters)", why)
        pattern = flat.get("pattern")
        if isinstance(pattern, str):
            self.pattern(base, path, flat, pattern, free)
        if free and self.location in ("body", "query"):
            self.offer(
                base,
                path,
                "",
                None,
                "empty string",
                (
                    "the schema allows an empty text",
                    "the schema refuses an empty text (minLength, pattern, enum or format)",
                ),
            )
            for text in _UNICODE:
                text = _padded(text[:high] if high is not None else text, low or 0, "é")
                if self.offer(base, path, text, "accept", "unicode", "non-ASCII text the schema allows"):
                    break

    def pattern(self, base: Any, path: tuple[str, ...], flat: dict[str, Any], pattern: str, free: bool) -> None:
        if free:
            generated = {key: value for key, value in flat.items() if key not in ("examples", "default", "enum")}
            try:
                match = instance({"$defs": self.defs, "allOf": [generated]})
            except NoInstance:
                match = None
            if isinstance(match, str):
                self.offer(base, path, match, "accept", "pattern match", f"matches {pattern}")
        without = {key: value for key, value in flat.items() if key != "pattern"}
        low = _int(flat.get("minLength")) or 0
        for miss in _MISSES:
            if self.offer(
                base, path, _padded(miss, low), "reject", "pattern miss", f"does not match {pattern}", without
            ):
                break

    def number(self, base: Any, path: tuple[str, ...], flat: dict[str, Any], current: float, kind: str) -> None:
        step: int | float = 1 if kind == "integer" else _NUMBER_STEP

        def tidy(value: float) -> int | float:
            return int(value) if kind == "integer" or float(value).is_integer() else round(value, 10)

        def pair(keyword: str, inside: float, outside: float, sign: str) -> None:
            without = {key: value for key, value in flat.items() if key != keyword}
            given = _shown(flat[keyword])
            self.offer(base, path, tidy(inside), "accept", f"{keyword} {given} (just inside)", f"{keyword} is {given}")
            what = f"{keyword} {given} {sign} {step} (just outside)" if sign else f"{keyword} {given} (just outside)"
            why = f"{keyword} is {given}: {tidy(outside)} must be refused"
            self.offer(base, path, tidy(outside), "reject", what, why, without)

        lows: list[float] = []
        if _is_number(flat.get("minimum")):
            low = math.ceil(flat["minimum"]) if kind == "integer" else flat["minimum"]
            pair("minimum", low, low - step, "-")
            lows.append(flat["minimum"])
        if _is_number(flat.get("exclusiveMinimum")):
            edge = flat["exclusiveMinimum"]
            if kind == "integer":
                pair("exclusiveMinimum", math.floor(edge) + 1, math.floor(edge), "")
            else:
                pair("exclusiveMinimum", edge + step, edge, "")
            lows.append(edge)
        if _is_number(flat.get("maximum")):
            high = math.floor(flat["maximum"]) if kind == "integer" else flat["maximum"]
            pair("maximum", high, high + step, "+")
        if _is_number(flat.get("exclusiveMaximum")):
            edge = flat["exclusiveMaximum"]
            if kind == "integer":
                pair("exclusiveMaximum", math.ceil(edge) - 1, math.ceil(edge), "")
            else:
                pair("exclusiveMaximum", edge - step, edge, "")
        if lows and min(lows) >= 0:  # a sign check is not a bound check: code may have one and not the other
            without = {key: value for key, value in flat.items() if key not in ("minimum", "exclusiveMinimum")}
            why = f"nothing below {_shown(max(lows))} is allowed: a negative value must be refused"
            self.offer(base, path, -1, "reject", "below zero (-1)", why, without)
        factor: Any = flat.get("multipleOf")
        if _is_number(factor) and factor > 0 and not (kind == "integer" and factor == 1):
            odd = tidy(current + (1 if kind == "integer" and factor % 2 else factor / 2))
            without = {key: value for key, value in flat.items() if key != "multipleOf"}
            why = f"values must be a multiple of {_shown(factor)}"
            self.offer(base, path, odd, "reject", f"not a multiple of {_shown(factor)}", why, without)

    def array(self, base: Any, path: tuple[str, ...], flat: dict[str, Any], current: list[Any]) -> None:
        try:
            filler = instance({"$defs": self.defs, "allOf": [flat.get("items", True)]})
        except NoInstance:
            return

        def sized(length: int) -> list[Any]:
            return current[:length] if len(current) >= length else current + [filler] * (length - len(current))

        for keyword, sign in (("minItems", -1), ("maxItems", 1)):
            given = _int(flat.get(keyword))
            if given is None or given > _MAX_ITEMS:
                continue
            without = {key: value for key, value in flat.items() if key != keyword}
            self.offer(base, path, sized(given), "accept", f"{keyword} {given} (just inside)", f"{keyword} is {given}")
            if given + sign >= 0:
                what = f"{keyword} {given} {'-' if sign < 0 else '+'} 1 (just outside)"
                why = f"{keyword} is {given}: {given + sign} items must be refused"
                self.offer(base, path, sized(given + sign), "reject", what, why, without)


# ---- plain helpers -----------------------------------------------------------------------------------------------
def _padded(text: str, length: int, fill: str = "x") -> str:
    return text + fill * max(length - len(text), 0)


def _shown(number: Any) -> Any:
    """A bound as a person writes it: 18, not 18.0 (FastAPI's documents give integers' bounds as floats)."""
    return int(number) if isinstance(number, float) and number.is_integer() else number


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _int(value: Any) -> int | None:
    return int(value) if _is_number(value) and value >= 0 else None


def _flag(schema: Any, flag: str) -> bool:
    return isinstance(schema, dict) and schema.get(flag) is True


def _declared(flat: dict[str, Any]) -> list[str]:
    kinds = flat.get("type")
    listed = kinds if isinstance(kinds, list) else [kinds] if isinstance(kinds, str) else []
    return [kind for kind in listed if kind != "null"]


def _non_members(members: list[Any]) -> list[Any]:
    """Values of the members' own type that are not members (a string next to strings, a number next to numbers)."""
    texts = [member for member in members if isinstance(member, str)]
    numbers = [member for member in members if _is_number(member)]
    out: list[Any] = []
    if texts:
        out += [text for text in ("not-a-member", f"{texts[0]}-x", "x") if text not in members][:1]
    if numbers:
        out.append(max(numbers) + 1)
    return out


def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Two sets of keywords that both hold: the tighter bound wins, properties and required are joined."""
    out = dict(left)
    for key, value in right.items():
        if key not in out:
            out[key] = value
        elif key in ("minimum", "minLength", "minItems", "exclusiveMinimum") and _is_number(value):
            out[key] = max(out[key], value)
        elif key in ("maximum", "maxLength", "maxItems", "exclusiveMaximum") and _is_number(value):
            out[key] = min(out[key], value)
        elif key == "properties" and isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = {**value, **out[key]}
        elif key == "required" and isinstance(value, list) and isinstance(out[key], list):
            out[key] = list(dict.fromkeys([*out[key], *value]))
    return out


def _get(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
    return value


def _replace(value: Any, path: tuple[str, ...], field: Any) -> Any:
    """A copy of `value` with the field at `path` set (or removed, for _MISSING); the rest shared."""
    if not path:
        return field
    copy = dict(value)
    head, rest = path[0], path[1:]
    if rest:
        copy[head] = _replace(copy.get(head, {}), rest, field)
    elif field is _MISSING:
        copy.pop(head, None)
    else:
        copy[head] = field
    return copy
