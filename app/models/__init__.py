"""Every ORM model, imported here so that Alembic and the app see one metadata."""

from app.models.ai import AiInteraction, AiProposal
from app.models.audit import AuditLog
from app.models.base import Base
from app.models.callback import CallbackDelivery, ProjectCallbackSecret
from app.models.case import ApiRequest, ApiRequestDataset, ApiRequestTag
from app.models.imports import ApiImport
from app.models.notification import NotificationChannel, NotificationDelivery
from app.models.plan import PlanRun, PlanRunStatus, TestPlan
from app.models.project import Environment, Project
from app.models.report import FailureClusterLabel, ReportRollup, ReportRollupDuration
from app.models.run import ApiRequestRun, ScenarioRun, ScenarioRunChunk
from app.models.scenario import TestScenario, TestScenarioCase, TestScenarioDataset, TestScenarioTag
from app.models.schedule import CodeHostTrigger, CommitStatusDelivery, Schedule, ScheduleFire
from app.models.team import ApiToken, LoginThrottle, ProjectMember
from app.models.user import User

__all__ = [
    "AiInteraction",
    "AiProposal",
    "ApiImport",
    "ApiRequest",
    "ApiRequestDataset",
    "ApiRequestRun",
    "ApiRequestTag",
    "ApiToken",
    "AuditLog",
    "Base",
    "CallbackDelivery",
    "CodeHostTrigger",
    "CommitStatusDelivery",
    "Environment",
    "FailureClusterLabel",
    "LoginThrottle",
    "NotificationChannel",
    "NotificationDelivery",
    "PlanRun",
    "PlanRunStatus",
    "Project",
    "ProjectCallbackSecret",
    "ProjectMember",
    "ReportRollup",
    "ReportRollupDuration",
    "ScenarioRun",
    "ScenarioRunChunk",
    "Schedule",
    "ScheduleFire",
    "TestPlan",
    "TestScenario",
    "TestScenarioCase",
    "TestScenarioDataset",
    "TestScenarioTag",
    "User",
]
