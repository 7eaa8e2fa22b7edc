"""Mounts every domain router under /api/v1."""

from fastapi import APIRouter

from app.ai.router import router as ai_router
from app.audit.router import router as audit_router
from app.auth.router import router as auth_router
from app.callbacks.router import router as callbacks_router
from app.cases.router import router as cases_router
from app.datasets.router import router as datasets_router
from app.environments.router import router as environments_router
from app.interop.report_router import router as report_router
from app.interop.router import router as interop_router
from app.interop.router import schemas_router
from app.members.router import router as members_router
from app.notifications.router import router as notifications_router
from app.plans.router import router as plans_router
from app.projects.router import router as projects_router
from app.reports.router import router as reports_router
from app.runs.router import router as runs_router
from app.scenarios.router import router as scenarios_router
from app.schedules.router import router as schedules_router
from app.tokens.router import router as tokens_router
from app.users.router import router as users_router

api_router = APIRouter()
for router in (
    auth_router,
    users_router,
    projects_router,
    members_router,
    tokens_router,
    audit_router,
    environments_router,
    cases_router,
    datasets_router,
    scenarios_router,
    runs_router,
    interop_router,
    schemas_router,
    report_router,
    reports_router,
    callbacks_router,
    ai_router,
    plans_router,
    schedules_router,
    notifications_router,
):
    api_router.include_router(router)
