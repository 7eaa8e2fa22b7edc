"""AI assistance under /api/v1 (docs/ai.md): generated proposals, suggested assertions, explanations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body
from pydantic import Field, model_validator

from app.ai import proposals, service
from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.pagination import PageDep
from app.core.schemas import EntityId, InputModel, PathId
from app.interop.service import kept_document

router = APIRouter(tags=["ai"], responses=error_responses(*SIGNED_IN, 404, 422))
INTERACTION_FIELDS = (
    "id", "feature", "prompt_version", "model", "status", "masked_input", "output", "error",
    "prompt_tokens", "completion_tokens", "latency_ms", "accepted", "user_id", "created_at",
)  # fmt: skip


class GenerateCases(InputModel):
    project_id: EntityId
    openapi: dict[str, Any] | str | None = Field(
        None, description="The OpenAPI 3.0/3.1 document, as JSON or as JSON/YAML text (or give import_id)."
    )
    import_id: EntityId | None = Field(
        None, description="An OpenAPI import of the project (its `import_id`): its document, instead of openapi."
    )
    operations: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        None, max_length=500, description="operationIds to generate for (default: all)."
    )
    description: str | None = Field(
        None, max_length=2000, description="A business flow in plain words: with a model, a scenario of it."
    )

    @model_validator(mode="after")
    def _one_document(self) -> GenerateCases:
        if (self.openapi is None) == (self.import_id is None):
            raise ValueError("give openapi or import_id (one of them)")
        return self


class SuggestAssertions(InputModel):
    request_run_id: EntityId | None = None
    request_run_ids: list[EntityId] | None = Field(None, max_length=50, description="Several runs of one case.")
    checks: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list,
        max_length=20,
        description="Business rules in plain words (a model turns them into assertions).",
    )

    @model_validator(mode="after")
    def _one_of(self) -> SuggestAssertions:
        if (self.request_run_id is None) == (self.request_run_ids is None):
            raise ValueError("give request_run_id or request_run_ids (one of them)")
        return self


class NameClusters(InputModel):
    project_id: EntityId
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(20, ge=1, le=50)


class Accept(InputModel):
    payload: dict[str, Any] | None = Field(None, description="The proposal as edited; default: as proposed.")


@router.post("/ai/generate-cases", status_code=201, responses=error_responses(*WITH_BODY, 403, 404, 409, 429, 502))
async def generate_cases(body: GenerateCases, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Cases with negative and boundary datasets from an OpenAPI document, as a proposal; with a model and a
    description, also a scenario of the flow. Nothing is created until a proposal is accepted."""
    if body.import_id is not None:
        text = await kept_document(session, principal, body.project_id, body.import_id)
    else:
        text = body.openapi if isinstance(body.openapi, str) else orjson.dumps(body.openapi).decode()
    answer = await service.generate_cases(session, principal, body.project_id, text, body.operations, body.description)
    await session.commit()
    return answer


@router.post("/ai/suggest-assertions", status_code=201, responses=error_responses(*WITH_BODY, 403, 409, 429, 502))
async def suggest_assertions(
    body: SuggestAssertions, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Assertions that hold on the recorded runs (status, content type, inferred schema, stable fields, types of
    ids and times, a response-time bound), as a proposal to add to the case."""
    if body.request_run_id is not None:
        ids, field = [body.request_run_id], "request_run_id"
    else:
        ids, field = list(body.request_run_ids or []), "request_run_ids"
    answer = await service.suggest_assertions(session, principal, ids, field, body.checks)
    await session.commit()
    return answer


@router.post("/request-runs/{request_run_id}/explain", responses=error_responses(429, 502))
async def explain(request_run_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Why it failed: the failed assertions, the difference from the last pass of the same step and data, its
    failure cluster, a likely cause chosen by rules with the evidence; with a model, a written explanation."""
    return await service.explain(session, principal, request_run_id)


@router.post("/ai/name-clusters", status_code=201, responses=error_responses(*WITH_BODY, 403, 429, 502))
async def name_clusters(body: NameClusters, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """A title and likely cause per failure cluster (from the signature, or written by a model), as proposals:
    accepting one names the cluster."""
    answer = await service.name_clusters(session, principal, body.project_id, body.since, body.until, body.limit)
    await session.commit()
    return answer


@router.get("/ai/proposals/{proposal_id}")
async def get_proposal(proposal_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return service.view(await proposals.get(session, principal, proposal_id))


@router.post("/ai/proposals/{proposal_id}/accept", responses=error_responses(*WITH_BODY, 403, 409))
async def accept_proposal(
    proposal_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: Annotated[Accept | None, Body()] = None,
) -> dict[str, Any]:
    """Create it (as edited) through the normal services: roles, validation and the audit log apply."""
    proposal = await proposals.accept(session, principal, proposal_id, body.payload if body else None)
    answer = service.view(proposal)
    await session.commit()
    return answer


@router.post("/ai/proposals/{proposal_id}/reject", responses=error_responses(403, 409))
async def reject_proposal(proposal_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    proposal = await proposals.reject(session, principal, proposal_id)
    answer = service.view(proposal)
    await session.commit()
    return answer


@router.get("/projects/{project_id}/ai/interactions", responses=error_responses(403))
async def interactions(
    project_id: PathId, session: SessionDep, principal: CurrentPrincipal, params: PageDep
) -> dict[str, Any]:
    """Every call to the model: masked input, output, tokens, latency, accepted or not (project admins)."""
    items, total = await service.interactions(session, principal, project_id, params)
    return {
        "items": [{column: getattr(item, column) for column in INTERACTION_FIELDS} for item in items],
        "total": total,
        "page": params.page,
        "page_size": params.page_size,
    }
