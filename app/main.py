"""The FastAPI application: `app.main:app` for uvicorn and gunicorn's UvicornWorker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.routing import Route

from app.ai.mcp_server import McpHttpEndpoint
from app.api import api_router
from app.auth.client_address import trusted_proxies
from app.callbacks.service import resume_pending as resume_callbacks
from app.core.body_limit import BodyLimitMiddleware, BodyTooLarge, body_too_large_handler
from app.core.bootstrap import configure_logging, freeze_start_up, startup
from app.core.config import get_settings
from app.core.db import dispose_engine, get_engine, get_session_factory
from app.core.docs import install_docs
from app.core.errors import install_error_handlers
from app.notifications.delivery import resume_pending as resume_notifications
from app.plans.progress import reconcile as reconcile_plan_runs
from app.reports.retention import prune
from app.runs.chunks import shutdown_pool
from app.runs.dispatch import stop_runs_thread
from app.runs.executor import reap_stale_runs
from app.schedules.firing import fire_forever as fire_schedules_forever

logger = logging.getLogger("exile")


async def _reap_forever() -> None:
    """Runs whose executor died (a killed worker, a restarted server) end `interrupted`, not `running` forever."""
    settings = get_settings()
    while True:
        try:
            await reap_stale_runs(
                get_session_factory(), settings.run_stale_after_seconds, settings.run_queued_timeout_seconds
            )
        except Exception:
            logger.exception("reaping stale runs failed")
        try:  # plan runs whose scenario runs ended uncounted (a crash between the two) move on
            await reconcile_plan_runs(get_session_factory())
        except Exception:
            logger.exception("reconciling plan runs failed")
        await asyncio.sleep(settings.run_reaper_interval_seconds)


async def _send_callbacks_forever() -> None:
    """Run callbacks and notifications a dead process left pending are sent from here: at once at start, then
    every reaper tick."""
    while True:
        try:
            await resume_callbacks(get_session_factory())
        except Exception:
            logger.exception("sending pending run callbacks failed")
        try:
            await resume_notifications(get_session_factory())
        except Exception:
            logger.exception("sending pending notifications failed")
        await asyncio.sleep(get_settings().run_reaper_interval_seconds)


async def _prune_forever() -> None:
    """Request runs past their project's retention lose their snapshots, then their rows (0 s: never here)."""
    interval_seconds = get_settings().retention_interval_seconds
    while interval_seconds > 0:
        try:
            pruned = await prune(get_session_factory())
            if pruned.bodies_cleared or pruned.request_runs_deleted or pruned.runs_not_rolled_up:
                logger.info("retention: %s", pruned)
        except Exception:
            logger.exception("pruning old runs failed")
        await asyncio.sleep(interval_seconds)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    configure_logging()
    await startup(get_settings())
    freeze_start_up()
    reaper = asyncio.ensure_future(_reap_forever())
    callbacks = asyncio.ensure_future(_send_callbacks_forever())
    pruner = asyncio.ensure_future(_prune_forever())
    schedules = asyncio.ensure_future(fire_schedules_forever())  # every process: each tick is claimed once
    yield
    reaper.cancel()
    callbacks.cancel()
    pruner.cancel()
    schedules.cancel()
    await asyncio.gather(reaper, callbacks, pruner, schedules, return_exceptions=True)
    await asyncio.to_thread(stop_runs_thread)  # inline runs still going end `interrupted` (the reaper's word)
    shutdown_pool()  # the processes that run sharded runs' chunks
    await dispose_engine()


def create_app() -> FastAPI:
    trusted_proxies(get_settings().forwarded_allow_ips)  # a malformed FORWARDED_ALLOW_IPS stops the start, named
    app = FastAPI(
        title="Exile",
        description="API test automation: cases, data-driven runs, business-flow scenarios and run records.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs from local assets, not a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_exception_handler(BodyTooLarge, body_too_large_handler)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=lambda: get_settings().max_request_bytes, routes=lambda: app.routes
    )
    install_docs(app)
    app.include_router(api_router, prefix="/api/v1")
    app.router.routes.append(Route("/mcp", McpHttpEndpoint(app), include_in_schema=False))  # agents: docs/mcp.md

    @app.get("/health", tags=["health"], responses={503: {"description": "A part is not ok; `database` says why."}})
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
