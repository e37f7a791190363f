"""A ``SourceContext`` over material already in hand, for the standalone script and for tests.

Inside a pipeline run the orchestrator provides the context; outside one, this class serves passages
and conversations from lists and runs an optional gate callable (no gate: every candidate passes); grounded generation also needs
the groundedness judge handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ai.core.config import ConfigError
from ai.core.context import GroundingJudge
from ai.core.records import Conversation, Passage
from ai.core.stage import Rejection

GateFn = Callable[[list[Conversation]], list[Rejection | None]]


class MaterialContext:
    def __init__(
        self,
        passages: Iterable[Passage] = (),
        conversations: Iterable[Conversation] = (),
        seed: int = 42,
        run_dir: Path | str = ".",
        gate: GateFn | None = None,
        judge: GroundingJudge | None = None,
    ) -> None:
        self._passages = list(passages)
        self._conversations = list(conversations)
        self.seed = seed
        self.run_dir = Path(run_dir)
        self._gate = gate
        self._judge = judge

    def passages(self) -> Iterator[Passage]:
        return iter(self._passages)

    def conversations(self) -> Iterator[Conversation]:
        return iter(self._conversations)

    def gate(self, batch: list[Conversation]) -> list[Rejection | None]:
        return self._gate(batch) if self._gate is not None else [None] * len(batch)

    def groundedness_judge(self) -> GroundingJudge:
        if self._judge is None:
            raise ConfigError(
                "grounded generation needs a groundedness judge: pass judge=GroundednessJudge.load() "
                "(ai.safety.groundedness) to MaterialContext"
            )
        return self._judge
