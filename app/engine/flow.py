"""Moved to app.engine.specs (one vocabulary module); this name goes once every import is renamed."""

from app.engine.specs import (
    CaseSpec,
    DataRow,
    DatasetSpec,
    EnvironmentSpec,
    FlowSpec,
    RunOptions,
    SetupState,
    StepSpec,
)

__all__ = ["CaseSpec", "DataRow", "DatasetSpec", "EnvironmentSpec", "FlowSpec", "RunOptions", "SetupState", "StepSpec"]
