"""A Postman collection (v2.0/v2.1) becomes cases and scenarios; a Postman environment becomes an environment.

Every request is a case; folders are flattened in Newman's order (depth first) and their names kept as the
case's tags; the whole collection is one scenario (key "collection") and each top-level folder one more.
Auth is inherited from folder and collection as Postman does (`noauth` stops it). Scripts are read line by
line (app.interop.postman_scripts): the common `pm.*` and legacy `tests[...]` patterns become native
assertions, extractors and `set` processors; every other meaningful line is listed as not translated with
its location, never dropped. Lines that are only structure (`pm.test("x", function () {`, `});`, blanks,
comments) are not listed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from app.engine.masking import MIN_SECRET_LENGTH
from app.engine.specs import HEADER_NAME, ScriptProcessor
from app.interop.content import (
    CaseContent,
    EnvironmentContent,
    ProjectContent,
    ScenarioContent,
    StepContent,
    UnreadableFile,
    add_query_value,
)
from app.interop.postman_scripts import ScriptChecks

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
        checks = ScriptChecks()
        events = scope.events + _events(item.get("event"), f"{where}.event", content)
        for listen, location, lines in events:
            self.script(checks, listen, location, lines)
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

    def script(self, checks: ScriptChecks, listen: str, location: str, lines: list[str]) -> None:
        """A script whose every line is a native check becomes those checks; any other is kept whole as a
        JavaScript `script` processor, and only what the sandbox cannot run is reported."""
        checks.aliases = {}  # each script is its own JavaScript scope
        before = (list(checks.assertions), list(checks.extractors), list(checks.pre), list(checks.post))
        untranslated = []
        for number, line in enumerate(lines):
            reason = checks.line(line, listen)
            if reason:
                untranslated.append((f"{location}.script.exec[{number}]", line, reason))
        if not untranslated:
            return
        source = "\n".join(lines)
        try:
            processor = ScriptProcessor.model_validate({"type": "script", "source": source})
        except ValidationError as exc:
            why = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            if location not in self.reported:  # its translated lines are kept; the others are listed
                self.reported.add(location)
                self.content.skip(f"{location}.script", f"{len(lines)} line(s)", f"the script cannot run: {why}")
                for line_where, line, reason in untranslated:
                    self.content.skip(line_where, line, reason)
            return
        checks.assertions, checks.extractors, checks.pre, checks.post = before
        kept = processor.model_dump()
        (checks.pre if listen == "prerequest" else checks.post).append(kept)


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
