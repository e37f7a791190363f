"""EARS gate: the stage that applies the EARS judge (``ai/safety/ears``) to conversations.

The judge scores how well each therapist reply empathizes, acknowledges, reflects and supports the
client, from models fitted on human labels (see ``ai/safety/ears/model/MODEL_CARD.md``); this stage
stores the conversation score in ``record.scores["ears"]`` and rejects a conversation that

- scores below ``threshold`` (``ears_below_threshold``),
- carries a crisis signal (crisis stage level >= ``safety_step_min_level``) and no therapist turn after
  the crisis turn offers a collaborative safety step (``ears_missing_safety_step``),
- has no therapist turn answering a client (``ears_no_therapist_reply``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import msgspec

from ai.core.records import Conversation, openai_messages
from ai.core.stage import Stage, StageOptions, StageResult
from ai.safety.crisis_detection.patterns import LEVEL_RANK
from ai.safety.ears.judge import (
    DEFAULT_DIRECTIVE_PENALTY,
    DEFAULT_THRESHOLD,
    DEFAULT_WEIGHTS,
    ConversationJudgement,
    EarsJudge,
)


def score_response(client_text: str, therapist_text: str) -> float:
    """EARS score (0..1) of one therapist reply to the client text, with the default judge."""
    return _default_judge().score_response(client_text, therapist_text)


def score_conversation(messages: Sequence[Mapping[str, Any]]) -> float:
    """EARS score (0..1) of a conversation given as OpenAI-format messages (``role`` user/assistant/
    system, ``content``): the score the stage compares with its threshold, with the default options."""
    return _default_judge().score_conversation(messages)


class EarsOptions(StageOptions, kw_only=True):
    """``stages.ears`` in the config."""

    # The model card reports the pass rate of real counselling (counsel-chat, ESConv, AnnoMI,
    # EmpatheticDialogues) at this default; shipped configs do not change it.
    threshold: float = DEFAULT_THRESHOLD
    weights: dict[str, float] = msgspec.field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    directive_penalty: float = DEFAULT_DIRECTIVE_PENALTY
    require_safety_step: bool = True
    # Crisis conversations at or above this level must hold a safety step (see the crisis stage).
    safety_step_min_level: str = "ideation"

    def __post_init__(self) -> None:
        if self.safety_step_min_level not in LEVEL_RANK:
            raise ValueError(f"safety_step_min_level must be one of {list(LEVEL_RANK)}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {self.threshold}")


class EarsStage(Stage):
    """Scores ``record.scores["ears"]`` and rejects conversations that fail the EARS gate."""

    name = "ears"
    version = "2"
    Options = EarsOptions

    def __init__(self, options: EarsOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        opts: EarsOptions = self.options  # type: ignore[assignment]
        self.judge = EarsJudge(opts.weights, opts.directive_penalty)

    def process(self, batch: list[Conversation]) -> StageResult:
        kept, rejected = [], []
        judged = self.judge.judge_conversations([openai_messages(record) for record in batch])
        for record, judgement in zip(batch, judged, strict=True):
            record.scores["ears"] = judgement.score
            verdict = self.verdict(judgement, self._crisis_turn(record))
            if verdict is None:
                kept.append(record)
            else:
                rejected.append(self.reject(record, *verdict))
        total = sum(j.score for j in judged)
        stats = {"ears_mean": round(total / len(batch), 4) if batch else 0.0}
        return StageResult(kept=kept, rejected=rejected, stats=stats)

    def verdict(self, judgement: ConversationJudgement, crisis_turn: int | None) -> tuple[str, str] | None:
        """(reason, message) of a conversation that fails the gate, or None."""
        opts: EarsOptions = self.options  # type: ignore[assignment]
        if not judgement.replies:
            return "ears_no_therapist_reply", "no therapist turn answers a client"
        if (
            crisis_turn is not None
            and opts.require_safety_step
            and not judgement.safety_step_after(crisis_turn)
        ):
            return (
                "ears_missing_safety_step",
                f"client turn {crisis_turn} carries a crisis signal and no later therapist turn offers a safety step",
            )
        if judgement.score < opts.threshold:
            return (
                "ears_below_threshold",
                f"EARS score {judgement.score:.2f} is below the threshold {opts.threshold:.2f}",
            )
        return None

    def _crisis_turn(self, record: Conversation) -> int | None:
        """The crisis stage leaves ``meta["crisis"]`` with the level and the first crisis client turn."""
        crisis = record.meta.get("crisis")
        if not isinstance(crisis, dict) or not crisis.get("is_crisis"):
            return None
        minimum = LEVEL_RANK[self.options.safety_step_min_level]  # type: ignore[attr-defined]
        if LEVEL_RANK.get(str(crisis.get("level", "none")), 0) < minimum:
            return None
        turn = crisis.get("first_turn")
        return int(turn) if isinstance(turn, int) else 0


def summarise_ears(scores: list[float], threshold: float) -> dict[str, Any]:
    """Dataset-level EARS view: mean, quartiles, pass rate and a 10-bin histogram."""
    if not scores:
        return {"n": 0, "mean": None, "pass_rate": None, "histogram": [0] * 10}  # nosec B105  # a gate pass rate, not a password
    ordered = sorted(scores)
    histogram = [0] * 10
    for value in ordered:
        histogram[min(9, int(value * 10))] += 1

    def quantile(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)

    return {
        "n": len(ordered),
        "mean": round(sum(ordered) / len(ordered), 4),
        "p25": quantile(0.25),
        "median": quantile(0.5),
        "p75": quantile(0.75),
        "pass_rate": round(sum(v >= threshold for v in ordered) / len(ordered), 4),
        "histogram": histogram,
    }


@cache
def _default_judge() -> EarsJudge:
    return EarsJudge()
