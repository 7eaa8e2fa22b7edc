"""A cURL command line (as browsers' "Copy as cURL" and API docs write it) becomes one case.

Read with the shell's own quoting rules (shlex), after joining `\\` line continuations. The options that
shape the request are translated; the ones that only change what curl prints or where it writes are
listed as not translated, never dropped silently.
"""

from __future__ import annotations

import json
import shlex
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from app.interop.content import CaseContent, ProjectContent, UnreadableFile, add_query_value

# Options that take a value and change nothing in the request a case sends.
_IGNORED_WITH_VALUE = {
    "-o", "--output", "-w", "--write-out", "--connect-timeout", "-c", "--cookie-jar", "--retry",
    "--cacert", "--cert", "--key", "-E", "--resolve", "-y", "-Y", "--limit-rate",
}  # fmt: skip
_IGNORED_FLAGS = {
    "-s", "--silent", "-S", "--show-error", "-v", "--verbose", "-i", "--include", "-f", "--fail",
    "--compressed", "-N", "--no-buffer", "--http1.1", "--http2", "-#", "--progress-bar",
}  # fmt: skip
_DATA = {"-d", "--data", "--data-raw", "--data-binary", "--data-ascii"}


def parse(text: str, name: str | None = None) -> ProjectContent:
    """One case from a cURL line; raises UnreadableFile naming the first problem."""
    words = _words(text)
    content = ProjectContent(kind="curl")
    method: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}
    data: list[str] = []
    urlencode: list[str] = []
    form: dict[str, str] = {}
    auth: dict[str, Any] = {"type": "none"}
    as_query = False
    follow = False
    args = _Arguments(words)
    while (word := args.next()) is not None:
        where, value = args.where, args.value
        if word in ("-X", "--request"):
            method = value().upper()
        elif word in ("-H", "--header"):
            header = value()
            key, sep, val = header.partition(":")
            if not sep or not key.strip():
                raise UnreadableFile(where, f"a header as 'Name: value', got {header!r}")
            headers[key.strip()] = val.strip()
        elif word in _DATA:
            data.append(value())
        elif word == "--data-urlencode":
            urlencode.append(value())
        elif word in ("-F", "--form", "--form-string"):
            field = value()
            key, sep, val = field.partition("=")
            if not sep:
                raise UnreadableFile(where, f"a form field as 'name=value', got {field!r}")
            if val.startswith(("@", "<")) and word != "--form-string":
                content.skip(where, f"{word} {field}", "a file upload: form-data file fields are not supported")
            else:
                form[key] = val
        elif word in ("-u", "--user"):
            user, _, password = value().partition(":")
            auth = {"type": "basic", "username": user, "password": password}
        elif word in ("-A", "--user-agent"):
            headers["User-Agent"] = value()
        elif word in ("-e", "--referer"):
            headers["Referer"] = value()
        elif word in ("-b", "--cookie"):
            headers["Cookie"] = value()
        elif word in ("-G", "--get"):
            as_query = True
        elif word in ("-I", "--head"):
            method = "HEAD"
        elif word in ("-L", "--location"):
            follow = True
        elif word in ("-k", "--insecure"):
            content.skip(where, word, "TLS verification is an environment setting (verify_tls): set it there")
        elif word == "--url":
            url = value()
        elif word in _IGNORED_WITH_VALUE:
            content.skip(where, f"{word} {value()}", "changes what curl does with the answer, not the request")
        elif word in _IGNORED_FLAGS:
            if word != "--compressed":  # a case always accepts compressed answers
                content.skip(where, word, "changes what curl prints, not the request")
        elif word.startswith("-") and word != "-":
            raise UnreadableFile(where, f"a cURL option this reader knows, got {word!r}")
        elif url is None:
            url = word
        else:
            raise UnreadableFile(where, f"one URL, got a second one {word!r}")
    if url is None:
        raise UnreadableFile("command", "a URL")
    if "://" not in url:
        url = "http://" + url  # curl's own default
    parts = urlsplit(url)
    query: dict[str, Any] = {}
    for key, val in parse_qsl(parts.query, keep_blank_values=True):
        add_query_value(query, key, val)
    body: dict[str, Any] = {"mode": "none"}
    payload = "&".join(data + [_urlencoded(item) for item in urlencode])
    if as_query:
        for key, val in parse_qsl(payload, keep_blank_values=True):
            add_query_value(query, key, val)
    elif form:
        body = {"mode": "form", "content": form}
    elif data or urlencode:
        body = _body(payload, headers)
    if method is None:
        method = "POST" if body["mode"] != "none" else "GET"
    case = CaseContent(
        key="request",
        name=name or f"{method} {parts.path or '/'}"[:200],
        method=method,
        url=urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
        headers=headers,
        query=query,
        body=body,
        auth=auth,
        follow_redirects=follow,
    )
    content.cases.append(case)
    return content


class _Arguments:
    """The words after `curl`, one at a time; `value()` takes the current option's value."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.index = 0

    @property
    def where(self) -> str:
        return f"argument {self.index}"

    def next(self) -> str | None:
        self.index += 1
        return self.words[self.index] if self.index < len(self.words) else None

    def value(self) -> str:
        option = self.words[self.index]
        self.index += 1
        if self.index >= len(self.words):
            raise UnreadableFile(f"argument {self.index - 1}", f"a value after {option}")
        return self.words[self.index]


def _words(text: str) -> list[str]:
    joined = text.replace("\\\r\n", " ").replace("\\\n", " ").strip()
    if not joined:
        raise UnreadableFile("command", "a cURL command line, got nothing")
    try:
        words = shlex.split(joined)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise UnreadableFile("command", f"shell quoting that closes: {exc}") from None
    if not words or words[0] not in ("curl", "curl.exe"):
        raise UnreadableFile("argument 0", f"a command starting with 'curl', got {(words or [''])[0]!r}")
    return words


def _urlencoded(item: str) -> str:
    """--data-urlencode: `name=value` sends value percent-encoded (curl's rules, the common forms)."""
    from urllib.parse import quote_plus

    name, sep, value = item.partition("=")
    return f"{name}={quote_plus(value)}" if sep else quote_plus(item)


def _body(payload: str, headers: dict[str, str]) -> dict[str, Any]:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if "json" in content_type.lower() or (not content_type and payload.lstrip()[:1] in ("{", "[")):
        try:
            parsed = json.loads(payload)
        except ValueError:
            return {"mode": "raw", "content": payload, "content_type": content_type or None}
        _drop_header(headers, "content-type")
        return {"mode": "json", "content": parsed}
    if not content_type or "x-www-form-urlencoded" in content_type.lower():
        fields = parse_qsl(payload, keep_blank_values=True, strict_parsing=False)
        if fields and len({key for key, _ in fields}) == len(fields) and "=" in payload:
            _drop_header(headers, "content-type")
            return {"mode": "urlencoded", "content": dict(fields)}
    return {"mode": "raw", "content": payload, "content_type": content_type or "application/x-www-form-urlencoded"}


def _drop_header(headers: dict[str, str], name: str) -> None:
    for key in [k for k in headers if k.lower() == name]:
        del headers[key]
