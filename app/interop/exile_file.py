"""The Exile file: one YAML or JSON document holding a scenario, its cases with their datasets, its data rows
and an environment without secret values (DESIGN 6).

It is ProjectContent's own parts under a `version`, so the file, the API and every importer share one
vocabulary and one set of checks. `exile export` and `GET /scenarios/{id}/export` write it; the importer and
`exile run` read it. The JSON Schema published at `GET /api/v1/schemas/exile-file` (and committed at
`schemas/exile-file.schema.json`) is generated from these models, never written by hand.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.core.schemas import MAX_JSON_DEPTH
from app.interop.content import (
    CaseContent,
    EnvironmentContent,
    NotTranslated,
    ProjectContent,
    ScenarioContent,
    UnreadableFile,
)

VERSION = 1
READ_VERSIONS = (1,)
SCHEMA_ID = (
    "urn:exile:schema:exile-file"  # an identifier, not a place: the server serves it at /api/v1/schemas/exile-file
)


class ExileFile(BaseModel):
    """One scenario with everything it needs to run, except secret values."""

    model_config = ConfigDict(
        extra="forbid",
        title="Exile file",
        json_schema_extra={"$id": SCHEMA_ID, "$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    schema_: str | None = Field(
        None, alias="$schema", description="The schema this file follows (for editors); ignored when read."
    )
    version: Literal[1] = Field(description="The Exile file format version; this server reads version 1.")
    scenario: ScenarioContent
    cases: list[CaseContent] = Field(default_factory=list, description="Every case a step refers to by `key`.")
    environment: EnvironmentContent | None = Field(
        None, description="Where the scenario runs; secret variables carry their names with empty values."
    )
    not_exported: list[NotTranslated] = Field(
        default_factory=list, description="What the export left out or changed, and why (ignored when read)."
    )

    @model_validator(mode="after")
    def _steps_refer_to_cases(self) -> ExileFile:
        keys: set[str] = set()
        for index, case in enumerate(self.cases):
            if case.key in keys:
                raise ValueError(f"cases[{index}].key: '{case.key}' is the key of an earlier case")
            keys.add(case.key)
        for part in ("setup", "steps", "teardown"):
            for index, step in enumerate(getattr(self.scenario, part)):
                if step.case not in keys:
                    raise ValueError(f"scenario.{part}[{index}].case: no case has the key '{step.case}'")
        return self


def json_schema() -> dict[str, Any]:
    """The published schema: what a version 1 file may hold, generated from the models above."""
    return ExileFile.model_json_schema(by_alias=True)


# ---- reading -------------------------------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """Safe YAML that yields only JSON values: no anchors/aliases (no "billion laughs"), dates stay text."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise UnreadableFile(
                f"line {event.start_mark.line + 1}", "no YAML aliases (*name): write the value out in full"
            )
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(text: str) -> Any:
    if not text.strip():
        raise UnreadableFile("$", "an Exile file (YAML or JSON), got nothing")
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise UnreadableFile("$", f"JSON: {exc}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader without aliases or timestamps
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "$"
        raise UnreadableFile(where, f"YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise UnreadableFile("$", f"YAML: {exc}") from None


def _check_json(value: Any, where: str = "$", depth: int = 0) -> None:
    """YAML can say more than JSON (binary, non-text keys, .nan): refuse it with the path, before the models."""
    if depth > MAX_JSON_DEPTH:
        raise UnreadableFile(where, f"at most {MAX_JSON_DEPTH} levels of nesting")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnreadableFile(f"{where}.{key}", f"a text key, got {type(key).__name__} {key!r}")
            _check_json(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise UnreadableFile(where, "a finite number")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise UnreadableFile(
            where, f"a JSON value (text, number, true/false, null, list, mapping), got {type(value).__name__}"
        )


def parse(text: str) -> ProjectContent:
    """The file's scenario, cases and environment; UnreadableFile or ValidationError names the first problem."""
    document = _load(text)
    if not isinstance(document, dict):
        raise UnreadableFile("$", f"an Exile file: a mapping with `version` and `scenario`, got {_kind(document)}")
    _check_json(document)
    if "version" not in document:
        raise UnreadableFile("version", f"the file format version (this server reads {_versions()})")
    version = document["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UnreadableFile("version", f"a whole number version ({_versions()}), got {version!r}")
    if version not in READ_VERSIONS:
        raise UnreadableFile(
            "version", f"a version this server reads ({_versions()}), got {version}: upgrade Exile to read it"
        )
    if "scenario" not in document:
        raise UnreadableFile("scenario", "the scenario (a mapping with `key`, `name` and `steps`)")
    try:
        exile_file = ExileFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "value_error" and not first["loc"]:  # the cross-reference check above
            where, _, message = str(first["msg"]).removeprefix("Value error, ").partition(": ")
            raise UnreadableFile(where, message) from None
        raise
    content = ProjectContent(kind="exile", cases=exile_file.cases, scenarios=[exile_file.scenario])
    if exile_file.environment is not None:
        content.environments.append(exile_file.environment)
    return content


def _versions() -> str:
    return ", ".join(str(version) for version in READ_VERSIONS)


def _kind(value: Any) -> str:
    return {list: "a list", str: "text", type(None): "nothing"}.get(type(value), type(value).__name__)


# ---- writing -------------------------------------------------------------------------------------------------------
def build(content: ProjectContent) -> ExileFile:
    """The file for a content holding one scenario (an export); its not_translated list becomes `not_exported`."""
    if len(content.scenarios) != 1:
        raise ValueError(f"an Exile file holds one scenario, this content has {len(content.scenarios)}")
    if len(content.environments) > 1:
        raise ValueError("an Exile file holds at most one environment")
    environment = content.environments[0] if content.environments else None
    if environment is not None and any(environment.secret_variables.values()):
        raise ValueError("an Exile file never holds secret values: empty them before writing")
    return ExileFile(
        version=VERSION,
        scenario=content.scenarios[0],
        cases=content.cases,
        environment=environment,
        not_exported=content.not_translated,
    )


_ALWAYS_KEPT = {"expected", "value"}  # an assertion's `expected: null` and a `set` to null are meant, not defaults


def _pruned(model: BaseModel) -> dict[str, Any]:
    """A model's fields minus those equal to their default, at every level; read back, the defaults come back
    the same. `key` and `name` first, so a person reading the file sees what each part is."""
    kept: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        key = field.alias or name
        value = getattr(model, name)
        if not field.is_required() and name not in _ALWAYS_KEPT:
            default = field.get_default(call_default_factory=True)
            if value == default:
                continue
        kept[key] = _plain(value)
    order = {"key": 0, "name": 1}
    return dict(sorted(kept.items(), key=lambda item: order.get(item[0], 2)))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _pruned(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def to_document(exile_file: ExileFile) -> dict[str, Any]:
    """The file as plain data, in a readable order, without fields that only repeat a default."""
    scenario = _pruned(exile_file.scenario)
    document: dict[str, Any] = {"version": exile_file.version, "scenario": scenario}
    document["cases"] = [_pruned(case) for case in exile_file.cases]
    if exile_file.environment is not None:
        document["environment"] = _pruned(exile_file.environment)
    if exile_file.not_exported:
        document["not_exported"] = [_pruned(item) for item in exile_file.not_exported]
    return document


def dump(content: ProjectContent, fmt: Literal["yaml", "json"] = "yaml", schema_url: str | None = None) -> str:
    """The Exile file text for a one-scenario content, as YAML (for people and diffs) or JSON; `schema_url`
    (where a server serves the schema) lets editors check and complete the file."""
    document = to_document(build(content))
    if schema_url:
        document = {"$schema": schema_url, **document}
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


if __name__ == "__main__":  # `uv run python -m app.interop.exile_file > schemas/exile-file.schema.json`
    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
