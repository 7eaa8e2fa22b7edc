from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import Field

from app.core.schemas import Description, InputModel, Name, PatchModel, Timestamps

# At most ten years: a longer limit is "forever", which is null.
RetentionDays = Annotated[int, Field(ge=1, le=3650)]
BODY_DAYS_HELP = (
    "Request runs keep their request, data and response snapshots this many days after their run was created "
    "(null: forever); then the snapshots are cleared. At most retention_row_days. Project admins set it."
)
ROW_DAYS_HELP = (
    "Request runs and their scenario runs are deleted this many days after the run was created (null: forever). "
    "Trends and dashboards keep counting them: report roll-ups are never pruned. Project admins set it."
)


AI_ENABLED_HELP = (
    "AI assistance with the server's model (docs/ai.md): off until a project admin turns it on. Without it every "
    "AI feature still works by its deterministic method."
)
AI_BUDGET_HELP = "Model tokens this project may spend per calendar month (null: the server's AI_MONTHLY_TOKEN_BUDGET)."


class ProjectCreate(InputModel):
    name: Name
    description: Description = ""


class ProjectUpdate(PatchModel):
    nullable_fields: ClassVar[frozenset[str]] = frozenset(
        {"retention_body_days", "retention_row_days", "ai_monthly_token_budget"}
    )

    name: Name | None = None
    description: Description | None = None
    retention_body_days: RetentionDays | None = Field(None, description=BODY_DAYS_HELP)
    retention_row_days: RetentionDays | None = Field(None, description=ROW_DAYS_HELP)
    ai_enabled: bool | None = Field(None, description=AI_ENABLED_HELP)
    ai_monthly_token_budget: Annotated[int, Field(ge=0, le=10**12)] | None = Field(None, description=AI_BUDGET_HELP)


class ProjectRead(Timestamps):
    id: int
    name: str
    description: str
    owner_id: int
    retention_body_days: int | None = Field(description=BODY_DAYS_HELP)
    retention_row_days: int | None = Field(description=ROW_DAYS_HELP)
    bodies_pruned_before: datetime | None = Field(
        description="Runs created before this lost their request runs' snapshots to retention (null: none did)."
    )
    rows_pruned_before: datetime | None = Field(
        description=(
            "Finished runs created before this were deleted by retention, but for those the report roll-ups had not "
            "counted yet (null: none were)."
        )
    )
    ai_enabled: bool = Field(description=AI_ENABLED_HELP)
    ai_monthly_token_budget: int | None = Field(description=AI_BUDGET_HELP)
    version: int = Field(description="Send it back with PATCH.")
