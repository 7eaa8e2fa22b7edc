"""What a run's end sends to each platform: its format, its valid signature, retries, the throttle, recovery, masking,
the sweep after a crash, the reaper's runs, other domains' events, and a test message from the API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import update

from app.core.config import get_settings
from app.core.db import get_session_factory
from app.models import NotificationChannel, NotificationDelivery, ScenarioRun
from app.models.base import utcnow
from app.notifications import delivery, events
from app.runs import dispatch
from app.runs.executor import reap_stale_runs
from tests.notifications.conftest import (
    API,
    Platforms,
    add_channel,
    deliveries,
    flow_on,
    run_once,
    settled,
)

CI = {"commit": "3f2c9a1", "branch": "main", "build_url": "https://ci.example.com/job/api/88/"}
SIGNING = "whsec-notify-0123456789"


def channels_for(platforms: Platforms, name: str) -> dict[str, dict[str, Any]]:
    """A channel of each HTTP type on the fake platforms, each with its token (and secret where signed)."""
    token = f"tok-{name}-0123456789"
    base = platforms.url
    for platform in ("webhook", "dingtalk", "feishu", "wecom", "slack"):
        platforms.tokens[f"{name}-{platform}"] = token
    for platform in ("webhook", "dingtalk", "feishu"):
        platforms.secrets[f"{name}-{platform}"] = f"{SIGNING}-{platform}"
    return {
        "webhook": {"url": f"{base}/webhook/{name}-webhook", "secret": f"{SIGNING}-webhook"},
        "dingtalk": {
            "url": f"{base}/dingtalk/{name}-dingtalk/robot/send?access_token={token}",
            "secret": f"{SIGNING}-dingtalk",
        },
        "feishu": {"url": f"{base}/feishu/{name}-feishu/open-apis/bot/v2/hook/{token}", "secret": f"{SIGNING}-feishu"},
        "wecom": {"url": f"{base}/wecom/{name}-wecom/cgi-bin/webhook/send?key={token}"},
        "slack": {"url": f"{base}/slack/{name}-slack/services/T0001/B0001/{token}"},
    }


async def test_each_platform_gets_its_own_format_with_a_valid_signature(api, platforms, monkeypatch):
    monkeypatch.setattr(get_settings(), "public_url", "https://exile.example.com/")
    ids = await flow_on(api, platforms)
    made = {}
    for kind, settings in channels_for(platforms, "fmt").items():
        made[kind] = await add_channel(
            api, ids["project"], {"name": kind, "type": kind, "events": ["run_failed"], **settings}
        )
    platforms.flip_status = 503
    run = await run_once(api, ids, trigger="ci", ci=CI)
    assert run["status"] == "failed"

    report = f"https://exile.example.com/api/v1/scenario-runs/{run['id']}/report?format=html"
    for kind in made:
        [received] = platforms.of(f"fmt-{kind}")
        assert received.verdict == "ok", (kind, received.verdict)
        [recorded] = await deliveries(api, made[kind]["id"])
        assert recorded["status"] == "delivered" and recorded["attempts"] == 1, recorded
        assert recorded["event"] == "run_failed" and recorded["run_id"] == run["id"]

    webhook = platforms.of("fmt-webhook")[0]
    message = webhook.json
    assert webhook.headers["X-Exile-Event"] == "run_failed"
    assert message["status"] == "failed" and message["title"] == "[shop] checkout failed"
    assert message["link"] == report and message["details"]["ci"] == CI
    assert message["details"]["requests"]["failed"] == 1 and message["details"]["environment_name"] == "staging"
    [failure] = message["failures"]
    assert failure["step"] == "get order" and "503" in failure["message"]
    summary = dict(message["summary"])
    assert summary["Environment"] == "staging" and summary["Branch"] == "main" and summary["Commit"] == "3f2c9a1"
    assert summary["Requests"].startswith("1") and summary["Trigger"] == "ci"

    dingtalk = platforms.of("fmt-dingtalk")[0].json
    assert dingtalk["markdown"]["title"] == "[shop] checkout failed"
    text = dingtalk["markdown"]["text"]
    assert "**Environment**: staging" in text and "get order" in text and f"[Open the report]({report})" in text

    card = platforms.of("fmt-feishu")[0].json["card"]
    assert card["header"]["template"] == "red" and card["header"]["title"]["content"] == "[shop] checkout failed"
    assert card["elements"][-1]["actions"][0]["url"] == report
    assert any("get order" in element.get("text", {}).get("content", "") for element in card["elements"])

    content = platforms.of("fmt-wecom")[0].json["markdown"]["content"]
    assert '<font color="warning">failed</font>' in content and f"[Open the report]({report})" in content

    slack = platforms.of("fmt-slack")[0].json
    assert slack["text"] == "[shop] checkout failed"
    assert slack["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "[shop] checkout failed"}}
    assert f"<{report}|Open the report>" in orjson.dumps(slack["blocks"]).decode()


async def test_a_wrong_secret_is_refused_by_the_platform_and_recorded_as_failed(api, platforms, monkeypatch):
    monkeypatch.setattr(get_settings(), "notify_attempts", 2)
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "wrong")
    for kind in ("webhook", "dingtalk", "feishu"):
        platforms.secrets[f"wrong-{kind}"] = "the-platforms-own-secret"
        await add_channel(
            api, ids["project"], {"name": kind, "type": kind, "events": ["run_finished"], **settings[kind]}
        )
    await run_once(api, ids)
    async with get_session_factory()() as session:
        from sqlalchemy import select

        rows = list(await session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)))
    assert [row.status for row in rows] == ["failed"] * 3
    errors = sorted(str(row.last_error) for row in rows)
    assert errors == [
        "answered 401",
        "dingtalk answered error 310000: sign not match",
        "feishu answered error 19021: sign match fail",
    ]
    assert all(row.attempts == 2 for row in rows)  # retried: a wrong key is fixed by editing the channel
    assert {item.verdict for item in platforms.received} == {"bad signature", "sign not match", "sign match fail"}


async def test_a_receiver_that_answers_500_twice_gets_the_retries_then_the_message(api, platforms):
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "retry")
    channel = await add_channel(
        api, ids["project"], {"name": "w", "type": "webhook", "events": ["run_finished"], **settings["webhook"]}
    )
    platforms.plans["retry-webhook"] = [500, 500]
    await run_once(api, ids)
    calls = platforms.of("retry-webhook")
    assert len(calls) == 3 and len({call.body for call in calls}) == 1  # the same message each time
    for call in calls:
        expected = hmac.new(
            settings["webhook"]["secret"].encode(),
            call.headers["X-Exile-Timestamp"].encode() + b"." + call.body,
            hashlib.sha256,
        ).hexdigest()
        assert call.headers["X-Exile-Signature"] == f"sha256={expected}"
    [recorded] = await deliveries(api, channel["id"])
    assert recorded["status"] == "delivered" and recorded["attempts"] == 3 and recorded["last_status_code"] == 200
    log = recorded["attempt_log"]
    assert [a["status_code"] for a in log] == [500, 500, 200] and log[0]["error"] == "answered 500"
    assert len(log[0]["response"]) <= delivery.RESPONSE_KEEP


async def test_a_flapping_scenario_sends_at_most_the_throttle_s_number_of_messages(api, platforms):
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "flap")["slack"]
    channel = await add_channel(
        api,
        ids["project"],
        {
            "name": "s",
            "type": "slack",
            "events": ["run_failed", "run_recovered"],
            "throttle": {"max_messages": 3, "window_seconds": 3600},
            **settings,
        },
    )
    statuses = []
    for flip in (200, 503, 200, 503, 200, 503, 200, 503):
        platforms.flip_status = flip
        statuses.append((await run_once(api, ids))["status"])
    assert statuses == ["passed", "failed"] * 4
    assert len(platforms.of("flap-slack")) == 3
    recorded = await deliveries(api, channel["id"])
    assert [(d["event"], d["status"]) for d in recorded] == [
        ("run_failed", "delivered"),
        ("run_recovered", "delivered"),
        ("run_failed", "delivered"),
        ("run_recovered", "throttled"),
        ("run_failed", "throttled"),
        ("run_recovered", "throttled"),
        ("run_failed", "throttled"),
    ]
    assert all(d["attempts"] == 0 for d in recorded if d["status"] == "throttled")
    # The throttle is per subject: another scenario of the project still gets its message.
    other = await flow_on(api, platforms)
    async with get_session_factory()() as session:
        await session.execute(
            update(NotificationChannel)
            .where(NotificationChannel.id == channel["id"])
            .values(project_id=other["project"])
        )
        await session.commit()
    platforms.flip_status = 503
    await run_once(api, other)
    assert len(platforms.of("flap-slack")) == 4


async def test_recovered_fires_on_fail_then_pass_only_in_the_same_environment(api, platforms):
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "rec")["wecom"]
    channel = await add_channel(
        api, ids["project"], {"name": "w", "type": "wecom", "events": ["run_recovered"], **settings}
    )
    other_env = await api.post(
        f"{API}/projects/{ids['project']}/environments", json={"name": "prod", "base_url": platforms.url}
    )
    prod = {**ids, "env": other_env.json()["id"]}
    for flip, where in ((200, ids), (200, ids), (503, ids), (200, prod), (200, ids), (200, ids)):
        platforms.flip_status = flip
        await run_once(api, where)
    # Only the staging pass after the staging failure: prod had no failure before its pass.
    [received] = platforms.of("rec-wecom")
    assert '<font color="info">passed</font>' in received.json["markdown"]["content"]
    assert "checkout recovered" in received.json["markdown"]["content"]
    [recorded] = await deliveries(api, channel["id"])
    assert recorded["event"] == "run_recovered" and recorded["message"]["summary"][1] == ["Environment", "staging"]


async def test_secrets_never_appear_in_a_message(api, platforms):
    env_secret = "s3cr3t-api-key-0042"
    ids = await flow_on(api, platforms, path="/echo?key={{api_key}}", secret_variables={"api_key": env_secret})
    async with get_session_factory()() as session:  # the case now fails on the echoed key
        from app.models import ApiRequest

        await session.execute(
            update(ApiRequest)
            .where(ApiRequest.id == ids["case"])
            .values(assertions=[{"source": "body", "expression": "$.key", "op": "eq", "expected": "something else"}])
        )
        await session.commit()
    settings = channels_for(platforms, "mask")
    for kind, values in settings.items():
        await add_channel(api, ids["project"], {"name": kind, "type": kind, "events": ["run_failed"], **values})
    run = await run_once(api, ids, ci={"commit": env_secret, "branch": "main"})
    assert run["status"] == "failed"
    assert len(platforms.received) == 5 and all(item.verdict == "ok" for item in platforms.received)
    for item in platforms.received:
        sent = item.body.decode()
        assert env_secret not in sent and "******" in sent, item.platform
        # No channel's token or signing secret either.
        assert "tok-mask-0123456789" not in sent and all(
            v["secret"] not in sent for v in settings.values() if "secret" in v
        )
    webhook = platforms.of("mask-webhook")[0].json
    assert "******" in webhook["failures"][0]["message"] and webhook["details"]["ci"]["commit"] == "******"
    async with get_session_factory()() as session:
        from sqlalchemy import select

        stored = list(await session.scalars(select(NotificationDelivery.message)))
    assert stored and all(env_secret not in text for text in stored)


async def test_a_delivery_left_by_a_dead_process_is_sent_once_by_the_sweep(api, platforms, monkeypatch):
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "sweep")["dingtalk"]
    channel = await add_channel(
        api, ids["project"], {"name": "d", "type": "dingtalk", "events": ["run_finished"], **settings}
    )
    monkeypatch.setattr(delivery, "_long_lived", set())  # as in a Celery task's loop: nothing sent after the commit
    await run_once(api, ids)
    delivery._left.pop(dispatch.runs_thread().loop, None)  # ... and the task's process died before sending it
    assert platforms.of("sweep-dingtalk") == []
    [pending] = await deliveries(api, channel["id"])
    assert pending["status"] == "pending" and pending["attempts"] == 0
    # Someone held it and died: nobody sends it while the lease runs, then one of three sweepers does.
    async with get_session_factory()() as session:
        await session.execute(
            update(NotificationDelivery).values(claimed_by="dead:1", claimed_until=utcnow() + timedelta(seconds=60))
        )
        await session.commit()
    assert await delivery.resume_pending(get_session_factory()) == 0
    async with get_session_factory()() as session:
        await session.execute(update(NotificationDelivery).values(claimed_until=utcnow() - timedelta(seconds=1)))
        await session.commit()
    sent = await asyncio.gather(*(delivery.resume_pending(get_session_factory()) for _ in range(3)))
    assert sum(sent) == 1 and await delivery.resume_pending(get_session_factory()) == 0
    [received] = platforms.of("sweep-dingtalk")
    assert received.verdict == "ok"
    [done] = await deliveries(api, channel["id"])
    assert done["status"] == "delivered" and done["attempts"] == 1


async def send_left_on_the_runs_loop() -> int:
    """send_left_here on the loop the run executed on (inline runs have their own: app.runs.dispatch.RunsThread)."""
    runs_loop = dispatch.runs_thread().loop
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(delivery.send_left_here(), runs_loop))


async def test_what_a_short_lived_loop_recorded_is_sent_when_its_task_ends(api, platforms, monkeypatch):
    """A Celery task's or a run pool process's loop: nothing is started after the commit, and the task sends
    what it recorded before it returns (send_left_here), once."""
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "left")["webhook"]
    channel = await add_channel(
        api, ids["project"], {"name": "w", "type": "webhook", "events": ["run_finished"], **settings}
    )
    monkeypatch.setattr(delivery, "_long_lived", set())  # the runs thread's loop, as if it were a task's
    await run_once(api, ids)
    assert platforms.of("left-webhook") == []
    assert await send_left_on_the_runs_loop() == 1
    assert await send_left_on_the_runs_loop() == 0
    [received] = platforms.of("left-webhook")
    assert received.verdict == "ok"
    [done] = await deliveries(api, channel["id"])
    assert done["status"] == "delivered" and done["attempts"] == 1


async def test_a_run_the_reaper_interrupts_is_announced_as_failed(api, platforms, user):
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "reap")["feishu"]
    channel = await add_channel(
        api, ids["project"], {"name": "f", "type": "feishu", "events": ["run_failed"], **settings}
    )
    long_ago = utcnow() - timedelta(hours=1)
    async with get_session_factory()() as session:
        stale = ScenarioRun(
            project_id=ids["project"],
            scenario_id=ids["scenario"],
            environment_id=ids["env"],
            kind="scenario",
            status="running",
            trigger="schedule",
            executor="inline",
            created_by_id=user.id,
            created_at=long_ago,
            started_at=long_ago,
            heartbeat_at=long_ago,
            iterations_total=1,
        )
        session.add(stale)
        await session.commit()
    assert await reap_stale_runs(get_session_factory(), stale_after_s=60) == 1
    await settled()
    [received] = platforms.of("reap-feishu")
    assert (
        received.verdict == "ok"
        and received.json["card"]["header"]["title"]["content"] == "[shop] checkout interrupted"
    )
    [recorded] = await deliveries(api, channel["id"])
    assert recorded["status"] == "delivered" and recorded["run_id"] == stale.id


async def test_a_new_failure_cause_is_announced_as_such_and_a_known_one_as_a_failure(api, platforms):
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "cause")["webhook"]
    channel = await add_channel(
        api,
        ids["project"],
        {"name": "w", "type": "webhook", "events": ["new_failure_cluster", "run_failed"], **settings},
    )
    for flip in (503, 503, 404):
        platforms.flip_status = flip
        await run_once(api, ids)
    recorded = await deliveries(api, channel["id"])
    assert [d["event"] for d in recorded] == ["new_failure_cluster", "run_failed", "new_failure_cluster"]
    first = recorded[0]["message"]
    assert first["title"] == "[shop] checkout failed with a new cause"
    [cause] = first["new_causes"]
    assert cause["size"] == 1 and cause["step"] == "get order" and "503" in cause["message"]
    assert "404" in recorded[2]["message"]["new_causes"][0]["message"]


async def test_plan_and_schedule_events_reach_the_channels_that_want_them(api, platforms, monkeypatch):
    monkeypatch.setattr(get_settings(), "public_url", "https://exile.example.com")
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "other")
    slack = await add_channel(
        api, ids["project"], {"name": "s", "type": "slack", "events": ["plan_run_finished"], **settings["slack"]}
    )
    wecom = await add_channel(
        api, ids["project"], {"name": "w", "type": "wecom", "events": ["schedule_missed"], **settings["wecom"]}
    )
    async with get_session_factory()() as session:  # a channel for another plan only
        await session.execute(
            update(NotificationChannel).where(NotificationChannel.id == wecom["id"]).values(plan_ids=[999])
        )
        await session.commit()
    subject = {
        "plan_id": 7,
        "plan_run_id": 31,
        "name": "nightly",
        "status": "failed",
        "summary": {"Scenarios": 3, "Passed": 2, "Failed": 1, "Pass rate": "66.7 % (needs 95 %)"},
        "failures": [{"step": "checkout", "message": "status_code eq 200: expected 200, got 503"}],
        "failures_total": 1,
        "link": "/api/v1/plan-runs/31/report?format=html",
        "environment": "staging",
        "duration_ms": 4200,
        "ci": CI,
    }
    for _ in range(2):  # recorded once, however many times the plan says so
        async with get_session_factory()() as session:
            await events.record_event(session, ids["project"], "plan_run_finished", subject)
            await session.commit()
    async with get_session_factory()() as session:
        await events.record_event(
            session,
            ids["project"],
            "schedule_missed",
            {"schedule_id": 5, "plan_id": 7, "name": "every night", "scheduled_for": "2026-12-04T02:00:00Z"},
        )
        await session.commit()
        with pytest.raises(ValueError):
            await events.record_event(session, ids["project"], "plan_exploded", {})
    await settled()
    [received] = platforms.of("other-slack")
    assert received.verdict == "ok"
    body = received.json
    assert body["text"] == "[shop] plan nightly failed"
    text = orjson.dumps(body["blocks"]).decode()
    assert "*Pass rate*: 66.7 % (needs 95 %)" in text and "*checkout*" in text and "*Duration*: 4.2 s" in text
    assert "<https://exile.example.com/api/v1/plan-runs/31/report?format=html|Open the report>" in text
    assert platforms.of("other-wecom") == []  # its plan filter leaves plan 7 out
    [recorded] = await deliveries(api, slack["id"])
    assert recorded["subject_key"] == "plan:7" and recorded["status"] == "delivered"


async def test_a_test_message_is_sent_now_and_answered_with_its_outcome(api, platforms):
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "try")
    ok = await add_channel(api, ids["project"], {"name": "f", "type": "feishu", **settings["feishu"]})
    answer = await api.post(f"{API}/channels/{ok['id']}/test")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "delivered" and body["event"] == "test" and body["last_status_code"] == 200
    [received] = platforms.of("try-feishu")
    assert received.verdict == "ok" and "Test message" in received.json["card"]["header"]["title"]["content"]

    down = await add_channel(api, ids["project"], {"name": "w", "type": "webhook", **settings["webhook"]})
    platforms.plans["try-webhook"] = [500]
    answer = await api.post(f"{API}/channels/{down['id']}/test")
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "failed" and body["attempts"] == 1
    assert body["last_status_code"] == 500 and body["last_error"] == "answered 500"
    assert len(platforms.of("try-webhook")) == 1  # a test is tried once: the answer is its outcome


async def test_a_disabled_channel_or_a_case_s_send_gets_nothing(api, platforms):
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "off")["webhook"]
    channel = await add_channel(
        api, ids["project"], {"name": "w", "type": "webhook", "events": ["run_finished"], "enabled": False, **settings}
    )
    await run_once(api, ids)
    sent = await api.post(f"{API}/cases/{ids['case']}/run", json={"environment_id": ids["env"]})
    assert sent.status_code == 200, sent.text
    await api.patch(f"{API}/channels/{channel['id']}", json={"enabled": True, "version": channel["version"]})
    sent = await api.post(f"{API}/cases/{ids['case']}/run", json={"environment_id": ids["env"]})
    await settled()
    assert platforms.of("off-webhook") == [] and await deliveries(api, channel["id"]) == []


async def test_two_events_recorded_at_once_cannot_both_take_the_throttle_s_last_place(api, platforms):
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "race")["webhook"]
    channel = await add_channel(
        api,
        ids["project"],
        {
            "name": "w",
            "type": "webhook",
            "events": ["plan_run_finished"],
            "throttle": {"max_messages": 1, "window_seconds": 3600},
            **settings,
        },
    )
    sessions = get_session_factory()

    async def record(session: Any, plan_run_id: int) -> None:
        # As the plans do: the transaction has written (the plan run's end) before it records the event.
        await session.execute(update(ScenarioRun).where(ScenarioRun.id == -1).values(error=None))
        subject = {"plan_id": 3, "plan_run_id": plan_run_id, "name": "nightly", "status": "failed"}
        await events.record_event(session, ids["project"], "plan_run_finished", subject)

    async with sessions() as first, sessions() as second:
        await record(first, 1)
        later = asyncio.ensure_future(record(second, 2))
        await asyncio.sleep(0.1)  # lets the second reach the channel's lock (either order must give one message)
        await first.commit()
        await later
        await second.commit()
    await settled()
    recorded = await deliveries(api, channel["id"])
    assert sorted(d["status"] for d in recorded) == ["delivered", "throttled"]
    assert len(platforms.of("race-webhook")) == 1


async def test_the_plans_and_schedules_own_subjects_become_readable_messages(api, platforms):
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "shape")
    plans = await add_channel(
        api, ids["project"], {"name": "p", "type": "webhook", "events": ["plan_run_finished"], **settings["webhook"]}
    )
    ticks = await add_channel(
        api, ids["project"], {"name": "t", "type": "dingtalk", "events": ["schedule_missed"], **settings["dingtalk"]}
    )
    plan_run = {  # the shape app.plans.summary.event_summary gives
        "plan_run_id": 12,
        "plan_id": 4,
        "plan_name": "nightly",
        "project_id": ids["project"],
        "status": "failed",
        "pass_rate": 2 / 3,
        "scenarios": {"total": 3, "passed": 2, "failed": 1, "error": 0, "cancelled": 0, "skipped": 0, "active": 0},
        "iterations": {"passed": 2, "failed": 1, "error": 0, "flaky": 0},
        "requests": {"total": 9, "passed": 8, "failed": 1, "error": 0, "skipped": 0, "flaky": 0},
        "runs": [
            {"scenario_id": 1, "name": "login", "run_id": 40, "status": "passed"},
            {"scenario_id": 2, "name": "checkout", "run_id": 41, "status": "failed"},
        ],
        "error": "pass rate 66.7% (2 of 3 scenarios passed) is below the required 95.0%",
        "trigger": {"kind": "schedule", "schedule_id": 5},
        "duration_ms": 61_000,
        "report_path": "/api/v1/plan-runs/12/report?format=html",
        "finished_at": "2026-12-04T02:01:01+00:00",
    }
    missed = {  # the shape app.schedules.firing gives
        "schedule_id": 5,
        "schedule_name": "every night",
        "scenario_id": None,
        "plan_id": 4,
        "first_missed_at": "2026-12-04T02:00:00+00:00",
        "missed_ticks": 1,
        "detail": "no process was running at the tick",
    }
    async with get_session_factory()() as session:
        await events.record_event(session, ids["project"], "plan_run_finished", plan_run)
        for tick in ("2026-12-04T02:00:00+00:00", "2026-12-05T02:00:00+00:00", "2026-12-05T02:00:00+00:00"):
            await events.record_event(session, ids["project"], "schedule_missed", {**missed, "tick_at": tick})
        await session.commit()
    await settled()

    message = platforms.of("shape-webhook")[0].json
    assert message["title"] == "[shop] plan nightly failed" and message["tone"] == "bad"
    summary = dict(message["summary"])
    assert summary["Scenarios"] == "3 (2 passed, 1 failed)" and summary["Pass rate"] == "66.7 %"
    assert summary["Iterations"] == "3 (2 passed, 1 failed)" and summary["Duration"] == "61.0 s"
    assert summary["Error"].startswith("pass rate 66.7%") and "Trigger" not in summary
    assert message["failures"] == [{"step": "checkout", "message": "failed, run #41"}]
    assert message["link"] == "/api/v1/plan-runs/12/report?format=html"
    assert message["details"]["trigger"] == {"kind": "schedule", "schedule_id": 5}

    sent = platforms.of("shape-dingtalk")
    assert len(sent) == 2 and all(item.verdict == "ok" for item in sent)  # two ticks; the repeated one once
    text = sent[0].json["markdown"]["text"]
    assert "every night missed a tick" in text and "**Missed ticks**: 1" in text and "no process was running" in text
    recorded = await deliveries(api, ticks["id"])
    assert [d["subject_key"] for d in recorded] == ["schedule:5", "schedule:5"]
    assert [d["subject_key"] for d in await deliveries(api, plans["id"])] == ["plan:4"]
