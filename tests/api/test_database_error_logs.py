"""A failing SQL statement never puts its bound values (token hashes, secrets, bodies) in a log or an answer."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from app.core.db import build_engine, get_engine
from app.main import app
from app.models import ApiToken
from tests import factories
from tests.conftest import BACKEND, TEST_DATABASE_URL

API = "/api/v1"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # format() renders the message and any traceback, as a real log handler would write them.
        self.lines.append(logging.Formatter("%(name)s %(message)s").format(record))


@contextmanager
def every_log() -> Iterator[_Collect]:
    """Collect every record of every logger (including ones that do not propagate), SQL echo included."""
    collector = _Collect()
    names = ["", "exile", "exile.errors", "sqlalchemy.engine", "uvicorn.error"]
    loggers = [logging.getLogger(name) for name in names]
    levels = [one.level for one in loggers]
    for one in loggers:
        one.addHandler(collector)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # as DB_ECHO=true would
    try:
        yield collector
    finally:
        for one, level in zip(loggers, levels, strict=True):
            one.removeHandler(collector)
            one.setLevel(level)


@pytest.mark.skipif(BACKEND != "sqlite", reason="the failing insert is made with a SQLite trigger")
async def test_a_failed_insert_through_the_api_logs_no_bound_value(api: httpx.AsyncClient):
    project = await factories.project(api)
    marker = f"leak-{uuid.uuid4().hex}"
    async with get_engine().begin() as connection:
        await connection.execute(
            text("CREATE TRIGGER refuse_tokens BEFORE INSERT ON api_tokens BEGIN SELECT RAISE(ABORT, 'refused'); END")
        )
    try:
        with every_log() as logs:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                base_url="http://exile.test",
                headers=api.headers,
            ) as client:
                response = await client.post(f"{API}/projects/{project['id']}/tokens", json={"name": marker})
    finally:
        async with get_engine().begin() as connection:
            await connection.execute(text("DROP TRIGGER refuse_tokens"))
    assert response.status_code >= 400, response.text
    assert logs.lines, "the failure left no log at all"
    everything = "\n".join(logs.lines) + response.text
    assert marker not in everything
    assert "exile_" not in everything  # no piece of the raw token either


@pytest.mark.parametrize("engine_kind", ["app", "worker"])
async def test_a_failed_statement_logged_with_its_traceback_shows_no_bound_value(engine_kind: str):
    """What the 500 handler and a crashed run log: the exception with its traceback."""
    engine = get_engine() if engine_kind == "app" else build_engine(TEST_DATABASE_URL, poolclass=NullPool)
    marker = f"hash-{uuid.uuid4().hex}"
    row = {
        "project_id": 987654321,  # no such project: the foreign key refuses the row
        "name": "ci",
        "role": "runner",
        "token_hash": marker,
        "prefix": marker[:12],
        "created_by_id": 987654321,
    }
    try:
        with every_log() as logs:
            with pytest.raises(DBAPIError) as failure:
                async with engine.begin() as connection:
                    await connection.execute(insert(ApiToken).values(**row))
            logging.getLogger("exile").error("statement failed", exc_info=failure.value)
    finally:
        if engine_kind == "worker":
            await engine.dispose()
    assert any("statement failed" in line for line in logs.lines)
    assert marker not in str(failure.value)
    assert marker not in "\n".join(logs.lines)


async def test_a_duplicate_value_is_not_quoted_back_by_the_database_error(api: httpx.AsyncClient):
    """PostgreSQL's DETAIL ("Key (token_hash)=(...) already exists") and MariaDB's "Duplicate entry '...'"
    quote the row's value: the driver's error is scrubbed before anything can log it."""
    project = await factories.project(api)
    me = (await api.get(f"{API}/auth/me")).json()
    marker = f"hash-{uuid.uuid4().hex}"
    row = {
        "project_id": project["id"],
        "name": "ci",
        "role": "runner",
        "token_hash": marker,
        "prefix": "exl_dup",
        "created_by_id": me["id"],
        "created_at": datetime.now(UTC),
    }
    async with get_engine().begin() as connection:
        await connection.execute(insert(ApiToken).values(**row))
    with every_log() as logs:
        with pytest.raises(DBAPIError) as failure:
            async with get_engine().begin() as connection:
                await connection.execute(insert(ApiToken).values(**{**row, "name": "again"}))
        logging.getLogger("exile").error("statement failed", exc_info=failure.value)
    text_of_failure = "\n".join(logs.lines)
    assert "statement failed" in text_of_failure and ("nique" in text_of_failure or "uplicate" in text_of_failure)
    assert marker not in str(failure.value) and marker not in text_of_failure
