"""AI assistance's use cases: each runs its deterministic method, and asks the model only when the project
has one (app.ai.assistant), for what only a model can add. What can be created becomes a proposal."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ai import cluster_names, proposals
from app.ai.assistant import UnsafeAnswer, ask, model_available
from app.ai.explain import explain as explain_by_rules
from app.ai.failure_facts import gather, recorded_responses
from app.ai.generate_cases import UnknownOperations, generate
from app.ai.suggest_assertions import suggest
from app.auth.principal import Principal, require_project
from app.core.errors import InvalidInput
from app.core.pagination import PageParams, paginate
from app.core.schemas import VariableMap
from app.engine.specs import Assertion, Extractor
from app.interop.content import ProjectContent, ScenarioContent, StepContent, UnreadableFile
from app.interop.openapi_document import read_document
from app.interop.service import FileNotReadable
from app.models import AiInteraction, ApiRequestRun, Environment, Project, ScenarioRun
from app.reports import service as reports

Cause = Literal["environment", "network", "authentication", "data", "contract_change", "slowness", "flaky", "unknown"]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def view(proposal: Any) -> dict[str, Any]:
    return {
        "id": proposal.id,
        "project_id": proposal.project_id,
        "feature": proposal.feature,
        "source": proposal.source,
        "status": proposal.status,
        "payload": proposal.payload,
        "result": proposal.result,
        "interaction_id": proposal.interaction_id,
        "created_at": proposal.created_at,
        "decided_at": proposal.decided_at,
    }


# ---- 1. cases and data from OpenAPI ---------------------------------------------------------------------------
class ModelStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operation_id: str = Field(min_length=1, max_length=200)
    name: str = Field(default="", max_length=200)
    extract: list[Extractor] = Field(default_factory=list, max_length=20)
    variables: VariableMap = Field(default_factory=dict)


class ModelScenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    steps: list[ModelStep] = Field(min_length=1, max_length=30)


def _operations(openapi_text: str) -> dict[str, dict[str, Any]]:
    """operationId -> what the model is told of it, and the case key the import gave it."""
    document = read_document(openapi_text).root
    found: dict[str, dict[str, Any]] = {}
    for path, item in (document.get("paths") or {}).items():
        for method in METHODS:
            operation = (item or {}).get(method)
            if not isinstance(operation, dict) or not operation.get("operationId"):
                continue
            body = ((operation.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
            found[str(operation["operationId"])] = {
                "operation_id": operation["operationId"],
                "method": method.upper(),
                "path": path,
                "summary": str(operation.get("summary") or operation.get("description") or "")[:300],
                "body_properties": sorted(((body.get("schema") or {}).get("properties") or {}).keys())[:40],
                "key": f"{method.upper()} {path}"[:200],
            }
    return found


async def generate_cases(
    session: AsyncSession,
    principal: Principal,
    project_id: int,
    openapi_text: str,
    operations: list[str] | None,
    description: str | None,
) -> dict[str, Any]:
    project = await require_project(session, principal, project_id, "edit")
    try:
        content = generate(openapi_text, operations)
    except UnreadableFile as exc:
        where = ["body", "openapi", *([exc.where] if getattr(exc, "where", None) else [])]
        raise FileNotReadable(f"openapi: {exc}", details=[{"loc": where, "msg": str(exc)}]) from None
    except ValidationError as exc:
        raise FileNotReadable(
            f"openapi: {exc.errors()[0]['msg']}", details=[{"loc": ["body", "openapi"], "msg": str(exc)}]
        ) from None
    except UnknownOperations as exc:
        raise InvalidInput(str(exc), ["body", "operations"]) from None
    # The model is asked before anything is written: no transaction is held open while it thinks (its
    # interaction is recorded in a transaction of its own).
    flow: tuple[ProjectContent, int] | None = None
    note = None
    if description and model_available(project):
        flow = await _with_described_flow(session, principal, project, openapi_text, content, description)
    elif description:
        note = "a scenario from the description needs a model (AI is off for this project): cases only"
    cases_only = proposals.GeneratedCases(content=content)
    made = [await proposals.create(session, principal, project_id, "generate_cases", cases_only, "deterministic")]
    if flow is not None:
        payload = proposals.GeneratedCases(content=flow[0])
        made.append(await proposals.create(session, principal, project_id, "generate_cases", payload, "model", flow[1]))
    return {"proposals": [view(p) for p in made], "model_used": flow is not None, "note": note}


async def _with_described_flow(
    session: AsyncSession,
    principal: Principal,
    project: Project,
    openapi_text: str,
    generated: ProjectContent,
    description: str,
) -> tuple[ProjectContent, int]:
    """The generated content plus a scenario of the described flow (its extractors added to the cases)."""
    content = generated.model_copy(deep=True)
    operations = _operations(openapi_text)
    keys = {case.key for case in content.cases}

    allowed = await _allowed_hosts(session, project.id, content)

    def check(answer: ModelScenario) -> None:
        for index, step in enumerate(answer.steps):
            known = operations.get(step.operation_id)
            if known is None or known["key"] not in keys:
                raise UnsafeAnswer(f"steps.{index}.operation_id: '{step.operation_id}' is not an operation given")
            for name, value in step.variables.items():
                for url in _URL.findall(orjson.dumps(value).decode()):
                    if (urlsplit(url).hostname or "").lower() not in allowed:
                        raise UnsafeAnswer(
                            f"steps.{index}.variables.{name}: {url[:200]} is outside the project's environments"
                        )

    facts = {
        "description": description[:2000],
        "operations": [{k: v for k, v in op.items() if k != "key"} for op in operations.values()][:200],
    }
    answer, interaction_id = await ask(session, principal, project, "generate_scenario", facts, ModelScenario, check)
    steps = []
    for step in answer.steps:
        key = operations[step.operation_id]["key"]
        case = content.case(key)
        if step.extract:
            case.extractors = [*case.extractors, *step.extract]
        steps.append(StepContent(case=key, variables=step.variables))
    scenario = ScenarioContent(key="described-flow", name=answer.name, description=description[:2000], steps=steps)
    content.scenarios.append(scenario)
    return content, interaction_id


_URL = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)


async def _allowed_hosts(session: AsyncSession, project_id: int, content: ProjectContent) -> set[str]:
    """Where a generated flow may send requests: the hosts of the project's environments and the document's."""
    bases = list(await session.scalars(select(Environment.base_url).where(Environment.project_id == project_id)))
    bases += [environment.base_url for environment in content.environments]
    return {(urlsplit(base).hostname or "").lower() for base in bases if base} - {""}


# ---- 2. assertions from recorded runs -------------------------------------------------------------------------
class ModelAssertion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=120)
    assertion: Assertion


class ModelAssertions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assertions: list[ModelAssertion] = Field(max_length=30)


async def suggest_assertions(
    session: AsyncSession, principal: Principal, request_run_ids: list[int], field: str, checks: list[str]
) -> dict[str, Any]:
    responses = await recorded_responses(session, principal, request_run_ids, field=field)
    case_id, project = await _case_and_project(session, principal, request_run_ids[0])
    project_id = project.id
    suggestions = suggest(responses)
    asked: tuple[ModelAssertions, int] | None = None
    note = None
    if checks and model_available(project):  # asked before anything is written (see generate_cases)
        last = responses[-1]
        facts = {
            "response": {"status": last.status, "headers": list(last.headers)[:50], "body": last.body[:20_000]},
            "suggested": [s["assertion"] for s in suggestions],
            "checks": [check[:500] for check in checks[:20]],
        }
        asked = await ask(session, principal, project, "suggest_assertions", facts, ModelAssertions)
    elif checks:
        note = "business checks in plain words need a model (AI is off for this project)"
    made = []
    if suggestions:
        payload = proposals.SuggestedAssertions(
            case_id=case_id, assertions=[Assertion.model_validate(s["assertion"]) for s in suggestions]
        )
        made.append(
            await proposals.create(session, principal, project_id, "suggest_assertions", payload, "deterministic")
        )
    if asked is not None and asked[0].assertions:
        payload = proposals.SuggestedAssertions(case_id=case_id, assertions=[a.assertion for a in asked[0].assertions])
        made.append(
            await proposals.create(session, principal, project_id, "suggest_assertions", payload, "model", asked[1])
        )
    return {"case_id": case_id, "assertions": suggestions, "proposals": [view(p) for p in made], "note": note}


async def _case_and_project(session: AsyncSession, principal: Principal, request_run_id: int) -> tuple[Any, Project]:
    """The case and project of a request run the caller was already allowed to read."""
    case_id, project_id = (
        await session.execute(
            select(ApiRequestRun.case_id, ScenarioRun.project_id)
            .join(ScenarioRun, ScenarioRun.id == ApiRequestRun.scenario_run_id)
            .where(ApiRequestRun.id == request_run_id)
        )
    ).one()
    return case_id, await require_project(session, principal, project_id, "read")


# ---- 3. explaining a failure ----------------------------------------------------------------------------------
class ModelExplanation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    explanation: str = Field(min_length=1, max_length=2000)
    likely_cause: Cause
    suggestion: str = Field(default="", max_length=500)


async def explain(session: AsyncSession, principal: Principal, request_run_id: int) -> dict[str, Any]:
    facts = await gather(session, principal, request_run_id)
    by_rules = explain_by_rules(facts)
    _, project = await _case_and_project(session, principal, request_run_id)
    answer: dict[str, Any] = {"request_run_id": request_run_id, **by_rules, "model": None}
    if model_available(project):
        told = {key: value for key, value in by_rules.items()}
        written, interaction_id = await ask(
            session, principal, project, "explain_failure", {"facts": told}, ModelExplanation
        )
        answer["model"] = {**written.model_dump(), "interaction_id": interaction_id}
    return answer


# ---- 4. naming clusters ---------------------------------------------------------------------------------------
async def name_clusters(
    session: AsyncSession, principal: Principal, project_id: int, since: Any, until: Any, limit: int
) -> dict[str, Any]:
    project = await require_project(session, principal, project_id, "run")
    found = await reports.failure_clusters(
        session, principal, project_id, since=since, until=until, scenario_id=None, limit=limit
    )
    clusters = found["clusters"]
    titles = {c["id"]: cluster_names.deterministic(c) for c in clusters}
    by_model: set[str] = set()
    interaction_id = None
    if clusters and model_available(project):
        answer, interaction_id = await ask(
            session,
            principal,
            project,
            "name_clusters",
            cluster_names.facts(clusters),
            cluster_names.ClusterTitles,
            cluster_names.checker([c["id"] for c in clusters]),
        )
        titles.update({name.cluster_id: name for name in answer.names})
        by_model = {name.cluster_id for name in answer.names}
    made = []
    for cluster in clusters:
        title = titles[cluster["id"]]
        payload = proposals.ClusterName(cluster_id=cluster["id"], name=title.title, likely_cause=title.likely_cause)
        source, asked = ("model", interaction_id) if cluster["id"] in by_model else ("deterministic", None)
        made.append(await proposals.create(session, principal, project_id, "name_cluster", payload, source, asked))
    return {"project_id": project_id, "model_used": bool(by_model), "proposals": [view(p) for p in made]}


# ---- what was asked of the model ------------------------------------------------------------------------------
async def interactions(
    session: AsyncSession, principal: Principal, project_id: int, params: PageParams
) -> tuple[list[AiInteraction], int]:
    await require_project(session, principal, project_id, "manage")
    statement = select(AiInteraction).where(AiInteraction.project_id == project_id).order_by(AiInteraction.id.desc())
    return await paginate(session, statement, params)
