"""Files in and out: imports into a project, exports of a scenario, and the Exile file's JSON Schema."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from app.auth.dependencies import CurrentPrincipal
from app.core.config import get_settings
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.schemas import MAX_ID, PathId
from app.interop import exile_file, service
from app.interop.export import ExportFormat, FileFormat, export_file, export_scenario
from app.interop.service import ImportKind, ImportReport

router = APIRouter(tags=["imports"], responses=error_responses(*SIGNED_IN))
schemas_router = APIRouter(tags=["schemas"])  # public: see exile_file_schema


@router.post(
    "/projects/{project_id}/imports",
    response_model=ImportReport,
    status_code=201,
    responses=error_responses(*WITH_BODY, 403, 404, 409, 413),
    # The file may be MAX_IMPORT_BYTES (as the server started with), plus room for the multipart envelope and
    # the form fields; service.read checks the file itself against the setting.
    max_body_size=get_settings().max_import_bytes + 64 * 1024,
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
    data = await file.read()
    content = service.read(kind, data)
    report = await service.apply(session, principal, project_id, content, dry_run)
    if not dry_run:
        report.import_id = await service.keep_document(session, principal, project_id, kind, data)
        await session.commit()
    return report


@router.get(
    "/scenarios/{scenario_id}/export",
    response_class=Response,
    responses={
        200: {
            "description": "The file, as a download. `X-Exile-Not-Exported` counts the parts left out or changed "
            "(listed in the Exile file's `not_exported`, or the collection's description).",
            "content": {"application/yaml": {}, "application/json": {}},
        },
        **error_responses(403, 404),
    },
)
async def export(
    scenario_id: PathId,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    format: Annotated[
        ExportFormat,
        Query(description="exile: the Exile file; postman: a collection v2.1; postman_data: its Newman data file."),
    ] = "exile",
    environment_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="An environment of the scenario's project to include.")
    ] = None,
    file_format: Annotated[FileFormat, Query(description="The Exile file as YAML or JSON.")] = "yaml",
) -> Response:
    """A scenario with the cases it uses, their datasets, its data rows and optionally an environment, as a file
    to download. Secret values are never in it (secret variables keep their names with empty values)."""
    content = await export_scenario(session, principal, scenario_id, environment_id)
    schema_url = str(request.url_for("exile_file_schema"))
    text, filename, media, left_out = export_file(content, content.scenarios[0].name, format, file_format, schema_url)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "X-Exile-Not-Exported": str(left_out)}
    return Response(text, media_type=media, headers=headers)


@cache
def _schema() -> dict[str, Any]:
    return exile_file.json_schema()


@schemas_router.get(
    "/schemas/exile-file",
    name="exile_file_schema",
    response_class=JSONResponse,
    responses={200: {"description": "A JSON Schema (draft 2020-12).", "content": {"application/schema+json": {}}}},
)
async def exile_file_schema() -> JSONResponse:
    """The Exile file's JSON Schema (the one committed at schemas/exile-file.schema.json). No sign-in: it says
    nothing about this server's data, and editors and CI validators fetch a file's `$schema` without a token."""
    return JSONResponse(_schema(), media_type="application/schema+json")
