"""AI assistance (app.ai): what was asked of a model and what it answered, and the proposals people accept.

Nothing a model says becomes a case, dataset or assertion until a person accepts its proposal, through the
same services (permissions, validation, audit) as a hand-made one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, JSONValue, LongText, StatusString, UTCDateTime


class InteractionStatus(StrEnum):
    OK = "ok"  # answered, and the answer was valid
    INVALID = "invalid"  # answered, but not what was asked for (refused, never used)
    FAILED = "failed"  # no answer: network, timeout, the API's error


class ProposalStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class AiInteraction(Base):
    """One call to the model: the masked input (what left the server), the output, tokens and latency."""

    __tablename__ = "ai_interactions"
    __table_args__ = (Index("ix_ai_interactions_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    feature: Mapped[str] = mapped_column(String(40), nullable=False)
    prompt_version: Mapped[str] = mapped_column(String(40), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[InteractionStatus] = mapped_column(StatusString(InteractionStatus), nullable=False)
    masked_input: Mapped[Any] = mapped_column(JSONValue, nullable=False)
    output: Mapped[str] = mapped_column(LongText, nullable=False, default="")
    error: Mapped[str | None] = mapped_column(LongText, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # None: nothing to accept (an explanation); else whether a person accepted the proposal it made.
    accepted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class AiProposal(Base):
    """Something generated (deterministically or by a model) waiting for a person: accept creates it."""

    __tablename__ = "ai_proposals"
    __table_args__ = (Index("ix_ai_proposals_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    feature: Mapped[str] = mapped_column(String(40), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # deterministic | model
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ai_interactions.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[ProposalStatus] = mapped_column(StatusString(ProposalStatus), nullable=False)
    payload: Mapped[Any] = mapped_column(JSONValue, nullable=False)
    # What accepting it created (ids), for the caller and the audit trail.
    result: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
