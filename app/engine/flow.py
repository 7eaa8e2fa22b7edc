"""The plain specs a caller hands the engine: an environment, cases, steps, a flow and its options."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class EnvironmentSpec:
    base_url: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # plain values: masked in every snapshot
    verify_tls: bool = True
    proxy: str | None = None


@dataclass
class DatasetSpec:
    id: int | None
    name: str
    variables: dict[str, Any]
    enabled: bool = True


@dataclass
class CaseSpec:
    """A case as stored: method, url, headers, query, body, auth, extractors, assertions, processors,
    poll, timeout_ms, retry (the shapes of app.engine.specs)."""

    id: int | None
    name: str
    request: dict[str, Any]
    datasets: list[DatasetSpec] = field(default_factory=list)


@dataclass
class StepSpec:
    case: CaseSpec
    step_id: int | None = None
    alias: str | None = None
    enabled: bool = True
    skip_if: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    dataset_mode: str = "none"  # none | all | selected
    dataset_ids: list[int] = field(default_factory=list)


@dataclass
class DataRow:
    index: int
    variables: dict[str, Any]
    row_id: int | None = None


@dataclass
class SetupState:
    """What setup leaves the iterations and teardown: its values, and what of them came from secrets.

    A sharded run's chunks and its teardown run in other processes: they start from this instead of
    running setup again. It holds secrets in clear: whoever stores it seals it (app.runs.chunks).
    """

    values: dict[str, Any] = field(default_factory=dict)
    secret_names: list[str] = field(default_factory=list)  # run-time variables holding secret-derived values
    secret_texts: list[str] = field(default_factory=list)  # the derived texts, masked wherever they appear


@dataclass
class FlowSpec:
    steps: list[StepSpec]
    environment: EnvironmentSpec = field(default_factory=EnvironmentSpec)
    scenario_variables: dict[str, Any] = field(default_factory=dict)
    run_variables: dict[str, Any] = field(default_factory=dict)
    setup: list[StepSpec] = field(default_factory=list)
    teardown: list[StepSpec] = field(default_factory=list)
    # Iterations: an iterable (or async iterable, read lazily) of rows; None = one iteration with no row.
    rows: Iterable[DataRow] | AsyncIterable[DataRow] | None = None
    # Where a run's iterations start from when its setup ran elsewhere (a chunk of a sharded run).
    seed: SetupState | None = None


@dataclass
class RunOptions:
    concurrency: int = 1
    stop_on_failure: bool = True
    timeout_ms: int = 600_000
    retry: dict[str, Any] = field(default_factory=lambda: {"max_attempts": 1})
    rate_limit: dict[str, Any] = field(default_factory=dict)
    body_limit: int = 65536  # characters of a request or response body a record keeps
    value_limit: int = 4096  # characters of any other value a record keeps (app.engine.values)
    response_max_bytes: int = 10 * 1024 * 1024  # a response body is read up to this (decompressed), then cut
    # Opt-in: run variables may change where a request carrying a secret goes (a project setting, later).
    run_variables_may_redirect_secrets: bool = False
    carry_over: bool = False  # Newman semantics: values set in one iteration are seen by the next (concurrency 1)
    # Stop once setup passed (its values: FlowRunner.setup_state); a failed setup still runs teardown.
    setup_only: bool = False
