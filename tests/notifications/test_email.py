"""E-mail channels against a real SMTP receiver (aiosmtpd on 127.0.0.1): STARTTLS and a login, or plain."""

from __future__ import annotations

from typing import Any

from tests.notifications.conftest import API, Mailbox, add_channel, deliveries, flow_on, run_once


def email_settings(box: Mailbox, **extra: Any) -> dict[str, Any]:
    return {
        "host": box.host,
        "port": box.port,
        "security": "none",
        "from_address": "exile@example.com",
        "to": ["qa@example.com", "dev@example.com"],
        **extra,
    }


async def test_a_failed_run_is_mailed_over_starttls_with_a_login(api, platforms, mailboxes):
    box = mailboxes["starttls"]
    ids = await flow_on(api, platforms)
    settings = email_settings(box, security="starttls", verify_tls=False, username="qa-bot", password="smtp-pass-123")
    channel = await add_channel(
        api, ids["project"], {"name": "mail", "type": "email", "events": ["run_failed"], "email": settings}
    )
    platforms.flip_status = 503
    run = await run_once(api, ids)

    [(sender, recipients, mail)] = box.messages
    assert box.logins == [("qa-bot", "smtp-pass-123")]
    assert sender == "exile@example.com" and recipients == ["qa@example.com", "dev@example.com"]
    assert mail["Subject"] == "[shop] checkout failed" and mail["To"] == "qa@example.com, dev@example.com"
    text, page = (part.get_payload(decode=True).decode() for part in mail.walk() if not part.is_multipart())
    assert "Status: failed" in text and "Environment: staging" in text and "1. get order:" in text
    assert f"/api/v1/scenario-runs/{run['id']}/report?format=html" in text
    assert "<li><b>get order</b>" in page

    [recorded] = await deliveries(api, channel["id"])
    assert recorded["status"] == "delivered" and recorded["last_status_code"] == 250
    assert "smtp-pass-123" not in str(recorded)


async def test_a_refused_login_is_recorded_and_the_password_never_shown(api, platforms, mailboxes, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setattr(get_settings(), "notify_attempts", 2)
    box = mailboxes["starttls"]
    ids = await flow_on(api, platforms)
    settings = email_settings(box, security="starttls", verify_tls=False, username="qa-bot", password="wrong-pass-456")
    channel = await add_channel(
        api, ids["project"], {"name": "mail", "type": "email", "events": ["run_finished"], "email": settings}
    )
    await run_once(api, ids)
    assert box.messages == [] and set(box.logins) == {("qa-bot", "wrong-pass-456")}
    [recorded] = await deliveries(api, channel["id"])
    assert recorded["status"] == "failed" and recorded["attempts"] == 2 and recorded["last_status_code"] == 535
    assert "wrong-pass-456" not in str(recorded)


async def test_a_plain_server_gets_the_test_message(api, platforms, mailboxes):
    box = mailboxes["plain"]
    ids = await flow_on(api, platforms)
    channel = await add_channel(api, ids["project"], {"name": "mail", "type": "email", "email": email_settings(box)})
    answer = await api.post(f"{API}/channels/{channel['id']}/test")
    assert answer.status_code == 200 and answer.json()["status"] == "delivered", answer.text
    [(_sender, _recipients, mail)] = box.messages
    assert mail["Subject"] == "[shop] Test message from Exile"
