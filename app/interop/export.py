"""A stored scenario as ProjectContent: the shape every export format (the Exile file, Postman) writes from.

What a caller may export is what it may read: the scenario and every case it uses. A secret value never
leaves: an environment's secret variables keep their names with empty values; a copy of a secret (any
project environment's) inside a case becomes a `{{name}}` reference to it, and inside variables or data rows
the masker's `******`; a literal credential in a header, a query parameter, a URL or an auth helper becomes
a `{{variable}}` named after it. Every such change, and every part the file format cannot hold, is listed
in the content's `not_translated` (written out as the file's `not_exported`), never dropped silently.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.cases import repository as case_repository
from app.core.errors import Forbidden, InvalidInput
from app.core.secret_box import unseal
from app.engine.masking import MASK, MIN_SECRET_LENGTH, Masker
from app.engine.specs import ScenarioSettings
from app.environments.service import get_environment
from app.interop import exile_file, postman_export
from app.interop.content import (
    CaseContent,
    DatasetContent,
    EnvironmentContent,
    ProjectContent,
    ScenarioContent,
    StepContent,
)
from app.models import ApiRequest, Environment
from app.scenarios import repository
from app.scenarios.service import get_scenario

ExportFormat = Literal["exile", "postman", "postman_data"]
FileFormat = Literal["yaml", "json"]
MAX_NOTES = 200  # a scenario with 100,000 rows gets a bounded list, then one line that says how many more
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_SCHEME = re.compile(r"^\s*(bearer|basic|token|digest|apikey|api-key|key|jwt)\s+", re.I)
_NAME_EQUALS = re.compile(r"(^|[;,&\s])[\w.-]+=")  # `sid=` in a cookie, `a=` in `a=1&b=2`
_URL_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)([^/@\s]+)(@)")
_CREDENTIAL_WORDS = {
    "password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "credential", "credentials",
    "signature", "session", "cookie", "authorization", "jwt",
}  # fmt: skip
_CREDENTIAL_KEYS = ("apikey", "accesskey", "secretkey", "privatekey", "subscriptionkey", "clientsecret")


def is_credential_name(name: str) -> bool:
    """`Authorization`, `X-Api-Key`, `access_token`, `Cookie`: a header or parameter that carries a credential
    (`Idempotency-Key` or `X-Auth-Mode` do not)."""
    words = {word.lower() for word in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)}
    joined = re.sub(r"[^a-z0-9]", "", name.lower())
    return bool(words & _CREDENTIAL_WORDS) or any(key in joined for key in _CREDENTIAL_KEYS)


def _variable_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()[:100]
    return name if name and not name[0].isdigit() else f"secret_{name}"


class _Notes:
    """The content's not_translated list, bounded."""

    def __init__(self, content: ProjectContent) -> None:
        self.content = content
        self.left_out = 0

    def add(self, location: str, source: Any, reason: str) -> None:
        if len(self.content.not_translated) < MAX_NOTES:
            self.content.skip(location, source, reason)
        else:
            self.left_out += 1

    def close(self) -> None:
        if self.left_out:
            self.content.skip("...", f"{self.left_out} more", "more parts like the ones above were changed")
            self.left_out = 0


