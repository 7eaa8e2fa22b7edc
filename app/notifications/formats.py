"""A platform-neutral message in each platform's own format, and each platform's signature.

Pure functions over plain data (no database, no I/O), so each format is tested against a fake receiver that
checks it the way the platform documents it:
- webhook: the message as JSON, signed exactly like run callbacks (app.callbacks.service.sign: X-Exile-Signature
  = sha256=hex(HMAC-SHA256(secret, f"{X-Exile-Timestamp}." + body))).
- DingTalk robot (加签): timestamp in milliseconds; sign = urlEncode(base64(HMAC-SHA256(key=secret,
  msg=f"{timestamp}\\n{secret}"))), both appended to the webhook URL as query parameters; msgtype markdown.
- Feishu/Lark custom bot (签名校验): timestamp in seconds; sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}",
  msg=b"")), both in the JSON body beside msg_type interactive and its card.
- WeCom group robot: msgtype markdown, content at most 4096 bytes of UTF-8; the key in its URL is the only secret.
- Slack incoming webhook: Block Kit (header, mrkdwn sections) with `text` as the notification fallback.
- e-mail: a text/plain part and an HTML alternative.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import quote_plus

import orjson

from app.callbacks.service import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from app.models.notification import ChannelType

EVENT_HEADER = "X-Exile-Event"
WECOM_MAX_BYTES = 4096
SLACK_SECTION_MAX = 3000  # characters in one section's text (Slack's limit)
SLACK_HEADER_MAX = 150
DINGTALK_MAX_CHARS = 5000
_SPACES = re.compile(r"\s+")


@dataclass
class Outgoing:
    """One HTTP POST: the URL as it must be sent (already encoded), headers and body."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


# ---- signatures ------------------------------------------------------------------------------------------------
def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: base64(HMAC-SHA256(secret, "timestamp\\nsecret")), before URL-encoding."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's 签名校验: the key is "timestamp\\nsecret" and the message is empty."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    """The robot URL with `timestamp` and the URL-encoded `sign` appended (unchanged without a secret)."""
    if not secret:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={quote_plus(dingtalk_sign(secret, timestamp_ms))}"


# ---- text helpers ----------------------------------------------------------------------------------------------
def one_line(value: Any, limit: int) -> str:
    """A value on one line, at most `limit` characters (… marks a cut)."""
    text = _SPACES.sub(" ", str(value)).strip()
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _escape(text: str, flavor: str) -> str:
    if flavor in ("slack", "feishu"):  # both read &, < and > as markup
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def _bold(text: str, flavor: str) -> str:
    return f"*{text}*" if flavor == "slack" else f"**{text}**"


def _link(url: str, text: str, flavor: str) -> str:
    return f"<{url}|{text}>" if flavor == "slack" else f"[{text}]({url})"


def _status_text(message: dict[str, Any], flavor: str) -> str:
    status = str(message.get("status") or "")
    if flavor == "wecom":  # WeCom's three colours: info (green), warning (orange-red), comment (grey)
        colour = {"good": "info", "bad": "warning"}.get(str(message.get("tone")), "comment")
        return f'<font color="{colour}">{status}</font>'
    return status


def summary_lines(message: dict[str, Any], flavor: str) -> list[str]:
    lines = [f"{_bold('Status', flavor)}: {_status_text(message, flavor)}"]
    for label, value in message.get("summary") or []:
        lines.append(f"{_bold(_escape(str(label), flavor), flavor)}: {_escape(str(value), flavor)}")
    return lines


def failure_lines(message: dict[str, Any], flavor: str, limit: int | None = None) -> list[str]:
    failures = list(message.get("failures") or [])
    shown = failures if limit is None else failures[:limit]
    if not shown:
        return []
    more = int(message.get("more_failures") or 0) + len(failures) - len(shown)
    heading = f"Top failures ({len(shown)} of {len(shown) + more})" if more else "Failures"
    lines = [_bold(heading, flavor)]
    for number, failure in enumerate(shown, 1):
        step = _escape(str(failure.get("step") or "?"), flavor)
        text = _escape(str(failure.get("message") or ""), flavor)
        lines.append(f"{number}. {_bold(step, flavor)}: {text}")
    return lines


