"""Fake receivers for each platform on 127.0.0.1, each checking the signature exactly as the platform documents it
and answering as the platform does; an SMTP receiver (aiosmtpd); a target for the runs; small retry settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import orjson
import pytest
from aiohttp import web

from app.core.config import get_settings
from app.notifications import delivery
from tests.conftest import settle_inline_runs
from tests.factories import create, project
from tests.local_server import self_signed_server_context, serving

API = "/api/v1"
ONE_HOUR = 3600
SLACK_BLOCKS = {"header", "section", "context", "divider", "actions"}


@dataclass
class Received:
    platform: str
    name: str
    headers: dict[str, str]
    query: dict[str, str]
    raw_query: str
    body: bytes
    verdict: str  # "ok", or why the fake platform refused it

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Platforms:
    """One aiohttp app playing webhook receiver, DingTalk, Feishu, WeCom and Slack. `secrets[name]` is the signing
    secret a receiver checks with (None: signing off), `tokens[name]` the token its URL must carry, `plans[name]`
    the HTTP statuses it answers first (then 200)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    secrets: dict[str, str | None] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    plans: dict[str, list[int]] = field(default_factory=dict)
    flip_status: int = 200  # what the target's /flip answers (a flapping scenario)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhook/{name}", self.webhook)
        app.router.add_post("/dingtalk/{name}/robot/send", self.dingtalk)
        app.router.add_post("/feishu/{name}/open-apis/bot/v2/hook/{token}", self.feishu)
        app.router.add_post("/wecom/{name}/cgi-bin/webhook/send", self.wecom)
        app.router.add_post("/slack/{name}/services/{team}/{bot}/{token}", self.slack)
        app.router.add_get("/flip", self.flip)
        app.router.add_get("/echo", self.echo)
        return app

    def of(self, name: str) -> list[Received]:
        return [item for item in self.received if item.name == name]

    async def _record(self, request: web.Request, platform: str, verdict: str) -> Received:
        item = Received(
            platform,
            request.match_info["name"],
            dict(request.headers),
            dict(request.rel_url.query),
            request.rel_url.raw_query_string,
            await request.read(),
            verdict,
        )
        self.received.append(item)
        return item

    def _planned(self, name: str) -> int | None:
        plan = self.plans.get(name) or []
        return plan.pop(0) if plan else None

    # -- a generic webhook, signed like run callbacks: sha256=hex(HMAC-SHA256(secret, timestamp + "." + body))
    async def webhook(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        secret = self.secrets.get(name)
        verdict = "ok"
        if request.headers.get("Content-Type") != "application/json":
            verdict = "not json"
        elif secret:
            timestamp = request.headers.get("X-Exile-Timestamp", "")
            expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get("X-Exile-Signature", ""), f"sha256={expected}"):
                verdict = "bad signature"
            elif abs(time.time() - int(timestamp)) > 300:
                verdict = "old timestamp"
        await self._record(request, "webhook", verdict)
        if (status := self._planned(name)) is not None:
            return web.Response(status=status, text="busy " * 200)
        return web.Response(status=200 if verdict == "ok" else 401, text="thanks" if verdict == "ok" else verdict)

    # -- DingTalk robot: ?access_token=...&timestamp=<ms>&sign=urlEncode(base64(HmacSHA256(secret, ts+"\n"+secret)))
    async def dingtalk(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        query = request.rel_url.query
        secret = self.secrets.get(name)
        verdict = "ok"
        if query.get("access_token") != self.tokens.get(name):
            verdict = "token is not exist"
        elif secret:
            timestamp = query.get("timestamp", "")
            digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
            expected = base64.b64encode(digest).decode()
            if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > ONE_HOUR * 1000:
                verdict = "timestamp is more than one hour off"
            elif query.get("sign") != expected:
                verdict = "sign not match"
            elif f"sign={quote_plus(expected)}" not in request.rel_url.raw_query_string:
                verdict = "sign is not URL-encoded"
        if verdict == "ok":
            body = orjson.loads(await request.read())
            markdown = body.get("markdown") or {}
            if body.get("msgtype") != "markdown" or not markdown.get("title") or not markdown.get("text"):
                verdict = "not a markdown message"
        await self._record(request, "dingtalk", verdict)
        if (status := self._planned(name)) is not None:
            return web.Response(status=status)
        if verdict == "ok":
            return web.json_response({"errcode": 0, "errmsg": "ok"})
        return web.json_response({"errcode": 310000, "errmsg": verdict})  # DingTalk answers 200 even then

    # -- Feishu custom bot: {"timestamp": "<s>", "sign": base64(HmacSHA256(key=ts+"\n"+secret, msg="")), ...}
    async def feishu(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = orjson.loads(await request.read())
        secret = self.secrets.get(name)
        verdict = "ok"
        if request.match_info["token"] != self.tokens.get(name):
            verdict = "incoming webhook access token invalid"
        elif secret:
            timestamp = str(body.get("timestamp", ""))
            digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
            if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > ONE_HOUR:
                verdict = "timestamp is not within one hour from current time"
            elif body.get("sign") != base64.b64encode(digest).decode():
                verdict = "sign match fail"
        if verdict == "ok":
            card = body.get("card") or {}
            title = ((card.get("header") or {}).get("title") or {}).get("content")
            if body.get("msg_type") != "interactive" or not title or not isinstance(card.get("elements"), list):
                verdict = "not an interactive card"
        await self._record(request, "feishu", verdict)
        if (status := self._planned(name)) is not None:
            return web.Response(status=status)
        if verdict == "ok":
            return web.json_response({"code": 0, "data": {}, "msg": "success"})
        return web.json_response({"code": 19021, "data": {}, "msg": verdict})

    # -- WeCom group robot: ?key=..., {"msgtype": "markdown", "markdown": {"content": <= 4096 bytes}}
    async def wecom(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = orjson.loads(await request.read())
        verdict = "ok"
        content = (body.get("markdown") or {}).get("content")
        if request.rel_url.query.get("key") != self.tokens.get(name):
            verdict = "invalid webhook url"
        elif body.get("msgtype") != "markdown" or not isinstance(content, str) or not content:
            verdict = "not a markdown message"
        elif len(content.encode()) > 4096:
            verdict = "content exceed max length 4096"
        await self._record(request, "wecom", verdict)
        if (status := self._planned(name)) is not None:
            return web.Response(status=status)
        return web.json_response({"errcode": 0 if verdict == "ok" else 93000, "errmsg": verdict})

    # -- Slack incoming webhook: {"text": fallback, "blocks": [...]}; "ok" or 400 invalid_blocks
    async def slack(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = orjson.loads(await request.read())
        verdict = "ok"
        blocks = body.get("blocks")
        if request.match_info["token"] != self.tokens.get(name):
            verdict = "no_service"
        elif not isinstance(body.get("text"), str) or not isinstance(blocks, list) or not blocks:
            verdict = "invalid_payload"
        else:
            for block in blocks:
                text = block.get("text") or {}
                if block.get("type") not in SLACK_BLOCKS:
                    verdict = "invalid_blocks"
                elif block["type"] == "header" and (text.get("type") != "plain_text" or len(text["text"]) > 150):
                    verdict = "invalid_blocks"
                elif block["type"] == "section" and (text.get("type") != "mrkdwn" or len(text["text"]) > 3000):
                    verdict = "invalid_blocks"
        await self._record(request, "slack", verdict)
        if (status := self._planned(name)) is not None:
            return web.Response(status=status)
        if verdict == "ok":
            return web.Response(text="ok")
        return web.Response(status=404 if verdict == "no_service" else 400, text=verdict)

    # -- the target the scenarios call
    async def flip(self, request: web.Request) -> web.Response:
        return web.json_response({"code": self.flip_status}, status=self.flip_status)

    async def echo(self, request: web.Request) -> web.Response:
        return web.json_response({"key": request.query.get("key", ""), "code": 1})


@pytest.fixture(scope="session")
async def platforms_server() -> AsyncIterator[Platforms]:
    platforms = Platforms()
    async with serving(platforms.app()) as platforms.url:
        yield platforms


@pytest.fixture(autouse=True)
async def sending(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Deliveries are sent right after the commit on the tests' loop (as in the API process); retries are quick."""
    settings = get_settings()
    monkeypatch.setattr(settings, "notify_backoff_seconds", 0.05)
    monkeypatch.setattr(settings, "notify_timeout_seconds", 2.0)
    monkeypatch.setattr(settings, "notify_attempts", 5)
    delivery.send_in_background_here()
    yield
    await settled()


@pytest.fixture
async def platforms(platforms_server: Platforms) -> Platforms:
    platforms_server.received.clear()
    platforms_server.secrets.clear()
    platforms_server.tokens.clear()
    platforms_server.plans.clear()
    platforms_server.flip_status = 200
    return platforms_server


async def settled() -> None:
    """Inline runs are done, and so is the sending they started."""
    await settle_inline_runs()
    await delivery.wait_for_background()


async def flow_on(
    api: httpx.AsyncClient, platforms: Platforms, *, path: str = "/flip", **environment: Any
) -> dict[str, int]:
    """A project, an environment on the local target, and a one-step scenario asserting status 200."""
    proj = await project(api)
    env = await create(
        api,
        f"{API}/projects/{proj['id']}/environments",
        {"name": "staging", "base_url": platforms.url, **environment},
    )
    case = await create(
        api,
        f"{API}/cases",
        {
            "project_id": proj["id"],
            "name": "get order",
            "method": "GET",
            "url": path,
            "assertions": [{"source": "status_code", "op": "eq", "expected": 200}],
        },
    )
    flow = await create(api, f"{API}/scenarios", {"project_id": proj["id"], "name": "checkout"})
    assert (await api.put(f"{API}/scenarios/{flow['id']}/steps", json=[{"case_id": case["id"]}])).status_code == 200
    return {"project": proj["id"], "env": env["id"], "scenario": flow["id"], "case": case["id"]}


async def run_once(api: httpx.AsyncClient, ids: dict[str, int], **extra: Any) -> dict[str, Any]:
    body = {"environment_id": ids["env"], **extra}
    response = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json=body)
    assert response.status_code == 202, response.text
    await settled()
    run = (await api.get(f"{API}/scenario-runs/{response.json()['id']}")).json()
    return dict(run)


async def add_channel(api: httpx.AsyncClient, project_id: int, body: dict[str, Any]) -> dict[str, Any]:
    return await create(api, f"{API}/projects/{project_id}/channels", body)


async def deliveries(api: httpx.AsyncClient, channel_id: int, **query: Any) -> list[dict[str, Any]]:
    response = await api.get(f"{API}/channels/{channel_id}/deliveries", params={"page_size": 200, **query})
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["items"]))  # oldest first


# ---- SMTP ----------------------------------------------------------------------------------------------------------
@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[dict[str, Mailbox]]:
    """Two aiosmtpd receivers: `plain` (no TLS, no login) and `starttls` (STARTTLS required, then AUTH LOGIN)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    boxes = {"plain": Mailbox("127.0.0.1", _free_port()), "starttls": Mailbox("127.0.0.1", _free_port())}

    class Handler:
        def __init__(self, box: Mailbox) -> None:
            self.box = box

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.box.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
            )
            return "250 2.0.0 queued as 42"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        box = boxes["starttls"]
        if isinstance(data, LoginPassword):
            login, password = data.login.decode(), data.password.decode()
            box.logins.append((login, password))
            if (login, password) == ("qa-bot", "smtp-pass-123"):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)  # not handled: the server answers 535 itself

    with tempfile.TemporaryDirectory() as directory:
        context = self_signed_server_context(Path(directory), "127.0.0.1")
        plain = Controller(Handler(boxes["plain"]), hostname="127.0.0.1", port=boxes["plain"].port)
        secure = Controller(
            Handler(boxes["starttls"]),
            hostname="127.0.0.1",
            port=boxes["starttls"].port,
            tls_context=context,
            require_starttls=True,
            authenticator=authenticate,
            auth_required=True,
        )
        plain.start()
        secure.start()
        try:
            yield boxes
        finally:
            plain.stop()
            secure.stop()


@pytest.fixture
def mailboxes(smtp_server: dict[str, Mailbox]) -> dict[str, Mailbox]:
    for box in smtp_server.values():
        box.messages.clear()
        box.logins.clear()
    return smtp_server
