"""Issue 21 rows 2, 3 and 4: no command deletes what it did not create, and one run owns its directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_helpers import cli, write_openai_jsonl

from ai.infrastructure.production.export_to_ready_packages import PackageError, build_ready_package
from ai.pipelines.orchestrator.run_directory import LOCK_FILE, run_lock


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    inputs = root / "inputs"
    inputs.mkdir()
    write_openai_jsonl(inputs / "talks.jsonl", 12, defects=False)
    config = root / "config.yaml"
    config.write_text(
        f"run:\n  name: keep-safe\n  workers: 1\nsources:\n  - name: talks\n    path: {inputs}\n"
        "catalog:\n  enabled: false\n"
    )
    run_dir = root / "run"
    assert cli("run", "--config", str(config), "--output", str(run_dir), "--quiet") == 0
    return run_dir


def _input_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    write_openai_jsonl(data / "mine.jsonl", 3, defects=False)
    return data


def test_row02_overwrite_refuses_input_dir(tmp_path: Path, capsys) -> None:
    data = _input_dir(tmp_path)
    before = (data / "mine.jsonl").read_bytes()
    assert cli("run", "-i", str(data), "-o", str(data), "--overwrite") == 1
    assert "overlaps the input" in capsys.readouterr().err
    assert (data / "mine.jsonl").read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == ["mine.jsonl"]


@pytest.mark.parametrize("where", ["parent", "child"])
def test_row02_output_containing_or_inside_an_input_is_refused(tmp_path: Path, where: str, capsys) -> None:
    data = _input_dir(tmp_path)
    # A parent of an input file, or a directory inside an input directory.
    given, output = (data / "mine.jsonl", tmp_path) if where == "parent" else (data, data / "out")
    assert cli("run", "-i", str(given), "-o", str(output), "--overwrite") == 1
    assert "overlaps the input" in capsys.readouterr().err
    assert not (data / "out").exists()


def test_row02_overwrite_only_replaces_a_directory_that_holds_a_run(tmp_path: Path, capsys) -> None:
    data = _input_dir(tmp_path)
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("three years of work")
    assert cli("run", "-i", str(data), "-o", str(precious), "--overwrite") == 1
    assert "holds no run" in capsys.readouterr().err
    assert sorted(p.name for p in precious.iterdir()) == ["thesis.txt"]


def test_row03_package_dest_existing_dir_is_not_emptied(finished_run: Path, tmp_path: Path) -> None:
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "keep.txt").write_text("not yours")
    with pytest.raises(PackageError, match="not empty"):
        build_ready_package(finished_run, dest)
    assert (dest / "keep.txt").read_text() == "not yours"


@pytest.mark.parametrize("relative", [".", "..", "dataset"])
def test_row03_package_dest_overlapping_the_run_is_refused(finished_run: Path, relative: str) -> None:
    dest = (finished_run / relative).resolve()
    before = sorted(p.name for p in finished_run.iterdir())
    with pytest.raises(PackageError, match="overlaps the run directory"):
        build_ready_package(finished_run, dest)
    assert sorted(p.name for p in finished_run.iterdir()) == before
    assert (finished_run / "run.json").is_file()


def test_row03_package_may_replace_its_own_earlier_package(finished_run: Path, tmp_path: Path) -> None:
    dest = tmp_path / "pkg"
    first = build_ready_package(finished_run, dest)
    manifest = json.loads((first / "manifest.json").read_text())
    assert build_ready_package(finished_run, dest) == dest
    assert json.loads((dest / "manifest.json").read_text()) == manifest
    # The default place under RUN/package/ stays allowed too.
    assert build_ready_package(finished_run).parent == finished_run / "package"


def test_row03_package_cli_refuses_the_run_itself(finished_run: Path, capsys) -> None:
    assert cli("package", str(finished_run), "--dest", str(finished_run)) == 1
    assert "overlaps the run directory" in capsys.readouterr().err
    assert (finished_run / "manifest.json").is_file()


def test_row04_second_run_into_a_locked_directory_exits_with_a_clear_message(tmp_path: Path, capsys) -> None:
    data = _input_dir(tmp_path)
    out = tmp_path / "out"
    with run_lock(out):
        assert cli("run", "-i", str(data), "-o", str(out)) == 1
        err = capsys.readouterr().err
    assert "in use by another command" in err and "pid" in err
    assert [p.name for p in out.iterdir()] == [LOCK_FILE]


def test_row04_resume_of_a_locked_run_is_refused(finished_run: Path, capsys) -> None:
    with run_lock(finished_run):
        assert cli("resume", str(finished_run)) == 1
    assert "in use by another command" in capsys.readouterr().err


def test_row04_lock_is_released_when_the_holder_ends(tmp_path: Path) -> None:
    with run_lock(tmp_path / "run"):
        pass
    with run_lock(tmp_path / "run"):
        info = json.loads((tmp_path / "run" / LOCK_FILE).read_text())
    assert info["pid"] > 0 and info["host"]
