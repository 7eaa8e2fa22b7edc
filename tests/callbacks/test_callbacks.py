"""Run callbacks: one signed POST per finished run, retried, recorded, sent once even across a restart."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import threading
import time
from datetime import datetime, timedelta
from http.server import HTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update

from app.auth.principal import Principal
from app.callbacks import service as callbacks
from app.core.config import get_settings
from app.core.db import get_session_factory
from app.core.leased_delivery import LAST_ERROR_LIMIT
from app.models import AuditLog, CallbackDelivery, ProjectCallbackSecret, ScenarioRun, User
from app.models.base import utcnow
from app.runs.chunks import shutdown_pool
from app.runs.dispatch import wait_for_inline_runs
from app.runs.executor import reap_stale_runs
from app.runs.schemas import ScenarioRunCreate
from app.runs.service import start_scenario_run
from tests.callbacks.conftest import Call, Receiver, scenario_on
from tests.conftest import assert_error, bearer

API = "/api/v1"
DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"
CI = {"commit": "3f2c9a1", "branch": "main", "build_url": "https://ci.example.com/job/api/88/"}


def doc_receiver(secret: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The Python receiver printed in docs/ci.md, executed as written (its SECRET comes from the environment)."""
    block = DOC.read_text().split("<!-- receiver -->\n```python\n", 1)[1].split("```", 1)[0]
    assert 12 <= len(block.strip().splitlines()) <= 25
    monkeypatch.setenv("EXILE_CALLBACK_SECRET", secret)
    namespace: dict[str, Any] = {"__name__": "exile_doc_receiver"}
    exec(compile(block, str(DOC), "exec"), namespace)  # our own documentation, under test
    return namespace


async def rotate(api: Any, project_id: int) -> str:
    response = await api.post(f"{API}/projects/{project_id}/callback-secret")
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


async def start_run(api: Any, ids: dict[str, int], url: str, **extra: Any) -> dict[str, Any]:
    body = {"environment_id": ids["env"], "trigger": "ci", "ci": CI, "callback_url": url, **extra}
    response = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json=body)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def settled() -> None:
    """Inline runs (which send their callbacks before they return) and background deliveries are done."""
    await wait_for_inline_runs()
    await callbacks.wait_for_background()


async def deliveries(api: Any, run_id: int) -> list[dict[str, Any]]:
    response = await api.get(f"{API}/scenario-runs/{run_id}/callbacks")
    assert response.status_code == 200, response.text
    return list(response.json())


def signed_ok(verify: Any, call: Call) -> bool:
    return bool(verify(call.headers, call.body))


