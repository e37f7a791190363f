"""What a source that builds on other sources (grounded generation, counterfactual augmentation) is given.

Sources never import pipeline code: the orchestrator hands them this context, whose ``gate`` runs the
run's own per-record stages, so a generator can keep going until N candidates pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from ai.core.records import Conversation, Passage
from ai.core.stage import Rejection


class GroundingVerdict(Protocol):
    passed: bool
    reason: str | None
    weakest: float

    def explain(self) -> str:
        """A sentence saying which claim the passage does not support, or that it was not used."""


class GroundingJudge(Protocol):
    """The groundedness judge a generator is handed (ai/safety/groundedness), so sources need not import it."""

    def embed(self, texts: Sequence[str]) -> Any:
        """One row vector per text in the judge's similarity space."""

    def judge(self, reply: str, passage: str, client_turns: Sequence[str] = ()) -> GroundingVerdict:
        """Whether every factual claim of ``reply`` is supported by ``passage``."""


class SourceContext(Protocol):
    seed: int
    run_dir: Path

    def passages(self) -> Iterator[Passage]:
        """Every passage the run's earlier sources produced, in ingest order."""

    def conversations(self) -> Iterator[Conversation]:
        """Every conversation the run's earlier sources produced (as ingested, before any stage)."""

    def gate(self, batch: list[Conversation]) -> list[Rejection | None]:
        """Run the run's per-record stages on candidates: None where a candidate passes, else why not."""

    def groundedness_judge(self) -> GroundingJudge:
        """The judge that checks a generated reply against the passage it cites."""
