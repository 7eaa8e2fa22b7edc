"""OpenAPI schemas as standalone JSON Schemas, for a case's `json_schema` check.

An OpenAPI 3.0 schema is not JSON Schema (`nullable`, boolean `exclusiveMinimum`, `example`), and both 3.0
and 3.1 schemas point into the rest of the document with `$ref`. A case's `json_schema` assertion needs a
schema a real validator reads on its own, so each schema is rewritten as a draft 2020-12 schema: its refs
inlined, a recursive one kept once under `$defs` (a recursive schema cannot be inlined), `nullable` turned
into a `null` type, and the direction applied (a request never requires a `readOnly` property, a response
never a `writeOnly` one). A body with no example is generated from the same schema (app.interop.
openapi_instance).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from app.core.schemas import MAX_JSON_DEPTH
from app.interop.content import UnreadableFile
from app.interop.openapi_document import Document, location

DIALECT = "https://json-schema.org/draft/2020-12/schema"
Direction = Literal["request", "response"]
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
    """The schema as a standalone draft 2020-12 JSON Schema (refs inlined; recursive ones under $defs).

    Inlined, it stays under the nesting a stored value may have (MAX_JSON_DEPTH); deeper, every ref is kept
    once under $defs instead.
    """
    try:
        inlined = _Converter(document, direction, inline=True).run(schema, where)
        if _depth(inlined) <= MAX_JSON_DEPTH - 16:
            return inlined
    except _TooBig:
        pass
    return _Converter(document, direction, inline=False).run(schema, where)


def _depth(value: Any) -> int:
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, level = pending.pop()
        deepest = max(deepest, level)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        pending.extend((child, level + 1) for child in children)
    return deepest
