"""A write whose commit fails must not answer 2xx, and must leave nothing behind."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from app.main import app
from app.models import Project
from tests.conftest import assert_error, bearer, count_rows


async def test_a_failed_commit_answers_503_and_saves_nothing(api):
    def fail(_session: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(Session, "before_commit", fail)
    try:
        response = await api.post("/api/v1/projects", json={"name": "never saved"})
    finally:
        event.remove(Session, "before_commit", fail)
    assert_error(response, 503, "database_unavailable")
    assert await count_rows(Project) == 0


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("something nobody planned for"),
        DBAPIError("COMMIT", {}, Exception("something nobody planned for: server closed the connection")),
    ],
)
async def test_an_unexpected_error_is_a_500_in_the_error_shape_and_saves_nothing(user, error):
    def fail(_session: Session) -> None:
        raise error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    event.listen(Session, "before_commit", fail)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://exile.test", headers=bearer(user)) as http:
            response = await http.post("/api/v1/projects", json={"name": "never saved"})
    finally:
        event.remove(Session, "before_commit", fail)
    error_body = assert_error(response, 500, "internal_error")
    assert "something nobody planned for" not in error_body["message"]
    assert await count_rows(Project) == 0


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("COMMIT", {}, Exception("(1213, 'Deadlock found when trying to get lock')")),  # asyncmy
        DBAPIError("COMMIT", {}, Exception("deadlock detected")),  # asyncpg's errors are plain DBAPIErrors
        DBAPIError("UPDATE", {}, Exception("canceling statement due to lock timeout")),
    ],
)
async def test_a_write_the_database_rolled_back_for_a_conflict_says_so_and_to_send_it_again(api, error):
    def deadlock(_session: Session) -> None:
        raise error

    event.listen(Session, "before_commit", deadlock)
    try:
        response = await api.post("/api/v1/projects", json={"name": "never saved"})
    finally:
        event.remove(Session, "before_commit", deadlock)
    error = assert_error(response, 503, "write_conflict")
    assert "nothing was saved" in error["message"] and "again" in error["message"]
    assert response.headers["retry-after"] == "1"
    assert await count_rows(Project) == 0
