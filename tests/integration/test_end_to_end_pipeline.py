"""The real CLI in a subprocess: SIGKILL mid-run, resume, and get exactly the clean run's files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from pipeline_helpers import write_openai_jsonl

CLI = [sys.executable, "-m", "ai.pipelines.orchestrator.main_orchestrator"]


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def count_events(log: Path, event: str) -> int:
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if f'"event": "{event}"' in line)


def kill_after(args: list[str], log: Path, event: str, count: int, timeout: float = 120) -> bool:
    """Start the CLI, SIGKILL it once ``count`` ``event``s are logged; False if it finished first."""
    process = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if count_events(log, event) >= count:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
                return True
            time.sleep(0.02)
        raise AssertionError("the run neither reached the kill point nor finished")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def corpus_and_config(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("e2e")
    data = base / "corpus.jsonl"
    write_openai_jsonl(data, 1200, seed=3)
    config = base / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "run": {"name": "e2e", "shard_size": 100, "workers": 2, "seed": 11},
                "sources": [{"name": "corpus", "path": str(data), "license": "CC-BY-4.0"}],
            }
        )
    )
    return data, config


@pytest.fixture(scope="module")
def clean_run(corpus_and_config: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    _, config = corpus_and_config
    out = tmp_path_factory.mktemp("clean") / "run"
    run_cli("run", "--config", str(config), "--output", str(out), "--quiet")
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.parametrize("kill_at", [2, 14, 28])
def test_sigkill_then_resume_matches_clean_run(
    kill_at: int, corpus_and_config: tuple[Path, Path], clean_run: dict, tmp_path: Path
) -> None:
    _, config = corpus_and_config
    out = tmp_path / "run"
    killed = kill_after(
        ["run", "--config", str(config), "--output", str(out), "--quiet"],
        out / "logs" / "run.jsonl",
        "shard_done",
        kill_at,
    )
    assert killed, "the run finished before the kill point; make the corpus larger"
    assert not (out / "manifest.json").exists()
    run_cli("resume", str(out), "--quiet")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"] == clean_run["files"]
    assert manifest["counts"] == clean_run["counts"]
    # The resumed run reused the work finished before the kill.
    summary = json.loads((out / "run_summary.json").read_text())
    assert sum(row["resumed_shards"] for row in summary["stages"]) >= 1


def test_accounting_holds_for_every_stage(clean_run: dict) -> None:
    counts = clean_run["counts"]
    assert counts["input"] == 1202
    assert counts["input"] == counts["exported"] + counts["quarantined"]
    previous = None
    for row in counts["stages"]:
        assert row["in"] == row["kept"] + row["rejected"], row
        if previous is not None:
            assert row["in"] == previous["kept"], (previous, row)
        previous = row
    rejected_total = sum(sum(reasons.values()) for reasons in counts["rejected"].values())
    assert rejected_total == counts["quarantined"]
