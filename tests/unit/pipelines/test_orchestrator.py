"""The orchestrator end to end in-process: planning, accounting, quarantine, resume, invalidation, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pipeline_helpers import cli, read_jsonl, write_openai_jsonl

from ai.core.config import ConfigError, load_config, parse_config
from ai.pipelines.orchestrator.checkpoint_manager import CheckpointManager, atomic_writer
from ai.pipelines.orchestrator.logger import Redactor, RunLogger
from ai.pipelines.orchestrator.planner import plan_stages


def write_config(tmp_path: Path, data_file: Path, **sections: object) -> Path:
    config = {
        "run": {"name": "t", "shard_size": 40, "workers": 1, "seed": 7},
        "sources": [{"name": "corpus", "path": str(data_file), "license": "CC-BY-4.0"}],
        **sections,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    write_openai_jsonl(path, 150, seed=1)
    return path


def test_adhoc_run_quarantines_bad_lines_and_balances(tmp_path: Path, corpus: Path) -> None:
    out = tmp_path / "run"
    assert cli("run", "--input", str(corpus), "--output", str(out), "--workers", "1", "--quiet") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["input"] == 152  # 150 good lines, one malformed, one with invalid UTF-8
    assert counts["input"] == counts["exported"] + counts["quarantined"]
    for row in counts["stages"]:
        assert row["in"] == row["kept"] + row["rejected"], row
    ingest_q = read_jsonl(out / "quarantine" / "ingest.jsonl")
    reasons = {q["reason"]: q for q in ingest_q}
    assert "malformed_json" in reasons
    assert reasons["malformed_json"]["locator"].endswith("corpus.jsonl:4")
    assert "invalid_utf8" in reasons
    assert reasons["invalid_utf8"]["locator"].endswith("corpus.jsonl:6")
    exported = sum(len(read_jsonl(out / f)) for f in manifest["files"] if f.startswith("dataset/"))
    assert exported == counts["exported"]
    for rel, digest in manifest["files"].items():
        assert len(digest) == 64 and (out / rel).is_file()


def test_exported_records_are_openai_chat_with_source_id(tmp_path: Path, corpus: Path) -> None:
    out = tmp_path / "run"
    assert cli("run", "--input", str(corpus), "--output", str(out), "-w", "1", "-q") == 0
    records = [r for f in sorted((out / "dataset").glob("*.jsonl")) for r in read_jsonl(f)]
    assert records
    first = records[0]
    assert set(first) == {"id", "messages", "metadata"}
    assert {m["role"] for m in first["messages"]} <= {"system", "user", "assistant"}
    assert first["metadata"]["source_id"].startswith("t-")
    assert first["metadata"]["source"]["name"] == "corpus"


def test_existing_run_dir_needs_resume_or_overwrite(tmp_path: Path, corpus: Path, capsys) -> None:
    out = tmp_path / "run"
    assert cli("run", "--input", str(corpus), "--output", str(out), "-w", "1", "-q") == 0
    assert cli("run", "--input", str(corpus), "--output", str(out), "-w", "1", "-q") == 1
    assert "dataset-pipeline resume" in capsys.readouterr().err
    assert cli("run", "--input", str(corpus), "--output", str(out), "-w", "1", "-q", "--overwrite") == 0


def test_resume_after_lost_shards_gives_identical_files(tmp_path: Path, corpus: Path) -> None:
    config = write_config(tmp_path, corpus)
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    assert cli("run", "--config", str(config), "--output", str(clean), "-q") == 0
    assert cli("run", "--config", str(config), "--output", str(broken), "-q") == 0
    # Simulate a crash: the last steps of some shards never finished and the export never ran.
    steps = json.loads((broken / "manifest.json").read_text())["stages"]
    for marker in sorted((broken / "checkpoints").rglob("shard-0000[12].done")):
        marker.unlink()
    for path in (broken / "dataset").glob("*.jsonl"):
        path.unlink()
    (broken / "manifest.json").unlink()
    assert cli("resume", str(broken), "-q") == 0
    clean_files = json.loads((clean / "manifest.json").read_text())["files"]
    resumed_files = json.loads((broken / "manifest.json").read_text())["files"]
    assert resumed_files == clean_files
    summary = json.loads((broken / "run_summary.json").read_text())
    if steps:
        assert any(row["resumed_shards"] > 0 for row in summary["stages"])


def test_changed_config_reruns_changed_stage_and_later_only(tmp_path: Path, corpus: Path) -> None:
    config = write_config(tmp_path, corpus)
    out = tmp_path / "run"
    assert cli("run", "--config", str(config), "--output", str(out), "-q") == 0
    steps = plan_stages(load_config(config))
    if len(steps) < 2:
        pytest.skip("needs at least two stages in the default plan")
    data = yaml.safe_load(config.read_text())
    changed = steps[-1].name
    data["stages"] = {changed: {"enabled": True}}
    stage_cls = steps[-1].cls
    # Flip a boolean option of the last stage (or its seed through run.seed when it has none).
    flags = [f for f in stage_cls.Options.__struct_fields__ if f != "enabled"]
    data["run"]["seed"] = 8 if not flags else data["run"]["seed"]
    if flags:
        field = flags[0]
        value = steps[-1].options[field]
        data["stages"][changed][field] = (not value) if isinstance(value, bool) else value
        if not isinstance(value, bool):
            data["run"]["seed"] = 8
    new_config = tmp_path / "changed.yaml"
    new_config.write_text(yaml.safe_dump(data))
    assert cli("resume", str(out), "--config", str(new_config), "-q") == 0
    summary = {row["stage"]: row for row in json.loads((out / "run_summary.json").read_text())["stages"]}
    n_shards = len(list((out / "checkpoints" / "ingest").glob("*.done")))
    assert n_shards >= 1
    if data["run"]["seed"] == 7:
        # Only the last stage changed: every earlier stage's shards were resumed, the last one re-ran.
        for step in steps[:-1]:
            assert summary[step.name]["resumed_shards"] > 0, step.name
        assert summary[changed]["resumed_shards"] == 0


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"stages\.nonsense: unknown stage"):
        plan_stages(parse_config({"stages": {"nonsense": {}}}))
    with pytest.raises(ConfigError, match=r"run\.seed"):
        parse_config({"run": {"seed": "abc"}})
    with pytest.raises(ConfigError, match=r"MISSING_VAR_FOR_TEST"):
        parse_config({"sources": [{"name": "a", "path": "${MISSING_VAR_FOR_TEST}"}]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed\n")
    assert cli("validate-config", str(bad)) == 2


def test_validate_config_reports_missing_input(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"sources": [{"name": "x", "path": "nope.jsonl"}]}))
    assert cli("validate-config", str(config)) == 2
    assert "does not exist" in capsys.readouterr().err


def test_env_interpolation_keeps_secret_out_of_run_dir(tmp_path: Path, corpus: Path, monkeypatch) -> None:
    monkeypatch.setenv("CORPUS_PATH_FOR_TEST", str(corpus))
    monkeypatch.setenv("FAKE_API_KEY", "sk-test-0123456789abcdef")
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "run": {"workers": 1},
                "sources": [
                    {"name": "c", "path": "${CORPUS_PATH_FOR_TEST}", "options": {"token": "${FAKE_API_KEY}"}}
                ],
            }
        )
    )
    out = tmp_path / "run"
    cli("run", "--config", str(config), "--output", str(out), "-q")
    assert "${FAKE_API_KEY}" in (out / "config.yaml").read_text()
    for path in out.rglob("*"):
        if path.is_file():
            assert b"sk-test-0123456789abcdef" not in path.read_bytes(), path


def test_redactor_and_run_logger(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OVH_S3_SECRET_ACCESS_KEY", "very-secret-value")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:dbpass123@host/db")
    redactor = Redactor()
    assert redactor.text("key=very-secret-value pw=dbpass123") == "key=*** pw=***"
    log = RunLogger(tmp_path / "logs" / "run.jsonl", quiet=True)
    log.event("thing", detail={"nested": ["very-secret-value"]})
    log.close()
    line = json.loads((tmp_path / "logs" / "run.jsonl").read_text())
    assert line["event"] == "thing" and line["detail"] == {"nested": ["***"]}


def test_atomic_writer_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"partial")
        raise RuntimeError("disk full")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_marker_validity(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "a").write_text("x")
    manager.mark_done("s", 0, "h1", ["work/a"], n_in=1)
    assert manager.valid("s", 0, "h1", tmp_path) is not None
    assert manager.valid("s", 0, "h2", tmp_path) is None  # config changed
    (tmp_path / "work" / "a").unlink()
    assert manager.valid("s", 0, "h1", tmp_path) is None  # output lost


def test_run_is_catalogued_and_status_lists_it(tmp_path: Path, corpus: Path, capsys) -> None:
    from ai.infrastructure.database.persistence import Catalog

    out = tmp_path / "run"
    assert cli("run", "--input", str(corpus), "--output", str(out), "-w", "1", "-q") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    with Catalog.open() as catalog:
        run = catalog.get_run(manifest["run_id"])
        assert run is not None and run.status == "succeeded"
        assert sum(catalog.record_counts(manifest["run_id"]).values()) == manifest["counts"]["exported"]
        assert len(catalog.quarantine(manifest["run_id"])) == manifest["counts"]["quarantined"]
        assert {a["sha256"] for a in catalog.artifacts(manifest["run_id"])} == set(manifest["files"].values())
        actions = [entry.action for entry in catalog.audit_log(manifest["run_id"])]
        assert actions[0] == "run_start" and "export" in actions and actions[-1] == "run_finish"
    capsys.readouterr()
    assert cli("status") == 0
    assert manifest["run_id"][:8] in capsys.readouterr().out


def test_failed_run_is_marked_failed_in_catalog(tmp_path: Path, monkeypatch) -> None:
    from ai.infrastructure.database.persistence import Catalog

    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump({"run": {"workers": 1}, "sources": [{"name": "x", "path": "missing.jsonl"}]})
    )
    out = tmp_path / "run"
    assert cli("run", "--config", str(config), "--output", str(out), "-q") != 0
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    with Catalog.open() as catalog:
        assert catalog.get_run(run_id).status == "failed"


def test_run_against_postgres_catalog(tmp_path: Path, corpus: Path, postgres_url: str, monkeypatch) -> None:
    import uuid

    import sqlalchemy

    from ai.infrastructure.database.persistence import Catalog

    schema = f"orch_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("DATABASE_SCHEMA", schema)
    try:
        out = tmp_path / "run"
        assert cli("run", "--input", str(corpus), "--output", str(out), "-w", "1", "-q") == 0
        manifest = json.loads((out / "manifest.json").read_text())
        with Catalog.open() as catalog:
            assert catalog.dialect == "postgresql"
            assert catalog.get_run(manifest["run_id"]).status == "succeeded"
            assert sum(catalog.record_counts(manifest["run_id"]).values()) == manifest["counts"]["exported"]
    finally:
        engine = sqlalchemy.create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def test_failed_dataset_gate_blocks_export(tmp_path: Path, corpus: Path, capsys) -> None:
    config = write_config(
        tmp_path, corpus, stages={"quality": {"dataset": {"min_per_category": {"therapeutic": 100000}}}}
    )
    out = tmp_path / "run"
    assert cli("run", "--config", str(config), "--output", str(out), "-q") == 1
    err = capsys.readouterr().err
    assert "min_count:therapeutic" in err or "therapeutic records" in err
    assert "below 100000" in err
    report = json.loads((out / "gate_report.json").read_text())
    assert report["passed"] is False and report["failed"] == ["min_count:therapeutic"]
    assert not list((out / "dataset").glob("*.jsonl"))
    assert not (out / "manifest.json").exists()
    # What was refused stays inspectable when the export is blocked.
    assert (out / "quarantine" / "ingest.jsonl").is_file() and "quarantine" in err


def test_passing_dataset_gates_are_in_the_manifest(tmp_path: Path, corpus: Path) -> None:
    out = tmp_path / "run"
    assert cli("run", "--config", str(write_config(tmp_path, corpus)), "--output", str(out), "-q") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert "gate_report.json" in manifest["files"]
    assert json.loads((out / "gate_report.json").read_text())["passed"] is True


def test_configured_formats_card_and_package(tmp_path: Path, corpus: Path, capsys) -> None:
    config = write_config(tmp_path, corpus, export={"formats": ["openai_jsonl", "parquet", "csv"]})
    out = tmp_path / "run"
    assert cli("run", "--config", str(config), "--output", str(out), "-q") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert any(f.startswith("exports/parquet/") for f in manifest["files"])
    assert any(f.startswith("exports/csv/") for f in manifest["files"])
    card = (out / "README.md").read_text()
    assert card.startswith("---") and "cc-by-4.0" in card
    capsys.readouterr()
    assert cli("package", str(out)) == 0
    package_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert (package_dir / "manifest.json").is_file() and (package_dir / "README.md").is_file()


def test_every_run_writes_a_report_and_report_rebuilds_it(tmp_path: Path, corpus: Path, capsys) -> None:
    out = tmp_path / "run"
    assert cli("run", "--input", str(corpus), "--output", str(out), "-w", "1", "-q") == 0
    report = out / "report.html"
    assert report.is_file() and "<svg" in report.read_text()
    report.unlink()
    capsys.readouterr()
    assert cli("report", str(out)) == 0
    assert report.is_file() and str(report) in capsys.readouterr().out
    assert cli("report", str(tmp_path / "nowhere")) == 1
