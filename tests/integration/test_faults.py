"""Faults during a run: disk full, the catalog lost, a stage losing records.

Every run here is in-process with ``--workers 1`` (the executor runs shards inline), so faults are
injected by monkeypatching. Each fault must fail the run with a clear message, leave no half-written
output and no completion marker behind, and a resume once the fault is gone must produce exactly the
files of an undisturbed run. S3 timeouts and 5xx retries are covered in tests/integration/test_s3_moto.py.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from pipeline_helpers import cli, write_openai_jsonl

from ai.core import atomic
from ai.infrastructure.database.persistence import Catalog
from ai.pipelines.orchestrator import pipeline
from ai.pipelines.orchestrator.registry import stage_class
from ai.pipelines.orchestrator.run_catalog import RunCatalog

SHARD_SIZE = 40
RECORDS = 160


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One corpus and one config file for every run here.

    Provenance holds the corpus path and the step hashes include the config's directory, so clean and
    faulty runs must share both to be comparable byte for byte. The catalog comes from the environment
    (DATABASE_URL, else the per-test SQLite workspace) so it does not enter the hashes either.
    """
    directory = tmp_path_factory.mktemp("faults-input")
    corpus = directory / "corpus.jsonl"
    write_openai_jsonl(corpus, RECORDS, seed=21)
    path = directory / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "run": {"name": "faults", "shard_size": SHARD_SIZE, "workers": 1, "seed": 3},
                "sources": [{"name": "corpus", "path": str(corpus), "license": "CC0"}],
            }
        )
    )
    return path


def manifest_files(run_dir: Path) -> dict[str, str]:
    return json.loads((run_dir / "manifest.json").read_text())["files"]


@pytest.fixture(scope="module")
def clean_files(tmp_path_factory: pytest.TempPathFactory, config: Path) -> dict[str, str]:
    base = tmp_path_factory.mktemp("faults-clean")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DATASET_PIPELINE_HOME", str(base / "home"))
        env.delenv("DATABASE_URL", raising=False)
        assert cli("run", "--config", str(config), "--output", str(base / "run"), "--quiet") == 0
    return manifest_files(base / "run")


# --- disk full -------------------------------------------------------------------------------------------


class FullDiskFile:
    """A file whose first write stores half its bytes and then fails with ENOSPC, as a full disk does."""

    def __init__(self, handle: Any, path: str) -> None:
        self._handle = handle
        self._path = path

    def write(self, data: bytes) -> int:
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def fill_disk_on(monkeypatch: pytest.MonkeyPatch, final_name: str) -> list[str]:
    """Make atomic writes of ``final_name`` hit a full disk; returns the temp paths that were opened."""
    opened: list[str] = []

    def fake_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = open(path, mode, *args, **kwargs)  # noqa: SIM115 - handed to the caller
        tmp, final = Path(path), Path(final_name)
        if tmp.name.startswith(f".{final.name}.tmp-") and tmp.parent.as_posix().endswith(
            final.parent.as_posix()
        ):
            opened.append(str(path))
            return FullDiskFile(handle, str(path))
        return handle

    monkeypatch.setattr(atomic, "open", fake_open, raising=False)
    return opened


