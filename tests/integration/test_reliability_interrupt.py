"""Issue 21 row 15: Ctrl-C during a run is one clean line and exit code 130, in a real process group."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline_helpers import write_openai_jsonl


def test_row15_ctrl_c_prints_one_line_and_exits_130(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    write_openai_jsonl(data, 4000, defects=False)  # long enough that Ctrl-C lands mid-run on a fast machine
    config = tmp_path / "config.yaml"
    config.write_text(
        f"run:\n  shard_size: 50\n  workers: 2\nsources:\n  - name: talks\n    path: {data}\n"
        "catalog:\n  enabled: false\n"
    )
    run_dir = tmp_path / "run"
    env = {**os.environ, "DATASET_PIPELINE_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "ai.pipelines.orchestrator.main_orchestrator", "run", "-c", str(config)]
    process = subprocess.Popen(
        [*command, "-o", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal's foreground job is
    )
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    seen, deadline = "", time.monotonic() + 240
    while "shard 1/" not in seen and time.monotonic() < deadline and process.poll() is None:
        if selector.select(timeout=1):
            seen += process.stderr.readline()
    assert "shard 1/" in seen, seen
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group gets SIGINT
    _, err = process.communicate(timeout=240)
    assert process.returncode == 130
    assert "Traceback" not in err and "InvalidStateError" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1] == f"interrupted; continue with `dataset-pipeline resume {run_dir}`"