# ---- from the database -------------------------------------------------------------------------------------------
async def export_scenario(
    session: AsyncSession, principal: Principal, scenario_id: int, environment_id: int | None = None
) -> ProjectContent:
    """The scenario, the cases its steps use (with their datasets), its rows and optionally an environment,
    with no secret value in it; 404 when the caller may not read the scenario, 403 when not one of its cases."""
    scenario = await get_scenario(session, principal, scenario_id, "read")
    environment = None
    if environment_id is not None:
        environment = await get_environment(session, principal, environment_id, "read")
        if environment.project_id != scenario.project_id:
            raise InvalidInput(
                f"environment {environment_id} is not an environment of project {scenario.project_id}, where "
                f"scenario {scenario_id} is",
                loc=["query", "environment_id"],
            )
    steps = await repository.steps_of(session, scenario.id)
    rows = await repository.rows_of(session, scenario.id)
    setup = [dict(step) for step in scenario.setup or []]
    teardown = [dict(step) for step in scenario.teardown or []]
    case_ids = list(
        dict.fromkeys([*(s["case_id"] for s in setup), *(s.case_id for s in steps), *(s["case_id"] for s in teardown)])
    )
    found = await session.scalars(case_repository.case_query().where(ApiRequest.id.in_(case_ids)))
    cases = {case.id: case for case in found}  # with their tags
    role = await principal.role_in(session, scenario.project_id)
    for case_id in case_ids:
        case = cases.get(case_id)
        if case is None or not principal.can_see(role, case.owner_id, case.visibility):
            raise Forbidden(
                f"scenario {scenario_id} uses case {case_id}, which you may not read: an export needs every case"
            )

    content = ProjectContent(kind="exile")
    notes = _Notes(content)
    keys: dict[int, str] = {}
    for case_id in case_ids:
        keys[case_id] = _unique_key(cases[case_id].name, set(keys.values()))
        content.cases.append(await _case(session, cases[case_id], keys[case_id], notes))

    dataset_names = {case_id: await _dataset_names(session, case_id) for case_id in case_ids}

    def step_content(step: dict[str, Any], where: str) -> StepContent:
        fields: dict[str, Any] = {
            name: step[name] for name in ("alias", "enabled", "skip_if", "variables") if name in step
        }
        mode = step.get("dataset_mode", "none")
        names = dataset_names[step["case_id"]]
        chosen = [names.get(dataset_id) for dataset_id in step.get("dataset_ids") or []]
        if mode == "selected" and (None in chosen or len(set(chosen)) != len(chosen)):
            # a dataset deleted since, or two datasets of one name: a name cannot say which; all of them run
            notes.add(f"{where}.datasets", step.get("dataset_ids"), "datasets not named uniquely: written as 'all'")
            mode, chosen = "all", []
        if mode != "none":
            fields |= {"dataset_mode": mode, "datasets": chosen if mode == "selected" else []}
        return StepContent(case=keys[step["case_id"]], **fields)

    named_rows = sum(1 for row in rows if row.name)
    if named_rows:
        notes.add("scenario.rows", f"{named_rows} row name(s)", "data rows are written without their names")
    content.scenarios.append(
        ScenarioContent(
            key=_unique_key(scenario.name, set()),
            name=scenario.name,
            description=scenario.description or "",
            variables=scenario.variables or {},
            settings=_stored(ScenarioSettings, f"scenario {scenario.id}", {**(scenario.settings or {})}),
            setup=[step_content(step, f"scenario.setup[{i}]") for i, step in enumerate(setup)],
            steps=[
                step_content(
                    {
                        "case_id": step.case_id,
                        "alias": step.alias,
                        "enabled": step.enabled,
                        "skip_if": step.skip_if,
                        "variables": step.variables or {},
                        "dataset_mode": step.dataset_mode,
                        "dataset_ids": step.dataset_ids,
                    },
                    f"scenario.steps[{i}]",
                )
                for i, step in enumerate(steps)
            ],
            teardown=[step_content(step, f"scenario.teardown[{i}]") for i, step in enumerate(teardown)],
            rows=[row.variables or {} for row in rows],
            tags=scenario.tags,
        )
    )
    if environment is not None:
        content.environments.append(_environment(environment, notes))
    secrets = await _project_secrets(session, scenario.project_id)
    scrub(content, secrets, notes)
    notes.close()
    return content


def export_file(
    content: ProjectContent,
    scenario_name: str,
    fmt: ExportFormat,
    file_format: FileFormat,
    schema_url: str | None = None,
) -> tuple[str, str, str, int]:
    """(text, file name, media type, how many parts were not exported) for an exported ProjectContent."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", scenario_name).strip("-.")[:100] or "scenario"
    if fmt == "exile":
        text = exile_file.dump(content, file_format, schema_url=schema_url)
        media = "application/yaml" if file_format == "yaml" else "application/json"
        return text, f"{stem}.exile.{file_format}", media, len(content.not_translated)
    if fmt == "postman_data":
        rows = postman_export.data_file(content)
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n", f"{stem}.data.json", "application/json", 0
    collection, notes = postman_export.to_collection(content)
    text = json.dumps(collection, indent=2, ensure_ascii=False) + "\n"
    return text, f"{stem}.postman_collection.json", "application/json", len(notes)


def _stored(model: type[Any], label: str, data: dict[str, Any]) -> Any:
    """A stored record read back through today's checks; one saved under older rules is a 422 naming it."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(
            f"{label} cannot be exported: {place}: {first['msg']}; fix it first", loc=["path", "scenario_id"]
        ) from None


