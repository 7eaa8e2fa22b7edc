"""JSON, booleans, UTC timestamps with microseconds and long bodies behave the same on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.core.db import get_session_factory
from app.models import ApiRequest, Project, User
from app.models.base import UTCDateTime


async def _reload(model, entity_id):
    async with get_session_factory()() as fresh:
        return await fresh.get(model, entity_id)


async def _store_case(session, **fields) -> int:
    user = User(email="types@example.com", password_hash="x", is_admin=True)
    session.add(user)
    await session.flush()
    project = Project(name="types", owner_id=user.id)
    session.add(project)
    await session.flush()
    case = ApiRequest(project_id=project.id, owner_id=user.id, name="c", method="POST", **{"url": "/x", **fields})
    session.add(case)
    await session.commit()
    return case.id


async def test_json_round_trips_types_unicode_and_key_order(session):
    body = {
        "mode": "json",
        "content": {"zeta": 1, "alpha": [1, 2.5, True, None, {"nested": "值 ✓ émoji 🚀"}], "big": 2**53 + 1},
    }
    case_id = await _store_case(session, body=body, headers={"B": "2", "A": "1"})
    stored = await _reload(ApiRequest, case_id)
    assert stored.body == body
    assert list(stored.body["content"]) == ["zeta", "alpha", "big"]
    assert list(stored.headers) == ["B", "A"]
    assert stored.body["content"]["alpha"][2] is True


async def test_booleans_come_back_as_bool(session):
    user = User(email="bool@example.com", password_hash="x", is_admin=True, is_active=False)
    session.add(user)
    await session.commit()
    stored = await _reload(User, user.id)
    assert stored.is_admin is True and stored.is_active is False


async def test_timestamps_keep_microseconds_and_come_back_as_utc(session):
    moment = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone(timedelta(hours=8)))
    user = User(email="time@example.com", password_hash="x", created_at=moment)
    session.add(user)
    await session.commit()
    stored = await _reload(User, user.id)
    assert stored.created_at == moment
    assert stored.created_at.tzinfo is not None and stored.created_at.utcoffset() == timedelta(0)
    assert stored.created_at.microsecond == 123456
    # and ordering by the column follows real time, not the text of the zone
    later = User(email="later@example.com", password_hash="x", created_at=datetime(2026, 3, 4, 0, 0, 0, tzinfo=UTC))
    session.add(later)
    await session.commit()
    async with get_session_factory()() as fresh:
        emails = list(await fresh.scalars(select(User.email).order_by(User.created_at)))
    assert emails.index("time@example.com") < emails.index("later@example.com")


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), dialect=None)  # type: ignore[arg-type]


async def test_long_bodies_and_urls_fit(session):
    long_text = "x" * 300_000  # beyond MySQL TEXT (64 KiB)
    case_id = await _store_case(session, body={"mode": "raw", "content": long_text}, url="/" + "p" * 70_000)
    stored = await _reload(ApiRequest, case_id)
    assert stored.body["content"] == long_text
    assert len(stored.url) == 70_001
