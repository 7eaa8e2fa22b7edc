"""OpenAPI documents kept from imports, so later work on the same API (AI case generation) can name the import
instead of sending the document again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, LongText, UTCDateTime


class ApiImport(Base):
    """One applied import of an OpenAPI document: the document as it was read (UTF-8 text, at most
    MAX_IMPORT_BYTES). Collections and HAR files are not kept: they carry tokens and passwords."""

    __tablename__ = "api_imports"
    __table_args__ = (Index("ix_api_imports_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    document: Mapped[str] = mapped_column(LongText, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
