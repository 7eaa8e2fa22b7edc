"""Notifications: a project's channels (webhook, DingTalk, Feishu/Lark, WeCom, Slack, e-mail), the rules of what
each is sent, and the deliveries, recorded with their event and sent in the background (docs/notifications.md).

- events.py: what happened (a run ended, a plan run ended, a tick was missed) recorded per channel, throttled.
- messages.py: the platform-neutral message (summary, top failures, report link), masked and bounded.
- formats.py: that message in each platform's format, with each platform's signature (pure functions).
- delivery.py: sending after the commit, claimed, retried with backoff, resumed by a sweep.
- service.py / router.py / schemas.py: the channels' API.

Why not apprise (the lead's decision, checked against its plugins' source): it brings some hundred services for
these six and gets the two signed robots wrong. Its Feishu plugin sends plain text and never signs (a robot with
签名校验 on refuses every message); its DingTalk plugin URL-encodes the sign and then hands it to requests as a query
parameter, which encodes it again, and labels a markdown body `msgtype: text`. Both count an HTTP 200 as delivered,
while these robots answer 200 with `errcode`/`code` set for a bad signature or a rate limit. It has no card or
Block Kit layout for a summary with its top failures, and it sends in one call, without the per-attempt record
(status, answer, backoff) and the lease our deliveries keep. The formatters here are a few pure functions, each
tested against a local receiver that checks the platform's documented signature.
"""
