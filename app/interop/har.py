"""A HAR 1.2 capture (a browser's "Save all as HAR", a proxy's export) becomes one case per entry, one scenario.

Each entry's request is translated (method, URL, query, headers, body) and gets a status assertion with the
status the capture saw. Headers the browser or the HTTP stack adds (the capture's cookies, `sec-*`, HTTP/2
pseudo-headers, Content-Length, Host, ...) are left out, each kind reported once for the whole file.
Correlation: a value that an earlier response's JSON body produced and a later request sends back (a token
in `Authorization: Bearer ...`, an id in a query or body) becomes an extractor on the earlier step and a
`{{variable}}` where the later request had the value, so the scenario works with fresh values when it runs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from email import policy
from email.parser import Parser
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit, urlunsplit

from app.engine.specs import HTTP_METHODS
from app.interop.content import (
    CaseContent,
    ProjectContent,
    ScenarioContent,
    StepContent,
    UnreadableFile,
    add_query_value,
)

MIN_VALUE_LENGTH = 8  # shorter values (small numbers, booleans, short words) match by accident
_MAX_VALUE_LENGTH = 8192
_PREFIX = MIN_VALUE_LENGTH

# (kind, does a lower-cased header name belong to it, why it is left out)
_TRANSPORT = {
    "content-length", "host", "connection", "accept-encoding", "keep-alive", "transfer-encoding", "te",
    "upgrade", "proxy-connection", "trailer",
}  # fmt: skip
_BROWSER_HINTS = {"upgrade-insecure-requests", "priority", "dnt", "purpose", "sec-purpose"}
_LEFT_OUT: list[tuple[str, Any, str]] = [
    (
        "the capture's cookies",
        lambda name: name == "cookie",
        "the browser's cookies at capture time; a run keeps the cookies its own responses set "
        "(add a Cookie header back to a case if it needs one from elsewhere)",
    ),
    ("HTTP/2 pseudo-headers", lambda name: name.startswith(":"), "the case's method and URL already say this"),
    ("sec-* headers", lambda name: name.startswith("sec-"), "fetch metadata and client hints the browser adds"),
    (
        "transport headers",
        lambda name: name in _TRANSPORT,
        "the HTTP client sets these itself for each request (length, host, connection, compression)",
    ),
    ("browser hints", lambda name: name in _BROWSER_HINTS, "the browser adds these; they do not shape the request"),
]


@dataclass
class _LeftOutKind:
    first: str  # where the first one is, in the file
    names: dict[str, None] = field(default_factory=dict)  # ordered set of the names seen
    count: int = 0
    entries: set[int] = field(default_factory=set)


@dataclass
class _Draft:
    """One entry's request while it is read and correlated; becomes a CaseContent at the end."""

    index: int
    method: str
    base: tuple[str, str]  # scheme, host: never templated
    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    body: dict[str, Any]
    status: int | None
    redirect: bool
    response: Any  # the parsed JSON body, or None
    extractors: list[dict[str, str]] = field(default_factory=list)


def parse(text: str, name: str | None = None) -> ProjectContent:
    """The cases and the scenario of a HAR file; raises UnreadableFile naming the first problem."""
    log = _log(text)
    content = ProjectContent(kind="har")
    left_out: dict[str, _LeftOutKind] = {}
    drafts = [
        draft
        for index, entry in enumerate(log["entries"])
        if (draft := _draft(entry, f"log.entries[{index}]", index, content, left_out)) is not None
    ]
    _correlate(drafts)
    for kind, _, why in _LEFT_OUT:
        if seen := left_out.get(kind):
            names = ", ".join(list(seen.names)[:20])
            content.skip(
                seen.first,
                names,
                f"{kind} left out of every case ({seen.count} in {len(seen.entries)} entries; this one item "
                f"reports all of them): {why}",
            )
    for draft in drafts:
        content.cases.append(_case(draft))
    if content.cases:
        content.scenarios.append(
            ScenarioContent(
                key="har",
                name=(name or _title(log) or f"HAR capture of {drafts[0].base[1]}")[:200],
                description="Imported from a HAR capture: one step per entry, in the order they were sent.",
                steps=[StepContent(case=case.key) for case in content.cases],
            )
        )
    return content


