"""The run catalog on its default backend (a SQLite file): API, audit trail, migrations, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from ai.core.records import Provenance, Turn, make_conversation
from ai.core.stage import Rejection
from ai.infrastructure.database import (
    Catalog,
    CatalogError,
    default_database_url,
    display_url,
    record_index_row,
)
from ai.infrastructure.database.persistence import RAW_EXCERPT_CHARS, migrate_to_head
from ai.infrastructure.database.schema import metadata

SHA = "a" * 64


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    with Catalog.open(f"sqlite:///{tmp_path / 'catalog.sqlite'}", actor="tester") as opened:
        yield opened


def _conversation(text: str, split: str = "train"):
    source = Provenance(kind="dataset", name="counsel-chat")
    turns = [Turn("client", text), Turn("therapist", "That sounds hard. What happened?")]
    return make_conversation(turns, source, split=split, category="therapeutic")


def test_default_catalog_is_a_wal_sqlite_file_in_the_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATASET_PIPELINE_HOME", str(tmp_path / "home"))
    with Catalog.open() as catalog:
        assert catalog.dialect == "sqlite"
        assert catalog.schema_revision() == "0001_initial"
    path = tmp_path / "home" / "catalog.sqlite"
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_database_url_env_wins_and_bare_postgres_urls_use_psycopg(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://app:pw@db.internal:5432/catalog")
    assert default_database_url() == "postgresql+psycopg://app:pw@db.internal:5432/catalog"
    monkeypatch.setenv("DATABASE_URL", "sqlite:////var/lib/catalog.sqlite")
    assert default_database_url() == "sqlite:////var/lib/catalog.sqlite"


def test_displayed_urls_and_connection_errors_never_show_the_password():
    url = "postgresql+psycopg://app:hunter2secret@127.0.0.1:1/catalog"
    assert "hunter2secret" not in display_url(url)
    assert "***" in display_url(url)
    with pytest.raises(CatalogError) as failure:
        Catalog.open(url)
    assert "hunter2secret" not in str(failure.value)
    assert "127.0.0.1" in str(failure.value)


def test_an_unwritable_catalog_location_says_what_to_set(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(CatalogError, match="set DATASET_PIPELINE_HOME or DATABASE_URL"):
        Catalog.open(f"sqlite:///{blocker / 'sub' / 'catalog.sqlite'}")


def test_migrations_render_as_sql_for_review_without_a_database(capsys):
    from alembic import command
    from alembic.config import Config

    from ai.infrastructure.database import persistence

    config = Config()
    config.set_main_option("script_location", str(persistence._MIGRATIONS))
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg://reviewer@db/catalog")
    command.upgrade(config, "head", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TABLE runs" in sql and "CREATE TABLE audit_log" in sql
    assert "CREATE TRIGGER audit_log_no_change" in sql


def test_unsupported_and_malformed_urls_are_clear_errors():
    with pytest.raises(CatalogError, match="supports sqlite"):
        Catalog.open("mysql://root@localhost/db")
    with pytest.raises(CatalogError, match="not a valid SQLAlchemy URL"):
        Catalog.open("not a url at all")
    with pytest.raises(CatalogError, match="not a valid SQLAlchemy URL") as failure:
        Catalog.open("postgresql://app:s3cr3tpw@db:notaport/catalog")
    assert failure.value.__cause__ is None and failure.value.__context__ is not None
    assert "s3cr3tpw" not in str(failure.value)
    with pytest.raises(CatalogError, match=r"cannot use postgresql\+nodriver://app:\*\*\*@db/c"):
        Catalog.open("postgresql+nodriver://app:s3cr3tpw@db/c")


def test_run_lifecycle_is_recorded_and_audited(catalog):
    catalog.start_run("run-1", "demo", "cfg1", "/out/run-1", {"sources": 3})
    catalog.start_run("run-2", "demo", "cfg2", "/out/run-2")
    catalog.finish_run("run-1", "succeeded", {"exported": 90, "rejected": 10})
    catalog.start_run("run-2", "demo", "cfg2", "/out/run-2")

    runs = {run.run_id: run for run in catalog.list_runs()}
    assert runs["run-1"].status == "succeeded"
    assert runs["run-1"].counts == {"exported": 90, "rejected": 10}
    assert runs["run-1"].config_summary == {"sources": 3}
    assert runs["run-1"].seconds is not None and runs["run-1"].seconds >= 0
    assert runs["run-2"].status == "running" and runs["run-2"].seconds is None
    assert catalog.list_runs(limit=1)[0].run_id == "run-2"
    assert catalog.get_run("missing") is None

    actions = [(entry.action, entry.run_id, entry.actor) for entry in catalog.audit_log()]
    assert actions == [
        ("run_start", "run-1", "tester"),
        ("run_start", "run-2", "tester"),
        ("run_finish", "run-1", "tester"),
        ("run_resume", "run-2", "tester"),
    ]
    assert [entry.action for entry in catalog.audit_log(run_id="run-1")] == ["run_start", "run_finish"]


def test_actor_defaults_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DATASET_PIPELINE_ACTOR", "ci-bot")
    with Catalog.open(f"sqlite:///{tmp_path / 'c.sqlite'}") as catalog:
        catalog.audit("export", run_id="r", details={"path": Path("/out/x")})
        catalog.audit("upload", actor="alice", run_id="r")
        entries = catalog.audit_log()
    assert [(e.actor, e.action) for e in entries] == [("ci-bot", "export"), ("alice", "upload")]
    assert entries[0].details == {"path": "/out/x"}
    assert entries[0].at.tzinfo is not None


def test_invalid_statuses_and_unknown_runs_are_refused(catalog):
    with pytest.raises(CatalogError, match="call start_run first"):
        catalog.add_records("nope", [])
    catalog.start_run("r", "demo", "cfg", "/out")
    with pytest.raises(CatalogError, match="finish_run status"):
        catalog.finish_run("r", "running")
    with pytest.raises(CatalogError, match="shard status"):
        catalog.record_stage_shard("r", "dedup", 0, "exploded")
    with pytest.raises(CatalogError, match="must not be empty"):
        catalog.audit("")


def test_stage_shard_status_keeps_the_latest_report(catalog):
    catalog.start_run("r", "demo", "cfg", "/out")
    catalog.record_stage_shard("r", "ingest", 0, "running")
    catalog.record_stage_shard("r", "ingest", 0, "done", n_in=10, n_kept=8, n_rejected=2, seconds=1.5)
    catalog.record_stage_shard("r", "ingest", 1, "done", n_in=5, n_kept=5)
    status = catalog.stage_status("r")
    assert [(s.stage, s.shard, s.status, s.n_in, s.n_kept, s.n_rejected) for s in status] == [
        ("ingest", 0, "done", 10, 8, 2),
        ("ingest", 1, "done", 5, 5, 0),
    ]
    assert status[0].seconds == 1.5


def test_record_index_accepts_conversations_and_rows_and_updates_on_readd(catalog):
    catalog.start_run("r", "demo", "cfg", "/out")
    first, second = _conversation("I feel alone"), _conversation("I can't sleep", split="test")
    assert catalog.add_records("r", [first, second]) == 2
    row = {**record_index_row(first), "split": "validation", "gate_outcome": "passed"}
    catalog.add_records("r", [row])
    assert catalog.record_counts("r") == {"validation": 1, "test": 1}
    indexed = {r["record_id"]: r for r in catalog.records("r")}
    assert indexed[first.id]["source"] == "counsel-chat"
    assert indexed[first.id]["content_hash"] == first.id
    assert [r["record_id"] for r in catalog.records("r", split="test")] == [second.id]
    assert [e.details for e in catalog.audit_log("r") if e.action == "records_indexed"] == [
        {"rows": 2},
        {"rows": 1},
    ]


def test_a_record_repeated_within_one_batch_keeps_its_last_row(catalog):
    catalog.start_run("r", "demo", "cfg", "/out")
    rows = [
        {"record_id": "same", "split": "train", "content_hash": "h1"},
        {"record_id": "same", "split": "test", "content_hash": "h2"},
    ]
    assert catalog.add_records("r", rows) == 2
    assert [(r["split"], r["content_hash"]) for r in catalog.records("r")] == [("test", "h2")]


def test_a_bad_row_rolls_back_the_whole_batch(catalog):
    catalog.start_run("r", "demo", "cfg", "/out")
    rows = [{"record_id": f"c{i}", "content_hash": f"h{i}"} for i in range(6000)]
    rows.append({"record_id": "broken"})
    with pytest.raises(CatalogError, match="record row 6000 has no 'content_hash'"):
        catalog.add_records("r", rows)
    assert catalog.record_counts("r") == {}
    assert [e.action for e in catalog.audit_log("r")] == ["run_start"]


def test_quarantine_takes_rejections_and_keeps_an_excerpt(catalog):
    catalog.start_run("r", "demo", "cfg", "/out")
    conversation = _conversation("hello")
    rejections = [
        Rejection(
            stage="ingest",
            reason="malformed_json",
            message="line 3 is not JSON",
            raw="{" * 5000,
            locator="data.jsonl:3",
        ),
        Rejection(stage="dedup", reason="exact_duplicate", message="same as c_1", record=conversation),
        {"stage": "dedup", "reason": "exact_duplicate", "message": "same as c_2", "record_id": "c_9"},
    ]
    assert catalog.add_quarantine("r", rejections) == 3
    stored = catalog.quarantine("r")
    assert len(stored[0]["raw_excerpt"]) == RAW_EXCERPT_CHARS
    assert stored[0]["locator"] == "data.jsonl:3"
    assert stored[1]["record_id"] == conversation.id and "hello" in stored[1]["raw_excerpt"]
    assert catalog.quarantine_counts("r") == {
        ("ingest", "malformed_json"): 1,
        ("dedup", "exact_duplicate"): 2,
    }
    with pytest.raises(CatalogError, match="quarantine row 0 has no 'reason'"):
        catalog.add_quarantine("r", [{"stage": "x"}])


def test_gate_results_and_artifacts(catalog):
    catalog.start_run("r", "demo", "cfg", "/out")
    catalog.add_gate_results(
        "r",
        [
            {"record_id": "c1", "gate": "ears", "passed": True, "score": 0.9},
            {"record_id": "c2", "gate": "ears", "passed": False, "reason": "no_empathy", "details": {"e": 0}},
            {"record_id": "c2", "gate": "quality", "passed": True},
        ],
    )
    ears = catalog.gate_results("r", gate="ears")
    assert [(g["record_id"], g["passed"], g["score"], g["reason"]) for g in ears] == [
        ("c1", True, 0.9, ""),
        ("c2", False, None, "no_empathy"),
    ]
    assert len(catalog.gate_results("r")) == 3

    catalog.add_artifacts("r", [{"path": "/out/train.jsonl", "sha256": SHA, "size": 10}])
    catalog.add_artifacts(
        "r",
        [{"uri": "/out/train.jsonl", "sha256": "B" * 64, "size": 12, "kind": "split"}],
        action="upload",
        details={"bucket": "b"},
    )
    assert [(a["uri"], a["sha256"], a["size_bytes"], a["kind"]) for a in catalog.artifacts("r")] == [
        ("/out/train.jsonl", "b" * 64, 12, "split")
    ]
    assert catalog.audit_log("r")[-1].action == "upload"
    assert catalog.audit_log("r")[-1].details == {"rows": 1, "bucket": "b"}
    for bad in (
        {"sha256": SHA, "size": 1},
        {"path": "x", "sha256": "zz", "size": 1},
        {"path": "x", "sha256": SHA},
    ):
        with pytest.raises(CatalogError, match="artifact row 0"):
            catalog.add_artifacts("r", [bad])
    with pytest.raises(CatalogError, match="gate result row 0 has no 'passed'"):
        catalog.add_gate_results("r", [{"record_id": "c", "gate": "g"}])


def test_audit_log_is_append_only_even_for_raw_sql(tmp_path):
    path = tmp_path / "c.sqlite"
    with Catalog.open(f"sqlite:///{path}") as catalog:
        catalog.audit("export", run_id="r")
    with sqlite3.connect(path) as conn:
        for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT actor FROM audit_log").fetchall() != [("mallory",)]


def test_migrations_create_exactly_the_declared_schema_and_downgrade_cleanly(tmp_path):
    from alembic import command
    from alembic.config import Config

    from ai.infrastructure.database import persistence

    engine = create_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
    migrate_to_head(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []

    config = Config()
    config.set_main_option("script_location", str(persistence._MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'").fetchall() == [
            ("alembic_version",)
        ]
    migrate_to_head(engine)
    migrate_to_head(engine)  # already at head: a no-op
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0001_initial"
    engine.dispose()