def _unique_key(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "case"
    key, number = base, 1
    while key in taken:
        number += 1
        key = f"{base}-{number}"
    return key


async def _case(session: AsyncSession, case: ApiRequest, key: str, notes: _Notes) -> CaseContent:
    datasets = []
    for dataset in await case_repository.datasets_of(session, case.id):
        datasets.append(DatasetContent(name=dataset.name, variables=dataset.variables or {}, enabled=dataset.enabled))
    visibility = case.visibility
    if visibility == "private":  # the file's scenario is shared in the project it is imported into
        notes.add(f"cases[{key}].visibility", "private", "written as 'project': a shared scenario cannot use it")
        visibility = "project"
    return _stored(
        CaseContent,
        f"case {case.id}",
        {
            "key": key,
            "name": case.name,
            "description": case.description or "",
            "method": case.method,
            "url": case.url,
            "headers": case.headers or {},
            "query": case.query or {},
            "body": case.body or {"mode": "none"},
            "auth": case.auth or {"type": "none"},
            "extractors": case.extractors or [],
            "assertions": case.assertions or [],
            "pre_processors": case.pre_processors or [],
            "post_processors": case.post_processors or [],
            "poll": case.poll,
            "timeout_ms": case.timeout_ms,
            "follow_redirects": case.follow_redirects,
            "retry": case.retry or {},
            "status": case.status,
            "visibility": visibility,
            "run_permission": case.run_permission,
            "tags": case.tags,
            "datasets": datasets,
        },
    )


def _environment(environment: Environment, notes: _Notes) -> EnvironmentContent:
    proxy = environment.proxy
    if proxy and _URL_PASSWORD.match(proxy):
        proxy = _URL_PASSWORD.sub(lambda match: match[1].rstrip(":") + match[3], proxy)
        notes.add("environment.proxy", "******", "the proxy's password is never exported: add it back by hand")
    return EnvironmentContent(
        name=environment.name,
        base_url=environment.base_url or "",
        variables=environment.variables or {},
        secret_variables=dict.fromkeys(environment.secret_variables or {}, ""),
        verify_tls=environment.verify_tls,
        proxy=proxy,
    )


async def _project_secrets(session: AsyncSession, project_id: int) -> dict[str, str]:
    """Every secret value of the project's environments (name -> value), to find copies of them anywhere."""
    rows = await session.scalars(select(Environment.secret_variables).where(Environment.project_id == project_id))
    secrets: dict[str, str] = {}
    for sealed in rows:
        for name, value in (sealed or {}).items():
            try:
                plain = unseal(value)
            except ValueError:  # cannot be decrypted, so its plain value cannot be in a case either
                continue
            if len(plain) >= MIN_SECRET_LENGTH:
                secrets.setdefault(plain, name)
    return {name: value for value, name in secrets.items()}


# ---- secrets out ---------------------------------------------------------------------------------------------------
def scrub(content: ProjectContent, secrets: dict[str, str], notes: _Notes | None = None) -> None:
    """Removes every secret value from `content` (see the module's docstring); `secrets` is name -> value."""
    notes = notes or _Notes(content)
    found: dict[str, str] = {}  # a literal credential -> the variable now standing for it
    for value, name in sorted(((v, k) for k, v in secrets.items()), key=lambda item: -len(item[0])):
        found.setdefault(value, name)
    new_names: set[str] = set()

    def stand_in(literal: str, name_hint: str) -> str:
        if literal not in found:
            name = _variable_name(name_hint)
            while name in found.values():
                name += "_2"
            found[literal] = name
            new_names.add(name)
        return found[literal]

    for case in content.cases:
        where = f"cases[{case.key}]"
        for header, value in list(case.headers.items()):
            if is_credential_name(header) and (literal := _literal_part(value)):
                name = stand_in(literal, header)
                case.headers[header] = value.replace(literal, "{{" + name + "}}")
                notes.add(f"{where}.headers.{header}", f"{header}: {MASK}", _replaced(name))
        for parameter, given in list(case.query.items()):
            if is_credential_name(parameter) and isinstance(given, str) and (literal := _literal_part(given)):
                name = stand_in(literal, parameter)
                case.query[parameter] = given.replace(literal, "{{" + name + "}}")
                notes.add(f"{where}.query.{parameter}", f"{parameter}={MASK}", _replaced(name))
        if (match := _URL_PASSWORD.match(case.url)) and _literal_part(match[2]):
            name = stand_in(match[2], "url_password")
            case.url = case.url[: match.start(2)] + "{{" + name + "}}" + case.url[match.end(2) :]
            notes.add(f"{where}.url", f"{match[1]}{MASK}@", _replaced(name))
        auth = case.auth
        for field, hint in (("token", "bearer_token"), ("password", "basic_password"), ("value", "")):
            secret = getattr(auth, field, None)
            if isinstance(secret, str) and (literal := _literal_part(secret)):
                name = stand_in(literal, hint or getattr(auth, "key", "api_key"))
                setattr(auth, field, secret.replace(literal, "{{" + name + "}}"))
                notes.add(f"{where}.auth.{field}", MASK, _replaced(name))

    masker = Masker(found)
    if not masker.active:
        _add_secret_names(content, new_names)
        return
    ordered = sorted(found.items(), key=lambda item: -len(item[0]))

    def as_reference(text: str) -> str:
        for literal, name in ordered:
            if len(literal) >= MIN_SECRET_LENGTH and literal in text:
                text = text.replace(literal, "{{" + name + "}}")
        return masker.text(text)

    for index, case in enumerate(content.cases):
        where = f"cases[{case.key}]"
        request = case.model_dump(mode="json", by_alias=True, exclude={"datasets", "key", "name", "description"})
        cleaned = _walk(request, as_reference)
        if cleaned != request:
            notes.add(where, MASK, "a copy of a secret value is written as a reference to its variable")
        description = masker.text(case.description)
        datasets = []
        for dataset in case.datasets:
            variables = _masked(masker, dataset.variables, f"{where}.datasets[{dataset.name}].variables", notes)
            datasets.append(dataset.model_copy(update={"variables": variables}))
        rest = {"key": case.key, "name": masker.text(case.name), "description": description, "datasets": datasets}
        try:
            content.cases[index] = CaseContent.model_validate({**cleaned, **rest})
        except ValidationError as exc:  # `{{name}}` cannot stand where the secret was (inside a regex...)
            first = exc.errors()[0]
            place = ".".join(str(part) for part in first["loc"])
            raise InvalidInput(
                f"case '{case.name}' holds a secret value in {place}, where it cannot be replaced by a reference: "
                "use the secret's {{variable}} there before exporting",
                loc=["path", "scenario_id"],
            ) from None
    for scenario in content.scenarios:
        scenario.description = masker.text(scenario.description)
        scenario.variables = _masked(masker, scenario.variables, "scenario.variables", notes)
        for part in ("setup", "steps", "teardown"):
            for number, step in enumerate(getattr(scenario, part)):
                step.variables = _masked(masker, step.variables, f"scenario.{part}[{number}].variables", notes)
        scenario.rows = [
            _masked(masker, row, f"scenario.rows[{number}]", notes) for number, row in enumerate(scenario.rows)
        ]
    for environment in content.environments:
        environment.variables = _masked(masker, environment.variables, "environment.variables", notes)
        environment.base_url = masker.text(environment.base_url)
    _add_secret_names(content, new_names)


def _literal_part(value: str) -> str:
    """The literal credential in a value: not its templates, its scheme (`Bearer `) or its names (`sid=`)."""
    if not isinstance(value, str):
        return ""
    text = _SCHEME.sub("", value.strip(), count=1)
    pieces = [_NAME_EQUALS.sub(r"\1", piece).strip(" ;,=:") for piece in _TEMPLATE.split(text)]
    return max(pieces, key=len) if any(pieces) else ""


def _replaced(name: str) -> str:
    return f"a credential is never exported: written as {{{{{name}}}}}; give it as a secret variable of the environment"


def _walk(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _walk(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, change) for item in value]
    return value


def _masked(masker: Masker, variables: dict[str, Any], where: str, notes: _Notes) -> dict[str, Any]:
    masked = masker.value(variables)
    for key in _changed(variables, masked):
        notes.add(f"{where}.{key}", MASK, "holds a secret value: written masked")
    return masked


def _changed(before: dict[str, Any], after: dict[str, Any]) -> Iterable[str]:
    return (key for key in before if before[key] != after.get(key))


def _add_secret_names(content: ProjectContent, names: set[str]) -> None:
    """Credentials taken out of requests become named, empty secret variables of the exported environment."""
    for environment in content.environments:
        for name in sorted(names):
            if name not in environment.variables:
                environment.secret_variables.setdefault(name, "")


async def _dataset_names(session: AsyncSession, case_id: int) -> dict[int, str | None]:
    """Dataset id -> name, None for a name two datasets of the case share (a file refers to datasets by name)."""
    datasets = await case_repository.datasets_of(session, case_id)
    counts = Counter(dataset.name for dataset in datasets)
    return {dataset.id: dataset.name if counts[dataset.name] == 1 else None for dataset in datasets}
