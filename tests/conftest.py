"""Test set-up: a real database (SQLite by default, MariaDB/PostgreSQL via TEST_DATABASE_URL), migrated once.

Each test starts from empty tables. The app commits for real (so a test sees exactly what a client would),
and the tables are cleared before the next test.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

# The app reads its settings at import: point it at the test database first.
TEST_DATA_DIR = tempfile.mkdtemp(prefix="exile-tests-")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{TEST_DATA_DIR}/test.db"
os.environ.update(
    {
        "EXILE_DATA_DIR": TEST_DATA_DIR,
        "DATABASE_URL": TEST_DATABASE_URL,
        "SECRET_KEY": "exile-test-secret-key-not-for-production",
        "ENVIRONMENT": "development",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "64",
        # An address past its failed sign-ins waits before each attempt; tests that check it record the wait.
        "SIGN_IN_SLOWDOWN_MAX_SECONDS": "0.01",
    }
)
for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DB_BACKEND", "FORWARDED_ALLOW_IPS", "MAX_REQUEST_BYTES"):
    os.environ.pop(name, None)

import httpx  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy import delete, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from app.core.bootstrap import migrate  # noqa: E402
from app.core.db import build_engine, dispose_engine, get_session_factory  # noqa: E402
from app.core.security import create_access_token  # noqa: E402
from app.main import app  # noqa: E402
from app.models import Base, User  # noqa: E402
from app.users.schemas import UserCreate  # noqa: E402
from app.users.service import create_user  # noqa: E402

BACKEND = TEST_DATABASE_URL.split(":", 1)[0].split("+", 1)[0]
# Every mapped model, from the registry rather than app.models.__all__ (which also exports status enums).
MAPPED_MODELS = sorted((mapper.class_ for mapper in Base.registry.mappers), key=lambda model: model.__name__)


async def reset_schema(url: str) -> None:
    """Drop whatever an earlier run left, so the migrations run on an empty database."""
    engine = build_engine(url, poolclass=NullPool)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await engine.dispose()


@pytest.fixture(scope="session", autouse=True)
async def migrated_database() -> AsyncIterator[str]:
    await reset_schema(TEST_DATABASE_URL)
    await asyncio.to_thread(migrate, TEST_DATABASE_URL)
    yield TEST_DATABASE_URL
    await dispose_engine()


async def empty_every_table() -> None:
    async with get_session_factory()() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(delete(table))
        await session.commit()


INLINE_RUNS_SETTLE_SECONDS = 120


async def settle_inline_runs() -> None:
    """Let the runs a test started in the background end; one that never does fails the test with every thread's
    and task's stack instead of hanging the suite (CI would only time out, with nothing to read)."""
    from app.runs import dispatch

    try:
        await asyncio.wait_for(dispatch.wait_for_inline_runs(), INLINE_RUNS_SETTLE_SECONDS)
    except TimeoutError:
        stuck = list(dispatch._inline_runs)
        faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)
        runs_loop = dispatch.runs_thread().loop
        for task in asyncio.all_tasks(runs_loop):  # read from here: only for the report
            task.print_stack(file=sys.__stderr__)
        for future in stuck:
            future.cancel()
        await asyncio.wait([asyncio.wrap_future(future) for future in stuck], timeout=10)
        raise AssertionError(
            f"{len(stuck)} background run(s) still running after {INLINE_RUNS_SETTLE_SECONDS} s (stacks on stderr)"
        ) from None


@pytest.fixture(autouse=True)
async def empty_tables(migrated_database: str) -> AsyncIterator[None]:
    await empty_every_table()
    yield
    # Runs started in the background by a test end before the next test empties the tables.
    await settle_inline_runs()


@pytest.fixture
async def session() -> AsyncIterator[AsyncSession]:
    async with get_session_factory()() as db_session:
        yield db_session


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://exile.test") as http:
        yield http


UserFactory = Callable[..., Awaitable[User]]


def user_factory() -> UserFactory:
    counter = iter(range(1, 1_000_000))

    async def factory(email: str | None = None, password: str = "correct-horse-battery", **extra: Any) -> User:
        async with get_session_factory()() as db_session:
            user = await create_user(
                db_session,
                UserCreate(email=email or f"user{next(counter)}@example.com", password=password, **extra),
            )
            await db_session.commit()
            return user

    return factory


@pytest.fixture
def make_user() -> UserFactory:
    return user_factory()


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_access_token(user.id)}"}


@pytest.fixture
async def user(make_user: UserFactory) -> User:
    return await make_user(email="qa@example.com")


@pytest.fixture
async def api(client: httpx.AsyncClient, user: User) -> httpx.AsyncClient:
    """A client signed in as an ordinary user."""
    client.headers.update(bearer(user))
    return client


async def count_rows(model: Any) -> int:
    from sqlalchemy import func, select

    async with get_session_factory()() as db_session:
        return int(await db_session.scalar(select(func.count()).select_from(model)) or 0)


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message", "details"}}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["message"], str) and error["message"], error
    if code is not None:
        assert error["code"] == code, error
    return error
