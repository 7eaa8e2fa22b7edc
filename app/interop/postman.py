"""A Postman collection (v2.0/v2.1) becomes cases and scenarios; a Postman environment becomes an environment.

Every request is a case; folders are flattened in Newman's order (depth first) and their names kept as the
case's tags; the whole collection is one scenario (key "collection") and each top-level folder one more.
Auth is inherited from folder and collection as Postman does (`noauth` stops it). Scripts are read line by
line: the common `pm.*` and legacy `tests[...]` patterns become native assertions, extractors and `set`
processors; every other meaningful line is listed as not translated with its location, never dropped.
Lines that are only structure (`pm.test("x", function () {`, `});`, blanks, comments) are not listed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError

from app.engine.masking import MIN_SECRET_LENGTH
from app.engine.specs import (
    HEADER_NAME,
    VARIABLE_NAME,
    Assertion,
    Extractor,
    SetProcessor,
    check_jsonpath,
    check_regex,
)
from app.interop.content import (
    CaseContent,
    EnvironmentContent,
    ProjectContent,
    ScenarioContent,
    StepContent,
    UnreadableFile,
    add_query_value,
)

SCHEMAS = {
    "v2.0.0": "https://schema.getpostman.com/json/collection/v2.0.0/collection.json",
    "v2.1.0": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
}
_SECRET_WORDS = {
    "password", "passwd", "pwd", "pass", "passphrase", "token", "secret", "key", "apikey", "credential",
    "credentials", "private", "auth", "authorization", "bearer", "jwt", "cookie", "session", "signature",
}  # fmt: skip


def _looks_secret(key: str) -> bool:
    """`password`, `api_key`, `clientSecret`, `X-Api-Key`, `accessToken`: a word of the key names a secret."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", key)
    joined = key.lower().replace("-", "").replace("_", "")
    return any(word.lower() in _SECRET_WORDS for word in words) or joined in _SECRET_WORDS


# ---- collection ------------------------------------------------------------------------------------------------
def parse(text: str) -> ProjectContent:
    """Cases and scenarios from a collection; raises UnreadableFile naming the first problem."""
    document = _json(text)
    if not isinstance(document, dict):
        raise UnreadableFile("$", "a Postman collection (a JSON object with `info` and `item`)")
    info = document.get("info")
    if not isinstance(info, dict):
        hint = " (this looks like a v1 collection: export it again as v2.1)" if "requests" in document else ""
        raise UnreadableFile("info", f"the collection's `info` object{hint}")
    schema = str(info.get("schema", ""))
    if not any(version in schema for version in SCHEMAS):
        raise UnreadableFile("info.schema", f"{SCHEMAS['v2.1.0']} or {SCHEMAS['v2.0.0']}, got {schema!r}")
    items = document.get("item")
    if not isinstance(items, list):
        raise UnreadableFile("item", "a list of requests and folders")
    reader = _Reader(ProjectContent(kind="postman"))
    root = _Scope(auth=document.get("auth"), events=_events(document.get("event"), "event", reader.content))
    variables = _variables(document.get("variable"), "variable", reader.content)
    whole = reader.items(items, "item", root, [])
    name = str(info.get("name") or "").strip()[:200] or "Postman collection"
    description = _text(info.get("description"))[:20_000]
    reader.content.scenarios.append(_scenario("collection", name, description, variables, whole))
    for index, item in enumerate(items):
        if isinstance(item, dict) and "request" not in item:
            keys = [key for key in whole if key.startswith(f"item[{index}].")]
            folder = str(item.get("name") or "").strip()[:200] or f"folder {index}"
            reader.content.scenarios.append(_scenario(f"item[{index}]", folder, "", variables, keys))
    return reader.content


def _scenario(key: str, name: str, description: str, variables: dict[str, Any], cases: list[str]) -> ScenarioContent:
    return ScenarioContent(
        key=key,
        name=name,
        description=description,
        variables=variables,
        steps=[StepContent(case=case) for case in cases],
    )


