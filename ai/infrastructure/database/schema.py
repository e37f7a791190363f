"""Catalog tables: the single source of truth for runs, their progress, their outputs and who did what.

Record contents live in Parquet/JSONL shards; these tables only index them. The tables are SQLAlchemy
Core (not ORM) because the catalog is written in bulk (100k+ index rows per run) and Core inserts are
several times cheaper than ORM unit-of-work flushes.

The Alembic migrations in ``migrations/versions`` create exactly this schema; a test compares the
two, so a change here needs a new migration.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Stable constraint names so migrations on SQLite (batch mode) and PostgreSQL agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

RUN_STATUSES = ("running", "succeeded", "failed", "interrupted")
SHARD_STATUSES = ("pending", "running", "done", "failed", "skipped")
AUDIT_ACTIONS = (
    "run_start",
    "run_resume",
    "run_finish",
    "records_indexed",
    "gate_results_added",
    "quarantine_added",
    "export",
    "upload",
    "download",
    "delete",
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(128), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("config_hash", String(128), nullable=False),
    Column("output_dir", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("config_summary", JSON, nullable=False),
    Column("counts", JSON, nullable=False),
)

stage_shards = Table(
    "stage_shards",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(128), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("stage", String(128), nullable=False),
    Column("shard", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("n_in", BigInteger, nullable=False),
    Column("n_kept", BigInteger, nullable=False),
    Column("n_rejected", BigInteger, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("run_id", "stage", "shard", name="uq_stage_shards_run_stage_shard"),
)

records = Table(
    "records",
    metadata,
    Column("run_id", String(128), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("record_id", String(128), primary_key=True),
    Column("split", String(32), nullable=False),
    Column("category", String(64), nullable=False),
    Column("source", String(256), nullable=False),
    Column("content_hash", String(128), nullable=False),
    Column("gate_outcome", String(64), nullable=False),
    Index("ix_records_run_split", "run_id", "split"),
    Index("ix_records_content_hash", "content_hash"),
)

gate_results = Table(
    "gate_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(128), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("record_id", String(128), nullable=False),
    Column("gate", String(128), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("score", Float, nullable=True),
    Column("reason", String(128), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_gate_results_run_gate", "run_id", "gate"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(128), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("stage", String(128), nullable=False),
    Column("reason", String(128), nullable=False),
    Column("message", Text, nullable=False),
    Column("record_id", String(128), nullable=False),
    Column("locator", Text, nullable=False),
    # An excerpt only: the full rejected record is in the run's quarantine shard.
    Column("raw_excerpt", Text, nullable=False),
    Index("ix_quarantine_run_stage_reason", "run_id", "stage", "reason"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(128), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("uri", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("run_id", "uri", name="uq_artifacts_run_uri"),
)

# No foreign key to runs: the audit trail must outlive whatever it describes.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("run_id", String(128), nullable=True),
    Column("details", JSON, nullable=False),
    Index("ix_audit_log_run", "run_id"),
)
