"""Issue 21 row 1: resuming with a changed config ends exactly as a clean run with that config."""

from __future__ import annotations

import json
import random
from pathlib import Path

from pipeline_helpers import cli, conversation


def _write(path: Path, ids: range, seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    for i in ids:
        record = conversation(i, rng)
        lines.append(json.dumps(record))
        if i % 4 == 0:  # an exact duplicate under another id, for dedup to find
            lines.append(json.dumps({**record, "id": f"dup-{i}"}))
    path.write_text("\n".join(lines) + "\n")


def _config(path: Path, sources: dict[str, Path]) -> Path:
    listed = "".join(f"  - name: {name}\n    path: {file}\n" for name, file in sources.items())
    path.write_text(
        "run:\n  name: resumed\n  shard_size: 10\n  workers: 1\n"
        f"sources:\n{listed}catalog:\n  enabled: false\n"
    )
    return path


def _outputs(run_dir: Path) -> dict[str, bytes]:
    files = sorted((run_dir / "dataset").glob("*.jsonl")) + sorted((run_dir / "quarantine").glob("*.jsonl"))
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in files}


def test_row01_resume_with_a_source_removed_equals_a_clean_run(tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    _write(first, range(0, 24), seed=1)
    _write(second, range(100, 124), seed=2)
    both = _config(tmp_path / "both.yaml", {"first": first, "second": second})
    only_second = _config(tmp_path / "second.yaml", {"second": second})

    resumed, clean = tmp_path / "resumed", tmp_path / "clean"
    assert cli("run", "-c", str(both), "-o", str(resumed), "-q") == 0
    assert cli("resume", str(resumed), "--config", str(only_second), "-q") == 0
    assert cli("run", "-c", str(only_second), "-o", str(clean), "-q") == 0

    got, want = _outputs(resumed), _outputs(clean)
    assert got.keys() == want.keys()
    assert got == want
    counts = json.loads((resumed / "manifest.json").read_text())["counts"]
    assert counts == json.loads((clean / "manifest.json").read_text())["counts"]
