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
from ai.core.stage import GateStage, Rejection, StageOptions
from ai.safety.crisis_detection.patterns import LEVEL_RANK
from ai.safety.ears.judge import (
    DEFAULT_DIRECTIVE_PENALTY,
    DEFAULT_THRESHOLD,
    DEFAULT_WEIGHTS,
    ConversationJudgement,
    EarsJudge,
    gc_paused,
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


class EarsStage(GateStage[EarsOptions]):
    """Scores ``record.scores["ears"]`` and rejects conversations that fail the EARS gate."""

    name = "ears"
    version = "3"
    Options = EarsOptions

    def __init__(self, options: EarsOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self.judge_model = EarsJudge(self.options.weights, self.options.directive_penalty)
        self._score_total = 0.0
        self._records = 0

    def judge_batch(self, records: list[Conversation]) -> list[Rejection | None]:
        """All replies of the batch go through the model at once (one feature matrix)."""
        with gc_paused():  # see gc_paused: the batch allocates many small containers and no cycles
            judged = self.judge_model.judge_conversations(
                [openai_messages(record) for record in records], details=False
            )
        self._score_total = sum(j.score for j in judged)
        self._records = len(records)
        verdicts = []
        for record, judgement in zip(records, judged, strict=True):
            record.scores["ears"] = judgement.score
            verdicts.append(self.verdict(record, judgement))
        return verdicts

    def judge(self, record: Conversation) -> Rejection | None:
        return self.judge_batch([record])[0]

    def batch_stats(self) -> dict[str, float]:
        return {"ears_mean": round(self._score_total / self._records, 4) if self._records else 0.0}

    def verdict(self, record: Conversation, judgement: ConversationJudgement) -> Rejection | None:
        if not judgement.n_replies:
            return self.reject(record, "ears_no_therapist_reply", "no therapist turn answers a client")
        crisis_turn = self._crisis_turn(record)
        if (
            crisis_turn is not None
            and self.options.require_safety_step
            and not judgement.safety_step_after(crisis_turn)
        ):
            message = f"client turn {crisis_turn} carries a crisis signal and no later therapist turn offers a safety step"
            return self.reject(record, "ears_missing_safety_step", message)
        if judgement.score < self.options.threshold:
            message = f"EARS score {judgement.score:.2f} is below the threshold {self.options.threshold:.2f}"
            return self.reject(record, "ears_below_threshold", message)
        return None

    def _crisis_turn(self, record: Conversation) -> int | None:
        """The crisis stage leaves ``meta["crisis"]`` with the level and the first crisis client turn."""
        crisis = record.meta.get("crisis")
        if not isinstance(crisis, dict) or not crisis.get("is_crisis"):
            return None
        minimum = LEVEL_RANK[self.options.safety_step_min_level]
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
