"""The filters every library list shares (cases, scenarios): project, status, tag and a text query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import Select, select

from app.core.schemas import QueryId, QueryText, Status


@dataclass(frozen=True)
class LibraryFilters:
    project_id: int | None = None
    status: str | None = None
    tag: str | None = None
    text: str | None = None

    def apply(self, statement: Select[Any], model: Any, tag_model: Any, tag_owner: Any, text_columns: list[Any]) -> Any:
        if self.project_id is not None:
            statement = statement.where(model.project_id == self.project_id)
        if self.status is not None:
            statement = statement.where(model.status == self.status)
        if self.tag:
            statement = statement.where(model.id.in_(select(tag_owner).where(tag_model.tag == self.tag.strip())))
        if self.text:
            condition = text_columns[0].icontains(self.text, autoescape=True)
            for column in text_columns[1:]:
                condition = condition | column.icontains(self.text, autoescape=True)
            statement = statement.where(condition)
        return statement.order_by(model.id.desc())


def _library_filters(
    project_id: QueryId = None,
    status: Status | None = None,
    tag: Annotated[QueryText, Query(max_length=64)] = None,
    q: Annotated[QueryText, Query(max_length=200, description="text in the name or description")] = None,
) -> LibraryFilters:
    return LibraryFilters(project_id=project_id, status=status, tag=tag, text=q)


LibraryFiltersDep = Annotated[LibraryFilters, Depends(_library_filters)]
