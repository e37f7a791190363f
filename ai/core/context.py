"""What a source that builds on other sources (grounded generation, counterfactual augmentation) is given.

Sources never import pipeline code: the orchestrator hands them this context, whose ``gate`` runs the
run's own per-record stages, so a generator can keep going until N candidates pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from ai.core.records import Conversation, Passage
from ai.core.stage import Rejection


class SourceContext(Protocol):
    seed: int
    run_dir: Path

    def passages(self) -> Iterator[Passage]:
        """Every passage the run's earlier sources produced, in ingest order."""

    def conversations(self) -> Iterator[Conversation]:
        """Every conversation the run's earlier sources produced (as ingested, before any stage)."""

    def gate(self, batch: list[Conversation]) -> list[Rejection | None]:
        """Run the run's per-record stages on candidates: None where a candidate passes, else why not."""
