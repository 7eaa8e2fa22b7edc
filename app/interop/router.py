from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.schemas import PathId
from app.interop import service
from app.interop.service import ImportKind, ImportReport

router = APIRouter(tags=["imports"], responses=error_responses(*SIGNED_IN))


@router.post(
    "/projects/{project_id}/imports",
    response_model=ImportReport,
    status_code=201,
    responses=error_responses(*WITH_BODY, 403, 404, 409, 413),
)
async def import_file(
    project_id: PathId,
    file: Annotated[UploadFile, File(description="The file to import (UTF-8 text).")],
    kind: Annotated[ImportKind, Form(description="What the file is.")],
    session: SessionDep,
    principal: CurrentPrincipal,
    dry_run: Annotated[bool, Form(description="Check everything and create nothing.")] = False,
) -> ImportReport:
    """Create cases, scenarios and environments from a file; the report lists what was made and what was not
    translated (with where it is in the file). A file that cannot be read answers 422 and creates nothing."""
    content = service.read(kind, await file.read())
    report = await service.apply(session, principal, project_id, content, dry_run)
    if not dry_run:
        await session.commit()
    return report
