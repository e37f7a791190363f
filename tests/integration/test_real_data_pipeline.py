"""configs/real_data.yaml through every default stage and gate yields >= 10,000 therapeutic samples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_real_data_config_yields_ten_thousand_therapeutic(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "real"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ai.pipelines.orchestrator.main_orchestrator",
            "run",
            "--config",
            str(REPO / "configs" / "real_data.yaml"),
            "--output",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["categories"].get("therapeutic", 0) >= 10_000, counts["categories"]
    assert counts["input"] == counts["exported"] + counts["quarantined"]
    licences = {s["name"]: s["license"] for s in manifest["sources"]}
    assert licences["esconv"].startswith("CC BY-NC 4.0")
