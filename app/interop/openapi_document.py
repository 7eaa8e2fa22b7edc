"""An OpenAPI document read, bounded and checked before anything is translated from it.

PyYAML reads it (JSON is YAML; libyaml when it is built), dates stay text, and the tree is copied into plain
JSON data within a size and depth budget (YAML aliases can expand a small file without end). Every `$ref`
must point into the document (`referencing` resolves the RFC 6901 pointers), then openapi-spec-validator,
the maintained validator of both versions, checks the rest. The first problem found is an UnreadableFile
naming its path in the document, so the import answers 422 and creates nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Literal

import yaml
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from app.interop.content import UnreadableFile

SUPPORTED = "an OpenAPI 3.0.x or 3.1.x document"
MAX_NODES = 1_000_000  # YAML aliases can expand a small file into an enormous (or endless) tree
MAX_DEPTH = 200
_BASE = "urn:exile:openapi"


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


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml when built
    """Safe YAML whose dates stay strings (`version: 2024-01-01` is text in JSON, and in OpenAPI)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(text: str) -> Any:
    if not text.strip():
        raise UnreadableFile("$", f"{SUPPORTED} (JSON or YAML), got nothing")
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UnreadableFile(f"line {exc.lineno}", f"valid JSON: {exc.msg} (column {exc.colno})") from None
        except RecursionError:
            raise UnreadableFile("$", f"JSON nested at most {MAX_DEPTH} levels deep") from None
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark else "$"
        column = f" (column {mark.column + 1})" if mark else ""
        raise UnreadableFile(where, f"valid YAML: {exc.problem or exc.context}{column}") from None
    except yaml.YAMLError as exc:
        raise UnreadableFile("$", f"valid YAML: {exc}") from None
    except RecursionError:
        raise UnreadableFile("$", f"YAML nested at most {MAX_DEPTH} levels deep") from None


def _plain(root: Any) -> Any:
    """The loaded tree as plain JSON data (string keys), bounded in size and depth, aliases expanded once."""
    budget = [MAX_NODES]

    def copy(node: Any, where: str, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise UnreadableFile("$", f"a document of at most {MAX_NODES:,} values (do YAML aliases expand it?)")
        if depth > MAX_DEPTH:
            raise UnreadableFile(where, f"nesting at most {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                name = key if isinstance(key, str) else json.dumps(key) if isinstance(key, bool) else str(key)
                out[name] = copy(value, f"{where}.{name}", depth + 1)
            return out
        if isinstance(node, list):
            return [copy(value, f"{where}[{index}]", depth + 1) for index, value in enumerate(node)]
        if node is None or isinstance(node, str | int | float | bool):
            return node
        raise UnreadableFile(where.lstrip("$."), f"JSON data, not a {type(node).__name__} (a YAML tag?)")

    return copy(root, "$", 0)


def _version(document: Any) -> Literal["3.0", "3.1"]:
    if not isinstance(document, dict):
        raise UnreadableFile("$", f"{SUPPORTED}: an object with `openapi`, `info` and `paths`")
    if "swagger" in document and "openapi" not in document:
        raise UnreadableFile(
            "swagger",
            f"{SUPPORTED}; this is Swagger {document['swagger']}: convert it to OpenAPI 3 first "
            "(for example with swagger2openapi or editor.swagger.io)",
        )
    version = document.get("openapi")
    if version is None:
        raise UnreadableFile("openapi", f"the `openapi` field giving the version ({SUPPORTED})")
    match = re.fullmatch(r"3\.([01])\.\d+(-[\w.]+)?", str(version)) if isinstance(version, str) else None
    if match is None:
        hint = " (quote it: '3.0.3')" if isinstance(version, float) else ""
        raise UnreadableFile("openapi", f"{SUPPORTED}, got {version!r}{hint}")
    return "3.0" if match[1] == "0" else "3.1"


_NAME_MAPS = {
    "properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "schemas", "responses",
    "parameters", "examples", "requestBodies", "headers", "securitySchemes", "links", "callbacks", "pathItems",
    "paths", "content", "encoding", "webhooks", "variables", "mapping", "scopes",
}  # fmt: skip
_DATA_KEYS = {"example", "default", "const", "enum", "value"}  # plain data: a `$ref` in there is not a reference


def _references(node: Any, where: str, parent: str = "") -> Iterator[tuple[str, str]]:
    """Every `$ref` of the document with its path, skipping example values (their `$ref` keys are data)."""
    if isinstance(node, dict):
        names = parent in _NAME_MAPS
        ref = node.get("$ref")
        if "$ref" in node and not names:
            if not isinstance(ref, str):
                raise UnreadableFile(f"{where}.$ref".lstrip("."), "a $ref that is a string (#/components/...)")
            yield ref, where
        for key, value in node.items():
            if not names and (key in _DATA_KEYS or key.startswith("x-")):
                continue
            yield from _references(value, f"{where}.{key}" if where else key, "" if names else key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _references(value, f"{where}[{index}]", "")


def _check_references(document: Document) -> None:
    for ref, where in _references(document.root, ""):
        if not ref.startswith("#"):
            raise UnreadableFile(
                f"{where}.$ref", f"a $ref into this document (#/...); {ref!r} names another file, which an import "
                "cannot read: bundle the document first (for example with redocly bundle)"
            )  # fmt: skip
        document.lookup(ref, where)


def _validate(document: Document) -> None:
    root = document.root
    if document.version == "3.1" and not any(key in root for key in ("paths", "webhooks", "components")):
        raise UnreadableFile("paths", "`paths` (or `webhooks` or `components`): the document describes nothing")
    validator = OpenAPIV30SpecValidator if document.version == "3.0" else OpenAPIV31SpecValidator
    try:
        error = next(iter(validator(root).iter_errors()), None)
    except (Unresolvable, LookupError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise UnreadableFile("$", f"{SUPPORTED} the validator can read ({type(exc).__name__}: {exc})") from None
    if error is None:
        return
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    message = str(error.message).splitlines()[0]
    required = re.fullmatch(r"'(.+)' is a required property|\"(.+)\" is a required property", message)
    if required:
        name = required[1] or required[2]
        raise UnreadableFile(f"{where}.{name}".lstrip("."), f"the required field `{name}`")
    if "is not valid under any of the schemas" in message:
        message = "the value matches none of the forms OpenAPI allows here"
    raise UnreadableFile(where.lstrip(".") or "$", f"a valid OpenAPI {document.version} value: {message[:300]}")


def read_document(text: str) -> Document:
    """The checked document; UnreadableFile names the first problem (its path, and what was expected)."""
    root = _plain(_load(text))
    document = Document(root, _version(root))
    _check_references(document)
    _validate(document)
    return document
