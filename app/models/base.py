"""Declarative base, constraint naming convention and column types that behave alike on all backends."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, String, Table, Text, event, func
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes with microseconds everywhere.

    MySQL's DATETIME drops both the zone and (without fsp) the microseconds, SQLite keeps text:
    store naive UTC there and give the zone back on the way out. PostgreSQL keeps timestamptz.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use an aware datetime")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class StatusString(TypeDecorator[E]):
    """A status column: a plain VARCHAR holding the enum's values, read back as the `StrEnum` member.

    The DDL is the String's (no database enum type, no migration); a value written by hand that the
    enum does not know is read back as the plain string rather than failing the whole query.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else str(self.enum(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        if value is None:
            return None
        try:
            return self.enum(value)
        except ValueError:
            return value  # type: ignore[return-value]


# Bodies and snapshots outgrow MySQL's 64 KiB TEXT; LONGTEXT holds 4 GiB.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


# Names and tags compare exactly (MariaDB's default collation would fold case and accents).
def ExactString(length: int) -> TypeEngine[str]:
    return String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


# Plain JSON (not JSONB) on PostgreSQL keeps the key order users wrote headers and bodies in.
JSONValue = JSON()
# SQLite only auto-increments INTEGER PRIMARY KEY; BIGINT elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    @classmethod
    def __table_cls__(cls, name: str, metadata: MetaData, *args: Any, **kwargs: Any) -> Table:
        """Every table gets SQLite's AUTOINCREMENT: without it SQLite hands out the id of a deleted last row
        again, so a new project took over a deleted one's id (and what still pointed at it). MySQL/MariaDB
        and PostgreSQL never reuse an id; the option only changes SQLite's DDL."""
        kwargs.setdefault("sqlite_autoincrement", True)
        return Table(name, metadata, *args, **kwargs)


@event.listens_for(Table, "before_create")
def _keep_sqlite_autoincrement(table: Table, connection: Connection, **_: Any) -> None:
    """A table a migration creates or rebuilds on SQLite gets AUTOINCREMENT too, unless it says otherwise.

    Alembic's batch mode rebuilds a SQLite table from its reflection, which does not see AUTOINCREMENT: without
    this, any later migration that rebuilds a table (adding a NOT NULL column, dropping one) would quietly bring
    id reuse back. A migration that passes `sqlite_autoincrement` itself is left alone.
    """
    explicit = set(table.kwargs)  # iterating gives what was passed; `in` would also see the defaults
    if connection.dialect.name == "sqlite" and "sqlite_autoincrement" not in explicit:
        table.dialect_options["sqlite"]["autoincrement"] = True


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class VersionedMixin:
    """Optimistic locking: a PATCH carries the version it read; the UPDATE also checks it (races)."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


__all__ = ["BigId", "ExactString", "JSONValue", "LongText", "UTCDateTime", "func", "utcnow"]
