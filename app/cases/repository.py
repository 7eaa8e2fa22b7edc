"""SQL for cases and their datasets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.library import LibraryFilters
from app.models import ApiRequest, ApiRequestDataset, ApiRequestTag, TestScenario, TestScenarioCase


def case_query() -> Select[ApiRequest]:
    return select(ApiRequest).options(selectinload(ApiRequest.tag_rows))


def filtered_cases(filters: LibraryFilters) -> Select[ApiRequest]:
    text_columns = [ApiRequest.name, ApiRequest.url, ApiRequest.description]
    return filters.apply(case_query(), ApiRequest, ApiRequestTag, ApiRequestTag.case_id, text_columns)


async def scenarios_using_case(session: AsyncSession, case: ApiRequest) -> list[TestScenario]:
    """Scenarios whose steps, setup or teardown use the case."""
    via_steps = select(TestScenarioCase.scenario_id).where(TestScenarioCase.case_id == case.id)
    rows = await session.scalars(
        select(TestScenario).where(TestScenario.project_id == case.project_id).order_by(TestScenario.id)
    )
    stepped = set(await session.scalars(via_steps))
    return [
        scenario
        for scenario in rows
        if scenario.id in stepped or _uses(scenario.setup, case.id) or _uses(scenario.teardown, case.id)
    ]


def _uses(steps: list[Any], case_id: int) -> bool:
    return any(isinstance(step, dict) and step.get("case_id") == case_id for step in steps or [])


async def datasets_of(session: AsyncSession, case_id: int) -> list[ApiRequestDataset]:
    rows = await session.scalars(
        select(ApiRequestDataset)
        .where(ApiRequestDataset.case_id == case_id)
        .order_by(ApiRequestDataset.position, ApiRequestDataset.id)
    )
    return list(rows)


async def next_dataset_position(session: AsyncSession, case_id: int) -> int:
    current = await session.scalar(
        select(func.max(ApiRequestDataset.position)).where(ApiRequestDataset.case_id == case_id)
    )
    return 0 if current is None else int(current) + 1


async def steps_selecting_dataset(session: AsyncSession, dataset: ApiRequestDataset) -> list[TestScenario]:
    steps = await session.scalars(
        select(TestScenarioCase).where(
            TestScenarioCase.case_id == dataset.case_id, TestScenarioCase.dataset_mode == "selected"
        )
    )
    scenario_ids = sorted({step.scenario_id for step in steps if dataset.id in (step.dataset_ids or [])})
    if not scenario_ids:
        return []
    return list(await session.scalars(select(TestScenario).where(TestScenario.id.in_(scenario_ids))))