def _log(text: str) -> dict[str, Any]:
    if not text.strip():
        raise UnreadableFile("document", "a HAR file (JSON), got nothing")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise UnreadableFile("document", f"a HAR file (JSON): {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("log"), dict):
        raise UnreadableFile("log", "a HAR file: an object with a `log` object")
    entries = document["log"].get("entries")
    if not isinstance(entries, list):
        raise UnreadableFile("log.entries", "a list of entries")
    if not entries:
        raise UnreadableFile("log.entries", "at least one entry, got an empty list")
    return document["log"]


def _title(log: dict[str, Any]) -> str | None:
    pages = log.get("pages")
    if isinstance(pages, list) and pages and isinstance(pages[0], dict):
        title = pages[0].get("title")
        if isinstance(title, str) and title.strip():
            return title.strip()
    return None


def _draft(
    entry: Any, where: str, index: int, content: ProjectContent, left_out: dict[str, _LeftOutKind]
) -> _Draft | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise UnreadableFile(f"{where}.request", "an entry with a request object")
    request = entry["request"]
    url = request.get("url")
    if not isinstance(url, str) or not url.strip():
        raise UnreadableFile(f"{where}.request.url", "the request's URL")
    method = request.get("method")
    if not isinstance(method, str) or not method.strip():
        raise UnreadableFile(f"{where}.request.method", "the request's method")
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        raise UnreadableFile(f"{where}.request.url", f"an absolute URL, got {url[:200]!r}")
    if parts.scheme.lower() not in ("http", "https"):
        content.skip(f"{where}.request.url", url, "not an HTTP(S) request (data:, blob:, ws: are not sent as cases)")
        return None
    method = method.strip().upper()
    if method not in HTTP_METHODS:
        content.skip(f"{where}.request.method", method, f"a case sends one of {', '.join(HTTP_METHODS)}")
        return None
    query: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        add_query_value(query, key, value)
    headers = _headers(request, where, index, left_out)
    body: dict[str, Any] = {"mode": "none"}
    post = request.get("postData")
    if isinstance(post, dict):
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        body = _body(post, f"{where}.request.postData", content_type, content)
        if body["mode"] != "none":
            for key in [k for k in headers if k.lower() == "content-type"]:
                del headers[key]  # the body carries it (a multipart boundary is made anew for each request)
    response: dict[str, Any] = entry["response"] if isinstance(entry.get("response"), dict) else {}
    status = response.get("status")
    status = status if isinstance(status, int) and 100 <= status <= 599 else None
    return _Draft(
        index=index,
        method=method,
        base=(parts.scheme, parts.netloc),
        path=parts.path or "/",
        query=query,
        headers=headers,
        body=body,
        status=status,
        redirect=status is not None and 300 <= status < 400,
        response=_response_json(response),
    )


def _headers(request: dict[str, Any], where: str, index: int, left_out: dict[str, _LeftOutKind]) -> dict[str, str]:
    items = request.get("headers") or []
    if not isinstance(items, list):
        raise UnreadableFile(f"{where}.request.headers", "a list of {name, value} objects")
    headers: dict[str, str] = {}
    had_cookie_header = False
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "value" not in item:
            raise UnreadableFile(f"{where}.request.headers[{position}]", "a header as {name, value}")
        name, value = item["name"].strip(), str(item["value"])
        kind = next((kind for kind, belongs, _ in _LEFT_OUT if belongs(name.lower())), None)
        if kind is not None:
            had_cookie_header = had_cookie_header or name.lower() == "cookie"
            seen = left_out.setdefault(kind, _LeftOutKind(first=f"{where}.request.headers[{position}]"))
            seen.names[name] = None
            seen.count += 1
            seen.entries.add(index)
            continue
        existing = next((k for k in headers if k.lower() == name.lower()), None)
        if existing is None:
            headers[name] = value
        else:  # a repeated field is the same as one field with the values joined (RFC 9110 5.3)
            headers[existing] = f"{headers[existing]}, {value}"
    cookies = request.get("cookies")
    if cookies and isinstance(cookies, list) and not had_cookie_header:
        seen = left_out.setdefault("the capture's cookies", _LeftOutKind(first=f"{where}.request.cookies"))
        for cookie in cookies:
            if isinstance(cookie, dict) and isinstance(cookie.get("name"), str):
                seen.names[f"cookie {cookie['name']}"] = None
                seen.count += 1
        seen.entries.add(index)
    return headers


def _body(post: dict[str, Any], where: str, content_type: str, content: ProjectContent) -> dict[str, Any]:
    mime = str(post.get("mimeType") or content_type or "")
    base = mime.split(";")[0].strip().lower()
    text = post.get("text")
    if isinstance(text, str) and post.get("encoding") == "base64":
        text = _base64(text)
    params: list[Any] = post["params"] if isinstance(post.get("params"), list) else []
    if "json" in base and isinstance(text, str):
        try:
            return {
                "mode": "json",
                "content": json.loads(text),
                "content_type": None if base == "application/json" else mime,
            }
        except ValueError:
            pass  # sent as it was, below
    if base == "application/x-www-form-urlencoded":
        if isinstance(text, str):
            fields = parse_qsl(text, keep_blank_values=True)
        else:
            fields = [(unquote_plus(str(p.get("name", ""))), unquote_plus(str(p.get("value", "")))) for p in params]
        if fields and len({key for key, _ in fields}) == len(fields):
            return {"mode": "urlencoded", "content": dict(fields)}
    if base == "multipart/form-data":
        form = _multipart(params, text, mime, where, content)
        if form is not None:
            return {"mode": "form", "content": form}
    if text is None:
        if params or mime:
            content.skip(where, mime, "the capture holds no body text (binary or elided by the browser)")
        return {"mode": "none"}
    return {"mode": "raw", "content": text, "content_type": mime or None}


def _multipart(params: list[Any], text: Any, mime: str, where: str, content: ProjectContent) -> dict[str, str] | None:
    """The text fields of a multipart body (from `params`, or read from the text); file fields are reported."""
    parts: list[tuple[str, dict[str, Any]]] = [
        (f"{where}.params[{i}]", p) for i, p in enumerate(params) if isinstance(p, dict)
    ]
    if not parts and isinstance(text, str):
        message = Parser(policy=policy.HTTP).parsestr(f"Content-Type: {mime}\r\n\r\n{text}")
        if not message.is_multipart():
            return None
        for i, part in enumerate(message.iter_parts()):
            field_name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            payload = part.get_payload(decode=True)
            value = payload if isinstance(payload, bytes) else b""
            parts.append(
                (
                    f"{where}.text (part {i + 1})",
                    {"name": str(field_name or ""), "fileName": filename, "value": value.decode(errors="replace")},
                )
            )
    if not parts:
        return None
    form: dict[str, str] = {}
    for location, param in parts:
        field_name = str(param.get("name") or "")
        if param.get("fileName") is not None:
            file_name = param.get("fileName")
            content.skip(location, f"{field_name}={file_name}", "a file field: form-data files are not supported")
        elif not field_name or field_name in form:
            reason = "a second field of that name" if field_name else "a field without a name"
            content.skip(location, f"{field_name}={param.get('value', '')}", f"{reason}: a form holds each name once")
        else:
            form[field_name] = str(param.get("value", ""))
    return form


def _response_json(response: dict[str, Any]) -> Any:
    body = response.get("content")
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return None
    text: str | None = body["text"]
    if body.get("encoding") == "base64":
        text = _base64(body["text"])
    if not text or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _base64(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _case(draft: _Draft) -> CaseContent:
    scheme, host = draft.base
    assertions = [{"source": "status_code", "expected": draft.status}] if draft.status is not None else []
    return CaseContent(
        key=f"log.entries[{draft.index}]",
        name=f"{draft.method} {draft.path}"[:200],
        method=draft.method,
        url=urlunsplit((scheme, host, draft.path, "", "")),
        headers=draft.headers,
        query=draft.query,
        body=draft.body,
        extractors=draft.extractors,
        assertions=assertions,
        follow_redirects=not draft.redirect,  # a redirect is its own entry in the capture: the next step
    )


# ---- correlation ---------------------------------------------------------------------------------------------------
_WORD_START = re.compile(r"(?<!\w)|(?!\w)")  # where a value may start: not in the middle of a word
_INSIDE_WORD = re.compile(r"\w\w")  # a value ending here would cut a word in two


@dataclass
class _Produced:
    draft: _Draft
    path: tuple[str | int, ...]
    variable: str | None = None  # given when a later request first uses the value


class _Correlator:
    def __init__(self) -> None:
        self.values: dict[str, _Produced] = {}
        self.lengths: dict[
            str, list[int]
        ] = {}  # first 8 characters -> the lengths of values starting so, longest first
        self.sent: set[str] = set()  # whole values earlier requests sent: those came from the client
        self.names: set[str] = set()
        self.suffixes: dict[str, int] = {}  # the next number to try after a name, so naming stays linear

    def produce(self, draft: _Draft) -> None:
        for value, path in _leaves(draft.response):
            if value in self.values or value in self.sent:
                continue
            self.values[value] = _Produced(draft, path)
            lengths = self.lengths.setdefault(value[:_PREFIX], [])
            if len(value) not in lengths:
                lengths.append(len(value))
                lengths.sort(reverse=True)

    def template(self, text: str) -> str:
        """`text` with every produced value standing on word boundaries replaced by its `{{variable}}`."""
        if len(text) < MIN_VALUE_LENGTH or not self.values:
            return text
        pieces: list[str] = []
        start = 0
        for boundary in _WORD_START.finditer(text):
            position = boundary.start()
            if position < start or position > len(text) - MIN_VALUE_LENGTH:
                continue
            for length in self.lengths.get(text[position : position + _PREFIX], ()):
                end = position + length
                produced = self.values.get(text[position:end]) if end <= len(text) else None
                if produced is not None and not _INSIDE_WORD.fullmatch(text, end - 1, end + 1):
                    pieces.append(text[start:position] + "{{" + self.variable(produced) + "}}")
                    start = end
                    break
        return "".join(pieces) + text[start:] if pieces else text

    def variable(self, produced: _Produced) -> str:
        if produced.variable is None:
            key = next((part for part in reversed(produced.path) if isinstance(part, str)), "value")
            base = re.sub(r"[^A-Za-z0-9_]+", "_", key).strip("_")[:60] or "value"
            base = base if base[0].isalpha() or base[0] == "_" else f"v_{base}"
            name, suffix = base, self.suffixes.get(base, 2)
            while name in self.names:
                name, suffix = f"{base}_{suffix}", suffix + 1
            self.names.add(name)
            self.suffixes[base] = suffix
            produced.variable = name
            produced.draft.extractors.append({"name": name, "source": "body", "expression": _jsonpath(produced.path)})
        return produced.variable

    def value(self, value: Any) -> Any:
        """A JSON body's value with produced values templated; a whole number keeps its type through `{{x}}`."""
        if isinstance(value, str):
            return self.template(value)
        if isinstance(value, int) and not isinstance(value, bool):
            produced = self.values.get(str(value))
            return "{{" + self.variable(produced) + "}}" if produced is not None else value
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return value

    def remember_sent(self, draft: _Draft) -> None:
        for value in _sent_values(draft):
            if len(value) >= MIN_VALUE_LENGTH:
                self.sent.add(value)


def _correlate(drafts: list[_Draft]) -> None:
    correlator = _Correlator()
    for draft in drafts:
        correlator.remember_sent(draft)  # before templating: what this request sent as it was captured
        draft.path = correlator.template(draft.path)
        draft.headers = {name: correlator.template(value) for name, value in draft.headers.items()}
        draft.query = {
            key: [correlator.template(str(v)) for v in value] if isinstance(value, list) else correlator.template(value)
            for key, value in draft.query.items()
        }
        body = draft.body
        if body["mode"] == "json":
            body["content"] = correlator.value(body["content"])
        elif body["mode"] == "raw":
            body["content"] = correlator.template(body["content"])
        elif body["mode"] in ("urlencoded", "form"):
            body["content"] = {key: correlator.template(value) for key, value in body["content"].items()}
        correlator.produce(draft)


def _leaves(document: Any) -> list[tuple[str, tuple[str | int, ...]]]:
    """The values of a JSON document long enough to correlate, with their paths, in document order."""
    found: list[tuple[str, tuple[str | int, ...]]] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((item, (*path, str(key))) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((value[index], (*path, index)) for index in range(len(value) - 1, -1, -1))
        elif isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)
            if MIN_VALUE_LENGTH <= len(text) <= _MAX_VALUE_LENGTH and "{{" not in text:
                found.append((text, path))
    return found


def _sent_values(draft: _Draft) -> list[str]:
    values = [*draft.path.split("/"), *draft.headers.values()]
    values += [word for value in draft.headers.values() for word in value.split()]
    for value in draft.query.values():
        values += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    body = draft.body
    if body["mode"] == "json":
        values += [text for text, _ in _leaves(body["content"])]
    elif body["mode"] == "raw":
        values.append(body["content"])
    elif body["mode"] in ("urlencoded", "form"):
        values += [str(v) for v in body["content"].values()]
    return values


def _jsonpath(path: tuple[str | int, ...]) -> str:
    """An RFC 9535 normalized-style path: `$.data.token`, `$.items[0].id`, `$["odd key"]`."""
    parts = ["$"]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            parts.append(f".{part}")
        else:
            parts.append(f"[{json.dumps(part)}]")
    return "".join(parts)
