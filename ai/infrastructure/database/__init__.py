"""The run catalog (SQLAlchemy + Alembic): SQLite by default, PostgreSQL via ``DATABASE_URL``."""

from ai.infrastructure.database.persistence import (
    AuditEntry,
    Catalog,
    CatalogError,
    RunInfo,
    StageShardInfo,
    default_actor,
    default_database_url,
    display_url,
    record_index_row,
)

__all__ = [
    "AuditEntry",
    "Catalog",
    "CatalogError",
    "RunInfo",
    "StageShardInfo",
    "default_actor",
    "default_database_url",
    "display_url",
    "record_index_row",
]
