"""Case datasets: many parameter sets for one request template; access follows the case."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal
from app.cases import repository as case_repository
from app.cases.service import describe_scenarios, get_case
from app.core.crud import apply_changes, check_version
from app.core.errors import Conflict, NotFound
from app.core.merge_patch import VARIABLE_MAP, merge_patch, validate_merged
from app.datasets.schemas import DatasetCreate, DatasetUpdate
from app.models import ApiRequest, ApiRequestDataset


async def create_dataset(
    session: AsyncSession, principal: Principal, case_id: int, data: DatasetCreate
) -> ApiRequestDataset:
    case = await get_case(session, principal, case_id, "edit")
    position = await case_repository.next_dataset_position(session, case_id)
    dataset = ApiRequestDataset(case_id=case_id, position=position, **data.model_dump())
    session.add(dataset)
    await audit.created(session, principal, "dataset", dataset, project_id=case.project_id)
    return dataset


async def list_datasets(session: AsyncSession, principal: Principal, case_id: int) -> list[ApiRequestDataset]:
    await get_case(session, principal, case_id)
    return await case_repository.datasets_of(session, case_id)


async def get_dataset(
    session: AsyncSession, principal: Principal, dataset_id: int, action: str = "read"
) -> tuple[ApiRequestDataset, ApiRequest]:
    dataset = await session.get(ApiRequestDataset, dataset_id)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id} not found")
    try:
        case = await get_case(session, principal, dataset.case_id, action)
    except NotFound:
        raise NotFound(f"dataset {dataset_id} not found") from None
    return dataset, case


async def update_dataset(
    session: AsyncSession, principal: Principal, dataset_id: int, data: DatasetUpdate
) -> ApiRequestDataset:
    dataset, case = await get_dataset(session, principal, dataset_id, "edit")
    check_version(dataset, data.version, "dataset")
    before = audit.snapshot(dataset)
    changes = data.changes()
    if "variables" in changes:
        merged = merge_patch(dataset.variables or {}, changes["variables"])
        changes["variables"] = validate_merged(VARIABLE_MAP, merged, ["body", "variables"])
    apply_changes(dataset, changes)
    await audit.updated(session, principal, "dataset", dataset, before, project_id=case.project_id)
    return dataset


async def delete_dataset(session: AsyncSession, principal: Principal, dataset_id: int) -> None:
    dataset, case = await get_dataset(session, principal, dataset_id, "edit")
    using = await case_repository.steps_selecting_dataset(session, dataset)
    if using:
        raise Conflict(
            f"dataset {dataset.id} is selected by steps of scenarios {describe_scenarios(using)}; "
            "change those steps first, or disable the dataset (enabled=false)",
            code="dataset_in_use",
        )
    await audit.deleted(session, principal, "dataset", dataset, project_id=case.project_id)
    await session.delete(dataset)
    await session.flush()
