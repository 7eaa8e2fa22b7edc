"""Normalisation: each kind of run-to-run noise becomes its placeholder, and what names a cause is kept."""

from __future__ import annotations

import pytest

from app.reports.normalise import MAX_NORMALISED, is_volatile, normalise_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order 3f2b8c1e-9a4d-4f6b-8e2a-1c5d7e9f0a3b not found", "order <uuid> not found"),
        ("order 3F2B8C1E-9A4D-4F6B-8E2A-1C5D7E9F0A3B not found", "order <uuid> not found"),
        ("trace 3f2b8c1e9a4d4f6b8e2a1c5d7e9f0a3b", "trace <uuid>"),
    ],
)
def test_uuids(text: str, expected: str) -> None:
    assert normalise_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("expired at 2025-03-01T10:22:33.123Z, retry", "expired at <time>, retry"),
        ("expired at 2025-03-01T10:22:33+02:00", "expired at <time>"),
        ("expired at 2025-03-01 10:22:33", "expired at <time>"),
        ("due 2025-03-01", "due <time>"),
        ("sent Sun, 06 Nov 1994 08:49:37 GMT by proxy", "sent <time> by proxy"),
        ("at 08:49:37.5 today", "at <time> today"),
    ],
)
def test_timestamps_and_dates(text: str, expected: str) -> None:
    assert normalise_text(text) == expected


def test_emails() -> None:
    assert normalise_text("User Alice.Smith+qa@mail.example.co.uk exists") == "user <email> exists"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fault at 0xDEADBEEF", "fault at <hex>"),
        ("object 65f1a2b3c4d5e6f708091a2b missing", "object <hex> missing"),
        ("digest 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "digest <hex>"),
    ],
)
def test_hex(text: str, expected: str) -> None:
    assert normalise_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order 12345678 has 3 items", "order <n> has <n> items"),
        ("total 1,234.50 EUR", "total <n> eur"),
        ("$.items[17].id", "$.items[<n>].id"),
        ("timed out after 5000 ms", "timed out after <n> ms"),
        ("timed out after 5000ms", "timed out after <n>ms"),
        ("order ORD-2025-000123", "order ord-<n>-<n>"),
        ("api v2", "api v<n>"),
    ],
)
def test_numbers(text: str, expected: str) -> None:
    assert normalise_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status_code: expected eq 200, got 401", "status_code: expected eq 200, got 401"),
        ("expected status 200 got 404 on GET /orders/404", "expected status 200 got 404 on get /orders/<n>"),
        ("login: assertion failed: $.code == 0 (actual 401)", "login: assertion failed: $.code == <n> (actual 401)"),
        ("upstream answered 503 Service Unavailable", "upstream answered 503 service unavailable"),
        ("HTTP/1.1 429 Too Many Requests", "http/<n> 429 too many requests"),
    ],
)
def test_http_statuses_are_kept_because_they_name_the_cause(text: str, expected: str) -> None:
    assert normalise_text(text) == expected


def test_numbers_in_the_status_range_that_are_not_statuses_are_numbers() -> None:
    assert normalise_text("body $.total: expected eq 200, got 187") == "body $.total: expected eq <n>, got <n>"
    assert normalise_text("status 200 page=404 /items/401 #500") == "status 200 page=<n> /items/<n> #<n>"
    assert normalise_text("expected status 200 got 700") == "expected status 200 got <n>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "header content-type: expected contains 'json', got 'text/html'",
            "header content-type: expected contains <str>, got <str>",
        ),
        ('body {"error": "no such order"}', "body {<str>: <str>}"),
        ("KeyError: 'token'", "keyerror: <str>"),
        ("can't reach 'inventory', it's down", "can't reach <str>, it's down"),
    ],
)
def test_quoted_values(text: str, expected: str) -> None:
    assert normalise_text(text) == expected


def test_tokens_and_ids() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    assert normalise_text(f"token {jwt} expired") == "token <token> expired"
    assert normalise_text("Authorization: Bearer abc123def456ghi789 refused") == "authorization: bearer <token> refused"
    assert normalise_text("basic authentication failed") == "basic authentication failed"
    assert normalise_text("customer cus_9x8y7z6w5v not found") == "customer cus_<id> not found"


def test_whitespace_case_and_length() -> None:
    assert normalise_text("  Connection\n\tREFUSED   by   peer ") == "connection refused by peer"
    assert len(normalise_text("word " * 1000)) == MAX_NORMALISED


def test_one_cause_gives_one_text_whatever_its_ids() -> None:
    first = "User bob.1@example.com (id 4b1d0c2e-77aa-4f0e-9b11-2c3d4e5f6a7b) made 2025-03-01T10:00:00Z: 'basic' full"
    second = "User erin.77@shop.test (id 9e8d7c6b-5a49-4382-8170-6f5e4d3c2b1a) made 2025-03-09T23:59:59Z: 'pro' full"
    assert normalise_text(first) == normalise_text(second)
    assert normalise_text(first) == "user <email> (id <uuid>) made <time>: <str> full"


VOLATILE_KEYS = "id user_id userId orderID uuid createdAt updated_at timestamp token access_token ETag request_id"


@pytest.mark.parametrize("key", [*VOLATILE_KEYS.split(), "X-Request-ID", "$.data.items[0].createdAt", "$['id']"])
def test_volatile_keys(key: str) -> None:
    assert is_volatile(key, "anything")
    assert is_volatile(key, 42)


@pytest.mark.parametrize(
    "value",
    [
        "3f2b8c1e-9a4d-4f6b-8e2a-1c5d7e9f0a3b",
        "2025-03-01T10:22:33.123Z",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "65f1a2b3c4d5e6f708091a2b",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    ],
)
def test_volatile_values_whatever_their_key(value: str) -> None:
    assert is_volatile("value", value)
    assert is_volatile(None, value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", "Alice"),
        ("status", "shipped"),
        ("total", 3),
        ("due_date", "2025-03-01"),  # a date that moves is news, not noise
        ("id", True),
        ("id", {"nested": 1}),
        ("ids_note", "plain words"),
        (None, "plain words"),
        (None, 12345),
    ],
)
def test_values_that_are_not_noise(key: str | None, value: object) -> None:
    assert not is_volatile(key, value)