@dataclass
class _Scope:
    """What a folder hands its children: the auth in force and the scripts that run around each request."""

    auth: Any = None
    events: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (listen, location, lines)
    tags: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, content: ProjectContent) -> None:
        self.content = content
        self.reported: set[str] = set()  # script lines of folders are reported once, not once per request

    def items(self, items: list[Any], where: str, scope: _Scope, tags: list[str]) -> list[str]:
        keys: list[str] = []
        for index, item in enumerate(items):
            location = f"{where}[{index}]"
            if not isinstance(item, dict):
                raise UnreadableFile(location, "a request or a folder (an object)")
            if "request" in item:
                if (key := self.request(item, location, scope, tags)) is not None:
                    keys.append(key)
            elif isinstance(item.get("item"), list):
                inner = _Scope(
                    auth=_own_auth(item.get("auth"), scope.auth),
                    events=scope.events + _events(item.get("event"), f"{location}.event", self.content),
                )
                name = str(item.get("name") or f"folder {index}").strip()[:64] or f"folder {index}"
                keys += self.items(item["item"], f"{location}.item", inner, [*tags, name])
            else:
                raise UnreadableFile(location, "a request (`request`) or a folder (`item`)")
        return keys

    def request(self, item: dict[str, Any], where: str, scope: _Scope, tags: list[str]) -> str | None:
        content = self.content
        request = item["request"]
        if isinstance(request, str):  # v2.0 allows a bare URL
            request = {"url": request, "method": "GET"}
        if not isinstance(request, dict):
            raise UnreadableFile(f"{where}.request", "a request object or a URL")
        method = str(request.get("method") or "GET").upper()
        url, query = _url(request.get("url"), f"{where}.request.url", content)
        headers = _headers(request.get("header"), f"{where}.request.header", content)
        body = _body(request.get("body"), f"{where}.request.body", headers, content)
        auth = _auth(_own_auth(request.get("auth"), scope.auth), f"{where}.request.auth", content)
        checks = _Checks()
        events = scope.events + _events(item.get("event"), f"{where}.event", content)
        for listen, location, lines in events:
            checks.aliases = {}  # each script is its own JavaScript scope
            for number, line in enumerate(lines):
                line_where = f"{location}.script.exec[{number}]"
                reason = checks.line(line, listen)
                if reason and line_where not in self.reported:
                    self.reported.add(line_where)
                    content.skip(line_where, line, reason)
        examples = item.get("response")
        if isinstance(examples, list) and examples:
            content.skip(f"{where}.response", f"{len(examples)} saved example(s)", "saved examples are not imported")
        follow = True
        behaviour = item.get("protocolProfileBehavior")
        if isinstance(behaviour, dict):
            for option, setting in behaviour.items():
                if option == "followRedirects" and isinstance(setting, bool):
                    follow = setting
                elif option != "disableBodyPruning":  # a GET's body is always sent here
                    content.skip(
                        f"{where}.protocolProfileBehavior.{option}", setting, "a request setting not supported"
                    )
        name = str(item.get("name") or f"{method} {url}").strip()[:200] or method
        description = _text(item.get("description") or request.get("description"))[:20_000]
        try:
            case = CaseContent(
                key=where,
                name=name,
                description=description,
                method=method,
                url=url,
                headers=headers,
                query=query,
                body=body,
                auth=auth,
                assertions=checks.assertions,
                extractors=checks.extractors,
                pre_processors=checks.pre,
                post_processors=checks.post,
                tags=tags,
                follow_redirects=follow,
            )
        except ValidationError as exc:  # a URL Exile cannot send, say: this request is left out, and said so
            first = exc.errors()[0]
            field_name = ".".join(str(part) for part in first["loc"])
            content.skip(where, f"{method} {url}", f"not a valid case ({field_name}: {first['msg']}): left out")
            return None
        content.cases.append(case)
        return where


def _json(text: str) -> Any:
    if not text.strip():
        raise UnreadableFile("$", "a JSON document, got nothing")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UnreadableFile("$", f"JSON: {exc}") from None