def link_line(message: dict[str, Any], flavor: str) -> str | None:
    link = message.get("link")
    return _link(str(link), "Open the report", flavor) if link else None


def markdown(message: dict[str, Any], flavor: str, failures: int | None = None) -> str:
    """The message as one markdown text in the flavor's dialect (dingtalk, wecom, feishu, slack, plain)."""
    title = _escape(str(message.get("title") or ""), flavor)
    parts = [f"### {title}" if flavor in ("dingtalk", "wecom") else _bold(title, flavor)]
    parts += summary_lines(message, flavor)
    parts += failure_lines(message, flavor, failures)
    if (link := link_line(message, flavor)) is not None:
        parts.append(link)
    # DingTalk's markdown only breaks a line at a blank line.
    return ("\n\n" if flavor == "dingtalk" else "\n").join(parts)


def _fitting(message: dict[str, Any], flavor: str, fits: Any) -> str:
    """The markdown with as many failures as fit the platform's limit (then cut, if even none fit)."""
    count = len(message.get("failures") or [])
    for shown in range(count, -1, -1):
        text = markdown(message, flavor, shown)
        if fits(text):
            return text
    return text


# ---- the platforms ---------------------------------------------------------------------------------------------
def webhook(message: dict[str, Any], url: str, secret: str | None, timestamp_s: int, delivery_id: int) -> Outgoing:
    body = orjson.dumps(message)
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp_s),
        DELIVERY_HEADER: str(delivery_id),
        EVENT_HEADER: str(message.get("event") or ""),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp_s, body)
    return Outgoing(url, body, headers)


def dingtalk(message: dict[str, Any], url: str, secret: str | None, timestamp_ms: int) -> Outgoing:
    text = _fitting(message, "dingtalk", lambda candidate: len(candidate) <= DINGTALK_MAX_CHARS)
    body = {
        "msgtype": "markdown",
        "markdown": {"title": one_line(message.get("title") or "Exile", 100), "text": text[:DINGTALK_MAX_CHARS]},
    }
    return Outgoing(dingtalk_url(url, secret, timestamp_ms), orjson.dumps(body), {"Content-Type": "application/json"})


def wecom(message: dict[str, Any], url: str) -> Outgoing:
    text = _fitting(message, "wecom", lambda candidate: len(candidate.encode()) <= WECOM_MAX_BYTES)
    content = text.encode()[:WECOM_MAX_BYTES].decode("utf-8", "ignore")
    body = {"msgtype": "markdown", "markdown": {"content": content}}
    return Outgoing(url, orjson.dumps(body), {"Content-Type": "application/json"})


def _feishu_template(message: dict[str, Any]) -> str:
    return {"good": "green", "bad": "red"}.get(str(message.get("tone")), "orange")


def feishu(message: dict[str, Any], url: str, secret: str | None, timestamp_s: int) -> Outgoing:
    elements: list[dict[str, Any]] = [
        {"tag": "div", "text": {"tag": "lark_md", "content": "\n".join(summary_lines(message, "feishu"))}}
    ]
    failures = failure_lines(message, "feishu")
    if failures:
        elements += [{"tag": "hr"}, {"tag": "div", "text": {"tag": "lark_md", "content": "\n".join(failures)}}]
    if message.get("link"):
        button = {
            "tag": "button",
            "text": {"tag": "plain_text", "content": "Open the report"},
            "type": "primary",
            "url": str(message["link"]),
        }
        elements.append({"tag": "action", "actions": [button]})
    card = {
        "config": {"wide_screen_mode": True},
        "header": {
            "title": {"tag": "plain_text", "content": one_line(message.get("title") or "Exile", 200)},
            "template": _feishu_template(message),
        },
        "elements": elements,
    }
    body: dict[str, Any] = {}
    if secret:
        body.update(timestamp=str(timestamp_s), sign=feishu_sign(secret, timestamp_s))
    body.update(msg_type="interactive", card=card)
    return Outgoing(url, orjson.dumps(body), {"Content-Type": "application/json"})