async def test_a_passed_run_gets_one_signed_post_with_its_summary(api, receiver, monkeypatch):
    monkeypatch.setattr(get_settings(), "public_url", "https://exile.example.com/")
    ids = await scenario_on(api, receiver)
    secret = await rotate(api, ids["project"])
    run = await start_run(api, ids, f"{receiver.url}/hook/passed")
    await settled()

    [call] = receiver.of("passed")
    assert call.headers["Content-Type"] == "application/json"
    verify = doc_receiver(secret, monkeypatch)["verify"]
    assert signed_ok(verify, call)
    assert callbacks.verify(secret, call.headers["X-Exile-Timestamp"], call.headers["X-Exile-Signature"], call.body)
    expected = hmac.new(secret.encode(), call.headers["X-Exile-Timestamp"].encode() + b"." + call.body, hashlib.sha256)
    assert call.headers["X-Exile-Signature"] == "sha256=" + expected.hexdigest()

    payload = orjson.loads(call.body)
    base = f"https://exile.example.com/api/v1/scenario-runs/{run['id']}"
    assert payload["run_id"] == run["id"] and payload["scenario_id"] == ids["scenario"]
    assert payload["scenario_name"] == "smoke" and payload["project_id"] == ids["project"]
    assert payload["status"] == "passed" and payload["trigger"] == "ci" and payload["ci"] == CI
    assert payload["requests"]["passed"] == 1 and payload["requests"]["total"] == 1
    assert payload["iterations"] == {"total": 1, "passed": 1, "failed": 0, "error": 0, "flaky": 0, "not_run": 0}
    assert payload["started_at"] and payload["finished_at"] and payload["duration_ms"] >= 0
    assert payload["error"] is None
    assert payload["reports"]["junit"] == f"{base}/report?format=junit"
    assert payload["reports"]["html"] == f"{base}/report?format=html"
    assert payload["reports"]["json"] == f"{base}/report?format=json"

    [delivery] = await deliveries(api, run["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1 and delivery["signed"] is True
    assert delivery["payload"] == payload  # exactly the body that was sent
    assert call.headers["X-Exile-Delivery"] == str(delivery["id"])
    [attempt] = delivery["attempt_log"]
    assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["response"] == "thanks"


async def test_a_tampered_body_an_old_timestamp_or_another_secret_do_not_verify(api, receiver, monkeypatch):
    ids = await scenario_on(api, receiver)
    secret = await rotate(api, ids["project"])
    await start_run(api, ids, f"{receiver.url}/hook/tamper")
    await settled()
    [call] = receiver.of("tamper")
    verify = doc_receiver(secret, monkeypatch)["verify"]
    assert signed_ok(verify, call)

    tampered = call.body.replace(b'"passed"', b'"failed"', 1)
    assert tampered != call.body and not verify(call.headers, tampered)
    # A replay: the signature of an hour-old timestamp is genuine, and still refused for its age.
    old = int(time.time()) - 3600
    replayed = {
        **call.headers,
        "X-Exile-Timestamp": str(old),
        "X-Exile-Signature": callbacks.sign(secret, old, call.body),
    }
    assert not verify(replayed, call.body)
    assert not callbacks.verify(secret, str(old), replayed["X-Exile-Signature"], call.body)
    # The timestamp is covered: moving it forward breaks the signature.
    moved = {**call.headers, "X-Exile-Timestamp": str(int(call.headers["X-Exile-Timestamp"]) + 1)}
    assert not verify(moved, call.body)
    assert not doc_receiver("whsec_not-the-projects", monkeypatch)["verify"](call.headers, call.body)


async def test_failed_and_cancelled_runs_each_get_one_callback(api, receiver, monkeypatch):
    monkeypatch.setattr(get_settings(), "run_heartbeat_seconds", 0.1)  # the executor polls for the cancel
    failing = await scenario_on(api, receiver, status=201)  # /ok answers 200: the check fails
    secret = await rotate(api, failing["project"])
    failed = await start_run(api, failing, f"{receiver.url}/hook/failed")

    slow = await scenario_on(api, receiver, path="/slow?s=3")
    slow_secret = await rotate(api, slow["project"])
    running = await start_run(api, slow, f"{receiver.url}/hook/cancelled")
    for _ in range(200):  # until the executor holds it: the cancel then goes through the executor's end
        if (await api.get(f"{API}/scenario-runs/{running['id']}")).json()["status"] == "running":
            break
        await asyncio.sleep(0.02)
    assert (await api.post(f"{API}/scenario-runs/{running['id']}/cancel")).status_code == 200
    await settled()

    [failed_call] = receiver.of("failed")
    assert callbacks.verify(
        secret, failed_call.headers["X-Exile-Timestamp"], failed_call.headers["X-Exile-Signature"], failed_call.body
    )
    failed_payload = orjson.loads(failed_call.body)
    assert failed_payload["status"] == "failed" and failed_payload["requests"]["failed"] == 1
    assert failed_payload["run_id"] == failed["id"] and failed_payload["error"]

    [cancelled_call] = receiver.of("cancelled")
    headers = cancelled_call.headers
    assert callbacks.verify(
        slow_secret, headers["X-Exile-Timestamp"], headers["X-Exile-Signature"], cancelled_call.body
    )
    assert orjson.loads(cancelled_call.body)["status"] == "cancelled"
    assert orjson.loads(cancelled_call.body)["run_id"] == running["id"]


async def test_a_run_cancelled_before_it_started_gets_its_callback(api, receiver, user):
    ids = await scenario_on(api, receiver)
    secret = await rotate(api, ids["project"])
    # Queued and never dispatched (as when every worker is busy): the cancel itself ends it.
    async with get_session_factory()() as session:
        principal = Principal(user=await session.get(User, user.id))
        body = ScenarioRunCreate(environment_id=ids["env"], callback_url=f"{receiver.url}/hook/queued")
        run = await start_scenario_run(session, principal, ids["scenario"], body)
        await session.commit()
    response = await api.post(f"{API}/scenario-runs/{run.id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    await settled()
    [call] = receiver.of("queued")
    assert callbacks.verify(secret, call.headers["X-Exile-Timestamp"], call.headers["X-Exile-Signature"], call.body)
    payload = orjson.loads(call.body)
    assert payload["status"] == "cancelled" and payload["error"] == "cancelled before it started"
    assert payload["started_at"] is None and payload["requests"]["total"] == 0


async def test_a_receiver_that_fails_twice_gets_three_attempts_each_signed_anew(api, receiver):
    ids = await scenario_on(api, receiver)
    secret = await rotate(api, ids["project"])
    receiver.plans["flaky"] = [500, 500, 200]
    run = await start_run(api, ids, f"{receiver.url}/hook/flaky")
    await settled()

    calls = receiver.of("flaky")
    assert len(calls) == 3
    assert len({call.body for call in calls}) == 1  # the same bytes every time
    for call in calls:
        assert callbacks.verify(secret, call.headers["X-Exile-Timestamp"], call.headers["X-Exile-Signature"], call.body)
    [delivery] = await deliveries(api, run["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    assert delivery["last_status_code"] == 200 and delivery["last_error"] is None
    log = delivery["attempt_log"]
    assert [a["status_code"] for a in log] == [500, 500, 200] and [a["attempt"] for a in log] == [1, 2, 3]
    assert log[0]["error"] == "answered 500" and len(log[0]["response"]) <= callbacks.RESPONSE_KEEP
    # Exponential backoff: 0.05 s, then 0.1 s (the test's base; production's is 1 s).
    times = [a["at"] for a in log]
    gaps = [(datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() for a, b in pairwise(times)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1, gaps


async def test_a_receiver_that_does_not_answer_in_time_is_retried(api, receiver, monkeypatch):
    monkeypatch.setattr(get_settings(), "callback_timeout_seconds", 0.3)
    ids = await scenario_on(api, receiver)
    receiver.plans["sleepy"] = ["slow", 200]
    run = await start_run(api, ids, f"{receiver.url}/hook/sleepy")
    await settled()
    [delivery] = await deliveries(api, run["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    assert delivery["attempt_log"][0]["error"] == "no answer within 0.3 s"
    assert delivery["attempt_log"][0]["status_code"] is None


async def test_a_receiver_that_is_down_fails_after_every_attempt_recorded(api, receiver, monkeypatch):
    monkeypatch.setattr(get_settings(), "callback_attempts", 3)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ids = await scenario_on(api, receiver)
    run = await start_run(api, ids, f"http://127.0.0.1:{port}/hook/down")
    await settled()
    [delivery] = await deliveries(api, run["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 3
    assert delivery["next_attempt_at"] is None and delivery["last_status_code"] is None
    assert "Connect" in delivery["last_error"] and len(delivery["last_error"]) <= LAST_ERROR_LIMIT
    assert [a["attempt"] for a in delivery["attempt_log"]] == [1, 2, 3]
    # Failed is final: a later sweep sends nothing more.
    assert await callbacks.resume_pending(get_session_factory()) == 0


async def test_retries_past_the_hold_are_left_to_the_sweep_so_a_dead_receiver_never_holds_up_the_executor(
    api, receiver, monkeypatch
):
    settings = get_settings()
    monkeypatch.setattr(settings, "callback_attempts", 3)
    monkeypatch.setattr(settings, "callback_backoff_seconds", 0.3)
    monkeypatch.setattr(settings, "callback_hold_seconds", 0.1)  # no retry fits: the executor tries once
    ids = await scenario_on(api, receiver)
    receiver.plans["late"] = [500, 500, 200]
    run = await start_run(api, ids, f"{receiver.url}/hook/late")
    await settled()
    [delivery] = await deliveries(api, run["id"])
    assert delivery["status"] == "pending" and delivery["attempts"] == 1 and delivery["next_attempt_at"]
    assert await callbacks.resume_pending(get_session_factory()) == 0  # not due yet, and nobody holds it
    for expected in (2, 3):
        await asyncio.sleep(0.3 * 2 ** (expected - 2) + 0.05)
        assert await callbacks.resume_pending(get_session_factory()) == 1  # one attempt per sweep
        [delivery] = await deliveries(api, run["id"])
        assert delivery["attempts"] == expected
    assert delivery["status"] == "delivered" and len(receiver.of("late")) == 3


async def test_a_redirect_is_not_followed(api, receiver, monkeypatch):
    monkeypatch.setattr(get_settings(), "callback_attempts", 1)
    ids = await scenario_on(api, receiver)
    receiver.plans["moved"] = [f"redirect:{receiver.url}/hook/elsewhere"]
    run = await start_run(api, ids, f"{receiver.url}/hook/moved")
    await settled()
    [delivery] = await deliveries(api, run["id"])
    assert delivery["status"] == "failed" and delivery["last_status_code"] == 302
    assert "redirects are not followed" in delivery["last_error"]
    assert receiver.of("elsewhere") == []


async def test_a_callback_left_by_a_dead_process_is_delivered_once_by_the_next_to_start(api, receiver, monkeypatch):
    ids = await scenario_on(api, receiver)
    secret = await rotate(api, ids["project"])
    sessions = get_session_factory()

    async def claim_then_die(session_factory: Any, delivery_id: int, **_: Any) -> None:
        # The executor took the attempt's lease, then its process was killed before anything was sent.
        assert await callbacks._claim(session_factory, delivery_id, "dead-worker:1") is not None

    monkeypatch.setattr(callbacks, "deliver", claim_then_die)
    run = await start_run(api, ids, f"{receiver.url}/hook/restart")
    await settled()
    monkeypatch.undo()  # the processes that start next run the real code
    assert receiver.of("restart") == []
    assert (await api.get(f"{API}/scenario-runs/{run['id']}")).json()["status"] == "passed"
    [pending] = await deliveries(api, run["id"])
    assert pending["status"] == "pending" and pending["attempts"] == 0

    # While the dead process's lease runs, nobody sends it (it could still be sending).
    assert await callbacks.resume_pending(sessions) == 0
    async with sessions() as session:
        await session.execute(update(CallbackDelivery).values(claimed_until=utcnow() - timedelta(seconds=1)))
        await session.commit()
    # Three processes start at once (an API worker and two Celery workers): one of them sends it.
    sent = await asyncio.gather(*(callbacks.resume_pending(sessions) for _ in range(3)))
    assert sum(sent) == 1
    assert await callbacks.resume_pending(sessions) == 0
    [call] = receiver.of("restart")
    assert callbacks.verify(secret, call.headers["X-Exile-Timestamp"], call.headers["X-Exile-Signature"], call.body)
    [delivery] = await deliveries(api, run["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1


async def test_a_run_the_reaper_interrupts_gets_its_callback(api, receiver, user):
    ids = await scenario_on(api, receiver)
    async with get_session_factory()() as session:
        long_ago = utcnow() - timedelta(hours=1)
        run = ScenarioRun(
            project_id=ids["project"],
            scenario_id=ids["scenario"],
            kind="scenario",
            status="running",
            trigger="ci",
            executor="inline",
            created_by_id=user.id,
            ci=CI,
            callback_url=f"{receiver.url}/hook/reaped",
            created_at=long_ago,
            started_at=long_ago,
            heartbeat_at=long_ago,
            iterations_total=1,
        )
        session.add(run)
        await session.commit()
    assert await reap_stale_runs(get_session_factory(), stale_after_s=60) == 1
    [recorded] = await deliveries(api, run.id)  # recorded with the reaper's end, in its transaction
    assert recorded["status"] == "pending"
    assert await callbacks.resume_pending(get_session_factory()) == 1
    [call] = receiver.of("reaped")
    payload = orjson.loads(call.body)
    assert payload["status"] == "interrupted" and "heartbeats" in payload["error"] and payload["ci"] == CI
    assert "X-Exile-Signature" not in call.headers  # this project has no secret: unsigned, and recorded so
    [delivery] = await deliveries(api, run.id)
    assert delivery["status"] == "delivered" and delivery["signed"] is False


async def test_the_payload_error_is_masked_and_bounded(api, receiver, user):
    ids = await scenario_on(api, receiver)
    secret_value = "s3cr3t-password-value"
    patched = await api.patch(
        f"{API}/environments/{ids['env']}", json={"secret_variables": {"password": secret_value}, "version": 1}
    )
    assert patched.status_code == 200, patched.text
    async with get_session_factory()() as session:
        run = ScenarioRun(
            project_id=ids["project"],
            scenario_id=ids["scenario"],
            environment_id=ids["env"],
            kind="scenario",
            status="error",
            trigger="api",
            executor="inline",
            callback_url=f"{receiver.url}/hook/masked",
            error=f"login answered with {secret_value} " + "y" * 10_000,
            created_at=utcnow(),
            finished_at=utcnow(),
        )
        session.add(run)
        await session.flush()
        delivery_id = await callbacks.record_for_run(session, run.id)
        assert await callbacks.record_for_run(session, run.id) is None  # one delivery per run
        await session.commit()
        delivery = await session.get(CallbackDelivery, delivery_id)
    assert delivery is not None
    error = orjson.loads(delivery.payload)["error"]
    assert secret_value not in delivery.payload and "******" in error
    assert len(error) <= callbacks.ERROR_LIMIT


async def test_rotating_the_secret_shows_it_once_and_the_old_one_stops_verifying(api, receiver, monkeypatch, user):
    ids = await scenario_on(api, receiver)
    state = (await api.get(f"{API}/projects/{ids['project']}/callback-secret")).json()
    assert state == {"project_id": ids["project"], "set": False, "rotated_at": None}
    first = await rotate(api, ids["project"])
    second = await rotate(api, ids["project"])
    assert first != second and second.startswith("whsec_")
    state = (await api.get(f"{API}/projects/{ids['project']}/callback-secret")).json()
    assert state["set"] is True and state["rotated_at"] and "secret" not in state
    project_text = (await api.get(f"{API}/projects/{ids['project']}")).text
    assert first not in project_text and second not in project_text

    # The receiver of docs/ci.md still holds the first secret: the callback is refused (401) and retried.
    monkeypatch.setattr(get_settings(), "callback_attempts", 2)
    old_receiver = doc_receiver(first, monkeypatch)
    server = HTTPServer(("127.0.0.1", 0), old_receiver["Receiver"])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks/exile"
        refused = await start_run(api, ids, url)
        await settled()
        [delivery] = await deliveries(api, refused["id"])
        assert delivery["status"] == "failed" and [a["status_code"] for a in delivery["attempt_log"]] == [401, 401]
        # Given the current secret, the same receiver accepts it (204) at the first attempt.
        old_receiver["SECRET"] = second.encode()
        accepted = await start_run(api, ids, url)
        await settled()
        [delivery] = await deliveries(api, accepted["id"])
        assert delivery["status"] == "delivered" and delivery["last_status_code"] == 204
    finally:
        server.shutdown()
        server.server_close()

    async with get_session_factory()() as session:
        sealed = await session.scalar(select(ProjectCallbackSecret.sealed_secret))
        entries = list(
            await session.scalars(select(AuditLog).where(AuditLog.entity == "callback_secret").order_by(AuditLog.id))
        )
    assert sealed is not None and second not in sealed and sealed.startswith("enc:v1:")
    assert [entry.action for entry in entries] == ["create", "rotate"]
    assert all(first not in str(e.changes) and second not in str(e.changes) for e in entries)
    assert entries[0].actor_id == user.id and entries[0].project_id == ids["project"]


async def test_only_project_admins_rotate_and_only_those_who_see_the_run_read_its_callbacks(
    api, client, receiver, make_user
):
    ids = await scenario_on(api, receiver)
    run = await start_run(api, ids, f"{receiver.url}/hook/perm")
    await settled()
    editor = await make_user(email="editor@example.com")
    viewer = await make_user(email="viewer@example.com")
    stranger = await make_user(email="stranger@example.com")
    for member, role in ((editor, "editor"), (viewer, "viewer")):
        added = await api.post(f"{API}/projects/{ids['project']}/members", json={"email": member.email, "role": role})
        assert added.status_code == 201, added.text
    owner_headers = dict(api.headers)

    client.headers.update(bearer(editor))
    assert_error(await client.post(f"{API}/projects/{ids['project']}/callback-secret"), 403, "forbidden")
    client.headers.update(bearer(viewer))
    assert_error(await client.post(f"{API}/projects/{ids['project']}/callback-secret"), 403, "forbidden")
    assert len((await client.get(f"{API}/scenario-runs/{run['id']}/callbacks")).json()) == 1  # viewers read runs
    client.headers.update(bearer(stranger))
    assert_error(await client.get(f"{API}/scenario-runs/{run['id']}/callbacks"), 404, "not_found")
    assert_error(await client.post(f"{API}/projects/{ids['project']}/callback-secret"), 404, "not_found")
    assert_error(await client.get(f"{API}/projects/{ids['project']}/callback-secret"), 404, "not_found")
    assert_error(await client.get(f"{API}/scenario-runs/999999/callbacks"), 404, "not_found")
    client.headers.update(owner_headers)
    assert (await client.post(f"{API}/projects/{ids['project']}/callback-secret")).status_code == 201


async def test_a_run_without_a_callback_url_records_and_sends_nothing(api, receiver):
    ids = await scenario_on(api, receiver)
    await rotate(api, ids["project"])
    response = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    await settled()
    assert await deliveries(api, response.json()["id"]) == []
    assert receiver.calls == []


async def test_a_callback_url_that_is_not_http_is_refused(api, receiver):
    ids = await scenario_on(api, receiver)
    response = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"callback_url": "file:///etc/passwd"})
    error = assert_error(response, 422)
    assert "callback_url" in str(error)


def test_the_signature_scheme_is_the_documented_one():
    body = b'{"run_id":1}'
    assert (
        callbacks.sign("whsec_k", 1700000000, body)
        == "sha256=" + hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    )
    assert callbacks.verify("whsec_k", "1700000000", callbacks.sign("whsec_k", 1700000000, body), body, now=1700000100)
    assert not callbacks.verify(
        "whsec_k", "1700000000", callbacks.sign("whsec_k", 1700000000, body), body, now=1700009999
    )
    assert not callbacks.verify("whsec_k", "soon", "sha256=00", body)
    assert isinstance(Receiver, type)


async def test_a_sharded_run_gets_one_callback_from_the_chunk_that_ends_it(api, receiver, monkeypatch):
    settings = get_settings()
    monkeypatch.setattr(settings, "run_processes", 2)
    monkeypatch.setattr(settings, "run_chunk_rows", 2)
    monkeypatch.setattr(settings, "run_heartbeat_seconds", 0.2)
    ids = await scenario_on(api, receiver)
    patched = await api.patch(f"{API}/scenarios/{ids['scenario']}", json={"settings": {"concurrency": 2}, "version": 2})
    assert patched.status_code == 200, patched.text
    rows = [{"variables": {"row": index}} for index in range(5)]
    assert (await api.put(f"{API}/scenarios/{ids['scenario']}/datasets", json=rows)).status_code == 200
    secret = await rotate(api, ids["project"])
    try:
        run = await start_run(api, ids, f"{receiver.url}/hook/sharded")
        await settled()
    finally:
        shutdown_pool()
    async with get_session_factory()() as session:
        ended = await session.get(ScenarioRun, run["id"])
    assert ended is not None and ended.chunks == 3 and ended.status == "passed"  # it was sharded
    [call] = receiver.of("sharded")  # one, though three chunks ended
    assert callbacks.verify(secret, call.headers["X-Exile-Timestamp"], call.headers["X-Exile-Signature"], call.body)
    payload = orjson.loads(call.body)
    assert payload["status"] == "passed" and payload["iterations"]["passed"] == 5 and payload["requests"]["passed"] == 5


async def test_a_run_that_times_out_gets_its_callback(api, receiver):
    ids = await scenario_on(api, receiver, path="/slow?s=1")
    patched = await api.patch(
        f"{API}/scenarios/{ids['scenario']}", json={"settings": {"timeout_ms": 200}, "version": 2}
    )
    assert patched.status_code == 200, patched.text
    run = await start_run(api, ids, f"{receiver.url}/hook/timeout")
    await settled()
    [call] = receiver.of("timeout")
    payload = orjson.loads(call.body)
    assert payload["run_id"] == run["id"] and payload["status"] == "error" and "timed out" in payload["error"]