def _text(value: Any) -> str:
    if isinstance(value, dict):  # {"content": "...", "type": "text/markdown"}
        value = value.get("content")
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pairs(value: Any, where: str, content: ProjectContent, what: str) -> list[tuple[str, Any]]:
    """Postman's [{key, value, disabled}] lists; disabled entries are reported, not kept."""
    pairs: list[tuple[str, Any]] = []
    for index, entry in enumerate(value if isinstance(value, list) else []):
        if not isinstance(entry, dict) or not str(entry.get("key") or "").strip():
            if entry not in (None, {}):
                content.skip(f"{where}[{index}]", json.dumps(entry)[:2000], f"a {what} without a key")
            continue
        if entry.get("disabled") or entry.get("enabled") is False:
            content.skip(f"{where}[{index}]", f"{entry['key']}: {entry.get('value', '')}", f"a disabled {what}")
            continue
        pairs.append((str(entry["key"]).strip(), entry.get("value", "")))
    return pairs


def _variables(value: Any, where: str, content: ProjectContent) -> dict[str, Any]:
    variables = {}
    for key, val in _pairs(value, where, content, "variable"):
        if len(key) > 128:
            content.skip(where, key, "a variable name longer than 128 characters")
        else:
            variables[key] = val
    return variables


def _events(value: Any, where: str, content: ProjectContent) -> list[tuple[str, str, list[str]]]:
    events = []
    for event in value if isinstance(value, list) else []:
        if not isinstance(event, dict):
            continue
        listen = str(event.get("listen", ""))
        script: dict[str, Any] = event["script"] if isinstance(event.get("script"), dict) else {}
        lines = script.get("exec", [])
        lines = lines.splitlines() if isinstance(lines, str) else [str(line) for line in _list(lines)]
        location = f"{where}[{listen}]"
        if listen not in ("test", "prerequest"):
            content.skip(location, listen, "only test and prerequest scripts run around a request")
        elif event.get("disabled"):
            content.skip(location, listen, "a disabled script")
        else:
            events.append((listen, location, lines))
    return events


# ---- request parts ---------------------------------------------------------------------------------------------
_PATH_VARIABLE = re.compile(r"(?<=/):([A-Za-z_][A-Za-z0-9_-]*)")
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")


def _url(value: Any, where: str, content: ProjectContent) -> tuple[str, dict[str, Any]]:
    query: dict[str, Any] = {}
    path_values: dict[str, Any] = {}
    if isinstance(value, dict):
        raw = value.get("raw")
        if not isinstance(raw, str) or not raw:
            raw = _url_from_parts(value)
        base = raw.split("#", 1)[0].split("?", 1)[0]
        if "query" in value:
            for key, val in _pairs(value.get("query"), f"{where}.query", content, "query parameter"):
                add_query_value(query, key, "" if val is None else str(val))
        else:
            _query_from_text(raw, query)
        for key, val in _pairs(value.get("variable"), f"{where}.variable", content, "path variable"):
            path_values[key] = val
    elif isinstance(value, str) and value.strip():
        base = value.strip().split("#", 1)[0].split("?", 1)[0]
        _query_from_text(value.strip(), query)
    else:
        raise UnreadableFile(where, "a URL (a string or an object with `raw`)")
    base = base.strip()
    if not base:
        raise UnreadableFile(where, "a URL, got an empty one")

    def path_variable(match: re.Match[str]) -> str:
        given = path_values.get(match[1])
        return str(given) if given not in (None, "") else "{{" + match[1] + "}}"

    base = _PATH_VARIABLE.sub(path_variable, base)
    if not base.startswith(("{{", "/")) and "://" not in base:
        base = "http://" + base  # Postman's own default
    outside = _TEMPLATE.split(base)
    if any(" " in part for part in outside):
        base = "".join(
            part.replace(" ", "%20") + (template or "")
            for part, template in zip(outside, [*_TEMPLATE.findall(base), None], strict=True)
        )
    return base, query


