"""The run catalog: open it, record a run's progress and outputs, read it back.

``Catalog.open(url)`` connects (SQLite by default, PostgreSQL via ``DATABASE_URL``), applies the Alembic
migrations up to head, and returns an object with one method per thing the orchestrator records.
Every write is one short transaction; bulk index rows go in chunks through executemany.

Concurrency: on SQLite the file runs in WAL mode with a busy timeout and every write transaction starts
with ``BEGIN IMMEDIATE``, so two runs writing at once queue for the write lock instead of failing
halfway through a transaction. On PostgreSQL migrations take an advisory lock so two processes opening
a fresh database do not race.

Passwords in the URL never reach logs or errors: the catalog only ever shows ``display_url``.
"""

from __future__ import annotations

import getpass
import itertools
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ai.core.records import Conversation
from ai.core.stage import Rejection
from ai.infrastructure.database import schema

DEFAULT_HOME = ".dataset-pipeline"
CATALOG_FILE = "catalog.sqlite"
BULK_CHUNK = 5000
RAW_EXCERPT_CHARS = 2000
SQLITE_BUSY_TIMEOUT_MS = 60_000
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# Any constant works; it only has to be the same in every process that migrates this catalog.
_MIGRATION_LOCK_KEY = 0x64617461_70697065


class CatalogError(RuntimeError):
    """A catalog problem with a message that says what to do; never contains a password."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    name: str
    config_hash: str
    output_dir: str
    status: str
    actor: str
    started_at: datetime
    finished_at: datetime | None
    config_summary: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class StageShardInfo:
    stage: str
    shard: int
    status: str
    n_in: int
    n_kept: int
    n_rejected: int
    seconds: float
    updated_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    run_id: str | None
    details: dict[str, Any]


def default_database_url() -> str:
    """``DATABASE_URL`` if set, else the SQLite file ``$DATASET_PIPELINE_HOME/catalog.sqlite``."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return normalise_url(url)
    home = Path(os.environ.get("DATASET_PIPELINE_HOME", "") or DEFAULT_HOME)
    return f"sqlite:///{(home / CATALOG_FILE).resolve()}"


