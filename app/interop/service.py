"""Applies a file's ProjectContent to a project through the normal services (permissions, validation, audit).

All of it in the caller's transaction: an import creates everything or nothing, and a dry run does the
same work (every check the database needs included) and is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, require_project
from app.cases.schemas import CaseCreate
from app.cases.service import create_case
from app.core.config import get_settings
from app.core.errors import AppError
from app.datasets.schemas import DatasetCreate
from app.datasets.service import create_dataset
from app.environments.schemas import EnvironmentCreate
from app.environments.service import create_environment
from app.interop import curl, exile_file, har, openapi, postman
from app.interop.content import NotTranslated, ProjectContent, StepContent, UnreadableFile
from app.scenarios.schemas import ScenarioCreate, ScenarioRowIn, SetupStep, StepIn
from app.scenarios.service import create_scenario, replace_rows, replace_steps

ImportKind = Literal["curl", "postman", "postman_environment", "har", "exile", "openapi"]
READERS: dict[str, Callable[[str], ProjectContent]] = {
    "curl": curl.parse,
    "har": har.parse,
    "openapi": openapi.parse,
    "postman": postman.parse,
    "postman_environment": postman.parse_environment,
    "exile": exile_file.parse,
}


class FileNotReadable(AppError):
    status_code, code = 422, "file_not_readable"


class FileTooLarge(AppError):
    status_code, code = 413, "file_too_large"


def check_size(size: int) -> None:
    """Refuse a file over MAX_IMPORT_BYTES before it is read (the CLI checks the file's size on disk)."""
    limit = get_settings().max_import_bytes
    if size > limit:
        raise FileTooLarge(
            f"file: {size} bytes, more than the {limit} bytes an import may have (MAX_IMPORT_BYTES)",
            details=[{"loc": ["body", "file"], "msg": f"at most {limit} bytes", "limit": limit, "size": size}],
        )


class Created(BaseModel):
    key: str
    name: str
    id: int | None  # None on a dry run


class ImportReport(BaseModel):
    kind: str
    dry_run: bool
    cases: list[Created] = Field(default_factory=list)
    scenarios: list[Created] = Field(default_factory=list)
    environments: list[Created] = Field(default_factory=list)
    not_translated: list[NotTranslated] = Field(default_factory=list)


def read(kind: str, data: bytes) -> ProjectContent:
    """The file's content, or FileNotReadable (422) naming the first problem; nothing is created then."""
    check_size(len(data))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileNotReadable(
            f"file: not UTF-8 text (byte {exc.start} is {data[exc.start : exc.start + 1]!r}); save it as UTF-8",
            details=[{"loc": ["body", "file"], "msg": "not UTF-8 text"}],
        ) from None
    try:
        return READERS[kind](text)
    except UnreadableFile as exc:
        raise FileNotReadable(
            f"file ({kind}): at {exc.where}: expected {exc.expected}",
            details=[{"loc": ["body", "file", exc.where], "msg": f"expected {exc.expected}"}],
        ) from None
    except ValidationError as exc:  # read, but what it says would not be a valid case, scenario or environment
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "content"
        raise FileNotReadable(
            f"file ({kind}): {exc.title} {where}: {first['msg']}",
            details=[{"loc": ["body", "file", *first["loc"]], "msg": first["msg"]}],
        ) from None


async def apply(
    session: AsyncSession, principal: Principal, project_id: int, content: ProjectContent, dry_run: bool
) -> ImportReport:
    await require_project(session, principal, project_id, "edit")
    report = ImportReport(kind=content.kind, dry_run=dry_run, not_translated=content.not_translated)
    case_ids: dict[str, int] = {}
    for case in content.cases:
        fields = case.model_dump(exclude={"key", "datasets", "project_id"})
        created = await create_case(session, principal, CaseCreate(project_id=project_id, **fields))
        await session.flush()
        for dataset in case.datasets:
            await create_dataset(session, principal, created.id, DatasetCreate(**dataset.model_dump()))
        case_ids[case.key] = created.id
        report.cases.append(Created(key=case.key, name=created.name, id=created.id))
    for environment in content.environments:
        made = await create_environment(session, principal, project_id, EnvironmentCreate(**environment.model_dump()))
        await session.flush()
        report.environments.append(Created(key=environment.name, name=made.name, id=made.id))
    for scenario in content.scenarios:

        def setup_steps(steps: list[StepContent]) -> list[SetupStep]:
            return [SetupStep(**step.model_dump(exclude={"case"}) | {"case_id": case_ids[step.case]}) for step in steps]

        made_scenario = await create_scenario(
            session,
            principal,
            ScenarioCreate(
                project_id=project_id,
                name=scenario.name,
                description=scenario.description,
                variables=scenario.variables,
                settings=scenario.settings,
                setup=setup_steps(scenario.setup),
                teardown=setup_steps(scenario.teardown),
                tags=scenario.tags,
            ),
        )
        await session.flush()
        steps = [StepIn(**step.model_dump()) for step in setup_steps(scenario.steps)]
        await replace_steps(session, principal, made_scenario.id, steps, None)
        rows = [ScenarioRowIn(variables=row) for row in scenario.rows]
        await replace_rows(session, principal, made_scenario.id, rows, None)
        report.scenarios.append(Created(key=scenario.key, name=made_scenario.name, id=made_scenario.id))
    if dry_run:
        await session.rollback()
        for created_item in (*report.cases, *report.scenarios, *report.environments):
            created_item.id = None
    return report
