"""Pipeline stages for safety: ``crisis`` (score, tag and route) and ``content`` (therapist-turn filter).

Crisis conversations are valuable training data when the reply is safe, so the crisis stage keeps
them: it scores every conversation, routes crisis ones to the ``crisis_support`` category with tags and
evidence in ``meta["crisis"]``, and rejects only a conversation whose crisis turn is never answered by
the therapist. Whether the answer is *safe* is checked by the ``content`` stage (each therapist turn
judged in the context of the turns before it) and the ``ears`` stage (a collaborative safety step).

Where things live: the judges that score text (``CrisisDetector``, ``ContentFilter``) are in
``ai/safety/`` and know nothing of records or stages; this module is the thin ``GateStage`` layer that
applies them to conversations, as ``ears_compliance_gate.py`` and ``quality_gates.py`` do for theirs.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ai.core.records import Conversation
from ai.core.stage import GateStage, Rejection, StageOptions
from ai.safety.content.model import ContentModel
from ai.safety.content_filter import DEFAULT_MODEL_ROLES, DEFAULT_ROLE_CODES, ContentFilter, ContentVerdict
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
        # The client is the person judged: all their turns at once, so evidence adds up across turns
        # and second-person support or one idiom does not make the conversation a crisis. One call for
        # the batch is several times faster than one per record.
        client_turns = [_client_turns(record) for record in records]
        results = self.detector.detect_conversations([[text for _, text in turns] for turns in client_turns])
        return [
            self._verdict(record, result, [index for index, _ in turns])
            for record, result, turns in zip(records, results, client_turns, strict=True)
        ]

    def _verdict(
        self, record: Conversation, result: CrisisResult, turn_indices: list[int]
    ) -> Rejection | None:
        options = self.options
        record.scores["crisis"] = result.score
        if result.error:
            self.count("crisis_errors")
        if not result.is_crisis:
            return None
        self.count("crisis_flagged")
        first_turn = _first_crisis_turn(result, turn_indices)
        _route(record, result, first_turn, turn_indices, options)
        serious = LEVEL_RANK[result.level] >= LEVEL_RANK[options.unanswered_min_level] or bool(result.error)
        if options.reject_unanswered and serious and not _answered_after(record, first_turn):
            message = (
                f"client turn {first_turn} carries a crisis signal ({result.level}) and no therapist turn "
                "answers it"
            )
            return self.reject(record, "crisis_unanswered", message)
        return None


class ContentOptions(StageOptions, kw_only=True):
    # role -> keyword-rule codes checked for turns of that role (evidence and reason codes); a client may
    # voice crisis, so none by default
    roles: dict[str, list[str]] = msgspec.field(
        default_factory=lambda: {role: list(codes) for role, codes in DEFAULT_ROLE_CODES.items()}
    )
    # roles whose turns the learned model judges in context (its score decides)
    model_roles: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_MODEL_ROLES))
    # 0 = the model's gate threshold, chosen on training folds: the best DiaSafety F1 among the cuts that
    # flag at most 2% of development counsellors' and peer listeners' replies (docs/SAFETY.md).
    threshold: float = 0.0
    max_evidence: int = 10  # judged turns kept in meta["content"]

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError("threshold must be in [0, 1) (0 = the model's gate threshold)")


class ContentStage(GateStage[ContentOptions]):
    """Rejects conversations with a therapist turn that is unsafe given the turns before it.

    ``record.scores["content"]`` is the highest probability of an unsafe reply among the judged turns.
    """

    name = "content"
    version = "6"
    Options = ContentOptions
    stat_keys = ("content_unsafe_turns",)

    def __init__(self, options: ContentOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self._filter: ContentFilter | None = None  # built on first use, in the worker process

    @property
    def filter(self) -> ContentFilter:
        if self._filter is None:
            options = self.options
            model = ContentModel()
            threshold = options.threshold or model.gate_threshold
            self._filter = ContentFilter(options.roles, options.model_roles, threshold, model=model)
        return self._filter

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_filter": None}

    def judge(self, record: Conversation) -> Rejection | None:
        return self.judge_batch([record])[0]

    def judge_batch(self, records: list[Conversation]) -> list[Rejection | None]:
        # One model call for all replies of the batch: per-reply calls cost several times more.
        return [
            self._verdict(record, judged)
            for record, judged in zip(records, judge_turns(self.filter, records), strict=True)
        ]

    def _verdict(self, record: Conversation, judged: list[tuple[int, ContentVerdict]]) -> Rejection | None:
        record.scores["content"] = max((v.score for _, v in judged), default=0.0)
        # The model above the gate's threshold, or a precise keyword rule (methods, doses, diagnoses, harmful
        # validation, sexual content, harassment): the gate's stricter operating point must not let a
        # "take 100 mg tonight" through because the rest of the reply reads as kind.
        unsafe = [(index, verdict) for index, verdict in judged if not verdict.safe or verdict.hits]
        if not unsafe:
            return None
        self.count("content_unsafe_turns", len(unsafe))
        record.meta["content"] = [
            {"turn": i, "score": v.score, "codes": v.codes, "evidence": [h.text for h in v.hits]}
            for i, v in unsafe[: self.options.max_evidence]
        ]
        code, message = _rejection(record, unsafe)
        return self.reject(record, f"content_{code}", message)


def judge_turns(
    content_filter: ContentFilter, batch: list[Conversation]
) -> list[list[tuple[int, ContentVerdict]]]:
    """Per record, (turn index, verdict) for every turn of a judged role, each judged with the turns before
    it as context; one model call per role for the whole batch."""
    by_role: dict[str, list[tuple[int, int]]] = {}
    judged_roles = content_filter.model_roles | {
        r for r, codes in content_filter.rules.role_codes.items() if codes
    }
    for position, record in enumerate(batch):
        for index, turn in enumerate(record.turns):
            if turn.role in judged_roles and turn.text.strip():
                by_role.setdefault(turn.role, []).append((position, index))
    results: list[list[tuple[int, ContentVerdict]]] = [[] for _ in batch]
    for role, places in by_role.items():
        texts = [batch[p].turns[i].text for p, i in places]
        contexts = [[t.text for t in batch[p].turns[:i]] for p, i in places]
        for (position, index), verdict in zip(
            places, content_filter.check_batch(texts, role, contexts), strict=True
        ):
            results[position].append((index, verdict))
    for judged in results:
        judged.sort(key=lambda item: item[0])
    return results


def _rejection(record: Conversation, unsafe: list[tuple[int, ContentVerdict]]) -> tuple[str, str]:
    """The reason code (the first unsafe turn's first rule code, else the model's) and a sentence."""
    index, verdict = unsafe[0]
    rule_codes = [h.code for h in verdict.hits]
    code = rule_codes[0] if rule_codes else verdict.codes[0]
    role = record.turns[index].role
    message = f"{role} turn {index} is unsafe in context (p={verdict.score:.2f}; {', '.join(verdict.codes)})"
    if verdict.hits:
        message += f", e.g. {verdict.hits[0].text!r}"
    if len(unsafe) > 1:
        message += f"; {len(unsafe) - 1} more unsafe turn(s)"
    return code, message


def _client_turns(record: Conversation) -> list[tuple[int, str]]:
    """(turn index, text) of each client turn, in order."""
    return [(index, turn.text) for index, turn in enumerate(record.turns) if turn.role == "client"]


def _first_crisis_turn(result: CrisisResult, turn_indices: list[int]) -> int:
    """The turn of the earliest counted evidence; the first client turn when the model alone decided."""
    if not turn_indices:
        return 0
    counted = [e.message for e in result.evidence if not e.discount]
    return turn_indices[min(counted)] if counted else turn_indices[0]


def _route(
    record: Conversation,
    result: CrisisResult,
    first_turn: int,
    turn_indices: list[int],
    options: CrisisOptions,
) -> None:
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
            {"text": e.text, "category": e.category, "discount": e.discount, "turn": turn_indices[e.message]}
            for e in result.evidence[: options.max_evidence]
        ],
        **({"error": result.error} if result.error else {}),
    }


def _answered_after(record: Conversation, turn: int) -> bool:
    return any(t.role == "therapist" and t.text.strip() for t in record.turns[turn + 1 :])
