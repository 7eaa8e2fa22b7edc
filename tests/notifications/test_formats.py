"""The formats as pure functions: the platforms' documented signatures, their size limits and their markup."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from typing import Any

import orjson

from app.models.notification import ChannelType
from app.notifications import formats


def message(**extra: Any) -> dict[str, Any]:
    return {
        "event": "run_failed",
        "title": "[shop] checkout failed",
        "status": "failed",
        "tone": "bad",
        "summary": [["Environment", "staging"], ["Requests", "3 (2 passed, 1 failed)"]],
        "failures": [{"step": "pay", "message": "status_code eq 200: expected 200, got 503"}],
        "more_failures": 0,
        "link": "https://exile.example.com/api/v1/scenario-runs/7/report?format=html",
        **extra,
    }


def test_dingtalk_signs_as_its_python_example_does():
    # DingTalk's own example: hmac(secret, "timestamp\nsecret"), base64, then urllib.parse.quote_plus.
    secret, timestamp = "SECthis-is-secret", 1577262236757
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    documented = urllib.parse.quote_plus(base64.b64encode(digest.digest()))
    url = formats.dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=abc", secret, timestamp)
    assert url == f"https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp={timestamp}&sign={documented}"
    assert formats.dingtalk_url("https://x.example/robot/send", None, timestamp) == "https://x.example/robot/send"


def test_feishu_signs_with_the_timestamp_and_secret_as_the_key_and_an_empty_message():
    secret, timestamp = "feishu-secret", 1599360473
    documented = base64.b64encode(hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    body = orjson.loads(
        formats.feishu(message(), "https://open.feishu.cn/open-apis/bot/v2/hook/x", secret, timestamp).body
    )
    assert body["timestamp"] == str(timestamp) and body["sign"] == documented
    assert body["msg_type"] == "interactive" and body["card"]["header"]["template"] == "red"
    unsigned = orjson.loads(formats.feishu(message(tone="good"), "https://f.example/h", None, timestamp).body)
    assert "sign" not in unsigned and "timestamp" not in unsigned and unsigned["card"]["header"]["template"] == "green"


def test_wecom_content_fits_4096_bytes_by_dropping_failures_first():
    long_failures = [{"step": f"步骤 {n}", "message": "断言失败:" + "响应体不符合预期" * 40} for n in range(5)]
    outgoing = formats.wecom(message(failures=long_failures), "https://qyapi.weixin.qq.com/x?key=k")
    content = orjson.loads(outgoing.body)["markdown"]["content"]
    assert len(content.encode()) <= formats.WECOM_MAX_BYTES
    assert "**Environment**: staging" in content and "[Open the report](" in content  # the summary and link stay
    assert "步骤 0" in content and "步骤 4" not in content and "Top failures (" in content


def test_slack_escapes_its_markup_and_keeps_sections_under_its_limit():
    failures = [{"step": "a<b>&c", "message": "<!channel> " + "x" * 900} for _ in range(5)]
    body = orjson.loads(formats.slack(message(failures=failures, title="a & <b>"), "https://hooks.slack.com/x").body)
    assert body["text"] == "a &amp; &lt;b&gt;"
    sections = [block["text"]["text"] for block in body["blocks"] if block["type"] == "section"]
    assert all(len(text) <= formats.SLACK_SECTION_MAX for text in sections)
    assert "<!channel>" not in orjson.dumps(body).decode() and "&lt;!channel&gt;" in sections[1]


def test_a_robot_s_200_with_an_error_code_is_a_failure():
    assert formats.platform_error(ChannelType.DINGTALK, '{"errcode":0,"errmsg":"ok"}') is None
    assert formats.platform_error(ChannelType.DINGTALK, '{"errcode":130101,"errmsg":"send too fast"}') == (
        "dingtalk answered error 130101: send too fast"
    )
    assert formats.platform_error(ChannelType.FEISHU, '{"code":9499,"msg":"Bad Request"}') == (
        "feishu answered error 9499: Bad Request"
    )
    assert formats.platform_error(ChannelType.FEISHU, '{"StatusCode":0,"StatusMessage":"success"}') is None
    assert formats.platform_error(ChannelType.WECOM, "not json") is None
    assert formats.platform_error(ChannelType.SLACK, '{"errcode": 1}') is None  # Slack says it with a status


def test_the_webhook_body_is_the_message_signed_like_a_run_callback():
    outgoing = formats.webhook(message(), "https://ci.example.com/hook", "whsec-abcdef", 1700000000, 9)
    expected = hmac.new(b"whsec-abcdef", b"1700000000." + outgoing.body, hashlib.sha256).hexdigest()
    assert outgoing.headers["X-Exile-Signature"] == f"sha256={expected}"
    assert outgoing.headers["X-Exile-Delivery"] == "9" and outgoing.headers["X-Exile-Event"] == "run_failed"
    assert orjson.loads(outgoing.body) == message()
    assert "X-Exile-Signature" not in formats.webhook(message(), "https://x.example", None, 1, 1).headers
