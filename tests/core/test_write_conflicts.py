"""Which database errors mean "another writer won; nothing was applied; do it again"."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app.core.db import is_write_conflict, retried_on_conflict


def _error(kind: type[DBAPIError], message: str) -> DBAPIError:
    return kind("UPDATE scenario_runs ...", {}, Exception(message))


@pytest.mark.parametrize(
    "error",
    [
        _error(OperationalError, "(1213, 'Deadlock found when trying to get lock; try restarting transaction')"),
        _error(OperationalError, "(1205, 'Lock wait timeout exceeded; try restarting transaction')"),
        _error(DBAPIError, "deadlock detected"),  # asyncpg
        _error(DBAPIError, "could not serialize access due to concurrent update"),
        _error(DBAPIError, "canceling statement due to lock timeout"),
        _error(OperationalError, "database is locked"),  # SQLite
    ],
)
def test_conflicts_are_told_apart(error):
    assert is_write_conflict(error)


@pytest.mark.parametrize(
    "error",
    [
        _error(OperationalError, "(2013, 'Lost connection to MySQL server during query')"),
        _error(IntegrityError, "(1062, \"Duplicate entry '<hidden>' for key 'PRIMARY'\")"),
        _error(OperationalError, "(1305, 'SAVEPOINT sa_savepoint_1 does not exist')"),
        RuntimeError("deadlock in my own code"),  # not the database's
    ],
)
def test_other_errors_are_not_conflicts(error):
    assert not is_write_conflict(error)


def test_a_savepoint_lost_to_a_deadlock_is_a_conflict():
    """On MariaDB a deadlock inside a savepoint rolls back the whole transaction; the ROLLBACK TO SAVEPOINT that
    follows fails on its own, with the deadlock as its context."""
    lost = _error(OperationalError, "(1305, 'SAVEPOINT sa_savepoint_1 does not exist')")
    lost.__context__ = _error(OperationalError, "(1213, 'Deadlock found when trying to get lock')")
    assert is_write_conflict(lost)


async def test_work_is_done_again_after_conflicts_and_other_errors_are_raised_at_once():
    tries: list[str] = []

    async def twice_a_victim() -> str:
        tries.append("try")
        if len(tries) < 3:
            raise _error(OperationalError, "(1213, 'Deadlock found when trying to get lock')")
        return "stored"

    assert await retried_on_conflict(twice_a_victim) == "stored" and len(tries) == 3

    async def broken() -> None:
        tries.append("broken")
        raise _error(OperationalError, "(2013, 'Lost connection to MySQL server during query')")

    with pytest.raises(OperationalError, match="Lost connection"):
        await retried_on_conflict(broken)
    assert tries.count("broken") == 1
