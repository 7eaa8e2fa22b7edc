"""SQL for scenarios, their steps and their data rows."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.library import LibraryFilters
from app.models import (
    ApiRequest,
    ApiRequestDataset,
    TestScenario,
    TestScenarioCase,
    TestScenarioDataset,
    TestScenarioTag,
)


def scenario_query() -> Select[TestScenario]:
    return select(TestScenario).options(selectinload(TestScenario.tag_rows))


def filtered_scenarios(filters: LibraryFilters) -> Select[TestScenario]:
    text_columns = [TestScenario.name, TestScenario.description]
    return filters.apply(scenario_query(), TestScenario, TestScenarioTag, TestScenarioTag.scenario_id, text_columns)


async def steps_of(session: AsyncSession, scenario_id: int) -> list[TestScenarioCase]:
    rows = await session.scalars(
        select(TestScenarioCase)
        .where(TestScenarioCase.scenario_id == scenario_id)
        .order_by(TestScenarioCase.position, TestScenarioCase.id)
    )
    return list(rows)


async def rows_of(session: AsyncSession, scenario_id: int) -> list[TestScenarioDataset]:
    rows = await session.scalars(
        select(TestScenarioDataset)
        .where(TestScenarioDataset.scenario_id == scenario_id)
        .order_by(TestScenarioDataset.position, TestScenarioDataset.id)
    )
    return list(rows)


async def cases_by_id(session: AsyncSession, case_ids: Iterable[int]) -> dict[int, ApiRequest]:
    ids = set(case_ids)
    if not ids:
        return {}
    rows = await session.scalars(select(ApiRequest).where(ApiRequest.id.in_(ids)))
    return {case.id: case for case in rows}


async def dataset_owners(session: AsyncSession, dataset_ids: Iterable[int]) -> dict[int, int]:
    """dataset id -> the case it belongs to."""
    ids = set(dataset_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(ApiRequestDataset.id, ApiRequestDataset.case_id).where(ApiRequestDataset.id.in_(ids))
    )
    return {dataset_id: case_id for dataset_id, case_id in rows}