def _url_from_parts(value: dict[str, Any]) -> str:
    host = value.get("host", "")
    host = ".".join(str(part) for part in host) if isinstance(host, list) else str(host or "")
    path = value.get("path", "")
    path = "/".join(str(part) for part in path) if isinstance(path, list) else str(path or "")
    port = f":{value['port']}" if value.get("port") else ""
    protocol = f"{value['protocol']}://" if value.get("protocol") else ""
    return f"{protocol}{host}{port}/{path.lstrip('/')}" if path else f"{protocol}{host}{port}"


def _query_from_text(url: str, query: dict[str, Any]) -> None:
    if "?" in url:
        for key, val in parse_qsl(url.split("#", 1)[0].split("?", 1)[1], keep_blank_values=True):
            add_query_value(query, key, val)


def _headers(value: Any, where: str, content: ProjectContent) -> dict[str, str]:
    if isinstance(value, str):  # v2.0 may hold "Name: value" lines
        value = [
            {"key": name.strip(), "value": val.strip()}
            for name, _, val in (line.partition(":") for line in value.splitlines() if line.strip())
        ]
    headers: dict[str, str] = {}
    for index, (key, val) in enumerate(_pairs(value, where, content, "header")):
        if not HEADER_NAME.match(key):
            content.skip(f"{where}[{index}]", f"{key}: {val}", "not a valid HTTP header name")
            continue
        headers[key] = "" if val is None else str(val)
    return headers


def _content_type(headers: dict[str, str]) -> str:
    return next((val for key, val in headers.items() if key.lower() == "content-type"), "")


def _drop_content_type(headers: dict[str, str]) -> None:
    for key in [key for key in headers if key.lower() == "content-type"]:
        del headers[key]


def _body(value: Any, where: str, headers: dict[str, str], content: ProjectContent) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("disabled"):
        return {"mode": "none"}
    mode = value.get("mode")
    if mode == "raw":
        raw = value.get("raw")
        raw = raw if isinstance(raw, str) else ""
        if not raw:
            return {"mode": "none"}
        options: dict[str, Any] = value["options"] if isinstance(value.get("options"), dict) else {}
        language = options["raw"].get("language") if isinstance(options.get("raw"), dict) else None
        content_type = _content_type(headers)
        if language == "json" or "json" in content_type.lower():
            try:
                parsed = json.loads(raw)
            except ValueError:  # templates outside strings (`"qty": {{qty}}`): sent as it is written
                return {"mode": "raw", "content": raw, "content_type": content_type or "application/json"}
            if not content_type or content_type.lower().split(";")[0].strip() == "application/json":
                _drop_content_type(headers)
                return {"mode": "json", "content": parsed}
        return {"mode": "raw", "content": raw, "content_type": content_type or None}
    if mode in ("urlencoded", "formdata"):
        fields: dict[str, str] = {}
        for index, entry in enumerate(_list(value.get(mode))):
            location = f"{where}.{mode}[{index}]"
            if not isinstance(entry, dict) or not str(entry.get("key") or ""):
                continue
            entry = {**entry, "key": str(entry["key"])}
            if entry.get("disabled"):
                content.skip(location, f"{entry['key']}={entry.get('value', '')}", "a disabled field")
            elif entry.get("type") == "file":
                content.skip(location, f"{entry['key']}=@{entry.get('src', '')}", "a file field: not supported")
            elif entry["key"] in fields:
                content.skip(location, f"{entry['key']}={entry.get('value', '')}", "a repeated field name")
            else:
                fields[str(entry["key"])] = "" if entry.get("value") is None else str(entry.get("value"))
        _drop_content_type(headers)
        if not fields:
            return {"mode": "none"}
        return {"mode": "urlencoded" if mode == "urlencoded" else "form", "content": fields}
    if mode == "graphql":
        graphql: dict[str, Any] = value["graphql"] if isinstance(value.get("graphql"), dict) else {}
        query = str(graphql.get("query") or "")
        variables = graphql.get("variables") or "{}"
        _drop_content_type(headers)
        if not isinstance(variables, str):
            return {"mode": "json", "content": {"query": query, "variables": variables}}
        try:
            return {"mode": "json", "content": {"query": query, "variables": json.loads(variables or "{}")}}
        except ValueError:  # templates outside strings: the text is kept as written
            text = '{"query": ' + json.dumps(query) + ', "variables": ' + variables + "}"
            return {"mode": "raw", "content": text, "content_type": "application/json"}
    if mode in (None, "none"):
        return {"mode": "none"}
    content.skip(f"{where}.mode", mode, f"body mode '{mode}' is not supported")
    return {"mode": "none"}


