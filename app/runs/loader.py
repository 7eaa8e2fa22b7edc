"""Turns stored records into the engine's plain specs (the engine never reads the database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import get_settings
from app.core.secret_box import unseal
from app.engine.specs import (
    CaseSpec,
    DataRow,
    DatasetSpec,
    EnvironmentSpec,
    FlowSpec,
    RequestSpec,
    RunOptions,
    StepSpec,
)
from app.models import ApiRequest, ApiRequestDataset, Environment, ScenarioRun, TestScenario, TestScenarioCase
from app.models import TestScenarioDataset as ScenarioRow

REQUEST_FIELDS = (
    "method", "url", "headers", "query", "body", "auth", "extractors", "assertions",
    "pre_processors", "post_processors", "poll", "timeout_ms", "retry", "follow_redirects",
)  # fmt: skip
ROW_PAGE = 1000


class RunSetupError(Exception):
    """The run cannot start (its scenario vanished, a secret cannot be decrypted...)."""


async def load_cases(session: AsyncSession, case_ids: set[int]) -> dict[int, CaseSpec]:
    """The cases, each request validated once per run into the engine's models (stored rows were, when saved).

    A row that no longer validates (saved before a rule tightened, edited in the database) stops the run before
    anything is sent, naming the case and the field.
    """
    cases = {c.id: c for c in await session.scalars(select(ApiRequest).where(ApiRequest.id.in_(case_ids)))}
    datasets: dict[int, list[DatasetSpec]] = {}
    rows = await session.scalars(
        select(ApiRequestDataset)
        .where(ApiRequestDataset.case_id.in_(case_ids))
        .order_by(ApiRequestDataset.position, ApiRequestDataset.id)
    )
    for dataset in rows:
        datasets.setdefault(dataset.case_id, []).append(
            DatasetSpec(dataset.id, dataset.name, dataset.variables, dataset.enabled)
        )
    specs: dict[int, CaseSpec] = {}
    for case_id, case in cases.items():
        try:
            request = RequestSpec.model_validate({field: getattr(case, field) for field in REQUEST_FIELDS})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "request"
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            why = f"{where}: {first['msg']}{more}; edit and save it"
            raise RunSetupError(f"case '{case.name}' (id {case.id}) no longer validates: {why}") from None
        specs[case_id] = CaseSpec(id=case.id, name=case.name, request=request, datasets=datasets.get(case_id, []))
    return specs


async def load_environment(session: AsyncSession, environment_id: int | None) -> EnvironmentSpec:
    if environment_id is None:
        return EnvironmentSpec()
    environment = await session.get(Environment, environment_id)
    if environment is None:
        raise RunSetupError(f"environment {environment_id} no longer exists")
    try:
        secrets = {key: unseal(value) for key, value in (environment.secret_variables or {}).items()}
    except ValueError as exc:
        raise RunSetupError(f"environment '{environment.name}': {exc}") from None
    return EnvironmentSpec(
        base_url=environment.base_url,
        variables=dict(environment.variables or {}),
        secrets=secrets,
        verify_tls=environment.verify_tls,
        proxy=environment.proxy,
    )


def _step_from_json(step: dict[str, Any], cases: dict[int, CaseSpec]) -> StepSpec:
    return StepSpec(
        case=cases[step["case_id"]],
        alias=step.get("alias"),
        enabled=step.get("enabled", True),
        skip_if=step.get("skip_if"),
        variables=step.get("variables") or {},
    )


async def scenario_rows(
    session_factory: async_sessionmaker[AsyncSession],
    scenario_id: int,
    only: set[int] | None,
    start: int = 0,
    stop: int | None = None,
) -> AsyncIterator[DataRow]:
    """Data rows read a page at a time, so a 100,000-row scenario never sits in memory.

    `start`/`stop` window the iterations (a chunk of a sharded run: rows [start, stop) in row order).
    """
    index, last_position, last_id = start, -1, 0
    while True:
        query = select(ScenarioRow).where(ScenarioRow.scenario_id == scenario_id)
        if index == start:
            query = query.offset(start)  # the first page of a window skips to it; later pages follow the keys
        else:
            query = query.where(
                (ScenarioRow.position > last_position)
                | ((ScenarioRow.position == last_position) & (ScenarioRow.id > last_id))
            )
        async with session_factory() as session:
            page = list(await session.scalars(query.order_by(ScenarioRow.position, ScenarioRow.id).limit(ROW_PAGE)))
        for row in page:
            if stop is not None and index >= stop:
                return
            if only is None or index in only:
                yield DataRow(index=index, variables=row.variables or {}, row_id=row.id)
            index += 1
        if len(page) < ROW_PAGE:
            if index == 0 and (only is None or 0 in only):
                yield DataRow(index=0, variables={})  # no rows: one iteration
            return
        last_position, last_id = page[-1].position, page[-1].id


async def count_rows(session: AsyncSession, scenario_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(ScenarioRow).where(ScenarioRow.scenario_id == scenario_id)
        )
        or 0
    )


async def load_flow(
    session_factory: async_sessionmaker[AsyncSession],
    run: ScenarioRun,
    body_limit: int,
    response_max_bytes: int | None = None,
) -> tuple[FlowSpec, RunOptions]:
    """The run's flow and options; response bodies are read up to `response_max_bytes` (RESPONSE_MAX_BYTES)."""
    if response_max_bytes is None:
        response_max_bytes = get_settings().response_max_bytes
    async with session_factory() as session:
        environment = await load_environment(session, run.environment_id)
        settings = run.settings or {}
        options = RunOptions(
            concurrency=int(settings.get("concurrency") or 1),
            stop_on_failure=bool(settings.get("stop_on_failure", True)),
            timeout_ms=int(settings.get("timeout_ms") or 600_000),
            retry=settings.get("retry") or {"max_attempts": 1},
            rate_limit=settings.get("rate_limit") or {},
            body_limit=body_limit,
            response_max_bytes=response_max_bytes,
            script_time_ms=get_settings().script_time_limit_ms,
            script_memory_mb=get_settings().script_memory_limit_mb,
        )
        if run.kind == "case":
            if run.case_id is None:
                raise RunSetupError("the case of this run was deleted")
            cases = await load_cases(session, {run.case_id})
            case = cases[run.case_id]
            mode = "selected" if run.dataset_ids else "none"
            step = StepSpec(case=case, dataset_mode=mode, dataset_ids=list(run.dataset_ids or []))
            flow = FlowSpec(steps=[step], environment=environment, run_variables=run.variables or {})
            return flow, options
        if run.scenario_id is None:
            raise RunSetupError("the scenario of this run was deleted")
        scenario = await session.get(TestScenario, run.scenario_id)
        if scenario is None:
            raise RunSetupError("the scenario of this run was deleted")
        steps = list(
            await session.scalars(
                select(TestScenarioCase)
                .where(TestScenarioCase.scenario_id == scenario.id)
                .order_by(TestScenarioCase.position, TestScenarioCase.id)
            )
        )
        case_ids = {s.case_id for s in steps} | {s["case_id"] for s in [*scenario.setup, *scenario.teardown]}
        cases = await load_cases(session, case_ids)
        flow = FlowSpec(
            steps=[
                StepSpec(
                    case=cases[s.case_id],
                    step_id=s.id,
                    alias=s.alias,
                    enabled=s.enabled,
                    skip_if=s.skip_if,
                    variables=s.variables or {},
                    dataset_mode=s.dataset_mode,
                    dataset_ids=list(s.dataset_ids or []),
                )
                for s in steps
            ],
            setup=[_step_from_json(s, cases) for s in scenario.setup],
            teardown=[_step_from_json(s, cases) for s in scenario.teardown],
            environment=environment,
            scenario_variables=scenario.variables or {},
            run_variables=run.variables or {},
            rows=scenario_rows(session_factory, scenario.id, set(run.only_iterations) if run.only_iterations else None),
        )
        return flow, options
