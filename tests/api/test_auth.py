from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from app.core.config import get_settings
from tests.conftest import assert_error


async def test_sign_in_with_email_and_password_gives_a_token_for_me(client, make_user):
    await make_user(email="Alice@Example.com", password="s3cret-password")
    response = await client.post(
        "/api/v1/auth/token", data={"username": "alice@example.com", "password": "s3cret-password"}
    )
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "bearer"
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "alice@example.com"
    assert "password_hash" not in me.json()


async def test_wrong_password_and_unknown_email_get_the_same_401(client, make_user):
    await make_user(email="bob@example.com", password="right-password")
    wrong = await client.post("/api/v1/auth/token", data={"username": "bob@example.com", "password": "nope-nope"})
    unknown = await client.post("/api/v1/auth/token", data={"username": "eve@example.com", "password": "nope-nope"})
    assert assert_error(wrong, 401, "invalid_credentials")["message"] == assert_error(unknown, 401)["message"]


async def test_token_form_without_password_is_a_validation_error(client):
    error = assert_error(await client.post("/api/v1/auth/token", data={"username": "x@example.com"}), 422)
    assert ["body", "password"] in [d["loc"] for d in error["details"]]


async def test_every_api_path_needs_a_bearer_token(client):
    for method, path in [
        ("GET", "/api/v1/auth/me"),
        ("GET", "/api/v1/projects"),
        ("GET", "/api/v1/cases"),
        ("POST", "/api/v1/scenarios"),
        ("GET", "/api/v1/environments/1"),
    ]:
        response = await client.request(method, path)
        assert_error(response, 401, "not_authenticated")
        assert response.headers["www-authenticate"] == "Bearer"


async def test_forged_and_expired_tokens_are_refused(client, user):
    key = get_settings().signing_key()
    expired = jwt.encode(
        {"sub": str(user.id), "typ": "access", "exp": datetime.now(UTC) - timedelta(minutes=1)}, key, "HS256"
    )
    forged = jwt.encode(
        {"sub": str(user.id), "typ": "access", "exp": datetime.now(UTC) + timedelta(hours=1)},
        "another-key-that-is-long-enough-for-hs256",
        "HS256",
    )
    for token in (expired, forged, "not-a-jwt"):
        assert_error(await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}), 401)


async def test_site_admin_creates_users_and_others_may_not(client, make_user, user):
    from tests.conftest import bearer

    admin = await make_user(email="root@example.com", is_admin=True)
    body = {"email": "new@example.com", "password": "long-enough-pw"}
    assert_error(await client.post("/api/v1/users", json=body, headers=bearer(user)), 403, "forbidden")
    created = await client.post("/api/v1/users", json=body, headers=bearer(admin))
    assert created.status_code == 201, created.text
    again = await client.post("/api/v1/users", json=body, headers=bearer(admin))
    assert_error(again, 409, "email_taken")


async def test_health_reports_the_database(client):
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_health_is_503_when_the_database_is_down(client, monkeypatch):
    from app.core import db

    broken = db.build_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    monkeypatch.setattr(db, "_engine", broken)
    try:
        response = await client.get("/health")
    finally:
        await broken.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert response.json()["database"].startswith("error")


async def test_openapi_page_is_served(client):
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/cases" in spec["paths"]
