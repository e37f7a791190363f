"""Read every configured source, stream records into fixed-size shards, and set passages aside.

Ingest is one streaming pass in the orchestrator's process: records are read in config order, cut into
shards of ``run.shard_size`` conversations, and each shard is written durably before the next is
read, so memory does not grow with the input. Rows a reader could not parse arrive as Rejections and
go to the ingest quarantine of the shard being filled. Passages (papers, books, transcripts) are
written to ``work/ingest/passages.jsonl`` for grounded generation.
"""

from __future__ import annotations

import importlib
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ai.core.config import PipelineConfig, SourceConfig
from ai.core.context import SourceContext
from ai.core.records import Conversation, Passage, decode_passage, encode
from ai.core.stage import Rejection
from ai.pipelines.orchestrator.checkpoint_manager import CheckpointManager, atomic_writer
from ai.pipelines.orchestrator.logger import RunLogger
from ai.pipelines.orchestrator.shard_runner import (
    read_shard,
    relax_gc,
    shard_output,
    shard_rejects,
    write_shard,
)
from ai.safety.groundedness import GroundednessJudge
from ai.sourcing.registry import DERIVED_KINDS, SOURCE_READERS

GateFn = Callable[[list[Conversation]], list[Rejection | None]]

PASSAGES_PATH = "work/ingest/passages.jsonl"


class SourceError(RuntimeError):
    """A source could not be read at all (missing file, unknown format ...)."""


def read_source(
    source: SourceConfig, base_dir: Path, context: SourceContext | None = None
) -> Iterator[Conversation | Passage | Rejection]:
    module_name = SOURCE_READERS[source.kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SourceError(f"source {source.name!r}: kind {source.kind!r} is not available ({exc})") from exc
    if source.kind in DERIVED_KINDS:
        yield from module.read_source(source, base_dir, context)
    else:
        yield from module.read_source(source, base_dir)


class RunSourceContext:
    """The SourceContext of one ingest: what earlier sources wrote, and the run's per-record gates."""

    def __init__(self, run_dir: Path, seed: int, shard_paths: list[str], gate: GateFn) -> None:
        self.run_dir = run_dir
        self.seed = seed
        self._shard_paths = shard_paths
        self._gate = gate

    def passages(self) -> Iterator[Passage]:
        path = self.run_dir / PASSAGES_PATH
        if path.exists():
            with open(path, "rb") as handle:
                for line in handle:
                    if line.strip():
                        yield decode_passage(line)

    def conversations(self) -> Iterator[Conversation]:
        for rel in list(self._shard_paths):
            yield from read_shard(self.run_dir / rel)

    def gate(self, batch: list[Conversation]) -> list[Rejection | None]:
        return self._gate(batch)

    def groundedness_judge(self) -> GroundednessJudge:
        return GroundednessJudge.load()


class Ingestor:
    def __init__(
        self, config: PipelineConfig, run_dir: Path, log: RunLogger, step_hash: str, gate: GateFn
    ) -> None:
        self.config = config
        self.gate = gate
        self.run_dir = run_dir
        self.log = log
        self.hash = step_hash
        self.checkpoints = CheckpointManager(run_dir)

    def run(self) -> dict[str, Any]:
        """Ingest unless a complete ingest with the same hash exists; return the completion marker."""
        marker = self.checkpoints.valid("ingest", "complete", self.hash, self.run_dir)
        if marker is not None:
            self.log.event("ingest_resumed", echo=f"ingest: resumed ({len(marker['shards'])} shards)")
            return marker
        self.checkpoints.clear_step("ingest")
        relax_gc()
        self._shards: list[dict[str, Any]] = []
        self._batch: list[Conversation] = []
        self._rejects: list[Rejection] = []
        primary = [s for s in self.config.sources if s.enabled and s.kind not in DERIVED_KINDS]
        derived = [s for s in self.config.sources if s.enabled and s.kind in DERIVED_KINDS]
        passages = 0
        with atomic_writer(self.run_dir / PASSAGES_PATH) as passage_file:
            for item in self._items(primary, None):
                if isinstance(item, Passage):
                    passage_file.write(encode(item) + b"\n")
                    passages += 1
                else:
                    self._add(item)
        if derived:
            # Derived sources read every shard the primary sources produced, so close the partial one.
            self._flush()
            context = RunSourceContext(
                self.run_dir, self.config.run.seed, [s["output"] for s in self._shards], self.gate
            )
            for item in self._items(derived, context):
                if isinstance(item, Passage):
                    raise SourceError("derived sources may not produce passages")
                self._add(item)
        if self._batch or self._rejects or not self._shards:
            self._flush()
        shards = self._shards
        outputs = [s["output"] for s in shards] + [s["rejects"] for s in shards] + [PASSAGES_PATH]
        self.checkpoints.mark_done("ingest", "complete", self.hash, outputs, shards=shards, passages=passages)
        return self.checkpoints.read("ingest", "complete") or {}

    def _add(self, item: Conversation | Rejection) -> None:
        if isinstance(item, Conversation):
            self._batch.append(item)
            if len(self._batch) >= self.config.run.shard_size:
                self._flush()
        else:
            self._rejects.append(item)
            self._check_on_error(item)

    def _flush(self) -> None:
        if self._batch or self._rejects:
            self._shards.append(self._write_shard(len(self._shards), self._batch, self._rejects))
            self._batch, self._rejects = [], []

    def _items(
        self, sources: list[SourceConfig], context: SourceContext | None
    ) -> Iterator[Conversation | Passage | Rejection]:
        base_dir = Path(self.config.base_dir or ".")
        for source in sources:
            counts: Counter[str] = Counter()
            self.log.event(
                "source_started", source=source.name, kind=source.kind, echo=f"reading {source.name}"
            )
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for item in read_source(source, base_dir, context):
                    counts[type(item).__name__] += 1
                    yield item
                    self._flush_warnings(source, caught)
            self._flush_warnings(source, caught)
            self.log.event("source_finished", source=source.name, counts=dict(counts))

    def _flush_warnings(self, source: SourceConfig, caught: list[warnings.WarningMessage]) -> None:
        for warning in caught:
            self.log.warning(
                "source_warning",
                source=source.name,
                message=str(warning.message),
                echo=f"warning: {source.name}: {warning.message}",
            )
        caught.clear()

    def _check_on_error(self, rejection: Rejection) -> None:
        if self.config.run.on_error == "fail":
            raise SourceError(f"{rejection.locator or 'input'}: {rejection.message} (run.on_error is 'fail')")

    def _write_shard(self, index: int, batch: list[Conversation], rejects: list[Rejection]) -> dict[str, Any]:
        output, rejected = shard_output("ingest", index), shard_rejects("ingest", index)
        write_shard(self.run_dir / output, batch)
        write_shard(self.run_dir / rejected, rejects)
        by_reason = Counter(r.reason for r in rejects)
        self.log.event("ingest_shard", shard=index, kept=len(batch), rejected=dict(by_reason))
        return {
            "shard": index,
            "output": output,
            "rejects": rejected,
            "n_in": len(batch) + len(rejects),
            "kept": len(batch),
            "rejected": dict(by_reason),
        }
