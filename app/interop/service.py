"""Applies a file's ProjectContent to a project through the normal services (permissions, validation, audit).

All of it in the caller's transaction: an import creates everything or nothing, and a dry run does the
same work (every check the database needs included) and is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, require_project
from app.cases.schemas import CaseCreate
from app.cases.service import create_case
from app.core.config import get_settings
from app.core.errors import AppError, NotFound
from app.core.secret_box import unseal
from app.datasets.schemas import DatasetCreate
from app.datasets.service import create_dataset
from app.environments.schemas import EnvironmentCreate, EnvironmentUpdate
from app.environments.service import create_environment, update_environment
from app.interop import curl, exile_file, har, openapi, postman
from app.interop.content import EnvironmentContent, NotTranslated, ProjectContent, StepContent, UnreadableFile
from app.models import ApiImport, Environment
from app.models.base import utcnow
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


class Merged(BaseModel):
    """Something the project already had under that name, updated with what the file holds."""

    kind: Literal["environment"]
    name: str
    id: int
    variables: list[str]  # the variables the file added or changed
    secret_variables: list[str]
    base_url_changed: bool


class ImportReport(BaseModel):
    kind: str
    dry_run: bool
    cases: list[Created] = Field(default_factory=list)
    scenarios: list[Created] = Field(default_factory=list)
    environments: list[Created] = Field(default_factory=list)
    merged: list[Merged] = Field(default_factory=list)
    not_translated: list[NotTranslated] = Field(default_factory=list)
    import_id: int | None = Field(
        None,
        description="An OpenAPI import's kept document (not for a dry run or other kinds): "
        "POST /ai/generate-cases takes it as import_id.",
    )


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
    dataset_ids: dict[str, dict[str, int]] = {}  # case key -> dataset name -> id
    for case in content.cases:
        fields = case.model_dump(exclude={"key", "datasets", "project_id"})
        created = await create_case(session, principal, CaseCreate(project_id=project_id, **fields))
        await session.flush()
        names = dataset_ids.setdefault(case.key, {})
        for dataset in case.datasets:
            made_dataset = await create_dataset(session, principal, created.id, DatasetCreate(**dataset.model_dump()))
            await session.flush()
            names.setdefault(dataset.name, made_dataset.id)
        case_ids[case.key] = created.id
        report.cases.append(Created(key=case.key, name=created.name, id=created.id))
    for environment in content.environments:
        existing = await session.scalar(
            select(Environment).where(Environment.project_id == project_id, Environment.name == environment.name)
        )
        if existing is not None:  # the same environment imported again (a newer export): merged, not refused
            report.merged.append(await _merge_environment(session, principal, existing, environment))
            continue
        made = await create_environment(session, principal, project_id, EnvironmentCreate(**environment.model_dump()))
        await session.flush()
        report.environments.append(Created(key=environment.name, name=made.name, id=made.id))
    for scenario in content.scenarios:

        def setup_steps(steps: list[StepContent]) -> list[SetupStep]:
            fan_out = {"case", "dataset_mode", "datasets"}  # setup and teardown run once
            return [SetupStep(**step.model_dump(exclude=fan_out) | {"case_id": case_ids[step.case]}) for step in steps]

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
        steps = [
            StepIn(
                **setup.model_dump(),
                dataset_mode=step.dataset_mode,
                dataset_ids=_dataset_ids(step, dataset_ids.get(step.case, {}), f"{scenario.key}.steps[{index}]"),
            )
            for index, (step, setup) in enumerate(zip(scenario.steps, setup_steps(scenario.steps), strict=True))
        ]
        await replace_steps(session, principal, made_scenario.id, steps, None)
        rows = [ScenarioRowIn(variables=row) for row in scenario.rows]
        await replace_rows(session, principal, made_scenario.id, rows, None)
        report.scenarios.append(Created(key=scenario.key, name=made_scenario.name, id=made_scenario.id))
    if dry_run:
        await session.rollback()
        for created_item in (*report.cases, *report.scenarios, *report.environments):
            created_item.id = None
    return report


async def _merge_environment(
    session: AsyncSession, principal: Principal, existing: Environment, incoming: EnvironmentContent
) -> Merged:
    """The file's variables and secrets over the stored ones (keys it does not name are kept), and its base URL
    when it has one; through the normal update, so the role check and the audit trail apply."""
    variables = {k: v for k, v in incoming.variables.items() if existing.variables.get(k, _ABSENT) != v}
    stored = existing.secret_variables or {}
    secrets = {k: v for k, v in incoming.secret_variables.items() if k not in stored or unseal(stored[k]) != v}
    base_url = incoming.base_url if incoming.base_url and incoming.base_url != existing.base_url else None
    changes: dict[str, Any] = {"version": existing.version}
    if variables:
        changes["variables"] = variables
    if secrets:
        changes["secret_variables"] = secrets
    if base_url is not None:
        changes["base_url"] = base_url
    if len(changes) > 1:  # the same file again changes nothing (and writes no audit entry)
        await update_environment(session, principal, existing.id, EnvironmentUpdate(**changes))
        await session.flush()
    return Merged(
        kind="environment",
        name=existing.name,
        id=existing.id,
        variables=sorted(variables),
        secret_variables=sorted(secrets),
        base_url_changed=base_url is not None,
    )


_ABSENT = object()


def _dataset_ids(step: StepContent, by_name: dict[str, int], where: str) -> list[int]:
    """The ids of the datasets a "selected" step names, which must be datasets of its own case."""
    missing = [name for name in step.datasets if name not in by_name]
    if missing:
        raise FileNotReadable(
            f"file: at {where}.datasets: case '{step.case}' has no dataset named {missing[0]!r}",
            details=[{"loc": ["body", "file", where, "datasets"], "msg": f"no dataset named {missing[0]!r}"}],
        )
    return [by_name[name] for name in step.datasets]


# Kept: an OpenAPI document describes the API, and later work on it (AI case generation) names the import instead
# of sending the document again. Other kinds are not kept: collections and HAR files carry tokens and passwords.
KEPT_KINDS = frozenset({"openapi"})


async def keep_document(
    session: AsyncSession, principal: Principal, project_id: int, kind: str, data: bytes
) -> int | None:
    """Keep an applied import's document, in the import's transaction; its id, or None for a kind not kept."""
    if kind not in KEPT_KINDS:
        return None
    document = data.decode("utf-8-sig")  # read() decoded it already: this cannot fail
    kept = ApiImport(
        project_id=project_id,
        created_by_id=principal.user.id,
        kind=kind,
        document=document,
        size=len(data),
        created_at=utcnow(),
    )
    session.add(kept)
    await session.flush()
    return kept.id


async def kept_document(session: AsyncSession, principal: Principal, project_id: int, import_id: int) -> str:
    """The OpenAPI document of an import of this project the caller may read; 404 otherwise."""
    await require_project(session, principal, project_id, "read")
    kept = await session.scalar(select(ApiImport).where(ApiImport.id == import_id, ApiImport.project_id == project_id))
    if kept is None:
        raise NotFound(
            f"import_id: no OpenAPI import {import_id} in project {project_id}",
            details=[{"loc": ["body", "import_id"], "msg": "not an OpenAPI import of this project"}],
        )
    return kept.document
