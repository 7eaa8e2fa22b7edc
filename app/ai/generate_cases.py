"""Test cases from an OpenAPI document with no model: the import's positive cases plus boundary datasets.

app.interop.openapi.parse makes one positive case per operation (its documented 2xx and response schema),
the environment and the scenarios. Beside each positive case whose body or parameters have a schema, this
adds a "boundaries" case: the same request with the varied part sent as a template variable (the body as
`{{request_body}}`, each parameter as its own `{{name}}`), one dataset per variant of app.ai.boundaries, and
one status check whose bounds the dataset sets (`expect_status_min`/`expect_status_max`): the documented
2xx for a value the contract accepts, 400-499 for one it refuses. A server that answers otherwise (accepts
what it documents as refused, or answers a bad request with a 500) fails exactly the dataset that shows it.

The positive case is kept whole rather than given the datasets itself: its response-schema check holds for
a 2xx only, and a case's checks apply to every one of its datasets. In each scenario the boundaries step
follows its positive step and fans out over all its datasets.
"""

from __future__ import annotations

import re
from typing import Any

from app.ai.boundaries import MAX_VARIANTS, Variant, body_variants, interleave, parameter_variants
from app.interop.content import CaseContent, DatasetContent, ProjectContent, ScenarioContent, StepContent
from app.interop.openapi import BODY_VARIABLE, METHODS, parse
from app.interop.openapi_document import Document, read_document
from app.interop.openapi_schema import json_schema

EXPECT_MIN, EXPECT_MAX = "expect_status_min", "expect_status_max"
REJECTED = (400, 499)
_TEMPLATE = re.compile(r"^\{\{([^{}]+)\}\}$")
_JSON_TYPE = re.compile(r"^application/([\w.+-]*\+)?json$|^\*/\*$|^application/\*$")  # as the import chooses


class UnknownOperations(ValueError):
    """`operations` names operationIds the document does not have: nothing is generated."""

    def __init__(self, unknown: list[str], known: list[str]) -> None:
        listed = ", ".join(repr(name) for name in known[:50]) or "none"
        super().__init__(f"operations: no operationId {', '.join(repr(n) for n in unknown)} in the document ({listed})")
        self.unknown = unknown
        self.known = known


def generate(openapi_text: str, operations: list[str] | None = None) -> ProjectContent:
    """The import's content with a boundaries case per operation that has a schema to vary.

    Args:
        openapi_text: an OpenAPI 3.0 or 3.1 document, JSON or YAML.
        operations: the operationIds to keep (None: every operation); their positive and boundaries cases,
            and the scenarios' steps of them, are kept, the rest left out.

    Returns:
        A ProjectContent for app.interop.service.apply; what could not be varied is in `not_translated`.

    Raises:
        UnreadableFile: the document cannot be read (the path of its first problem).
        UnknownOperations: `operations` names an operationId the document does not have.
    """
    content = parse(openapi_text)
    document = read_document(openapi_text)
    found = _operations(document)
    if operations is not None:
        known = [operation_id for operation_id, *_ in found if operation_id]
        unknown = [name for name in dict.fromkeys(operations) if name not in known]
        if unknown:
            raise UnknownOperations(unknown, known)
        found = [entry for entry in found if entry[0] in operations]
    cases = {case.key: case for case in content.cases}
    steps = {step.case: step for scenario in content.scenarios for step in scenario.steps}
    kept: list[CaseContent] = []
    followers: dict[str, str] = {}  # positive case key -> its boundaries case key
    for _operation_id, key, path, method, item, operation in found:
        positive = cases.get(key)
        if positive is None:  # the import left the operation out (and said why)
            continue
        kept.append(positive)
        step_variables = steps[key].variables if key in steps else {}
        boundaries = _boundaries(document, content, positive, step_variables, path, method, item, operation)
        if boundaries is not None:
            kept.append(boundaries)
            followers[key] = boundaries.key
    content.cases = kept
    kept_keys = {case.key for case in kept}
    scenarios = (_with_boundaries(scenario, followers, kept_keys) for scenario in content.scenarios)
    content.scenarios = [scenario for scenario in scenarios if scenario.steps]
    return content


def _operations(document: Document) -> list[tuple[str | None, str, str, str, dict[str, Any], dict[str, Any]]]:
    """(operationId, case key, path, method, path item, operation) in document order, as the import reads them."""
    out = []
    for path, raw_item in (document.root.get("paths") or {}).items():
        item, _ = document.follow(raw_item, f"paths.{path}")
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                operation_id = operation.get("operationId")
                key = f"{method.upper()} {path}"[:200]
                out.append((str(operation_id) if operation_id else None, key, path, method, item, operation))
    return out


def _with_boundaries(scenario: ScenarioContent, followers: dict[str, str], kept: set[str]) -> ScenarioContent:
    steps: list[StepContent] = []
    for step in scenario.steps:
        if step.case not in kept:
            continue
        steps.append(step)
        if step.case in followers:
            steps.append(StepContent(case=followers[step.case], dataset_mode="all"))
    return scenario.model_copy(update={"steps": steps})