def _own_auth(own: Any, inherited: Any) -> Any:
    """A request's or folder's auth; none given or `inherit` takes the parent's (`noauth` stops it)."""
    if own is None or (isinstance(own, dict) and own.get("type") in (None, "inherit")):
        return inherited
    return own


def _auth_values(auth: dict[str, Any], kind: str) -> dict[str, Any]:
    values = auth.get(kind)
    if isinstance(values, dict):  # v2.0: {"token": "..."}
        return values
    if isinstance(values, list):  # v2.1: [{"key": "token", "value": "..."}]
        return {str(entry.get("key")): entry.get("value") for entry in values if isinstance(entry, dict)}
    return {}


def _auth(auth: Any, where: str, content: ProjectContent) -> dict[str, Any]:
    if not isinstance(auth, dict) or auth.get("type") in (None, "noauth", "inherit"):
        return {"type": "none"}
    kind = str(auth["type"])
    values = _auth_values(auth, kind)
    if kind == "bearer" and values.get("token"):
        return {"type": "bearer", "token": str(values["token"])}
    if kind == "basic":
        return {
            "type": "basic",
            "username": str(values.get("username") or ""),
            "password": str(values.get("password") or ""),
        }
    if kind == "apikey" and values.get("key"):
        placement = "query" if values.get("in") == "query" else "header"
        return {"type": "api_key", "key": str(values["key"]), "value": str(values.get("value") or ""), "in": placement}
    reason = f"auth type '{kind}' is not supported: set the header by hand"
    if kind in ("bearer", "apikey"):
        reason = f"auth type '{kind}' without its token or key"
    content.skip(where, f"auth type {kind}", reason)  # its values (passwords) stay out of the report
    return {"type": "none"}


# ---- scripts ---------------------------------------------------------------------------------------------------
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


class _Checks:
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


# ---- environment -----------------------------------------------------------------------------------------------
def parse_environment(text: str) -> ProjectContent:
    """An environment from a Postman environment file; secret-looking values become secret variables."""
    document = _json(text)
    if not isinstance(document, dict) or not isinstance(document.get("values"), list):
        raise UnreadableFile("values", "a Postman environment (a JSON object with a `values` list)")
    content = ProjectContent(kind="postman_environment")
    variables: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for index, entry in enumerate(document["values"]):
        where = f"values[{index}]"
        if not isinstance(entry, dict) or not str(entry.get("key") or "").strip():
            raise UnreadableFile(where, "a value with a `key`")
        key, value = str(entry["key"]).strip(), entry.get("value", "")
        if len(key) > 128:
            content.skip(where, key, "a variable name longer than 128 characters")
            continue
        if entry.get("enabled") is False or entry.get("disabled"):
            content.skip(where, f"{key}", "a disabled value")
            continue
        if entry.get("type") == "secret" or _looks_secret(key):
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
                secrets[key] = value
                continue
            content.skip(
                where, key, f"looks secret but is shorter than {MIN_SECRET_LENGTH} characters: kept as a variable"
            )
        variables[key] = value
    name = str(document.get("name") or "Postman environment").strip()[:200] or "Postman environment"
    content.environments.append(EnvironmentContent(name=name, variables=variables, secret_variables=secrets))
    return content
