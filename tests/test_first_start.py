"""Starting the server as the README says, on an empty directory, gives a usable admin login."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKEND

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="first start is the zero-configuration SQLite path")
SETTINGS_VARS = ("DATABASE_URL", "DB_BACKEND", "SECRET_KEY", "EXILE_DATA_DIR", "ENVIRONMENT", "AUTO_MIGRATE")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def _start_server(directory: Path, port: int, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), *args],
        cwd=directory,
        env=_clean_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_healthy(port: int, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{process.stdout.read() if process.stdout else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become healthy")


def _stop(process: subprocess.Popen[str]) -> str:
    os.killpg(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


def _sign_in(port: int, email: str, password: str) -> httpx.Response:
    token = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/auth/token", data={"username": email, "password": password}, timeout=10
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return httpx.get(f"http://127.0.0.1:{port}/api/v1/auth/me", headers=headers, timeout=10)


def test_first_start_on_an_empty_directory_creates_one_admin_across_workers(tmp_path):
    port = _free_port()
    server = _start_server(tmp_path, port, "--workers", "2")
    try:
        _wait_healthy(port, server)
        time.sleep(1)  # let the second worker finish its start-up too
        password_file = tmp_path / ".exile" / "initial_admin_password"
        # The file holds the password alone (one line), so `$(cat .exile/initial_admin_password)` works.
        [password] = password_file.read_text().splitlines()
        lines = {"email": "admin@exile.local", "password": password}
        me = _sign_in(port, lines["email"], lines["password"])
        assert me.status_code == 200 and me.json()["is_admin"] is True
    finally:
        log = _stop(server)
    assert log.count("Exile created the first admin account") == 1, log
    assert lines["password"] in log
    assert re.search(r"database: sqlite\+aiosqlite:///\S*\.exile/exile\.db; executor: inline", log), log
    assert (tmp_path / ".exile" / "exile.db").exists()
    assert (tmp_path / ".exile" / "secret_key").stat().st_mode & 0o077 == 0

    # A restart keeps the admin and the signing key; no second admin, no new password.
    port = _free_port()
    again = _start_server(tmp_path, port)
    try:
        _wait_healthy(port, again)
        assert _sign_in(port, lines["email"], lines["password"]).status_code == 200
    finally:
        log = _stop(again)
    assert "Exile created the first admin account" not in log


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    server = _start_server(tmp_path, _free_port(), ENVIRONMENT="production", SECRET_KEY="change-me")
    output, _ = server.communicate(timeout=60)
    assert server.returncode != 0
    assert "SECRET_KEY is missing or still the default value" in output


def test_production_does_not_migrate_by_itself_and_says_how(tmp_path):
    server = _start_server(
        tmp_path, _free_port(), ENVIRONMENT="production", SECRET_KEY="a-real-production-secret-key-0123456789"
    )
    output, _ = server.communicate(timeout=60)
    assert server.returncode != 0
    assert "exile migrate" in output


def test_cli_migrates_and_creates_users(tmp_path):
    exile = str(Path(sys.executable).parent / "exile")
    env = _clean_env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/cli.db", EXILE_DATA_DIR=str(tmp_path))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exile, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    assert run("migrate").returncode == 0
    created = run("users", "create", "--email", "Lead@Example.com", "--password", "long-password", "--admin")
    assert created.returncode == 0, created.stderr
    assert "lead@example.com" in created.stdout and "(admin)" in created.stdout
    duplicate = run("users", "create", "--email", "lead@example.com", "--password", "long-password")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    weak = run("users", "create", "--email", "x@example.com", "--password", "short")
    assert weak.returncode == 2 and "at least 8 characters" in weak.stderr
