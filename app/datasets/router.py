from __future__ import annotations

from fastapi import APIRouter, Response

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.schemas import PathId
from app.datasets import service
from app.datasets.schemas import DatasetCreate, DatasetRead, DatasetUpdate
from app.models import ApiRequestDataset

router = APIRouter(tags=["datasets"], responses=error_responses(*SIGNED_IN))


@router.post(
    "/cases/{case_id}/datasets",
    response_model=DatasetRead,
    status_code=201,
    responses=error_responses(*WITH_BODY, 403, 404, 409),
)
async def create_dataset(
    case_id: PathId, body: DatasetCreate, session: SessionDep, principal: CurrentPrincipal
) -> ApiRequestDataset:
    dataset = await service.create_dataset(session, principal, case_id, body)
    await session.commit()
    return dataset


@router.get("/cases/{case_id}/datasets", response_model=list[DatasetRead], responses=error_responses(404))
async def list_datasets(case_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> list[ApiRequestDataset]:
    return await service.list_datasets(session, principal, case_id)


@router.get("/datasets/{dataset_id}", response_model=DatasetRead, responses=error_responses(404))
async def get_dataset(dataset_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> ApiRequestDataset:
    dataset, _case = await service.get_dataset(session, principal, dataset_id)
    return dataset


@router.patch(
    "/datasets/{dataset_id}", response_model=DatasetRead, responses=error_responses(*WITH_BODY, 403, 404, 409)
)
async def update_dataset(
    dataset_id: PathId, body: DatasetUpdate, session: SessionDep, principal: CurrentPrincipal
) -> ApiRequestDataset:
    dataset = await service.update_dataset(session, principal, dataset_id, body)
    await session.commit()
    return dataset


@router.delete("/datasets/{dataset_id}", status_code=204, responses=error_responses(403, 404, 409))
async def delete_dataset(dataset_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.delete_dataset(session, principal, dataset_id)
    await session.commit()
    return Response(status_code=204)
