"""Durable shard outputs and per-(step, shard) completion markers.

A marker is written only after the shard's outputs are durable: each output is written to a temp
file in the same directory, fsynced, renamed over the final name, and the directory is fsynced. A run
killed at any point therefore leaves either a complete output with its marker, or no marker (and at
worst a stray temp file, which is ignored and overwritten). Each marker stores the step's config hash;
hashes are chained, so a changed config invalidates the changed step and every step after it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ai.core.atomic import atomic_write_bytes, atomic_write_json, atomic_writer, fsync_dir

__all__ = ["CheckpointManager", "atomic_write_bytes", "atomic_write_json", "atomic_writer", "fsync_dir"]


class CheckpointManager:
    """Completion markers under ``DIR/checkpoints/<step>/<shard>.done``."""

    def __init__(self, run_dir: Path) -> None:
        self.root = Path(run_dir) / "checkpoints"

    def marker_path(self, step: str, shard: int | str) -> Path:
        name = f"shard-{shard:05d}" if isinstance(shard, int) else shard
        return self.root / step / f"{name}.done"

    def read(self, step: str, shard: int | str) -> dict[str, Any] | None:
        try:
            return json.loads(self.marker_path(step, shard).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def valid(self, step: str, shard: int | str, step_hash: str, run_dir: Path) -> dict[str, Any] | None:
        """The marker, if it exists, matches ``step_hash`` and every output it lists still exists."""
        marker = self.read(step, shard)
        if marker is None or marker.get("hash") != step_hash:
            return None
        if not all((run_dir / rel).exists() for rel in marker.get("outputs", [])):
            return None
        return marker

    def mark_done(self, step: str, shard: int | str, step_hash: str, outputs: list[str], **info: Any) -> None:
        """Record completion; call only after every output listed is durable."""
        atomic_write_json(self.marker_path(step, shard), {"hash": step_hash, "outputs": outputs, **info})

    def remove_stray_temp_files(self, run_dir: Path) -> int:
        """Delete temp files a killed run left behind (a kill between write and rename); returns how many."""
        removed = 0
        for path in Path(run_dir).rglob(".*.tmp-*"):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def clear_step(self, step: str) -> None:
        """Forget every marker of a step (used when a step's shard layout changes)."""
        directory = self.root / step
        if directory.is_dir():
            for marker in directory.glob("*.done"):
                marker.unlink()
