"""Settings from the environment and `.env`; one place that knows where data lives."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that ship in examples; a production server must never run with them.
DEFAULT_SECRET_KEYS = frozenset({"", "change-me", "changeme", "secret", "please-change-this-secret-key"})


class ConfigError(RuntimeError):
    """A setting makes it unsafe or impossible to start; the message says which and how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(default=Path(".exile"), validation_alias="EXILE_DATA_DIR")

    db_backend: Literal["sqlite", "mysql", "postgresql"] = "sqlite"
    database_url: str | None = None
    sqlite_path: Path | None = None
    mysql_host: str = "127.0.0.1"
    mysql_port: int = 3306
    mysql_user: str = "root"
    mysql_password: str = ""
    mysql_database: str = "exile"
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "postgres"
    postgres_password: str = ""
    postgres_database: str = "exile"
    db_pool_size: int = 10
    db_echo: bool = False

    # None means: development uses (and creates) <data_dir>/secret_key; production refuses to start.
    secret_key: str | None = None
    access_token_expire_minutes: int = 12 * 60

    # Argon2 cost; tests lower it so that hashing does not dominate the suite.
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    # Proxies whose X-Forwarded-For is believed (comma-separated addresses or networks, `*` = any); empty = none:
    # the caller's address is the socket peer. Start uvicorn/gunicorn with the same `--forwarded-allow-ips`.
    forwarded_allow_ips: str = ""
    # An address past its failed sign-ins is slowed down (each attempt waits, at most this long), never locked.
    sign_in_slowdown_max_seconds: float = Field(default=8.0, ge=0)
    # Request bodies larger than this are refused with 413 before they are read (README, "Request size").
    max_request_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # A file to import (POST /projects/{id}/imports, `exile import`, `exile run`) may be this large; larger is
    # refused with 413 `file_too_large` before it is read.
    max_import_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)

    # Migrate at start-up (development default); production migrates explicitly.
    auto_migrate: bool | None = None
    initial_admin_email: str = "admin@exile.local"

    body_snapshot_limit: int = 65536
    # A response body is read up to this many bytes (after decompression); the rest is never read (README,
    # "Limits on what a target can send"). Caps what one request can hold in memory, gzip bombs included.
    response_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # One run of one JavaScript pre-request or test script: past either limit the step ends `error` naming it.
    script_time_limit_ms: int = Field(default=1000, ge=10, le=60_000)
    script_memory_limit_mb: int = Field(default=64, ge=8, le=1024)
    # Executors: a running run updates heartbeat_at this often; one silent for stale_after is interrupted
    # by a reaper that looks every reaper_interval (so within stale_after + reaper_interval of dying).
    run_heartbeat_seconds: float = 2.0
    run_stale_after_seconds: float = 20.0
    run_reaper_interval_seconds: float = 5.0
    # A Celery run nobody claimed within this time is dispatched once more; after twice this, it ends `error`.
    run_queued_timeout_seconds: float = 600.0
    run_batch_size: int = 500
    # Results are written at least this often (and per run_batch_size): what a killed executor loses.
    run_flush_seconds: float = 0.5
    # A case's "Send" with at most this many rows answers with the results; more goes to the background.
    case_run_sync_limit: int = 100
    # With Celery, "Send" waits this long for the worker to finish before answering 202 with the run.
    case_run_wait_seconds: float = 30.0
    # Sharded runs (app.runs.chunks): a scenario run with more data rows than run_chunk_rows is split into
    # chunks of that many rows. Inline, a pool of run_processes processes runs them (default: the cores; 1
    # turns sharding off); with Celery, any worker takes any chunk. The run's concurrency is the total in
    # flight: each chunk gets its share of run_processes chunks running at once. A chunk whose executor died
    # is run again (its partial records replaced) up to run_chunk_attempts times, then ends `interrupted`.
    run_processes: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    run_chunk_rows: int = Field(default=1000, ge=1)
    run_chunk_attempts: int = Field(default=2, ge=1, le=10)
    # The HTTP client runs send with (app.engine.http1): "http1", the engine's lean keep-alive client, or
    # "aiohttp", kept as the way back should a target need what only aiohttp does. Proxied requests always go
    # through aiohttp.
    engine_http_client: Literal["http1", "aiohttp"] = "http1"
    # The event loop of the processes Exile starts itself (app.core.loops): "auto" is uvloop where installed.
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    celery_broker_url: str | None = None
    celery_result_backend: str | None = None
    # Where clients reach this server (https://exile.example.com): makes the report URLs in run callbacks
    # absolute. Unset, they are paths (/api/v1/...).
    public_url: str | None = None
    # Run callbacks (app.callbacks, docs/ci.md): each delivery is tried up to callback_attempts times, each
    # attempt waiting callback_timeout_seconds at most; between attempts callback_backoff_seconds, doubling,
    # at most callback_backoff_max_seconds.
    callback_attempts: int = Field(default=5, ge=1, le=50)
    callback_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    callback_backoff_seconds: float = Field(default=1.0, ge=0, le=3600)
    callback_backoff_max_seconds: float = Field(default=300.0, ge=0, le=86400)
    # How long the process that ended a run keeps retrying its callback itself (a Celery thread, the reaper's
    # loop) before leaving the later attempts to the sweep that runs every run_reaper_interval_seconds.
    callback_hold_seconds: float = Field(default=15.0, ge=0, le=3600)
    # Notifications (app.notifications, docs/notifications.md): each message is tried up to notify_attempts
    # times, each attempt waiting notify_timeout_seconds at most; between attempts notify_backoff_seconds,
    # doubling, at most notify_backoff_max_seconds. The process that recorded it retries for up to
    # notify_hold_seconds; later attempts are made by the sweep every run_reaper_interval_seconds.
    notify_attempts: int = Field(default=5, ge=1, le=50)
    notify_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    notify_backoff_seconds: float = Field(default=2.0, ge=0, le=3600)
    notify_backoff_max_seconds: float = Field(default=300.0, ge=0, le=86400)
    notify_hold_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Projects' retention (app.reports.retention) is applied this often by the API process and by each Celery
    # worker, and once at their start; 0 turns the periodic prune off (`exile prune` still works).
    retention_interval_seconds: float = Field(default=3600.0, ge=0)
    # Schedules (app.schedules, docs/schedules.md): every API process, and every Celery worker when a broker is
    # configured, looks for due ticks this often (0: never in this process); a tick is claimed in the database,
    # so it fires once however many processes look. A tick found at most its schedule's grace_seconds plus
    # schedule_tolerance_seconds late still runs; later, it is recorded `missed`.
    schedule_poll_seconds: float = Field(default=1.0, ge=0, le=3600)
    schedule_tolerance_seconds: float = Field(default=30.0, ge=0, le=3600)
    # The shortest time allowed between two ticks of a schedule (a seconds field can make them frequent).
    schedule_min_interval_seconds: int = Field(default=10, ge=1, le=86400)
    # Fire records kept per schedule; older ones are deleted as new ones are recorded.
    schedule_fires_kept: int = Field(default=1000, ge=10, le=1_000_000)
    # AI assistance (app.ai, docs/ai.md): an OpenAI-compatible chat-completions API. Off unless ai_base_url and
    # ai_model are set AND a project's admin turns it on (projects.ai_enabled); every feature also works without.
    ai_base_url: str | None = None
    ai_api_key: str | None = None
    ai_model: str | None = None
    ai_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    ai_retries: int = Field(default=2, ge=0, le=10)
    # Tokens (prompt + completion) a project may spend per calendar month (UTC); a project's own
    # ai_monthly_token_budget overrides it. 0: no limit.
    ai_monthly_token_budget: int = Field(default=1_000_000, ge=0)

    @property
    def ai_configured(self) -> bool:
        return bool(self.ai_base_url and self.ai_model)

    @property
    def executor(self) -> str:
        """celery when a broker is configured, else inline (in the API process)."""
        return "celery" if self.celery_broker_url else "inline"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def should_auto_migrate(self) -> bool:
        return (not self.is_production) if self.auto_migrate is None else self.auto_migrate

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: DATABASE_URL wins, else one built from DB_BACKEND."""
        if self.database_url:
            return self.database_url
        if self.db_backend == "mysql":
            auth = self.mysql_user + (f":{self.mysql_password}" if self.mysql_password else "")
            return f"mysql+asyncmy://{auth}@{self.mysql_host}:{self.mysql_port}/{self.mysql_database}?charset=utf8mb4"
        if self.db_backend == "postgresql":
            auth = self.postgres_user + (f":{self.postgres_password}" if self.postgres_password else "")
            return f"postgresql+asyncpg://{auth}@{self.postgres_host}:{self.postgres_port}/{self.postgres_database}"
        path = self.sqlite_path or (self.data_dir / "exile.db")
        return f"sqlite+aiosqlite:///{path}"

    def check_production_ready(self) -> None:
        """Refuse to run production with a guessable signing key."""
        if self.is_production and (self.secret_key or "").strip().lower() in DEFAULT_SECRET_KEYS:
            raise ConfigError(
                "SECRET_KEY is missing or still the default value, and ENVIRONMENT=production. "
                "Set SECRET_KEY to a long random value (for example: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))') and start again."
            )

    def signing_key(self) -> str:
        """The key that signs tokens; in development one is generated once and kept in the data dir."""
        if self.secret_key and self.secret_key.strip().lower() not in DEFAULT_SECRET_KEYS:
            return self.secret_key
        self.check_production_ready()
        return _local_secret_key(self.data_dir)


def _local_secret_key(data_dir: Path) -> str:
    from filelock import FileLock

    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / "secret_key"
    with FileLock(str(data_dir / "secret_key.lock")):
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return key_file.read_text().strip()


_inherited: Settings | None = None


def inherit_settings(settings: Settings) -> None:
    """A spawned process (the run pool of app.runs.chunks) uses its parent's settings, not its own reading."""
    global _inherited
    _inherited = settings
    get_settings.cache_clear()


@lru_cache
def get_settings() -> Settings:
    return _inherited or Settings()
