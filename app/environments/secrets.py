"""Maskers from environments' sealed secrets: what run records, messages and AI prompts must never show."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.secret_box import unseal
from app.engine.masking import Masker
from app.models import Environment


def _unsealed(sealed: dict[str, str] | None) -> list[str]:
    values = []
    for value in (sealed or {}).values():
        try:
            values.append(unseal(value))
        except ValueError:  # SECRET_KEY changed: the value cannot be read, so no run could have sent it either
            continue
    return values


async def environment_masker(session: AsyncSession, environment_id: int | None) -> Masker:
    """One environment's secret values: a failure text, an error or a CI field can quote one."""
    if environment_id is None:
        return Masker([])
    sealed = await session.scalar(select(Environment.secret_variables).where(Environment.id == environment_id))
    return Masker(_unsealed(sealed))


async def project_masker(session: AsyncSession, project_id: int) -> Masker:
    """Every environment's secret values in a project."""
    values: list[str] = []
    for (sealed,) in await session.execute(
        select(Environment.secret_variables).where(Environment.project_id == project_id)
    ):
        values += _unsealed(sealed)
    return Masker(values)
