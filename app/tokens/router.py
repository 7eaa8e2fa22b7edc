from __future__ import annotations

from fastapi import APIRouter, Response

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.schemas import PathId
from app.models import ApiToken
from app.tokens import service
from app.tokens.schemas import TokenCreate, TokenCreated, TokenRead

router = APIRouter(tags=["tokens"], responses=error_responses(*SIGNED_IN, 403, 404))


@router.post(
    "/projects/{project_id}/tokens",
    response_model=TokenCreated,
    status_code=201,
    responses=error_responses(*WITH_BODY, 409),
)
async def create_token(
    project_id: PathId, body: TokenCreate, session: SessionDep, principal: CurrentPrincipal
) -> TokenCreated:
    """A project-scoped token for CI; the secret is in the answer and nowhere else."""
    token, raw = await service.create_token(session, principal, project_id, body)
    await session.commit()
    return TokenCreated.model_validate({**TokenRead.model_validate(token).model_dump(), "token": raw})


@router.get("/projects/{project_id}/tokens", response_model=list[TokenRead])
async def list_tokens(project_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> list[ApiToken]:
    return await service.list_tokens(session, principal, project_id)


@router.delete("/tokens/{token_id}", status_code=204, responses=error_responses(409))
async def revoke_token(token_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.revoke_token(session, principal, token_id)
    await session.commit()
    return Response(status_code=204)
