"""The catalog on the PostgreSQL server of this machine, in a schema of its own that is dropped after."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError

from ai.infrastructure.database import Catalog, CatalogError

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="session")
def catalog_schema(postgres_url: str):
    name = f"catalog_test_{uuid.uuid4().hex[:12]}"
    yield name
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    engine.dispose()


@pytest.fixture
def pg_catalog(postgres_url: str, catalog_schema: str):
    with Catalog.open(postgres_url, schema_name=catalog_schema, actor="pg-tester") as catalog:
        yield catalog


def _run_id() -> str:
    return f"run-{uuid.uuid4().hex[:8]}"


def test_tables_live_in_the_session_schema_only(pg_catalog, postgres_url, catalog_schema):
    assert pg_catalog.dialect == "postgresql"
    assert pg_catalog.schema_revision() == "0001_initial"
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        tables = {
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (catalog_schema,)
            )
        }
    engine.dispose()
    assert {
        "runs",
        "stage_shards",
        "records",
        "gate_results",
        "quarantine",
        "artifacts",
        "audit_log",
    } <= tables


def test_full_run_round_trip(pg_catalog):
    run_id = _run_id()
    pg_catalog.start_run(run_id, "pg", "cfg", "/out", {"executor": "local"})
    pg_catalog.record_stage_shard(run_id, "ingest", 0, "done", 100, 90, 10, 0.25)
    rows = [
        {"record_id": f"c{i}", "split": ("train", "test")[i % 2], "content_hash": f"h{i}"}
        for i in range(20_000)
    ]
    assert pg_catalog.add_records(run_id, rows) == 20_000
    pg_catalog.add_records(run_id, [{"record_id": "c0", "split": "validation", "content_hash": "h0"}])
    pg_catalog.add_quarantine(run_id, [{"stage": "ingest", "reason": "bad_utf8", "message": "byte 7"}])
    pg_catalog.add_gate_results(run_id, [{"record_id": "c1", "gate": "ears", "passed": False, "score": 0.2}])
    pg_catalog.add_artifacts(run_id, [{"path": "/out/train.jsonl", "sha256": "c" * 64, "size": 3}])
    pg_catalog.finish_run(run_id, "succeeded", {"exported": 20_000})

    assert pg_catalog.record_counts(run_id) == {"train": 9_999, "test": 10_000, "validation": 1}
    assert pg_catalog.quarantine_counts(run_id) == {("ingest", "bad_utf8"): 1}
    assert pg_catalog.gate_results(run_id)[0]["score"] == pytest.approx(0.2)
    assert pg_catalog.artifacts(run_id)[0]["size_bytes"] == 3
    run = pg_catalog.get_run(run_id)
    assert run.status == "succeeded" and run.counts == {"exported": 20_000} and run.started_at.tzinfo
    assert [e.action for e in pg_catalog.audit_log(run_id)] == [
        "run_start",
        "records_indexed",
        "records_indexed",
        "quarantine_added",
        "gate_results_added",
        "export",
        "run_finish",
    ]
    assert {e.actor for e in pg_catalog.audit_log(run_id)} == {"pg-tester"}


def test_bulk_loads_keep_the_last_row_for_a_repeated_record_and_every_rejection(pg_catalog):
    run_id = _run_id()
    pg_catalog.start_run(run_id, "pg", "cfg", "/out")
    rows = [
        {"record_id": "same", "split": "train", "content_hash": "h1"},
        {"record_id": "other", "split": "test", "content_hash": "h2"},
        {"record_id": "same", "split": "validation", "content_hash": "h3"},
    ]
    assert pg_catalog.add_records(run_id, rows) == 3
    indexed = {r["record_id"]: (r["split"], r["content_hash"]) for r in pg_catalog.records(run_id)}
    assert indexed == {"same": ("validation", "h3"), "other": ("test", "h2")}
    assert pg_catalog.add_records(run_id, []) == 0

    rejections = [{"stage": "dedup", "reason": "near_duplicate", "message": f"like {i}"} for i in range(3)]
    rejections.append(
        {"stage": "ingest", "reason": "bad\tutf8", "message": "tab\tand\nnewline", "raw": "\\N"}
    )
    assert pg_catalog.add_quarantine(run_id, rejections) == 4
    stored = pg_catalog.quarantine(run_id)
    assert [q["message"] for q in stored][-1] == "tab\tand\nnewline"
    assert stored[-1]["raw_excerpt"] == "\\N" and stored[-1]["reason"] == "bad\tutf8"


def test_audit_log_cannot_be_changed_on_postgres(pg_catalog, postgres_url, catalog_schema):
    pg_catalog.audit("delete", run_id="whatever")
    engine = create_engine(postgres_url)
    for statement in (
        "UPDATE {s}.audit_log SET actor = 'x'",
        "DELETE FROM {s}.audit_log",
        "TRUNCATE {s}.audit_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement.format(s=f'"{catalog_schema}"'))
    engine.dispose()


def test_concurrent_opens_of_a_fresh_schema_and_writes_from_threads(postgres_url, catalog_schema):
    errors: list[BaseException] = []
    run_ids = [_run_id() for _ in range(4)]
    fresh_schema = f"{catalog_schema}_fresh"

    def work(run_id: str) -> None:
        try:
            with Catalog.open(postgres_url, schema_name=fresh_schema) as catalog:
                catalog.start_run(run_id, "threads", "cfg", "/out")
                catalog.add_records(run_id, [{"record_id": f"r{i}", "content_hash": "h"} for i in range(500)])
                catalog.finish_run(run_id, "succeeded")
        except BaseException as exc:  # collected and asserted in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert errors == []
        with Catalog.open(postgres_url, schema_name=fresh_schema) as catalog:
            assert all(catalog.record_counts(run_id) == {"": 500} for run_id in run_ids)
            assert len(catalog.list_runs()) == 4
    finally:
        engine = create_engine(postgres_url)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{fresh_schema}" CASCADE')
        engine.dispose()


def test_schema_names_are_checked_before_use(postgres_url):
    with pytest.raises(CatalogError, match="schema name"):
        Catalog.open(postgres_url, schema_name='x"; DROP TABLE runs; --')
