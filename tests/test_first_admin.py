"""The first admin's password file works with `$(cat ...)`, goes away once the admin picks a password, and the
start-up log says which database (never its password) and which executor the server uses."""

from __future__ import annotations

import logging
import subprocess

import httpx
import pytest

from app.core.bootstrap import ADMIN_PASSWORD_FILE, startup
from app.core.config import Settings, get_settings
from tests.conftest import BACKEND, bearer
from tests.test_first_start import _free_port, _start_server, _stop, _wait_healthy

API = "/api/v1"


@pytest.mark.skipif(BACKEND != "sqlite", reason="first start is the zero-configuration SQLite path")
def test_password_file_holds_the_password_alone_and_is_removed_once_it_is_changed(tmp_path):
    port = _free_port()
    server = _start_server(tmp_path, port)
    try:
        _wait_healthy(port, server)
        password_file = tmp_path / ".exile" / ADMIN_PASSWORD_FILE
        # What the README tells people to type.
        password = subprocess.run(
            ["sh", "-c", f'printf %s "$(cat {password_file})"'], capture_output=True, text=True, check=True
        ).stdout
        base = f"http://127.0.0.1:{port}{API}"
        signed_in = httpx.post(f"{base}/auth/token", data={"username": "admin@exile.local", "password": password})
        assert signed_in.status_code == 200, signed_in.text
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        changed = httpx.post(
            f"{base}/auth/password",
            json={"current_password": password, "new_password": "my-own-admin-password"},
            headers=headers,
        )
        assert changed.status_code == 204, changed.text
        assert not password_file.exists()
    finally:
        log = _stop(server)
    assert password in log  # the one-time password was printed once


async def test_only_the_first_admin_changing_their_password_removes_the_file(client: httpx.AsyncClient, make_user):
    settings = get_settings()
    password_file = settings.data_dir / ADMIN_PASSWORD_FILE
    password_file.write_text("one-time-password\n")
    try:
        someone = await make_user(email="someone@example.com", password="correct-horse-battery")
        body = {"current_password": "correct-horse-battery", "new_password": "another-long-password"}
        assert (await client.post(f"{API}/auth/password", json=body, headers=bearer(someone))).status_code == 204
        assert password_file.exists()

        admin = await make_user(email=settings.initial_admin_email, password="correct-horse-battery", is_admin=True)
        assert (await client.post(f"{API}/auth/password", json=body, headers=bearer(admin))).status_code == 204
        assert not password_file.exists()
    finally:
        password_file.unlink(missing_ok=True)


async def test_startup_log_names_the_database_and_executor_but_no_password(tmp_path, caplog):
    settings = Settings(
        _env_file=None,
        EXILE_DATA_DIR=tmp_path,
        database_url="postgresql+asyncpg://exile:db-pass-s3cr3t@127.0.0.1:1/exile_prod",
        celery_broker_url="redis://:broker-pass-s3cr3t@127.0.0.1:6390/2",
        secret_key="a-real-production-secret-key-0123456789",
        auto_migrate=False,
    )
    exile_logger = logging.getLogger("exile")
    exile_logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="exile")
    try:
        with pytest.raises(OSError):  # nothing listens on port 1: the start stops after the log line
            await startup(settings)
    finally:
        exile_logger.removeHandler(caplog.handler)
    text = caplog.text
    assert "postgresql+asyncpg://exile:***@127.0.0.1:1/exile_prod" in text, text
    assert "executor: celery (broker redis://127.0.0.1:6390/2" in text, text
    assert "s3cr3t" not in text
