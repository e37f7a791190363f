"""Pipeline stages for safety: ``crisis`` (score, tag and route) and ``content`` (therapist-turn filter).

Crisis conversations are valuable training data when the reply is safe, so the crisis stage keeps
them: it scores every conversation, routes crisis ones to the ``crisis_support`` category with tags and
evidence in ``meta["crisis"]``, and rejects only a conversation whose crisis turn is never answered by
the therapist. Whether the answer is *safe* is checked by the ``content`` stage (harmful content) and
the ``ears`` stage (a collaborative safety step).

Where things live: the judges that score text (``CrisisDetector``, ``ContentFilter``) are in
``ai/safety/`` and know nothing of records or stages; this module is the thin ``GateStage`` layer that
applies them to conversations, as ``ears_compliance_gate.py`` and ``quality_gates.py`` do for theirs.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ai.core.records import Conversation
from ai.core.stage import GateStage, Rejection, StageOptions
from ai.safety.content_filter import DEFAULT_ROLE_CODES, ContentFilter
from ai.safety.crisis_detection.patterns import LEVEL_RANK
from ai.safety.crisis_detection.production_crisis_detector import CrisisDetector, CrisisResult


class CrisisOptions(StageOptions, kw_only=True):
    threshold: float = 0.0  # 0 = the calibrated threshold shipped with the model
    route_category: str = "crisis_support"
    # Crises below this level are scored and tagged ("crisis", "crisis_level:indicator") but keep their
    # category: the detector is tuned for >= 95% sensitivity, so a model-only "indicator" is often plain
    # distress. "indicator" routes every detected crisis.
    route_min_level: str = "ideation"
    reject_unanswered: bool = True
    # Crises at or above this level need a therapist turn after the crisis turn.
    unanswered_min_level: str = "ideation"
    max_evidence: int = 5  # evidence spans kept in meta["crisis"]

    def __post_init__(self) -> None:
        for key in ("unanswered_min_level", "route_min_level"):
            if getattr(self, key) not in LEVEL_RANK:
                raise ValueError(f"{key} must be one of {list(LEVEL_RANK)}")
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError("threshold must be in [0, 1) (0 = calibrated)")


class CrisisStage(GateStage[CrisisOptions]):
    """Scores ``record.scores["crisis"]`` from the client turns; routes and tags crisis conversations."""

    name = "crisis"
    version = "1"
    Options = CrisisOptions
    stat_keys = ("crisis_flagged", "crisis_errors")

    def __init__(self, options: CrisisOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self._detector: CrisisDetector | None = None  # built on first use, in the worker process

    @property
    def detector(self) -> CrisisDetector:
        if self._detector is None:
            self._detector = CrisisDetector(threshold=self.options.threshold or None)
        return self._detector

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_detector": None}

    def judge(self, record: Conversation) -> Rejection | None:
        return self.judge_batch([record])[0]

    def judge_batch(self, records: list[Conversation]) -> list[Rejection | None]:
        # The detector's model scores a whole batch in one call, several times faster than one by one.
        texts, offsets = (
            zip(*(_client_text(record) for record in records), strict=True) if records else ((), ())
        )
        results = self.detector.detect_batch(list(texts))
        return [
            self._verdict(record, result, turn_offsets)
            for record, result, turn_offsets in zip(records, results, offsets, strict=True)
        ]

    def _verdict(
        self, record: Conversation, result: CrisisResult, turn_offsets: list[tuple[int, int]]
    ) -> Rejection | None:
        options = self.options
        record.scores["crisis"] = result.score
        if result.error:
            self.count("crisis_errors")
        if not result.is_crisis:
            return None
        self.count("crisis_flagged")
        first_turn = _first_crisis_turn(result, turn_offsets)
        _route(record, result, first_turn, options)
        serious = LEVEL_RANK[result.level] >= LEVEL_RANK[options.unanswered_min_level] or bool(result.error)
        if options.reject_unanswered and serious and not _answered_after(record, first_turn):
            message = (
                f"client turn {first_turn} carries a crisis signal ({result.level}) and no therapist turn "
                "answers it"
            )
            return self.reject(record, "crisis_unanswered", message)
        return None


class ContentOptions(StageOptions, kw_only=True):
    # role -> reason codes checked for turns of that role; a client may voice crisis, so none by default
    roles: dict[str, list[str]] = msgspec.field(
        default_factory=lambda: {role: list(codes) for role, codes in DEFAULT_ROLE_CODES.items()}
    )


class ContentStage(GateStage[ContentOptions]):
    """Rejects conversations whose therapist (or system) turns carry harmful content, per reason code."""

    name = "content"
    version = "1"
    Options = ContentOptions

    def __init__(self, options: ContentOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self.filter = ContentFilter(self.options.roles)

    def judge(self, record: Conversation) -> Rejection | None:
        findings = []
        for index, turn in enumerate(record.turns):
            verdict = self.filter.check(turn.text, turn.role)
            findings += [(index, turn.role, hit) for hit in verdict.hits]
        record.scores["content"] = 0.0 if findings else 1.0
        if not findings:
            return None
        index, role, hit = findings[0]
        codes = sorted({h.code for _, _, h in findings})
        message = f"{role} turn {index} contains {hit.code.replace('_', ' ')} ({hit.text!r})"
        if len(codes) > 1:
            message += f"; also {', '.join(c for c in codes if c != hit.code)}"
        record.meta["content_hits"] = [
            {"turn": i, "code": h.code, "text": h.text} for i, _, h in findings[:10]
        ]
        return self.reject(record, f"content_{hit.code}", message)


def _client_text(record: Conversation) -> tuple[str, list[tuple[int, int]]]:
    """The client turns joined by newlines, and (start offset, turn index) per client turn."""
    parts, offsets, position = [], [], 0
    for index, turn in enumerate(record.turns):
        if turn.role == "client":
            offsets.append((position, index))
            parts.append(turn.text)
            position += len(turn.text) + 1
    return "\n".join(parts), offsets


def _first_crisis_turn(result: CrisisResult, offsets: list[tuple[int, int]]) -> int:
    counted = [e.start for e in result.evidence if not e.discount]
    if not offsets:
        return 0
    if not counted:
        return offsets[0][1]
    start = min(counted)
    turn = offsets[0][1]
    for position, index in offsets:
        if position <= start:
            turn = index
    return turn


def _route(record: Conversation, result: CrisisResult, first_turn: int, options: CrisisOptions) -> None:
    if LEVEL_RANK[result.level] >= LEVEL_RANK[options.route_min_level]:
        record.category = options.route_category
    tags = ["crisis", f"crisis_level:{result.level}", *(f"crisis:{c}" for c in result.categories)]
    if result.error:
        tags.append("crisis_detector_error")
    record.tags = [*record.tags, *(t for t in tags if t not in record.tags)]
    record.meta["crisis"] = {
        "is_crisis": True,
        "level": result.level,
        "categories": list(result.categories),
        "first_turn": first_turn,
        "model_score": result.model_score,
        "evidence": [
            {"text": e.text, "category": e.category, "discount": e.discount}
            for e in result.evidence[: options.max_evidence]
        ],
        **({"error": result.error} if result.error else {}),
    }


def _answered_after(record: Conversation, turn: int) -> bool:
    return any(t.role == "therapist" and t.text.strip() for t in record.turns[turn + 1 :])
