"""Failure text and JSON values with their run-to-run noise taken out.

Two failures from one cause rarely carry the same text: ids, uuids, timestamps, emails, tokens and quoted values
change with every run. `normalise_text` puts a placeholder where each of those stood, so equal causes give equal
(or nearly equal) texts; `is_volatile` tells which JSON values are such noise, so a body diff can skip them.

Placeholders, in the order they are applied: `<token>` (JWTs, bearer and basic credentials), `<email>`, `<uuid>`,
`<time>` (ISO-8601 and RFC-1123 timestamps, dates, clock times), `<str>` (values in single or double quotes), then
for each run of letters and digits holding a digit: `<hex>` (0x… or 8+ hex digits), `<id>` (6+ characters with 2+
digits), `<n>` (numbers, with their unit if any: 500ms -> <n>ms, and the digits inside other words: v2 -> v<n>).
An HTTP status is kept, since 401 and 404 are different causes: a number from 100 to 599 standing alone (not in a
path or a query) that follows one of the words status, http, code or response within 40 characters, or that is
followed by a reason phrase ("404 not found"). Other numbers in that range (a count of 187) become `<n>`.
"""

from __future__ import annotations

import re
from typing import Any

MAX_NORMALISED = 500
# Longer texts are cut before the regexes run: the start of a message names its cause, and the cost stays bounded.
MAX_SCANNED = 2000

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday)?"

# Texts are lowercased first, so the patterns are written in lowercase. Each runs only when its text could match.
_JWT = re.compile(r"\beyj[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
_CREDENTIAL = re.compile(r"\b(bearer|basic)\s+(?=[\w.~+/-]*\d)[\w.~+/-]{8,}=*")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]+(?:\.[\w-]+)+")
# One scan for what needs a digit or a quote, leftmost first; at one place a uuid wins over a time, a time over a
# run of letters and digits (a number, hex or id, with its decimal or thousands separators).
_VARIABLE = re.compile(
    r"(?<![a-z0-9])(?:"
    r"(?P<uuid>[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}(?![a-z0-9]))"
    r"|(?P<time>\d{4}-\d\d-\d\d(?:[t ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?)?(?:z\b|[+-]\d\d(?::?\d\d)?\b)?"
    rf"|(?:{_DAY},?\s+)?\d{{1,2}}[ -]{_MONTH}[ -]\d{{2,4}}"
    r"(?:\s+\d\d:\d\d(?::\d\d)?)?(?:\s+(?:gmt|utc|z|[+-]\d{4})\b)?"
    r"|\d{1,2}:\d\d:\d\d(?:[.,]\d+)?(?:z\b)?)"
    r"|(?P<run>[a-z]*+\d[a-z0-9]*+(?:[.,]\d+)*+(?![a-z0-9]))"
    r")"
    r"|(?P<str>'(?<![\w']')[^'\n]{0,200}'(?!\w)|\"(?:[^\"\\\n]|\\.){0,200}\")"
)
_NEEDS_SCAN = re.compile(r"[\d'\"]").search
_DIGITS = re.compile(r"\d+")
_UNIT = re.compile(r"\d+(?:[.,]\d+)*([a-z]{1,3})")
_HEX_CHARS = frozenset("0123456789abcdef")
_NUMBER_CHARS = frozenset("0123456789.,")
# "got 401", "(actual 401)", "401: unauthorized" stand alone; "/orders/401", "page=401", "#401" do not.
_BEFORE_ALONE = frozenset(" \t\n([{,:'\"")
_AFTER_ALONE = frozenset(" \t\n)]},.;:!'\"")
_STATUS_WORD = re.compile(r"status|http|code|response")
_REASON = re.compile(
    r"[\s:(-]*(?:ok|created|accepted|no content|moved|found|see other|not modified|redirect|bad request|"
    r"unauthori[sz]ed|payment required|forbidden|not found|method not allowed|not acceptable|request timeout|"
    r"conflict|gone|precondition|too large|unsupported|unprocessable|locked|too many|internal|not implemented|"
    r"bad gateway|service unavailable|gateway timeout)\b"
)


def _is_status(text: str, start: int, end: int) -> bool:
    """Whether the 100-599 at text[start:end] is an HTTP status: standing alone, where a status is spoken of."""
    if not (start == 0 or text[start - 1] in _BEFORE_ALONE) or not (end == len(text) or text[end] in _AFTER_ALONE):
        return False
    return _STATUS_WORD.search(text, max(0, start - 40), start) is not None or _REASON.match(text, end) is not None


