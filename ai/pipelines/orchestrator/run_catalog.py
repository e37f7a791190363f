"""Writes a run's progress and results into the catalog (the single source of truth for runs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from ai.core.config import PipelineConfig
from ai.core.stage import Rejection
from ai.infrastructure.database.persistence import Catalog, record_index_row
from ai.pipelines.orchestrator.shard_runner import StepStats, read_shard


class RunCatalog:
    def __init__(self, catalog: Catalog, run_id: str) -> None:
        self.catalog = catalog
        self.run_id = run_id

    def started(self, config: PipelineConfig, run_dir: Path, config_hash: str, stages: list[str]) -> None:
        summary = {
            "sources": [
                {"name": s.name, "kind": s.kind, "license": s.license} for s in config.sources if s.enabled
            ],
            "stages": stages,
            "executor": config.run.executor,
            "seed": config.run.seed,
        }
        self.catalog.start_run(self.run_id, config.run.name, config_hash, run_dir.resolve(), summary)

    def shard_done(self, shard: int, steps: list[StepStats]) -> None:
        for stats in steps:
            self.catalog.record_stage_shard(
                self.run_id,
                stats.step,
                shard,
                "skipped" if stats.resumed else "done",
                n_in=stats.n_in,
                n_kept=stats.kept,
                n_rejected=sum(stats.rejected.values()),
                seconds=stats.seconds,
            )

    def exported(self, run_dir: Path, manifest: dict[str, Any], final_shards: list[str]) -> None:
        self.catalog.add_records(self.run_id, _index_rows(run_dir, final_shards))
        self.catalog.add_quarantine(self.run_id, _quarantine_rows(run_dir))
        artifacts = [
            {
                "path": str((run_dir / rel).resolve()),
                "sha256": digest,
                "size": (run_dir / rel).stat().st_size,
                "kind": rel.split("/", 1)[0] if "/" in rel else "report",
            }
            for rel, digest in manifest["files"].items()
        ]
        self.catalog.add_artifacts(
            self.run_id,
            artifacts,
            action="export",
            details={"files": len(artifacts), "exported": manifest["counts"]["exported"]},
        )

    def finished(self, status: str, counts: dict[str, Any] | None = None) -> None:
        self.catalog.finish_run(self.run_id, status, counts or {})


def _index_rows(run_dir: Path, final_shards: list[str]) -> Iterator[dict[str, str]]:
    for rel in final_shards:
        for record in read_shard(run_dir / rel):
            yield record_index_row(record)


def _quarantine_rows(run_dir: Path) -> Iterator[Rejection]:
    decoder = msgspec.json.Decoder(Rejection)
    for path in sorted((run_dir / "quarantine").glob("*.jsonl")):
        with open(path, "rb") as handle:
            for line in handle:
                if line.strip():
                    yield decoder.decode(line)
