"""Page parameters and the `{items, total, page, page_size}` answer every list shares."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

MAX_PAGE_SIZE = 200
T = TypeVar("T")


class PageParams(BaseModel):
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def _page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


PageDep = Annotated[PageParams, Depends(_page_params)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


async def paginate(session: AsyncSession, statement: Select[Any], params: PageParams) -> tuple[list[Any], int]:
    """Rows of one page and the total the same filter matches."""
    total = await session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = await session.scalars(statement.limit(params.page_size).offset(params.offset))
    return list(rows.unique()), int(total or 0)


async def page_of(session: AsyncSession, statement: Select[Any], params: PageParams) -> dict[str, Any]:
    """The list answer for one page of `statement`."""
    items, total = await paginate(session, statement, params)
    return {"items": items, "total": total, "page": params.page, "page_size": params.page_size}