def _placeholder(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind != "run":
        return f"<{kind}>"
    run = match.group()
    if run.isdigit():
        # An HTTP status is kept: 401 and 404 are different causes.
        if len(run) == 3 and "100" <= run <= "599" and _is_status(match.string, match.start(), match.end()):
            return run
        return "<n>"
    if _NUMBER_CHARS.issuperset(run):
        return "<n>"
    if (run.startswith("0x") and len(run) > 2 and _HEX_CHARS.issuperset(run[2:])) or (
        len(run) >= 8 and _HEX_CHARS.issuperset(run)
    ):
        return "<hex>"
    unit = _UNIT.fullmatch(run)
    if unit:
        return "<n>" + unit.group(1)  # 5000ms, 30s, 2kb
    if len(run) >= 6 and sum(char.isdigit() for char in run) >= 2:
        return "<id>"
    return _DIGITS.sub("<n>", run)  # a word with a digit or two in it: v2, utf8, step3


def normalise_text(text: str) -> str:
    """`text` lowercased with its variable parts replaced by placeholders, whitespace collapsed, cut at 500."""
    normalised = text[:MAX_SCANNED].lower()
    if "eyj" in normalised:
        normalised = _JWT.sub("<token>", normalised)
    if "bearer" in normalised or "basic" in normalised:
        normalised = _CREDENTIAL.sub(r"\1 <token>", normalised)
    if "@" in normalised:
        normalised = _EMAIL.sub("<email>", normalised)
    if _NEEDS_SCAN(normalised):
        normalised = _VARIABLE.sub(_placeholder, normalised)
    return " ".join(normalised.split())[:MAX_NORMALISED]


# Keys whose values change from run to run by design. Keys are compared in snake_case (`createdAt` -> created_at).
_VOLATILE_KEYS = frozenset(
    {
        "id", "ids", "uuid", "guid", "uid", "oid", "_id", "token", "etag", "nonce", "salt", "signature",
        "timestamp", "ts", "datetime", "created", "updated", "modified", "expires", "expiry",
        "expires_in", "expiration", "last_modified", "session", "sid", "cursor", "next_cursor", "trace", "span",
        "request_id", "correlation_id", "trace_id", "span_id", "x_request_id", "now", "server_time", "took",
        "elapsed", "duration", "duration_ms", "latency", "latency_ms", "version_id", "revision", "rev", "seed",
    }
)  # fmt: skip
# Not "date" or "*_date": a due date or a birth date that changes is news, not noise.
_VOLATILE_SUFFIXES = ("_id", "_ids", "_uuid", "_guid", "_at", "_time", "_ts", "_token", "_timestamp")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_VOLATILE_VALUE = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}"  # uuid
    r"|\d{4}-\d\d-\d\d[t ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:z|[+-]\d\d:?\d\d)?"  # ISO timestamp (not a bare date)
    rf"|{_DAY},\s+\d{{1,2}}\s+{_MONTH}\s+\d{{4}}\s+\d\d:\d\d:\d\d\s*(?:gmt|utc|[+-]\d{{4}})?"  # RFC-1123
    r"|(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{16,}"  # hex ids, digests, object ids
    r"|eyj[\w-]+\.[\w-]+\.[\w-]*"  # JWT
    r"|w/\"?[^\"]*\"?",  # weak etag
)


_NAME = re.compile(r"[A-Za-z_][\w-]*")


def _snake(key: str) -> str:
    """The key's last name in snake_case: `createdAt` -> created_at, `$.items[0].orderId` -> order_id."""
    names = _NAME.findall(key)
    return _CAMEL.sub("_", names[-1] if names else key).lower().replace("-", "_")


def is_volatile(key: str | None, value: Any) -> bool:
    """Whether a change of this scalar is noise: an id, timestamp, uuid or token, by its key (a name or a JSONPath
    ending in one) or by its look."""
    if isinstance(value, dict | list | bool):
        return False
    if key is not None:
        name = _snake(key)
        if name in _VOLATILE_KEYS or name.endswith(_VOLATILE_SUFFIXES):
            return True
    if isinstance(value, str) and 8 <= len(value) <= 4096:
        return _VOLATILE_VALUE.fullmatch(value.strip().lower()) is not None
    return False
