"""Every ORM model, imported here so that Alembic and the app see one metadata."""

from app.models.base import Base
from app.models.case import ApiRequest, ApiRequestDataset, ApiRequestTag
from app.models.project import Environment, Project
from app.models.scenario import TestScenario, TestScenarioCase, TestScenarioDataset, TestScenarioTag
from app.models.user import User

__all__ = [
    "ApiRequest",
    "ApiRequestDataset",
    "ApiRequestTag",
    "Base",
    "Environment",
    "Project",
    "TestScenario",
    "TestScenarioCase",
    "TestScenarioDataset",
    "TestScenarioTag",
    "User",
]