@pytest.mark.parametrize(
    ("final_name", "marker"),
    [
        ("work/pii/shard-00001.rejected.jsonl", "checkpoints/pii/shard-00001.done"),
        ("work/ingest/shard-00002.jsonl", "checkpoints/ingest/complete.done"),
        ("dataset/train.jsonl", "manifest.json"),
    ],
)
def test_disk_full_leaves_no_marker_and_no_half_file_then_resume_matches(
    final_name: str,
    marker: str,
    config: Path,
    clean_files: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = tmp_path / "run"
    opened = fill_disk_on(monkeypatch, final_name)
    code = cli("run", "--config", str(config), "--output", str(run_dir), "--quiet")
    err = capsys.readouterr().err
    assert code == 1
    assert opened, f"the fault was never injected into {final_name}"
    assert "No space left on device" in err, err
    assert not (run_dir / marker).exists()
    assert not (run_dir / final_name).exists(), "a half-written file was left under the final name"
    leftovers = [p for p in (run_dir / final_name).parent.glob(".*.tmp-*")]
    assert not leftovers, leftovers

    monkeypatch.undo()
    assert cli("resume", str(run_dir), "--quiet") == 0
    assert manifest_files(run_dir) == clean_files


# --- catalog lost mid-run (PostgreSQL schema dropped) ----------------------------------------------------


def drop_schema_on_call(
    monkeypatch: pytest.MonkeyPatch, url: str, schema: str, call: int
) -> Callable[[], int]:
    """Drop the catalog's schema (as a DBA or a failover would) just before the ``call``-th shard update."""
    original = RunCatalog.shard_done
    calls = {"n": 0}

    def shard_done(self: RunCatalog, shard: int, steps: list) -> None:
        calls["n"] += 1
        if calls["n"] == call:
            engine = sa.create_engine(url)
            with engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            engine.dispose()
        original(self, shard, steps)

    monkeypatch.setattr(RunCatalog, "shard_done", shard_done)
    return lambda: calls["n"]


@pytest.mark.postgres
def test_catalog_lost_mid_run_fails_clearly_and_resumes_cleanly(
    postgres_url: str,
    config: Path,
    clean_files: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    schema = f"faults_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("DATABASE_SCHEMA", schema)
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    run_dir = tmp_path / "run"
    try:
        calls = drop_schema_on_call(monkeypatch, postgres_url, schema, call=3)
        code = cli("run", "--config", str(config), "--output", str(run_dir), "--quiet")
        err = capsys.readouterr().err
        assert calls() == 3
        assert code == 1
        assert "CatalogError" in err and "catalog" in err and "does not exist" in err, err
        assert not (run_dir / "manifest.json").exists()
        finished_shards = list((run_dir / "checkpoints").rglob("shard-*.done"))
        assert finished_shards, "work finished before the fault should be kept for the resume"

        monkeypatch.undo()
        monkeypatch.setenv("DATABASE_URL", postgres_url)
        monkeypatch.setenv("DATABASE_SCHEMA", schema)  # the restored (re-created) catalog
        assert cli("resume", str(run_dir), "--quiet") == 0
        assert manifest_files(run_dir) == clean_files
        run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
        with Catalog.open(postgres_url, schema_name=schema) as catalog:
            info = catalog.get_run(run_id)
            assert info is not None and info.status == "succeeded"
            assert {"run_start", "export", "run_finish"} <= {e.action for e in catalog.audit_log(run_id)}
    finally:
        engine = sa.create_engine(postgres_url)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


# --- accounting -----------------------------------------------------------------------------------------


def test_a_stage_that_loses_a_record_fails_the_run(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    quality = stage_class("quality")
    original = quality.process

    def lossy(self: Any, batch: list) -> Any:
        result = original(self, batch)
        if result.kept:
            result.kept.pop()
        return result

    monkeypatch.setattr(quality, "process", lossy)
    run_dir = tmp_path / "run"
    assert cli("run", "--config", str(config), "--output", str(run_dir), "--quiet") == 1
    err = " ".join(capsys.readouterr().err.split())
    found = re.search(r"stage 'quality' received (\d+) records but returned (\d+) kept \+ 0 rejected", err)
    assert found and int(found[2]) == int(found[1]) - 1, err
    assert "every record must be kept or rejected" in err
    assert not (run_dir / "checkpoints" / "quality" / "shard-00000.done").exists()
    assert not (run_dir / "manifest.json").exists()


def test_run_totals_that_do_not_balance_fail_the_run(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The end-of-run check: input = exported + quarantined, and each stage's in = previous kept."""
    original = pipeline.write_dataset

    def one_record_short(run_dir: Path, final_shards: list[str]) -> dict[str, Any]:
        counts = original(run_dir, final_shards)
        return {**counts, "exported": counts["exported"] - 1}

    monkeypatch.setattr(pipeline, "write_dataset", one_record_short)
    run_dir = tmp_path / "run"
    assert cli("run", "--config", str(config), "--output", str(run_dir), "--quiet") == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "record accounting does not balance" in err and "!= exported" in err, err
    assert not (run_dir / "manifest.json").exists()


# --- a real full disk (a tiny tmpfs) --------------------------------------------------------------------


class FullDiskRun:
    def __init__(self, mount_point: Path, code: int, err: str) -> None:
        self.mount_point = mount_point
        self.run_dir = mount_point / "run"
        self.code = code
        self.err = err
        # Taken before anything else touches the directory.
        self.leftovers = sorted(str(p.relative_to(self.run_dir)) for p in self.run_dir.rglob(".*.tmp-*"))


@pytest.fixture(scope="module")
def full_disk_run(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullDiskRun]:
    """A run on a 1.4 MB tmpfs (about half of what it writes). Skips where mounting is not permitted."""
    mount_point = tmp_path_factory.mktemp("tmpfs")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1400k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("DATASET_PIPELINE_HOME", str(tmp_path_factory.mktemp("tmpfs-home")))
            env.delenv("DATABASE_URL", raising=False)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = cli("run", "--config", str(config), "--output", str(mount_point / "run"), "--quiet")
            yield FullDiskRun(mount_point, code, err.getvalue())
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_really_full_disk_fails_the_run_with_the_reason(full_disk_run: FullDiskRun) -> None:
    assert full_disk_run.code == 1
    assert "No space left on device" in full_disk_run.err, full_disk_run.err
    assert not (full_disk_run.run_dir / "manifest.json").exists()


def test_a_really_full_disk_leaves_only_complete_outputs_behind_markers(full_disk_run: FullDiskRun) -> None:
    markers = list((full_disk_run.run_dir / "checkpoints").rglob("*.done"))
    assert markers, "the disk filled before any shard finished; make the tmpfs larger"
    for marker in markers:
        for output in json.loads(marker.read_text())["outputs"]:
            data = (full_disk_run.run_dir / output).read_bytes()
            if output.endswith(".jsonl"):
                assert not data or data.endswith(b"\n"), f"{output} is cut short"
                assert all(json.loads(line) for line in data.splitlines())


def test_a_really_full_disk_leaves_no_temp_files(full_disk_run: FullDiskRun) -> None:
    assert full_disk_run.code == 1
    assert not full_disk_run.leftovers, full_disk_run.leftovers


def test_a_really_full_disk_resumes_once_space_is_freed(
    full_disk_run: FullDiskRun, clean_files: dict[str, str]
) -> None:
    subprocess.run(["mount", "-o", "remount,size=64m", str(full_disk_run.mount_point)], check=True)
    assert cli("resume", str(full_disk_run.run_dir), "--quiet") == 0
    assert manifest_files(full_disk_run.run_dir) == clean_files