def _boundaries(
    document: Document,
    content: ProjectContent,
    positive: CaseContent,
    step_variables: dict[str, Any],
    path: str,
    method: str,
    item: dict[str, Any],
    operation: dict[str, Any],
) -> CaseContent | None:
    where = f"paths.{path}.{method}"
    variables = dict(step_variables)
    groups: list[tuple[str, list[Variant]]] = []  # (the variable each group's values go into, its variants)
    for parameter, parameter_where in _parameters(document, path, method, item, operation):
        name, location = str(parameter.get("name") or ""), parameter.get("in")
        variable = _parameter_variable(positive, name, location)
        schema = _parameter_schema(parameter)
        if variable is None or schema is None or location not in ("path", "query", "header"):
            continue
        converted = json_schema(document, schema, f"{parameter_where}.schema", "request")
        groups.append((variable, parameter_variants(converted, location, name, variables.get(variable))))
    body = positive.body
    if body.mode == "json":
        schema, schema_where = _body_schema(document, operation.get("requestBody"), where)
        if schema is not None:
            base = variables.get(BODY_VARIABLE) if body.content == "{{" + BODY_VARIABLE + "}}" else body.content
            converted = json_schema(document, schema, schema_where, "request")
            variants = body_variants(converted, base)
            if not variants:
                content.skip(schema_where, positive.key, "no valid instance of the body's schema to vary: no datasets")
            else:
                variables[BODY_VARIABLE] = base
                body = body.model_copy(update={"content": "{{" + BODY_VARIABLE + "}}"})
                groups.append((BODY_VARIABLE, variants))
    elif body.mode in ("urlencoded", "form"):
        content.skip(f"{where}.requestBody", positive.key, "a form body is not varied, only the parameters")
    if not any(variants for _, variants in groups):
        return None
    owner = {id(variant): variable for variable, variants in groups for variant in variants}
    accepted = _documented(positive)
    datasets = []
    reasons = [f"Boundary and negative values of {positive.key}; each dataset sets the status it expects."]
    for variant in interleave([variants for _, variants in groups], MAX_VARIANTS):
        low, high = accepted if variant.expect == "accept" else REJECTED
        values = {**variables, owner[id(variant)]: variant.value, EXPECT_MIN: low, EXPECT_MAX: high}
        name = f"{variant.expect}: {variant.name}"[:200]
        datasets.append(DatasetContent(name=name, variables=values))
        reasons.append(f"- {name}: {variant.why}"[:300])
    check = {"source": "status_code", "op": "between", "expected": ["{{" + EXPECT_MIN + "}}", "{{" + EXPECT_MAX + "}}"]}
    fields = positive.model_dump(exclude={"key", "name", "description", "body", "assertions", "datasets"})
    return CaseContent(
        **fields,
        key=f"{positive.key} boundaries"[:200],
        name=f"{positive.name} (boundaries)"[:200],
        description="\n".join(reasons)[:20_000],
        body=body,
        assertions=[check],
        datasets=datasets,
    )


def _parameters(
    document: Document, path: str, method: str, item: dict[str, Any], operation: dict[str, Any]
) -> list[tuple[dict[str, Any], str]]:
    """The operation's parameters, its own replacing the path's of the same name and place (as the import)."""
    shared = item.get("parameters") or []
    found: dict[tuple[Any, Any], tuple[dict[str, Any], str]] = {}
    for index, raw in enumerate([*shared, *(operation.get("parameters") or [])]):
        own = index >= len(shared)
        where = (
            f"paths.{path}.{method}.parameters[{index - len(shared)}]" if own else f"paths.{path}.parameters[{index}]"
        )
        parameter, _ = document.follow(raw, where)
        if isinstance(parameter, dict):
            found[(parameter.get("name"), parameter.get("in"))] = (parameter, where)
    return list(found.values())


def _parameter_variable(positive: CaseContent, name: str, location: Any) -> str | None:
    """The template variable the import gave the parameter, if it sends one (`{{name}}`, or `{{name_path}}`...)."""
    if location == "path":
        for candidate in (name, f"{name}_path"):
            if "{{" + candidate + "}}" in positive.url:
                return candidate
        return None
    given = positive.query.get(name) if location == "query" else positive.headers.get(name)
    match = _TEMPLATE.match(given) if isinstance(given, str) else None
    return match.group(1) if match else None


def _parameter_schema(parameter: dict[str, Any]) -> Any:
    if "schema" in parameter:
        return parameter["schema"]
    media = parameter.get("content")
    if isinstance(media, dict) and media:
        first = next(iter(media.values()))
        return first.get("schema") if isinstance(first, dict) else None
    return None


def _body_schema(document: Document, request_body: Any, where: str) -> tuple[Any, str]:
    """The schema of the JSON body the import chose (the first JSON media type), and where it is."""
    if request_body is None:
        return None, where
    request_body, body_where = document.follow(request_body, f"{where}.requestBody")
    media_types = request_body.get("content") or {} if isinstance(request_body, dict) else {}
    for media_type, media in media_types.items():
        if _JSON_TYPE.match(media_type.split(";", 1)[0].strip().lower()) and isinstance(media, dict):
            return media.get("schema"), f"{body_where}.content.{media_type}.schema"
    return None, where


def _documented(positive: CaseContent) -> tuple[int, int]:
    """The statuses the positive case accepts (its documented 2xx), as inclusive bounds."""
    for assertion in positive.assertions:
        if assertion.source == "status_code" and assertion.op == "eq" and isinstance(assertion.expected, int):
            return assertion.expected, assertion.expected
        if assertion.source == "status_code" and assertion.op == "between":
            low, high = assertion.expected
            return int(low), int(high)
    return 200, 299
