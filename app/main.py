"""The FastAPI application: `app.main:app` for uvicorn and gunicorn's UvicornWorker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.api import api_router
from app.core.bootstrap import configure_logging, startup
from app.core.config import get_settings
from app.core.db import dispose_engine, get_engine
from app.core.errors import install_error_handlers


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    configure_logging()
    await startup(get_settings())
    yield
    await dispose_engine()


def create_app() -> FastAPI:
    app = FastAPI(
        title="Exile",
        description="API test automation: cases, data-driven runs, business-flow scenarios and run records.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(api_router, prefix="/api/v1")

    @app.get("/health", tags=["health"])
    async def health() -> JSONResponse:
        """Liveness with the database's state: 503 names the failing part."""
        try:
            async with get_engine().connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse(
                {"status": "error", "database": f"error: {type(exc).__name__}: {exc}"[:500]}, status_code=503
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    return app


app = create_app()
