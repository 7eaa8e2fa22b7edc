"""Domain errors carry their HTTP status; one set of handlers renders every error in one JSON shape."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.db import is_write_conflict

logger = logging.getLogger("exile.errors")


class AppError(Exception):
    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[dict[str, Any]] | None = None,
        status_code: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details or [])
        self.headers = dict(headers or {})
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code


class NotFound(AppError):
    status_code, code = 404, "not_found"


class Unauthorized(AppError):
    status_code, code = 401, "not_authenticated"


class Forbidden(AppError):
    status_code, code = 403, "forbidden"


class Conflict(AppError):
    status_code, code = 409, "conflict"


class VersionConflict(AppError):
    status_code, code = 409, "version_conflict"


class InvalidInput(AppError):
    """A request that parsed but breaks a rule that needs the database to check (422 like schema errors)."""

    status_code, code = 422, "validation_error"

    def __init__(self, message: str, loc: Sequence[str | int] = ()) -> None:
        super().__init__(message, details=[{"loc": list(loc), "msg": message}])


def error_body(code: str, message: str, details: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": list(details)}}


class ErrorDetail(BaseModel):
    """One thing wrong: where (`loc`, e.g. ["body", "steps", 0, "case_id"]) and what (`msg`)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorResponse(BaseModel):
    """The one shape of every error answer."""

    error: ErrorInfo


ERROR_DESCRIPTIONS = {
    400: "The body could not be read (not UTF-8, or not the JSON or form this operation takes).",
    401: "Not signed in, or the token is invalid, expired or revoked.",
    403: "Signed in, but your role (or an API token) does not allow this.",
    404: "Not found, or not visible to you.",
    409: "Conflicts with the current state: a stale `version`, a duplicate, or a record in use.",
    413: "The request body is larger than the server accepts.",
    422: "Invalid input: `details` names each field (and list index) and what is wrong.",
    429: "Too many attempts (or the project's AI token budget is spent): the message says which and until when.",
    502: "The AI model's API gave no answer, or an answer that was refused (invalid or unsafe); nothing was stored.",
    503: "The database (or the run broker) did not answer; nothing was saved.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the error statuses an operation can answer, each with the error body's schema."""
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[code]} for code in codes
    }
    if 429 in responses:
        responses[429]["headers"] = {
            "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
        }
    return responses


# What nearly every signed-in operation can answer; routers add the rest per route.
SIGNED_IN = (401, 422, 503)
# What any operation that reads a request body can answer on top.
WITH_BODY = (400, 413, 422)


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate cannot be sent
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return str(value)


def validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors as `{"loc", "msg"}`: names the field (and index) and what is wrong."""
    details = []
    for err in errors:
        loc = [part for part in err.get("loc", ()) if part not in ("function-after",)]
        if err.get("type") == "unstorable_value":
            loc += (err.get("ctx") or {}).get("path", [])  # the place inside a free-form JSON value
        msg = err.get("msg", "invalid value")
        if isinstance(msg, str) and msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        details.append({"loc": _json_safe(loc), "msg": _json_safe(msg), "type": err.get("type")})
    return details


def _summary(details: list[dict[str, Any]]) -> str:
    if not details:
        return "Invalid request."
    first = details[0]
    where = ".".join(str(p) for p in first["loc"]) or "request"
    extra = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return f"{where}: {first['msg']}{extra}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=exc.status_code,
            headers={**headers, **exc.headers} or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = validation_details(exc.errors())
        return JSONResponse(error_body("validation_error", _summary(details), details), status_code=422)

    @app.exception_handler(ValidationError)
    async def _validation(_request: Request, exc: ValidationError) -> JSONResponse:
        details = validation_details(exc.errors())
        return JSONResponse(error_body("validation_error", _summary(details), details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            401: "not_authenticated",
            403: "forbidden",
            413: "body_too_large",
        }
        return JSONResponse(
            error_body(codes.get(exc.status_code, "http_error"), str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(StaleDataError)
    async def _stale(_request: Request, _exc: StaleDataError) -> JSONResponse:
        return JSONResponse(
            error_body("version_conflict", "The record was changed by someone else; reload it and retry."),
            status_code=409,
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Services check rules first; this is the net for races between two writers.
        logger.warning("integrity error: %s", exc.orig)
        return JSONResponse(
            error_body("conflict", "The change conflicts with existing data (a duplicate or a missing link)."),
            status_code=409,
        )

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        # A value the schema allowed but the database column cannot hold: the input's fault, not a crash.
        logger.warning("data error: %s", exc.orig)
        return JSONResponse(
            error_body("validation_error", "A value does not fit what the database can store; nothing was saved."),
            status_code=422,
        )

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> JSONResponse:
        if is_write_conflict(exc):
            return await _conflict(request, exc)
        logger.error("database unavailable: %s", exc.orig)
        return JSONResponse(
            error_body("database_unavailable", "The database did not answer; nothing was saved."),
            status_code=503,
        )

    @app.exception_handler(DBAPIError)  # asyncpg's deadlock and lock timeout are plain DBAPIErrors
    async def _conflict(request: Request, exc: DBAPIError) -> JSONResponse:
        if not is_write_conflict(exc):
            return await _unexpected(request, exc)
        # The database is up: this write lost a race with another one and was rolled back whole.
        logger.warning("write conflict: %s", exc.orig)
        return JSONResponse(
            error_body(
                "write_conflict",
                "A concurrent write held what this one needed and the database rolled this one back "
                "(a deadlock or lock timeout); nothing was saved. Send it again.",
            ),
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            error_body("internal_error", "Unexpected server error; nothing was saved."), status_code=500
        )
