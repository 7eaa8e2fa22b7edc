"""Sign-in guessing protection (state in the database, shared by every server process) and password change.

No sleeps: a test moves the stored times (lock end, first failure) instead of waiting for them.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select, update

from app.auth import throttle
from app.auth.client_address import UNVERIFIED, client_address, trusted_proxies
from app.core.config import get_settings
from app.core.db import get_session_factory
from app.main import app
from app.models import AuditLog, LoginThrottle, User
from tests import factories
from tests.conftest import assert_error, bearer

API = "/api/v1"
RIGHT = "correct-horse-battery"
WRONG = "wrong-password-guess"
LOCK_CAP = timedelta(minutes=15)
SLACK = timedelta(seconds=2)  # time between reading the clock here and the server reading it


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(f"{API}/auth/token", data={"username": email, "password": password})


async def throttles() -> dict[str, LoginThrottle]:
    async with get_session_factory()() as db:
        return {row.key: row for row in await db.scalars(select(LoginThrottle))}


async def shift_throttles(**values: Any) -> None:
    """Set columns on every throttle row, as if time had passed."""
    async with get_session_factory()() as db:
        await db.execute(update(LoginThrottle).values(**values))
        await db.commit()


async def end_every_lock() -> None:
    """Move every active lock's end into the past, as if the wait were over."""
    async with get_session_factory()() as db:
        await db.execute(
            update(LoginThrottle)
            .where(LoginThrottle.locked_until.is_not(None))
            .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        await db.commit()


def assert_locked(response: httpx.Response, at_most: timedelta) -> int:
    """A 429 that says when to come back, in the message, the details and `Retry-After`; returns the seconds."""
    error = assert_error(response, 429, "too_many_attempts")
    [detail] = error["details"]
    wait = detail["retry_after"]
    assert isinstance(wait, int) and 0 < wait <= at_most.total_seconds(), wait
    assert re.search(rf"\b{wait} seconds\b", error["message"]), error["message"]
    assert response.headers.get("Retry-After") == str(wait), response.headers
    return wait


@pytest.fixture
async def alice(make_user: Any) -> User:
    return await make_user(email="alice@example.com", password=RIGHT)


def client_at(address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://exile.test")


@pytest.fixture
async def far_client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_at("198.51.100.23") as http:
        yield http


# --- Locking an account ------------------------------------------------------------------------------------------


async def test_five_wrong_passwords_lock_the_account_even_for_the_right_password(
    client: httpx.AsyncClient, alice: User, make_user: Any
) -> None:
    for _ in range(5):
        assert_error(await sign_in(client, "alice@example.com", WRONG), 401, "invalid_credentials")
    before = datetime.now(UTC)
    wait = assert_locked(await sign_in(client, "alice@example.com", RIGHT), timedelta(seconds=30))
    assert wait >= 25

    row = (await throttles())["email:alice@example.com"]
    assert row.failures == 5
    assert row.locked_until is not None and before < row.locked_until <= before + timedelta(seconds=30) + SLACK

    # Someone else, even from the same address, signs in as usual.
    await make_user(email="bob@example.com", password=RIGHT)
    assert (await sign_in(client, "bob@example.com", RIGHT)).status_code == 200


async def test_the_fifth_failure_is_still_a_plain_401_and_four_do_not_lock(
    client: httpx.AsyncClient, alice: User
) -> None:
    for _ in range(4):
        assert_error(await sign_in(client, "alice@example.com", WRONG), 401, "invalid_credentials")
    row = (await throttles())["email:alice@example.com"]
    assert (row.failures, row.locked_until) == (4, None)
    assert (await sign_in(client, "alice@example.com", RIGHT)).status_code == 200


async def test_an_ended_lock_lets_the_right_password_in_and_success_clears_the_accounts_row(
    client: httpx.AsyncClient, alice: User
) -> None:
    for _ in range(5):
        await sign_in(client, "alice@example.com", WRONG)
    assert_locked(await sign_in(client, "alice@example.com", RIGHT), timedelta(seconds=30))
    await end_every_lock()
    response = await sign_in(client, "alice@example.com", RIGHT)
    assert response.status_code == 200, response.text
    assert "email:alice@example.com" not in await throttles()
    me = await client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.json()["id"] == alice.id

    # The count starts again from zero: four more failures do not lock.
    for _ in range(4):
        assert_error(await sign_in(client, "alice@example.com", WRONG), 401)
    assert (await sign_in(client, "alice@example.com", RIGHT)).status_code == 200


async def test_attempts_during_a_lock_neither_count_nor_extend_it(client: httpx.AsyncClient, alice: User) -> None:
    for _ in range(5):
        await sign_in(client, "alice@example.com", WRONG)
    locked = (await throttles())["email:alice@example.com"]
    for password in [WRONG] * 10 + [RIGHT]:
        assert_locked(await sign_in(client, "alice@example.com", password), timedelta(seconds=30))
    still = (await throttles())["email:alice@example.com"]
    assert (still.failures, still.locked_until) == (locked.failures, locked.locked_until)


async def test_the_lock_grows_with_failures_but_never_exceeds_fifteen_minutes(
    client: httpx.AsyncClient, alice: User
) -> None:
    durations: list[timedelta] = []
    for attempt in range(1, 31):
        before = datetime.now(UTC)
        assert_error(await sign_in(client, "alice@example.com", WRONG), 401, "invalid_credentials")
        rows = await throttles()
        row = rows["email:alice@example.com"]
        assert row.failures == attempt
        for key, other in rows.items():  # the address's lock obeys the same cap
            if other.locked_until is not None:
                assert other.locked_until - before <= LOCK_CAP + SLACK, (key, attempt)
        if attempt < 5:
            assert row.locked_until is None
        else:
            assert row.locked_until is not None
            durations.append(row.locked_until - before)
        if attempt < 30:
            await end_every_lock()  # as if the attacker waited the lock out, then guessed again
    assert durations[0] <= timedelta(seconds=30) + SLACK
    assert all(later >= earlier - SLACK for earlier, later in itertools.pairwise(durations))
    assert durations[1] > durations[0] + timedelta(seconds=20)  # it does grow: 30 s, then about 60 s
    assert all(d <= LOCK_CAP + SLACK for d in durations)
    assert durations[-1] >= LOCK_CAP - SLACK  # ... and it did reach the cap
    wait = assert_locked(await sign_in(client, "alice@example.com", RIGHT), LOCK_CAP)
    assert wait >= (LOCK_CAP - SLACK).total_seconds()


async def test_failures_older_than_the_window_are_forgotten(client: httpx.AsyncClient, alice: User) -> None:
    for _ in range(4):
        await sign_in(client, "alice@example.com", WRONG)
    await shift_throttles(first_failure_at=datetime.now(UTC) - timedelta(minutes=16))
    started = datetime.now(UTC)
    assert_error(await sign_in(client, "alice@example.com", WRONG), 401, "invalid_credentials")
    row = (await throttles())["email:alice@example.com"]
    assert (row.failures, row.locked_until) == (1, None)
    assert row.first_failure_at >= started - SLACK
    for _ in range(3):
        await sign_in(client, "alice@example.com", WRONG)
    assert (await throttles())["email:alice@example.com"].locked_until is None  # 8 failures, but 4 in the window
    assert (await sign_in(client, "alice@example.com", RIGHT)).status_code == 200


async def test_failures_inside_the_window_still_count(client: httpx.AsyncClient, alice: User) -> None:
    for _ in range(4):
        await sign_in(client, "alice@example.com", WRONG)
    await shift_throttles(first_failure_at=datetime.now(UTC) - timedelta(minutes=14))
    await sign_in(client, "alice@example.com", WRONG)
    assert_locked(await sign_in(client, "alice@example.com", RIGHT), timedelta(seconds=30))


async def test_the_email_is_matched_whatever_its_case_or_spaces(client: httpx.AsyncClient, alice: User) -> None:
    spellings = [
        "Alice@Example.com",
        "ALICE@EXAMPLE.COM",
        " alice@example.com",
        "alice@example.com ",
        "aLiCe@example.com",
    ]
    for spelling in spellings:
        assert_error(await sign_in(client, spelling, WRONG), 401)
    assert sorted(await throttles()) == ["email:alice@example.com", "ip:127.0.0.1"]
    assert_locked(await sign_in(client, "alice@example.com", RIGHT), timedelta(seconds=30))


async def test_unknown_emails_are_throttled_like_real_ones(client: httpx.AsyncClient, alice: User) -> None:
    for email in ("ghost@example.com", "alice@example.com"):
        for _ in range(5):
            assert_error(await sign_in(client, email, WRONG), 401, "invalid_credentials")
    ghost = await sign_in(client, "ghost@example.com", WRONG)
    real = await sign_in(client, "alice@example.com", WRONG)
    assert_locked(ghost, timedelta(seconds=30))
    assert_locked(real, timedelta(seconds=30))
    assert ghost.json()["error"]["details"][0]["msg"] == real.json()["error"]["details"][0]["msg"]


# --- Locking an address ------------------------------------------------------------------------------------------


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The slow-down each attempt was given (recorded, not slept), with the default cap of 8 seconds."""
    recorded: list[float] = []

    async def record(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(throttle, "slow_down", record)
    monkeypatch.setattr(get_settings(), "sign_in_slowdown_max_seconds", 8.0)
    return recorded


async def test_failures_from_one_address_slow_it_down_but_never_lock_it(
    client: httpx.AsyncClient, far_client: httpx.AsyncClient, alice: User, make_user: Any, waits: list[float]
) -> None:
    """Someone failing again and again behind a shared address (an office, a NAT) makes everyone there wait a
    little, never locks them out: the right password of an account that is not itself locked gets in."""
    for number in range(40):
        assert_error(await sign_in(far_client, f"guess{number}@example.com", WRONG), 401, "invalid_credentials")
    row = (await throttles())["ip:198.51.100.23"]
    assert (row.failures, row.locked_until) == (40, None)
    assert waits[:20] == [0.0] * 20  # 20 failures are free ...
    assert waits[20:26] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]  # ... then each attempt waits longer, up to the cap
    assert set(waits[26:]) == {8.0}

    # From that address, a real account signs in with its right password (after the wait) ...
    assert (await sign_in(far_client, "alice@example.com", RIGHT)).status_code == 200
    assert waits[-1] == 8.0
    # ... and a wrong one is a plain 401, never a 429 for the address alone.
    await make_user(email="bob@example.com", password=RIGHT)
    assert_error(await sign_in(far_client, "bob@example.com", WRONG), 401, "invalid_credentials")
    assert (await sign_in(far_client, "bob@example.com", RIGHT)).status_code == 200
    # Elsewhere nobody waits.
    before = len(waits)
    assert (await sign_in(client, "alice@example.com", RIGHT)).status_code == 200
    assert waits[before:] == [0.0]


async def test_an_accounts_own_lock_still_holds_behind_a_slowed_address(
    far_client: httpx.AsyncClient, alice: User, waits: list[float]
) -> None:
    for number in range(25):
        await sign_in(far_client, f"guess{number}@example.com", WRONG)
    for _ in range(5):
        assert_error(await sign_in(far_client, "alice@example.com", WRONG), 401, "invalid_credentials")
    assert_locked(await sign_in(far_client, "alice@example.com", RIGHT), timedelta(seconds=30))


async def test_concurrent_failures_are_all_counted_and_none_crashes(client: httpx.AsyncClient, alice: User) -> None:
    responses = await asyncio.gather(*(sign_in(client, "alice@example.com", WRONG) for _ in range(8)))
    assert {r.status_code for r in responses} <= {401, 429}, [r.text for r in responses]
    counted = sum(r.status_code == 401 for r in responses)
    row = (await throttles())["email:alice@example.com"]
    assert row.failures == counted >= 5
    assert_locked(await sign_in(client, "alice@example.com", RIGHT), timedelta(minutes=15))


async def test_a_burst_of_failures_after_the_window_ended_is_all_counted(
    client: httpx.AsyncClient, alice: User
) -> None:
    for _ in range(4):
        await sign_in(client, "alice@example.com", WRONG)
    await shift_throttles(first_failure_at=datetime.now(UTC) - timedelta(minutes=16))
    responses = await asyncio.gather(*(sign_in(client, "alice@example.com", WRONG) for _ in range(8)))
    assert {r.status_code for r in responses} <= {401, 429}, [r.text for r in responses]
    counted = sum(r.status_code == 401 for r in responses)
    row = (await throttles())["email:alice@example.com"]
    assert row.failures == counted


async def test_parallel_guesses_beyond_the_threshold_are_refused(client: httpx.AsyncClient, alice: User) -> None:
    responses = await asyncio.gather(*(sign_in(client, "alice@example.com", WRONG) for _ in range(12)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(401) <= 5, statuses
    assert statuses.count(429) == 12 - statuses.count(401), statuses


# --- Changing one's password -------------------------------------------------------------------------------------


async def change_password(client: httpx.AsyncClient, headers: dict[str, str], current: str, new: str) -> httpx.Response:
    body = {"current_password": current, "new_password": new}
    return await client.post(f"{API}/auth/password", json=body, headers=headers)


async def test_password_change_needs_the_current_password(client: httpx.AsyncClient, alice: User) -> None:
    error = assert_error(
        await change_password(client, bearer(alice), "not-my-password", "brand-new-password"), 422, "validation_error"
    )
    assert ["body", "current_password"] in [d["loc"] for d in error["details"]]
    assert "current_password" in error["message"]
    assert (await sign_in(client, "alice@example.com", RIGHT)).status_code == 200
    assert (await sign_in(client, "alice@example.com", "brand-new-password")).status_code == 401


async def test_password_change_refuses_a_weak_or_unchanged_new_password(client: httpx.AsyncClient, alice: User) -> None:
    for new in ("short", "", RIGHT):
        error = assert_error(await change_password(client, bearer(alice), RIGHT, new), 422, "validation_error")
        assert ["body", "new_password"] in [d["loc"] for d in error["details"]], (new, error)
    missing = await client.post(
        f"{API}/auth/password", json={"new_password": "brand-new-password"}, headers=bearer(alice)
    )
    assert ["body", "current_password"] in [d["loc"] for d in assert_error(missing, 422)["details"]]
    assert (await sign_in(client, "alice@example.com", RIGHT)).status_code == 200


async def test_password_change_ends_earlier_sessions_and_the_new_password_signs_in(
    client: httpx.AsyncClient, alice: User
) -> None:
    old_session = bearer(alice)
    assert (await client.get(f"{API}/auth/me", headers=old_session)).status_code == 200
    response = await change_password(client, old_session, RIGHT, "brand-new-password")
    assert response.status_code == 204, response.text
    assert response.content == b""

    error = assert_error(await client.get(f"{API}/auth/me", headers=old_session), 401, "not_authenticated")
    assert "password" in error["message"]
    assert_error(await sign_in(client, "alice@example.com", RIGHT), 401, "invalid_credentials")
    signed_in = await sign_in(client, "alice@example.com", "brand-new-password")
    assert signed_in.status_code == 200, signed_in.text
    new_session = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    assert (await client.get(f"{API}/auth/me", headers=new_session)).json()["id"] == alice.id

    async with get_session_factory()() as db:
        [entry] = list(await db.scalars(select(AuditLog).where(AuditLog.action == "password_change")))
    assert (entry.entity, entry.entity_id, entry.actor_id) == ("user", alice.id, alice.id)
    assert RIGHT not in str(entry.changes) and "brand-new-password" not in str(entry.changes)


async def test_an_api_token_cannot_change_a_password(client: httpx.AsyncClient, alice: User) -> None:
    client.headers.update(bearer(alice))
    project = await factories.project(client)
    del client.headers["Authorization"]
    created = await client.post(
        f"{API}/projects/{project['id']}/tokens", json={"name": "ci", "role": "owner"}, headers=bearer(alice)
    )
    as_token = {"Authorization": f"Bearer {created.json()['token']}"}
    error = assert_error(await change_password(client, as_token, RIGHT, "brand-new-password"), 403, "forbidden")
    assert "token" in error["message"]
    assert (await sign_in(client, "alice@example.com", RIGHT)).status_code == 200


async def test_password_change_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    assert_error(await change_password(client, {}, RIGHT, "brand-new-password"), 401, "not_authenticated")


# --- Throttling password changes ---------------------------------------------------------------------------------


async def test_wrong_current_passwords_lock_password_changes_not_sign_in(
    client: httpx.AsyncClient, alice: User
) -> None:
    """A stolen session cannot guess the current password: five wrong ones lock password changes (429 with
    Retry-After), the right one included, while the owner's own sign-in is untouched."""
    session = bearer(alice)
    for _ in range(5):
        assert_error(await change_password(client, session, WRONG, "brand-new-password"), 422, "validation_error")
    row = (await throttles())[f"password:{alice.id}"]
    assert row.failures == 5 and row.locked_until is not None
    wait = assert_locked(await change_password(client, session, RIGHT, "brand-new-password"), timedelta(seconds=30))
    assert wait >= 25
    assert (await sign_in(client, "alice@example.com", RIGHT)).status_code == 200  # sign-in has its own key

    await end_every_lock()
    assert (await change_password(client, session, RIGHT, "brand-new-password")).status_code == 204
    assert f"password:{alice.id}" not in await throttles()  # the right password clears the count


async def test_password_changes_count_on_the_address_too(
    far_client: httpx.AsyncClient, alice: User, waits: list[float]
) -> None:
    for number in range(20):
        await sign_in(far_client, f"guess{number}@example.com", WRONG)
    response = await far_client.post(
        f"{API}/auth/password",
        json={"current_password": WRONG, "new_password": "brand-new-password"},
        headers=bearer(alice),
    )
    assert_error(response, 422, "validation_error")
    assert waits[-1] == 0.5  # the 21st failure from that address waited
    assert (await throttles())["ip:198.51.100.23"].failures == 21


# --- Whose address: X-Forwarded-For only from configured proxies ------------------------------------------------


@asynccontextmanager
async def uvicorn_serving(**config: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a real uvicorn on 127.0.0.1 (its proxy-header handling included), and a client of it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", **config))
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not serving.done(), serving.exception()
            await asyncio.sleep(0.01)
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def failed_sign_ins_with_rotating_forwarded_for(http: httpx.AsyncClient, count: int) -> None:
    for number in range(count):
        response = await http.post(
            f"{API}/auth/token",
            data={"username": f"guess{number}@example.com", "password": WRONG},
            headers={"X-Forwarded-For": f"203.0.113.{number + 1}"},
        )
        assert_error(response, 401, "invalid_credentials")


async def test_rotating_x_forwarded_for_from_a_local_caller_is_one_address_when_no_proxy_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn's defaults believe X-Forwarded-For from 127.0.0.1 (README's own start command): a local caller
    made each guess come from a new address and never reached the address's limit."""
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    async with uvicorn_serving() as http:  # uvicorn as started by `uvicorn app.main:app`
        await failed_sign_ins_with_rotating_forwarded_for(http, 21)
    addresses = {key: row.failures for key, row in (await throttles()).items() if key.startswith("ip:")}
    assert len(addresses) == 1 and list(addresses.values()) == [21], addresses
    assert not [key for key in addresses if key.startswith("ip:203.0.113.")]


async def test_x_forwarded_for_counts_per_client_when_the_caller_is_a_configured_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "forwarded_allow_ips", "127.0.0.1")
    async with uvicorn_serving(forwarded_allow_ips="127.0.0.1") as http:  # the server given the same list
        await failed_sign_ins_with_rotating_forwarded_for(http, 3)
    addresses = {key: row.failures for key, row in (await throttles()).items() if key.startswith("ip:")}
    assert addresses == {"ip:203.0.113.1": 1, "ip:203.0.113.2": 1, "ip:203.0.113.3": 1}


async def test_x_forwarded_for_is_ignored_from_a_caller_that_is_not_a_configured_proxy(
    far_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without uvicorn in between (any ASGI server): the app reads the header itself, from its proxies only."""
    for number in range(3):
        response = await far_client.post(
            f"{API}/auth/token",
            data={"username": "ghost@example.com", "password": WRONG},
            headers={"X-Forwarded-For": f"203.0.113.{number + 1}"},
        )
        assert_error(response, 401)
    monkeypatch.setattr(get_settings(), "forwarded_allow_ips", "198.51.100.0/24")
    response = await far_client.post(
        f"{API}/auth/token",
        data={"username": "ghost@example.com", "password": WRONG},
        headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"},  # the caller wrote 6.6.6.6; our proxy appended .9
    )
    assert_error(response, 401)
    addresses = {key: row.failures for key, row in (await throttles()).items() if key.startswith("ip:")}
    assert addresses == {"ip:198.51.100.23": 3, "ip:203.0.113.9": 1}


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "expected"),
    [
        ("198.51.100.7", [], "", "198.51.100.7"),
        ("198.51.100.7", ["203.0.113.1"], "", "198.51.100.7"),  # not a proxy: the header is the caller's text
        ("203.0.113.1", ["203.0.113.1"], "", UNVERIFIED),  # the server already believed the header
        ("not-an-address", ["not-an-address"], "", UNVERIFIED),
        ("10.0.0.5", ["203.0.113.1"], "10.0.0.5", "203.0.113.1"),
        ("10.0.0.5", ["6.6.6.6, 203.0.113.1"], "10.0.0.5", "203.0.113.1"),  # only what our proxy appended
        ("10.0.0.5", ["6.6.6.6", "203.0.113.1, 10.0.0.9"], "10.0.0.0/24", "203.0.113.1"),  # two proxies
        ("10.0.0.5", ["[2001:db8::1]:443"], "10.0.0.5", "2001:db8::1"),
        ("10.0.0.5", ["203.0.113.1:4711"], "10.0.0.5", "203.0.113.1"),
        ("10.0.0.5", ["x" * 500], "10.0.0.5", "10.0.0.5"),  # garbage our proxy did not write
        ("10.0.0.5", ["10.0.0.7"], "10.0.0.0/24", "10.0.0.7"),  # only proxies: the first one called
        ("10.0.0.5", ["203.0.113.1"], "*", "203.0.113.1"),
    ],
)
def test_the_client_address_believes_only_configured_proxies(
    peer: str, forwarded_for: list[str], trusted: str, expected: str
) -> None:
    assert client_address(peer, forwarded_for, trusted_proxies(trusted)) == expected


def test_a_malformed_proxy_list_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match=re.escape("FORWARDED_ALLOW_IPS: 'proxy.local'")):
        trusted_proxies("10.0.0.5, proxy.local")