def normalise_url(url: str) -> str:
    """Map the bare ``postgres://``/``postgresql://`` forms hosting providers hand out to psycopg 3."""
    for bare in ("postgres://", "postgresql://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare) :]
    return url


def display_url(url: str | URL) -> str:
    """The URL as it may be shown to people: password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def default_actor() -> str:
    """Who is acting: ``DATASET_PIPELINE_ACTOR`` if set, else the login name."""
    actor = os.environ.get("DATASET_PIPELINE_ACTOR", "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def record_index_row(conversation: Conversation, gate_outcome: str = "passed") -> dict[str, str]:
    """The record-index row for a conversation (its id is already a hash of its content)."""
    return {
        "record_id": conversation.id,
        "split": conversation.split,
        "category": conversation.category,
        "source": conversation.source.name,
        "content_hash": conversation.id,
        "gate_outcome": gate_outcome,
    }


class Catalog:
    """Runs, stage/shard status, record index, gate results, quarantine, artifacts and the audit log."""

    def __init__(self, engine: Engine, *, actor: str | None = None, secret: str | None = None) -> None:
        self._store = CatalogStore(engine, actor or default_actor(), secret)
        self.actor = self._store.actor
        self.display_url = self._store.display_url

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, url: str | None = None, *, schema_name: str | None = None, actor: str | None = None
    ) -> Catalog:
        """Connect to ``url`` (default: ``default_database_url()``) and migrate it to the latest schema.

        ``schema_name`` (PostgreSQL only; default ``DATABASE_SCHEMA`` env) keeps every table in that
        schema, creating it if needed.
        """
        raw_url = normalise_url(url) if url else default_database_url()
        try:
            parsed = make_url(raw_url)
        except (ArgumentError, ValueError):
            raise CatalogError(
                "DATABASE_URL is not a valid SQLAlchemy URL (expected e.g. "
                "postgresql+psycopg://user@host:5432/db or sqlite:///path/catalog.sqlite)"
            ) from None  # the parse error quotes the whole URL, password included
        schema_name = schema_name or os.environ.get("DATABASE_SCHEMA") or None
        try:
            engine = _create_engine(parsed)
        except ArgumentError as exc:
            raise CatalogError(f"cannot use {display_url(parsed)}: {exc}") from None
        catalog = cls(engine, actor=actor, secret=parsed.password)
        try:
            if schema_name and engine.dialect.name == "postgresql":
                _use_postgres_schema(engine, schema_name)
            migrate_to_head(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise catalog._store.error(f"cannot open the catalog at {catalog.display_url}", exc) from None
        return catalog

    def close(self) -> None:
        self._store.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        return self._store.engine.dialect.name

    def schema_revision(self) -> str | None:
        with self._store.reading() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    # -- runs ----------------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        name: str,
        config_hash: str,
        output_dir: str | Path,
        config_summary: Mapping[str, Any] | None = None,
    ) -> None:
        """Register a run as running. Starting a run id that exists again marks it resumed."""
        now = _now()
        values = {
            "name": name,
            "config_hash": config_hash,
            "output_dir": str(output_dir),
            "status": "running",
            "actor": self.actor,
            "started_at": now,
            "finished_at": None,
            "config_summary": dict(config_summary or {}),
            "counts": {},
        }
        with self._store.writing("start_run") as conn:
            exists = conn.execute(select(schema.runs.c.run_id).where(schema.runs.c.run_id == run_id)).first()
            if exists:
                update_values = {k: v for k, v in values.items() if k not in ("started_at", "counts")}
                conn.execute(schema.runs.update().where(schema.runs.c.run_id == run_id).values(update_values))
            else:
                conn.execute(schema.runs.insert().values(run_id=run_id, **values))
            action = "run_resume" if exists else "run_start"
            self._store.append_audit(conn, action, run_id, {"name": name, "config_hash": config_hash}, now)

    def finish_run(self, run_id: str, status: str, counts: Mapping[str, Any] | None = None) -> None:
        """Close a run with its final status (``succeeded``, ``failed``, ``interrupted``) and counts."""
        if status not in schema.RUN_STATUSES or status == "running":
            raise CatalogError(
                f"finish_run status must be one of succeeded, failed, interrupted; got {status!r}"
            )
        now = _now()
        with self._store.writing("finish_run") as conn:
            self._store.require_run(conn, run_id)
            conn.execute(
                schema.runs.update()
                .where(schema.runs.c.run_id == run_id)
                .values(status=status, finished_at=now, counts=dict(counts or {}))
            )
            self._store.append_audit(
                conn, "run_finish", run_id, {"status": status, "counts": dict(counts or {})}, now
            )

    def get_run(self, run_id: str) -> RunInfo | None:
        with self._store.reading() as conn:
            row = conn.execute(select(schema.runs).where(schema.runs.c.run_id == run_id)).mappings().first()
        return _run_info(row) if row else None

    def list_runs(self, limit: int | None = None) -> list[RunInfo]:
        """Runs, newest first."""
        query = select(schema.runs).order_by(schema.runs.c.started_at.desc(), schema.runs.c.run_id)
        if limit is not None:
            query = query.limit(limit)
        with self._store.reading() as conn:
            return [_run_info(row) for row in conn.execute(query).mappings()]

    # -- stage / shard progress ----------------------------------------------------------------

    def record_stage_shard(
        self,
        run_id: str,
        stage: str,
        shard: int,
        status: str,
        n_in: int = 0,
        n_kept: int = 0,
        n_rejected: int = 0,
        seconds: float = 0.0,
    ) -> None:
        """Set the status of one (stage, shard); the latest call for a pair wins.

        Not audited: it is progress bookkeeping, called per shard, and carries no decision.
        """
        if status not in schema.SHARD_STATUSES:
            raise CatalogError(
                f"shard status must be one of {', '.join(schema.SHARD_STATUSES)}; got {status!r}"
            )
        values = {
            "run_id": run_id,
            "stage": stage,
            "shard": int(shard),
            "status": status,
            "n_in": int(n_in),
            "n_kept": int(n_kept),
            "n_rejected": int(n_rejected),
            "seconds": float(seconds),
            "updated_at": _now(),
        }
        with self._store.writing("record_stage_shard") as conn:
            self._store.require_run(conn, run_id)
            conn.execute(
                self._store.upsert(schema.stage_shards, ["run_id", "stage", "shard"], list(values)), [values]
            )

    def stage_status(self, run_id: str) -> list[StageShardInfo]:
        table = schema.stage_shards
        query = select(table).where(table.c.run_id == run_id).order_by(table.c.stage, table.c.shard)
        with self._store.reading() as conn:
            return [
                StageShardInfo(
                    stage=r["stage"],
                    shard=r["shard"],
                    status=r["status"],
                    n_in=r["n_in"],
                    n_kept=r["n_kept"],
                    n_rejected=r["n_rejected"],
                    seconds=r["seconds"],
                    updated_at=_as_utc(r["updated_at"]),
                )
                for r in conn.execute(query).mappings()
            ]

    # -- bulk index rows -----------------------------------------------------------------------

    def add_records(self, run_id: str, rows: Iterable[Mapping[str, Any] | Conversation]) -> int:
        """Index records of a run (mappings with record_id, split, category, source, content_hash,
        gate_outcome; or Conversations). Re-adding a record id updates its row. Returns the count."""
        columns = ["run_id", "record_id", "split", "category", "source", "content_hash", "gate_outcome"]
        statement = self._store.upsert(schema.records, ["run_id", "record_id"], columns)
        converted = (_record_values(run_id, row, index) for index, row in enumerate(rows))
        return self._store.bulk(
            "add_records",
            run_id,
            statement,
            converted,
            "records_indexed",
            plain_table=schema.records,
            conflict_keys=("run_id", "record_id"),
        )

    def add_gate_results(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Gate verdicts: mappings with record_id, gate, passed, and optionally score, reason, details."""
        converted = (_gate_values(run_id, row, index) for index, row in enumerate(rows))
        return self._store.bulk(
            "add_gate_results", run_id, schema.gate_results.insert(), converted, "gate_results_added"
        )

    def add_quarantine(self, run_id: str, rows: Iterable[Rejection | Mapping[str, Any]]) -> int:
        """Rejected records (``Rejection`` objects or mappings with stage, reason, message, ...)."""
        converted = (_quarantine_values(run_id, row, index) for index, row in enumerate(rows))
        statement = schema.quarantine.insert()
        return self._store.bulk(
            "add_quarantine", run_id, statement, converted, "quarantine_added", plain_table=schema.quarantine
        )

    def add_artifacts(
        self,
        run_id: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        action: str = "export",
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Files a run produced: mappings with ``path`` or ``uri``, ``sha256``, ``size`` and optional
        ``kind``. Re-adding a URI updates it. One audit entry (``action``) covers the batch."""
        now = _now()
        columns = ["run_id", "kind", "uri", "sha256", "size_bytes", "created_at"]
        statement = self._store.upsert(schema.artifacts, ["run_id", "uri"], columns)
        converted = (_artifact_values(run_id, row, index, now) for index, row in enumerate(rows))
        return self._store.bulk("add_artifacts", run_id, statement, converted, action, details)

    def record_counts(self, run_id: str) -> dict[str, int]:
        """Indexed records of a run per split."""
        table = schema.records
        query = select(table.c.split, func.count()).where(table.c.run_id == run_id).group_by(table.c.split)
        with self._store.reading() as conn:
            return {split: count for split, count in conn.execute(query)}

    def records(self, run_id: str, split: str | None = None) -> list[dict[str, Any]]:
        table = schema.records
        query = select(table).where(table.c.run_id == run_id).order_by(table.c.record_id)
        if split is not None:
            query = query.where(table.c.split == split)
        with self._store.reading() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def gate_results(self, run_id: str, gate: str | None = None) -> list[dict[str, Any]]:
        table = schema.gate_results
        query = select(table).where(table.c.run_id == run_id).order_by(table.c.id)
        if gate is not None:
            query = query.where(table.c.gate == gate)
        with self._store.reading() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def quarantine(self, run_id: str) -> list[dict[str, Any]]:
        table = schema.quarantine
        query = select(table).where(table.c.run_id == run_id).order_by(table.c.id)
        with self._store.reading() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def quarantine_counts(self, run_id: str) -> dict[tuple[str, str], int]:
        """Rejections of a run per (stage, reason)."""
        table = schema.quarantine
        query = (
            select(table.c.stage, table.c.reason, func.count())
            .where(table.c.run_id == run_id)
            .group_by(table.c.stage, table.c.reason)
        )
        with self._store.reading() as conn:
            return {(stage, reason): count for stage, reason, count in conn.execute(query)}

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        table = schema.artifacts
        query = select(table).where(table.c.run_id == run_id).order_by(table.c.uri)
        with self._store.reading() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    # -- audit ---------------------------------------------------------------------------------

    def audit(
        self,
        action: str,
        actor: str | None = None,
        run_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one entry to the audit log (e.g. ``upload``, ``download``, ``delete``, ``export``)."""
        if not action:
            raise CatalogError("audit action must not be empty")
        with self._store.writing("audit") as conn:
            self._store.append_audit(conn, action, run_id, dict(details or {}), _now(), actor)

    def audit_log(self, run_id: str | None = None) -> list[AuditEntry]:
        """Audit entries in the order they were written, optionally for one run."""
        table = schema.audit_log
        query = select(table).order_by(table.c.id)
        if run_id is not None:
            query = query.where(table.c.run_id == run_id)
        with self._store.reading() as conn:
            return [
                AuditEntry(
                    id=r["id"],
                    at=_as_utc(r["at"]),
                    actor=r["actor"],
                    action=r["action"],
                    run_id=r["run_id"],
                    details=r["details"],
                )
                for r in conn.execute(query).mappings()
            ]


class CatalogStore:
    """The catalog's engine and its transactions: one short write or read transaction per call, bulk
    inserts, upserts, appends to the audit log and errors that never show a password."""

    def __init__(self, engine: Engine, actor: str, secret: str | None) -> None:
        self.engine = engine
        self.actor = actor
        self.display_url = display_url(engine.url)
        self.secret = secret

    def bulk(
        self,
        operation: str,
        run_id: str,
        statement: Any,
        rows: Iterator[dict[str, Any]],
        action: str,
        details: Mapping[str, Any] | None = None,
        plain_table: Table | None = None,
        conflict_keys: tuple[str, ...] = (),
    ) -> int:
        """Insert rows inside one transaction, then audit the batch in the same transaction.

        ``plain_table`` (a table whose inserted columns are all plain strings and integers) lets the
        rows skip SQLAlchemy's per-row parameter processing, more than half the cost of a 100k-row
        batch: PostgreSQL gets them through COPY, SQLite through the driver's executemany.
        """
        with self.writing(operation) as conn:
            self.require_run(conn, run_id)
            if plain_table is not None and self.engine.dialect.name == "postgresql":
                total = _copy_rows(conn, plain_table, rows, conflict_keys)
            else:
                total = 0
                for chunk in _chunks(rows, BULK_CHUNK):
                    if plain_table is not None:
                        sql, params = self.driver_statement(statement, chunk)
                        conn.exec_driver_sql(sql, params)
                    else:
                        conn.execute(statement, chunk)
                    total += len(chunk)
            self.append_audit(conn, action, run_id, {"rows": total, **dict(details or {})}, _now())
        return total

    def driver_statement(self, statement: Any, chunk: list[dict[str, Any]]) -> tuple[str, Any]:
        compiled = statement.compile(dialect=self.engine.dialect, column_keys=list(chunk[0]))
        if compiled.positional:
            order = compiled.positiontup
            return str(compiled), [tuple(row[name] for name in order) for row in chunk]
        return str(compiled), chunk

    def upsert(self, table: Any, keys: list[str], columns: list[str]) -> Any:
        """INSERT ... ON CONFLICT (keys) DO UPDATE for the dialects we support."""
        dialect_insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(
            self.engine.dialect.name
        )
        if dialect_insert is None:
            raise CatalogError(f"the catalog supports SQLite and PostgreSQL, not {self.engine.dialect.name}")
        statement = dialect_insert(table)
        updates = {name: statement.excluded[name] for name in columns if name not in keys}
        return statement.on_conflict_do_update(index_elements=keys, set_=updates)

    def append_audit(
        self,
        conn: Connection,
        action: str,
        run_id: str | None,
        details: dict[str, Any],
        at: datetime,
        actor: str | None = None,
    ) -> None:
        conn.execute(
            schema.audit_log.insert().values(
                at=at, actor=actor or self.actor, action=action, run_id=run_id, details=_jsonable(details)
            )
        )

    def require_run(self, conn: Connection, run_id: str) -> None:
        found = conn.execute(select(schema.runs.c.run_id).where(schema.runs.c.run_id == run_id)).first()
        if not found:
            raise CatalogError(
                f"run {run_id!r} is not in the catalog at {self.display_url}; call start_run first"
            )

    @contextmanager
    def writing(self, operation: str) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self.error(f"catalog {operation} failed at {self.display_url}", exc) from None

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(catalog_read_only=True)
                yield conn
        except SQLAlchemyError as exc:
            raise self.error(f"catalog read failed at {self.display_url}", exc) from None

    def error(self, context: str, exc: SQLAlchemyError) -> CatalogError:
        """A CatalogError with the driver's reason but none of SQLAlchemy's parameter dumps or the password."""
        orig = getattr(exc, "orig", None)
        text = str(orig if orig is not None else exc).strip()
        reason = text.splitlines()[0] if text else ""
        if self.secret:
            reason = reason.replace(self.secret, "***")
        return CatalogError(f"{context}: {reason}" if reason else context)


def migrate_to_head(engine: Engine) -> None:
    """Apply every pending migration in one transaction, serialised across processes."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _create_engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise CatalogError(f"the catalog supports sqlite:// and postgresql:// URLs, not {backend}://")


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        directory = Path(url.database).expanduser().parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogError(
                f"cannot create the catalog directory {directory} ({exc.strerror or exc}); "
                "set DATASET_PIPELINE_HOME or DATABASE_URL to a writable place"
            ) from None
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so "begin" below decides the mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        # In WAL mode NORMAL never corrupts the file; only the last commits before a power cut (not
        # a process crash) can be lost, and it spares an fsync per shard-status update.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A deferred transaction that later writes can fail with "database is locked" without waiting;
        # taking the write lock up front makes concurrent writers queue on the busy timeout instead.
        read_only = conn.get_execution_options().get("catalog_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch to WAL, waiting out another process that is creating the same new catalog.

    The switch needs an exclusive lock and SQLite reports "database is locked" at once instead of
    using the busy timeout, so two runs opening a fresh catalog together would otherwise fail.
    Once a file is in WAL mode the pragma is a no-op and never waits.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _use_postgres_schema(engine: Engine, schema_name: str) -> None:
    """Create ``schema_name`` if needed and make every connection of ``engine`` work inside it."""
    if not _SCHEMA_NAME.match(schema_name):
        raise CatalogError(f"schema name {schema_name!r} must be letters, digits and underscores (max 63)")
    with engine.begin() as conn:
        # CREATE SCHEMA IF NOT EXISTS is not safe against a concurrent twin; the lock serialises them.
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"')

    @event.listens_for(engine, "connect", insert=True)
    def _set_search_path(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET SESSION search_path TO "{schema_name}"')
        cursor.close()
        dbapi_connection.autocommit = autocommit

    engine.dispose()  # drop the connection opened before the search_path hook existed


def _copy_rows(
    conn: Connection, table: Table, rows: Iterator[dict[str, Any]], conflict_keys: tuple[str, ...]
) -> int:
    """COPY rows into ``table`` (PostgreSQL). With ``conflict_keys`` they go through a temporary table
    and are upserted from there, the last row for a key winning as it would with executemany."""
    first = next(rows, None)
    if first is None:
        return 0
    columns = list(first)
    column_list = ", ".join(f'"{name}"' for name in columns)
    target = f"load_{table.name}" if conflict_keys else table.name
    cursor = conn.connection.driver_connection.cursor()
    if conflict_keys:
        cursor.execute(
            f'CREATE TEMP TABLE "{target}" ON COMMIT DROP AS '  # nosec B608  # identifiers come from our schema, values go through COPY
            f'SELECT {column_list}, 0::bigint AS load_order FROM "{table.name}" WITH NO DATA'
        )
    copy_columns = column_list + (", load_order" if conflict_keys else "")
    count = 0
    with cursor.copy(f'COPY "{target}" ({copy_columns}) FROM STDIN') as copy:
        for row in itertools.chain([first], rows):
            values = [row[name] for name in columns]
            if conflict_keys:
                values.append(count)
            copy.write_row(values)
            count += 1
    if conflict_keys:
        keys = ", ".join(f'"{name}"' for name in conflict_keys)
        updates = ", ".join(f'"{name}" = EXCLUDED."{name}"' for name in columns if name not in conflict_keys)
        cursor.execute(
            f'INSERT INTO "{table.name}" ({column_list}) '  # nosec B608  # identifiers come from our schema, no values
            f'SELECT DISTINCT ON ({keys}) {column_list} FROM "{target}" ORDER BY {keys}, load_order DESC '
            f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
        )
    cursor.close()
    return count


def _record_values(run_id: str, row: Mapping[str, Any] | Conversation, index: int) -> dict[str, Any]:
    if isinstance(row, Conversation):
        row = record_index_row(row)
    try:
        return {
            "run_id": run_id,
            "record_id": str(row.get("record_id") or row["id"]),
            "split": str(row.get("split", "")),
            "category": str(row.get("category", "")),
            "source": str(row.get("source", "")),
            "content_hash": str(row["content_hash"]),
            "gate_outcome": str(row.get("gate_outcome", "")),
        }
    except KeyError as exc:
        raise CatalogError(f"record row {index} has no {exc.args[0]!r} field") from None


def _gate_values(run_id: str, row: Mapping[str, Any], index: int) -> dict[str, Any]:
    try:
        score = row.get("score")
        return {
            "run_id": run_id,
            "record_id": str(row["record_id"]),
            "gate": str(row["gate"]),
            "passed": bool(row["passed"]),
            "score": None if score is None else float(score),
            "reason": str(row.get("reason", "")),
            "details": _jsonable(row.get("details") or {}),
        }
    except KeyError as exc:
        raise CatalogError(f"gate result row {index} has no {exc.args[0]!r} field") from None


def _quarantine_values(run_id: str, row: Rejection | Mapping[str, Any], index: int) -> dict[str, Any]:
    if isinstance(row, Rejection):
        raw = row.raw or (msgspec.json.encode(row.record).decode() if row.record is not None else "")
        record_id = row.record_id or (row.record.id if row.record is not None else "")
        fields: Mapping[str, Any] = {
            "stage": row.stage,
            "reason": row.reason,
            "message": row.message,
            "record_id": record_id,
            "locator": row.locator,
            "raw": raw,
        }
    else:
        fields = row
    try:
        return {
            "run_id": run_id,
            "stage": str(fields["stage"]),
            "reason": str(fields["reason"]),
            "message": str(fields.get("message", "")),
            "record_id": str(fields.get("record_id", "")),
            "locator": str(fields.get("locator", "")),
            "raw_excerpt": str(fields.get("raw", ""))[:RAW_EXCERPT_CHARS],
        }
    except KeyError as exc:
        raise CatalogError(f"quarantine row {index} has no {exc.args[0]!r} field") from None


def _artifact_values(run_id: str, row: Mapping[str, Any], index: int, now: datetime) -> dict[str, Any]:
    uri = row.get("uri") or row.get("path")
    if not uri:
        raise CatalogError(f"artifact row {index} needs a 'path' or 'uri'")
    try:
        sha256 = str(row["sha256"]).lower()
        size = int(row.get("size", row.get("size_bytes", -1)))
    except (KeyError, TypeError, ValueError):
        raise CatalogError(f"artifact row {index} ({uri}) needs 'sha256' and an integer 'size'") from None
    if not re.fullmatch(r"[0-9a-f]{64}", sha256) or size < 0:
        raise CatalogError(f"artifact row {index} ({uri}) needs a 64-hex-digit sha256 and a size >= 0")
    return {
        "run_id": run_id,
        "kind": str(row.get("kind", "file")),
        "uri": str(uri),
        "sha256": sha256,
        "size_bytes": size,
        "created_at": now,
    }


def _run_info(row: Mapping[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=row["run_id"],
        name=row["name"],
        config_hash=row["config_hash"],
        output_dir=row["output_dir"],
        status=row["status"],
        actor=row["actor"],
        started_at=_as_utc(row["started_at"]),
        finished_at=_as_utc(row["finished_at"]) if row["finished_at"] is not None else None,
        config_summary=row["config_summary"] or {},
        counts=row["counts"] or {},
    )


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _jsonable(value: Any) -> Any:
    """Details may hold Paths, datetimes or msgspec structs; store their JSON form."""
    return msgspec.json.decode(msgspec.json.encode(value, enc_hook=str))


def _now() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime) -> datetime:
    # SQLite hands timestamps back without an offset; every timestamp we write is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
