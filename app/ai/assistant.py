"""Asking the model: only when configured and enabled, within budget, masked, recorded, and validated.

`ask` is the one way a feature talks to a model. It sends the feature's versioned prompt (app/ai/prompts) and
the facts (masked: app.ai.outgoing), asks for JSON matching the answer's pydantic model, and validates the
answer against that model (unknown fields refused) and the feature's own check (an expression the safe
evaluator refuses, a URL outside the project's environments). A malformed, invalid or unsafe answer is
refused whole with the first problem named: nothing half-valid is used. Every call is recorded as an
`AiInteraction` in its own transaction, so a refused or failed call is on record too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ai.outgoing import mask_outgoing, mask_text
from app.ai.provider import ChatProvider, OpenAICompatible, ProviderError
from app.auth.principal import Principal
from app.core.config import get_settings
from app.core.db import get_session_factory
from app.core.errors import AppError
from app.environments.secrets import project_masker
from app.models import AiInteraction, Project
from app.models.ai import InteractionStatus
from app.models.base import utcnow

PROMPTS = Path(__file__).parent / "prompts"
# The prompt version each feature uses: a new file is a new version, chosen here (and recorded per call).
PROMPT_VERSIONS = {
    "generate_scenario": "v1",
    "suggest_assertions": "v1",
    "explain_failure": "v1",
    "name_clusters": "v1",
}
MAX_FACTS_CHARS = 120_000
MAX_OUTPUT_CHARS = 100_000

Answer = TypeVar("Answer", bound=BaseModel)


class AiOff(AppError):
    status_code, code = 409, "ai_off"


class AiBudgetExhausted(AppError):
    status_code, code = 429, "ai_budget_exhausted"


class AiFailed(AppError):
    """The model's API gave no answer (network, timeout, its own error)."""

    status_code, code = 502, "ai_failed"


class AiAnswerRefused(AppError):
    """The model answered, but not something valid and safe to use: refused whole."""

    status_code, code = 502, "ai_answer_invalid"


class UnsafeAnswer(ValueError):
    """Raised by a feature's check: the answer is valid JSON of the right shape but may not be used."""


def prompt(feature: str) -> tuple[str, str]:
    version = PROMPT_VERSIONS[feature]
    return version, (PROMPTS / f"{feature}.{version}.md").read_text(encoding="utf-8")


def provider_for(project: Project) -> ChatProvider | None:
    """The model, when the server has one configured and the project's admins turned AI on; else None."""
    settings = get_settings()
    if not (settings.ai_configured and project.ai_enabled):
        return None
    assert settings.ai_base_url and settings.ai_model  # ai_configured
    return OpenAICompatible(
        settings.ai_base_url, settings.ai_api_key, settings.ai_model, settings.ai_timeout_seconds, settings.ai_retries
    )


def model_available(project: Project) -> bool:
    return provider_for(project) is not None


async def tokens_this_month(session: AsyncSession, project_id: int) -> int:
    now = datetime.now(UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    spent = await session.scalar(
        select(func.sum(AiInteraction.prompt_tokens + AiInteraction.completion_tokens)).where(
            AiInteraction.project_id == project_id, AiInteraction.created_at >= start
        )
    )
    return int(spent or 0)


async def ask(
    session: AsyncSession,
    principal: Principal,
    project: Project,
    feature: str,
    facts: dict[str, Any],
    answer: type[Answer],
    check: Callable[[Answer], None] | None = None,
) -> tuple[Answer, int]:
    """The model's validated answer and the id of its recorded interaction."""
    provider = provider_for(project)
    if provider is None:
        raise AiOff(
            "AI assistance is off for this project: the server needs AI_BASE_URL and AI_MODEL, and a project admin "
            "must set ai_enabled; the deterministic result is available without it"
        )
    budget = project.ai_monthly_token_budget
    if budget is None:
        budget = get_settings().ai_monthly_token_budget
    if budget and await tokens_this_month(session, project.id) >= budget:
        now = datetime.now(UTC)
        month_end = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
        raise AiBudgetExhausted(
            f"project {project.id} has spent its {budget} AI tokens for this month (until {month_end:%Y-%m-%d} UTC); "
            "a project admin can raise ai_monthly_token_budget",
            headers={"Retry-After": str(int((month_end - now).total_seconds()) + 1)},
        )
    version, system = prompt(feature)
    masker = await project_masker(session, project.id)
    masked = mask_outgoing(facts, masker)
    user = orjson.dumps(masked, default=str).decode()
    if len(user) > MAX_FACTS_CHARS:
        raise AppError(
            f"the facts for {feature} are {len(user)} characters; at most {MAX_FACTS_CHARS} are sent to a model",
            status_code=413,
            code="ai_input_too_large",
        )
    record = AiInteraction(
        project_id=project.id,
        user_id=principal.user.id,
        feature=feature,
        prompt_version=version,
        model=provider.model,
        masked_input=masked,
        created_at=utcnow(),
    )
    try:
        completion = await provider.complete(system, user, answer.__name__, answer.model_json_schema())
    except ProviderError as exc:
        record.status, record.error = InteractionStatus.FAILED, mask_text(str(exc), masker)
        await _save(record)
        raise AiFailed(f"{feature}: {record.error}") from None
    record.output = mask_text(completion.text[:MAX_OUTPUT_CHARS], masker)
    record.prompt_tokens, record.completion_tokens = completion.prompt_tokens, completion.completion_tokens
    record.latency_ms, record.model = completion.latency_ms, completion.model[:200]
    try:
        result = answer.model_validate_json(completion.text)
        if check is not None:
            check(result)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "answer"
        problem = f"{where}: {first['msg']}"
        return await _refuse(record, feature, problem, masker)
    except UnsafeAnswer as exc:
        return await _refuse(record, feature, str(exc), masker)
    record.status = InteractionStatus.OK
    return result, await _save(record)


async def _refuse(record: AiInteraction, feature: str, problem: str, masker: Any) -> Any:
    record.status, record.error = InteractionStatus.INVALID, mask_text(problem, masker)
    await _save(record)
    raise AiAnswerRefused(f"{feature}: the model's answer was refused ({record.error}); nothing was stored")


async def _save(record: AiInteraction) -> int:
    # Its own transaction: a refused or failed call stays on record whatever happens to the caller's.
    async with get_session_factory()() as own:
        own.add(record)
        await own.commit()
        return record.id
