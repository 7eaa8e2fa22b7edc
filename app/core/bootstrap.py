"""First start: migrate (development), and give a brand-new install its first admin, once, across workers.

Several server workers start at the same moment; a file lock in the data dir makes one of them do the work
while the others wait and then find it done.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from filelock import FileLock
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.core.config import ConfigError, Settings
from app.core.db import build_engine

logger = logging.getLogger("exile")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD_FILE = "initial_admin_password"


def freeze_start_up() -> None:
    """Once a process has imported and built what it keeps for life (the app, models, the engine): a full garbage
    collection walked all of it (~260k objects, ~140 ms holding the GIL). Frozen, it is never walked again: one
    such pass held the API's /health up past 200 ms while runs allocated (benchmarks/hostile_targets.py)."""
    gc.collect()
    gc.freeze()


def configure_logging() -> None:
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [exile] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def alembic_config(url: str | None = None):
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the schema (blocking: Alembic runs its own event loop, so call it from a thread)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def ensure_first_admin(settings: Settings, url: str) -> str | None:
    """Create the first admin when no user exists; returns the one-time password, or None."""
    from app.core.security import hash_password
    from app.users.service import count_users, get_by_email

    engine = build_engine(url, poolclass=NullPool)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            try:
                if await count_users(session) > 0:
                    return None
            except (OperationalError, ProgrammingError) as exc:
                raise ConfigError(
                    "The database has no Exile schema yet. Run `uv run exile migrate` "
                    f"(or `uv run alembic upgrade head`) and start again. ({exc.orig})"
                ) from None
            password = secrets.token_urlsafe(18)
            return await _create_admin(session, settings, password, get_by_email, hash_password)
    finally:
        await engine.dispose()


async def _create_admin(session: AsyncSession, settings: Settings, password: str, get_by_email, hash_password):
    from app.models import User

    if await get_by_email(session, settings.initial_admin_email) is not None:
        return None
    session.add(
        User(
            email=settings.initial_admin_email,
            full_name="Administrator",
            password_hash=hash_password(password),
            is_admin=True,
        )
    )
    try:
        await session.commit()
    except IntegrityError:  # another host created it first
        return None
    return password


def admin_password_file(settings: Settings) -> Path:
    """Holds the first admin's one-time password alone, so `$(cat ...)` gives exactly the password."""
    return settings.data_dir / ADMIN_PASSWORD_FILE


def _announce_admin(settings: Settings, password: str) -> None:
    path = admin_password_file(settings)
    # Created 0600 from the start: the password is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{password}\n")
    path.chmod(0o600)
    bar = "*" * 72
    logger.warning(
        "\n%s\nExile created the first admin account.\n  email:    %s\n  password: %s\n"
        "This password is shown once; it is also in %s (the password alone; the file is removed once\n"
        "this admin changes the password). Sign in and change it.\n%s",
        bar,
        settings.initial_admin_email,
        password,
        path.resolve(),
        bar,
    )


def _startup_locked(settings: Settings, url: str) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.data_dir / "startup.lock"), timeout=600):
        if settings.should_auto_migrate:
            migrate(url)
        password = asyncio.run(ensure_first_admin(settings, url))
        if password:
            _announce_admin(settings, password)


def describe_database(url: str) -> str:
    """The database a URL points at, for the log: backend, host, port and name, never the password."""
    parsed = make_url(url)
    return parsed.render_as_string(hide_password=True)


def describe_executor(settings: Settings) -> str:
    """Where runs execute: inline, or celery with its broker's address (never its password)."""
    if settings.executor != "celery" or not settings.celery_broker_url:
        return settings.executor
    broker = urlsplit(settings.celery_broker_url)
    where = f"{broker.scheme}://{broker.hostname or ''}" + (f":{broker.port}" if broker.port else "") + broker.path
    return f"celery (broker {where}, queue exile_scenario_tasks)"


def forget_initial_admin_password(settings: Settings, email: str) -> None:
    """The first admin chose a password of their own: the one-time password file has served its purpose."""
    if email.strip().lower() != settings.initial_admin_email.strip().lower():
        return
    admin_password_file(settings).unlink(missing_ok=True)


async def startup(settings: Settings) -> None:
    """Everything a server process does before it serves."""
    settings.check_production_ready()
    settings.signing_key()
    url = settings.resolved_database_url
    logger.info("database: %s; executor: %s", describe_database(url), describe_executor(settings))
    await asyncio.to_thread(_startup_locked, settings, url)
