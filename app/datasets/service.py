"""Case datasets: many parameter sets for one request template."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.cases import repository as case_repository
from app.cases.service import describe_scenarios, get_case
from app.core.crud import apply_changes, check_version, get_or_404
from app.core.errors import Conflict
from app.datasets.schemas import DatasetCreate, DatasetUpdate
from app.models import ApiRequestDataset


async def create_dataset(session: AsyncSession, case_id: int, data: DatasetCreate) -> ApiRequestDataset:
    await get_case(session, case_id)
    dataset = ApiRequestDataset(
        case_id=case_id, position=await case_repository.next_dataset_position(session, case_id), **data.model_dump()
    )
    session.add(dataset)
    await session.flush()
    return dataset


async def list_datasets(session: AsyncSession, case_id: int) -> list[ApiRequestDataset]:
    await get_case(session, case_id)
    return await case_repository.datasets_of(session, case_id)


async def get_dataset(session: AsyncSession, dataset_id: int) -> ApiRequestDataset:
    return await get_or_404(session, ApiRequestDataset, dataset_id, "dataset")


async def update_dataset(session: AsyncSession, dataset_id: int, data: DatasetUpdate) -> ApiRequestDataset:
    dataset = await get_dataset(session, dataset_id)
    check_version(dataset, data.version, "dataset")
    apply_changes(dataset, data.changes())
    await session.flush()
    return dataset


async def delete_dataset(session: AsyncSession, dataset_id: int) -> None:
    dataset = await get_dataset(session, dataset_id)
    using = await case_repository.steps_selecting_dataset(session, dataset)
    if using:
        raise Conflict(
            f"dataset {dataset.id} is selected by steps of scenarios {describe_scenarios(using)}; "
            "change those steps first, or disable the dataset (enabled=false)",
            code="dataset_in_use",
        )
    await session.delete(dataset)
    await session.flush()