def slack(message: dict[str, Any], url: str) -> Outgoing:
    title = one_line(message.get("title") or "Exile", SLACK_HEADER_MAX)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "\n".join(summary_lines(message, "slack"))[:SLACK_SECTION_MAX]},
        },
    ]
    count = len(message.get("failures") or [])
    for shown in range(count, 0, -1):  # as many failures as Slack's limit on a section holds (then cut)
        text = "\n".join(failure_lines(message, "slack", shown))
        if len(text) <= SLACK_SECTION_MAX or shown == 1:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:SLACK_SECTION_MAX]}})
            break
    if (link := link_line(message, "slack")) is not None:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    body = {"text": _escape(title, "slack"), "blocks": blocks}
    return Outgoing(url, orjson.dumps(body), {"Content-Type": "application/json"})


def email(message: dict[str, Any], from_address: str, to: list[str]) -> EmailMessage:
    """A text/plain message with an HTML alternative; the subject is the title on one line."""
    mail = EmailMessage()
    mail["Subject"] = one_line(message.get("title") or "Exile notification", 200)
    mail["From"] = from_address
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=from_address.rsplit("@", 1)[-1])
    lines = [str(message.get("title") or ""), ""]
    lines += [f"Status: {message.get('status')}"]
    lines += [f"{label}: {value}" for label, value in message.get("summary") or []]
    failures = message.get("failures") or []
    if failures:
        lines += ["", "Failures:"]
        lines += [f"{n}. {f.get('step')}: {f.get('message')}" for n, f in enumerate(failures, 1)]
    if message.get("link"):
        lines += ["", f"Report: {message['link']}"]
    mail.set_content("\n".join(lines))
    rows = "".join(
        f"<tr><th align='left'>{html.escape(str(label))}</th><td>{html.escape(str(value))}</td></tr>"
        for label, value in [("Status", message.get("status")), *(message.get("summary") or [])]
    )
    items = "".join(
        f"<li><b>{html.escape(str(f.get('step')))}</b>: {html.escape(str(f.get('message')))}</li>" for f in failures
    )
    link = message.get("link")
    page = (
        f"<h3>{html.escape(str(message.get('title') or ''))}</h3><table>{rows}</table>"
        + (f"<p><b>Failures</b></p><ol>{items}</ol>" if items else "")
        + (f"<p><a href='{html.escape(str(link), quote=True)}'>Open the report</a></p>" if link else "")
    )
    mail.add_alternative(page, subtype="html")
    return mail


def render(
    channel_type: ChannelType,
    message: dict[str, Any],
    url: str,
    secret: str | None,
    *,
    now: float,
    delivery_id: int,
) -> Outgoing:
    """The POST for an HTTP channel at time `now` (unix seconds): timestamps and signatures are made per attempt."""
    if channel_type == ChannelType.WEBHOOK:
        return webhook(message, url, secret, int(now), delivery_id)
    if channel_type == ChannelType.DINGTALK:
        return dingtalk(message, url, secret, int(now * 1000))
    if channel_type == ChannelType.FEISHU:
        return feishu(message, url, secret, int(now))
    if channel_type == ChannelType.WECOM:
        return wecom(message, url)
    if channel_type == ChannelType.SLACK:
        return slack(message, url)
    raise ValueError(f"{channel_type} is not sent over HTTP")


def platform_error(channel_type: ChannelType, answer: str) -> str | None:
    """The robots answer 200 with an error code in the body (a bad signature, a rate limit): that is a failure."""
    if channel_type not in (ChannelType.DINGTALK, ChannelType.FEISHU, ChannelType.WECOM):
        return None
    try:
        parsed = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return None  # cut at RESPONSE_KEEP, or not JSON: the HTTP status said it was accepted
    if not isinstance(parsed, dict):
        return None
    for code_key, text_key in (("errcode", "errmsg"), ("code", "msg"), ("StatusCode", "StatusMessage")):
        code = parsed.get(code_key)
        if isinstance(code, int) and code != 0:
            return f"{channel_type} answered error {code}: {one_line(parsed.get(text_key) or '', 300)}"
    return None
