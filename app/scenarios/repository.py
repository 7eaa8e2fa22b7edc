"""SQL for scenarios, their steps and their data rows."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

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


def filtered_scenarios(
    *, project_id: int | None, status: str | None, tag: str | None, text: str | None
) -> Select[TestScenario]:
    statement = scenario_query()
    if project_id is not None:
        statement = statement.where(TestScenario.project_id == project_id)
    if status is not None:
        statement = statement.where(TestScenario.status == status)
    if tag:
        statement = statement.where(
            TestScenario.id.in_(select(TestScenarioTag.scenario_id).where(TestScenarioTag.tag == tag.strip()))
        )
    if text:
        statement = statement.where(
            TestScenario.name.icontains(text, autoescape=True)
            | TestScenario.description.icontains(text, autoescape=True)
        )
    return statement.order_by(TestScenario.id.desc())


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
