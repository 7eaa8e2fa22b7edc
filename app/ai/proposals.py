"""Proposals: what AI assistance generated, held until a person accepts it (optionally edited).

Accepting creates it through the normal services (cases, datasets, scenarios, environments through the
import service; assertions through the case service; cluster names through the reports service), so roles,
validation and the audit log apply exactly as for something made by hand. A proposal is accepted once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal, require_project
from app.cases.schemas import CaseUpdate
from app.cases.service import get_case, update_case
from app.core.errors import Conflict, InvalidInput, NotFound
from app.engine.specs import Assertion
from app.interop import service as interop
from app.interop.content import ProjectContent
from app.models import AiInteraction, AiProposal
from app.models.ai import ProposalStatus
from app.models.base import utcnow
from app.reports import service as reports


class GeneratedCases(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: ProjectContent


class SuggestedAssertions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_id: int
    assertions: list[Assertion] = Field(min_length=1, max_length=100)


class ClusterName(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cluster_id: str = Field(pattern=r"^[0-9a-f]{8,32}$")
    name: str = Field(min_length=1, max_length=200)
    likely_cause: str = Field(default="", max_length=1000)


Acceptor = Callable[[AsyncSession, Principal, AiProposal, Any], Awaitable[dict[str, Any]]]


async def _accept_cases(session: AsyncSession, principal: Principal, proposal: AiProposal, data: Any) -> dict[str, Any]:
    report = await interop.apply(session, principal, proposal.project_id, data.content, dry_run=False)
    return report.model_dump(mode="json")


async def _accept_assertions(
    session: AsyncSession, principal: Principal, proposal: AiProposal, data: Any
) -> dict[str, Any]:
    case = await get_case(session, principal, data.case_id, "edit")
    if case.project_id != proposal.project_id:
        raise InvalidInput(f"case {data.case_id} is not in project {proposal.project_id}", ["body", "case_id"])
    assertions = [*case.assertions, *(a.model_dump(exclude_none=True) for a in data.assertions)]
    updated = await update_case(
        session, principal, case.id, CaseUpdate.model_validate({"assertions": assertions, "version": case.version})
    )
    return {"case_id": updated.id, "assertions_added": len(data.assertions), "version": updated.version}


async def _accept_cluster_name(
    session: AsyncSession, principal: Principal, proposal: AiProposal, data: Any
) -> dict[str, Any]:
    label = await reports.label_cluster(session, principal, proposal.project_id, data.cluster_id, data.name, None)
    return {"cluster_id": label.cluster_key, "name": label.name}


KINDS: dict[str, tuple[type[BaseModel], Acceptor]] = {
    "generate_cases": (GeneratedCases, _accept_cases),
    "suggest_assertions": (SuggestedAssertions, _accept_assertions),
    "name_cluster": (ClusterName, _accept_cluster_name),
}


async def create(
    session: AsyncSession,
    principal: Principal,
    project_id: int,
    feature: str,
    payload: BaseModel,
    source: str,
    interaction_id: int | None = None,
) -> AiProposal:
    proposal = AiProposal(
        project_id=project_id,
        created_by_id=principal.user.id,
        feature=feature,
        source=source,
        interaction_id=interaction_id,
        status=ProposalStatus.OPEN,
        payload=payload.model_dump(mode="json", exclude_none=True),
        created_at=utcnow(),
    )
    session.add(proposal)
    await session.flush()
    return proposal


async def get(session: AsyncSession, principal: Principal, proposal_id: int) -> AiProposal:
    proposal = await session.get(AiProposal, proposal_id)
    if proposal is None:
        raise NotFound(f"proposal {proposal_id} not found")
    try:
        await require_project(session, principal, proposal.project_id, "read")
    except NotFound:
        raise NotFound(f"proposal {proposal_id} not found") from None
    return proposal


async def accept(
    session: AsyncSession, principal: Principal, proposal_id: int, edited: dict[str, Any] | None
) -> AiProposal:
    """Create what the proposal holds (or the edited version of it) through the normal services."""
    proposal = await get(session, principal, proposal_id)
    model, acceptor = KINDS[proposal.feature]
    if proposal.status != ProposalStatus.OPEN:
        raise Conflict(f"proposal {proposal_id} is already {proposal.status}")
    try:
        data = model.model_validate(edited if edited is not None else proposal.payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"payload: {first['msg']}", ["body", "payload", *first["loc"]]) from None
    claimed = await session.execute(  # accepted once, even by two people at the same moment
        update(AiProposal)
        .where(AiProposal.id == proposal.id, AiProposal.status == ProposalStatus.OPEN)
        .values(status=ProposalStatus.ACCEPTED, decided_at=utcnow(), decided_by_id=principal.user.id)
        .execution_options(synchronize_session=False)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        raise Conflict(f"proposal {proposal_id} was accepted or rejected meanwhile")
    result = await acceptor(session, principal, proposal, data)
    await session.execute(update(AiProposal).where(AiProposal.id == proposal.id).values(result=result))
    if proposal.interaction_id is not None:
        await session.execute(
            update(AiInteraction).where(AiInteraction.id == proposal.interaction_id).values(accepted=True)
        )
    await audit.record(
        session, principal, "accept", "ai_proposal", proposal.id, proposal.project_id, {"edited": edited is not None}
    )
    await session.refresh(proposal)
    return proposal


async def reject(session: AsyncSession, principal: Principal, proposal_id: int) -> AiProposal:
    proposal = await get(session, principal, proposal_id)
    await require_project(session, principal, proposal.project_id, "edit")
    if proposal.status != ProposalStatus.OPEN:
        raise Conflict(f"proposal {proposal_id} is already {proposal.status}")
    proposal.status, proposal.decided_at, proposal.decided_by_id = ProposalStatus.REJECTED, utcnow(), principal.user.id
    if proposal.interaction_id is not None:
        await session.execute(
            update(AiInteraction).where(AiInteraction.id == proposal.interaction_id).values(accepted=False)
        )
    await session.flush()
    return proposal
