"""EARS gate: does each therapist reply follow the empathy-first response style?

EARS = Empathize (name the feeling), Acknowledge (validate without minimising), Reflect (mirror the
client's own words and themes), Support (a small collaborative next step, autonomy language, an open
question). Replies lose points for minimising ("you'll be fine"), judgement, prescriptive or medical
advice, and for leading with hotlines when the client shows no risk. When a conversation carries a
crisis signal, a therapist turn after the crisis turn must hold a collaborative safety step.

Each part is a transparent lexical check so that a reviewer can see *why* a reply scored as it did
(``evidence``); weights, penalties and thresholds are options in the config (``stages.ears``).
``benchmarks/bench_safety.py`` validates the score against AnnoMI's high/low MI-quality labels and
ESConv's seeker empathy ratings (results in docs/SAFETY.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ai.core.records import Conversation
from ai.core.stage import Stage, StageOptions, StageResult
from ai.safety.case_folded import CaseFoldedPattern, RuleSet, matched_text
from ai.safety.content_filter import TRIGGERS as CONTENT_TRIGGERS
from ai.safety.content_filter import ContentRules
from ai.safety.crisis_detection.patterns import LEVEL_RANK, PatternLayer, may_hit

COMPONENTS = ("empathize", "acknowledge", "reflect", "support")
PENALTIES = ("minimising", "judgement", "prescriptive", "premature_hotline", "lecturing")

A = r"(?:['’`´])?"
EMOTIONS = (
    r"sad(?:ness)?|upset|hurt(?:ing)?|angry|anger|mad|frustrat\w*|anxious|anxiety|worried|worry|scared|"
    r"afraid|fear\w*|terrified|lonely|alone|isolated|overwhelm\w*|stress\w*|exhaust\w*|tired|drained|"
    r"hopeless|helpless|guilt\w*|asham\w*|shame|embarrass\w*|disappoint\w*|heartbroken|grie\w+|loss|"
    r"depress\w*|down|low|miserable|confus\w*|lost|stuck|torn|conflicted|nervous|panic\w*|insecure|"
    r"rejected|betrayed|jealous|resent\w*|bitter|empty|numb|worthless|unappreciated|ignored|pain\w*|"
    r"difficult|hard|tough|struggl\w*|happy|relie\w+|proud|excited|hopeful|grateful|ambivalent|unsure"
)
EMPATHY = (
    rf"\b(?:you{A}re|you are|you{A}ve been|you have been|you{A}re been) (?:\w+ )?(?:feeling|felt) (?:\w+ )?",
    r"\b(?:you|u) (?:feel|felt|must feel|might feel|may feel|seem|sound)\b",
    r"\b(?:it |that )?(?:sounds|seems|looks) (?:like )?(?:it (?:is|was|has been) )?(?:really |so |very |quite )?",
    rf"\bmust (?:be|have been|feel)\b|\bi can (?:imagine|hear|see|sense|understand)\b|\bi{A}m sorry\b",
)
ACKNOWLEDGE = (
    r"\bmakes? (?:a lot of |complete |total )?sense\b|\b(?:very |completely |totally )?understandable\b",
    rf"\b(?:it{A}s|it is|that{A}s|that is) (?:okay|ok|normal|natural|human|valid|fair) to\b|\bno wonder\b",
    rf"\b(?:that{A}s|that is|it{A}s|it is|that sounds|sounds) (?:really |so |very |incredibly )?"
    r"(?:hard|tough|difficult|painful|a lot|heavy|exhausting|overwhelming|frustrating|scary|upsetting)\b",
    r"\bthank you for (?:sharing|telling|trusting|opening|being)\b|\bi hear (?:you|that|what)\b",
    rf"\b(?:you{A}re|you are) not alone\b|\banyone (?:would|in your)\b|\bof course you\b|\bvalid\b",
    r"\b(?:glad|grateful) (?:that )?you (?:told|shared|reached|said|came|opened)\b|\bi appreciate (?:you|that|your)\b|\bthat took (?:courage|strength)\b|\bgood (?:for you|point)\b",
)
REFLECTION_STEMS = (
    rf"\b(?:it )?(?:sounds|seems) like\b|\byou{A}re saying\b|\bwhat i{A}m hearing\b|\bso you\b|\byou mentioned\b",
    rf"\byou said\b|\byou feel like\b|\bif i understand\b|\bin other words\b|\bon (?:the )?one hand\b|\byou{A}re (?:\w+ )?(?:wondering|thinking|worried)\b",
)
OPEN_QUESTION = r"(?:^|[.!?]\s+|\b(?:and|so|but)\s+)(?:what|how|when|where|which|who|tell me|could you|can you|would you|in what)\b[^?]*\?"
AUTONOMY = (
    rf"\bwould you (?:like|be (?:willing|open|interested))\b|\bif you{A}?d like\b|\bif you want\b|\bwhat do you think\b",
    rf"\bup to you\b|\byour (?:choice|decision|call)\b|\bwhen you{A}re ready\b|\btogether\b|\bwe could\b|\bwe can\b",
    r"\bwould it help\b|\bare you open to\b|\bhow would you feel about\b|\byou might (?:consider|try|want)\b|\bwhat would\b",
)
NEXT_STEP = (
    r"\b(?:one |a )?small (?:step|thing)\b|\bnext step\b|\bthis week\b|\bstart (?:with|by)\b|\btry\b|\bplan\b",
    r"\bpractice\b|\bnotice\b|\bwrite (?:down|it)\b|\breach out\b|\btalk (?:to|with)\b|\bexplore\b",
)
MINIMISING = (
    rf"\byou{A}ll be (?:fine|ok|okay|alright)\b|\bdon{A}t worry\b|\bnot (?:a|that) big (?:deal|of a deal)\b",
    rf"\b(?:it{A}s|it is|that{A}s) not that bad\b|\bget over it\b|\bcheer up\b|\bbright side\b|\bat least you\b",
    r"\beverything happens for a reason\b|\bothers have it worse\b|\bcould be worse\b|\bcalm down\b|\bjust relax\b",
    rf"\bstop (?:being|feeling|worrying|overthinking)\b|\bsnap out of\b|\bit{A}s all in your head\b|\bmove on\b",
)
JUDGEMENT = (
    rf"\byou (?:should|shouldn{A}t) have\b|\bthat{A}s (?:wrong|stupid|selfish|ridiculous|silly)\b|\byour (?:own )?fault\b",
    rf"\bwhat were you thinking\b|\byou{A}re (?:overreacting|being (?:dramatic|ridiculous|silly|selfish|childish))\b",
    r"\bshame on you\b|\byou only have yourself\b|\bhow could you\b",
)
PRESCRIPTIVE = (
    r"\byou (?:need|have|must|ought) to\b|\byou must\b|\byou should (?:just )?(?:take|stop|start|go|leave|quit|get|tell|"
    r"break|dump|divorce|move)\b|\bthe (?:answer|solution) is\b|\bdo this\b",
)
HOTLINE = r"\b(?:hotline|helpline|crisis (?:line|text line|center|team)|lifeline|samaritans|988|911|999|112|emergency (?:room|services|department)|call (?:the )?(?:police|an ambulance))\b"
SAFETY_STEP = (
    r"\bare you (?:safe|somewhere safe|in (?:a )?safe place)\b|\b(?:your |keep you |stay )safe(?:ty)?\b|\bsafety plan\b",
    r"\b(?:thinking about|thoughts of) (?:ending|killing|suicide|hurting)\b|\bhave you (?:thought|made) (?:about )?a plan\b",
    HOTLINE,
    r"\b(?:reach out|talk|call|text|contact) (?:to )?(?:someone|a (?:friend|family member|doctor|counsell?or|therapist)|"
    r"your (?:doctor|therapist|gp|counsell?or))\b|\bstay with you\b|\bright now\b|\bremove (?:the|any) means\b",
)

_CONTENT_WORD = re.compile(r"[a-z]{4,}")
_STOPWORDS = frozenset(
    [
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "always",
        "an",
        "and",
        "any",
        "are",
        "around",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "came",
        "can",
        "cannot",
        "come",
        "could",
        "did",
        "does",
        "doing",
        "done",
        "down",
        "during",
        "each",
        "even",
        "ever",
        "every",
        "feel",
        "feels",
        "felt",
        "from",
        "further",
        "get",
        "gets",
        "getting",
        "give",
        "going",
        "gone",
        "gonna",
        "good",
        "got",
        "had",
        "has",
        "have",
        "having",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "however",
        "into",
        "its",
        "itself",
        "just",
        "know",
        "like",
        "made",
        "make",
        "many",
        "maybe",
        "more",
        "most",
        "much",
        "must",
        "myself",
        "never",
        "next",
        "none",
        "only",
        "other",
        "others",
        "ought",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "really",
        "same",
        "said",
        "says",
        "shall",
        "she",
        "should",
        "since",
        "some",
        "something",
        "still",
        "such",
        "sure",
        "take",
        "than",
        "that",
        "thats",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "thing",
        "things",
        "think",
        "this",
        "those",
        "though",
        "through",
        "time",
        "too",
        "under",
        "until",
        "very",
        "want",
        "wanted",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "yeah",
        "yes",
        "you",
        "your",
        "yours",
        "yourself",
        "okay",
        "right",
        "well",
        "mean",
        "kind",
        "sort",
        "lot",
        "lots",
        "actually",
    ]
)


class EarsOptions(StageOptions, kw_only=True):
    """Rubric and thresholds (``stages.ears`` in the config)."""

    # A conversation scoring below this is rejected. 0.05 rejects roughly the worst 5% of ESConv
    # dialogues (see docs/SAFETY.md for the distributions it was read from).
    threshold: float = 0.05
    # How reply scores make a conversation score: the mean of the better half ("top_half") does not
    # punish greetings and short acknowledgements the way a plain mean does; "mean" and "max" also work.
    aggregate: str = "top_half"
    weights: dict[str, float] = msgspec.field(
        default_factory=lambda: {"empathize": 0.3, "acknowledge": 0.2, "reflect": 0.3, "support": 0.2}
    )
    penalties: dict[str, float] = msgspec.field(
        default_factory=lambda: {
            "minimising": 0.2,
            "judgement": 0.25,
            "prescriptive": 0.25,
            "premature_hotline": 0.2,
            "lecturing": 0.15,
        }
    )
    # A reply longer than this is a monologue, not a client-centred response ("lecturing").
    max_reply_words: int = 80
    reflection_words: int = 3  # shared content words for a full reflection score
    require_safety_step: bool = True
    # Crisis conversations at or above this level must hold a safety step (see the crisis stage).
    safety_step_min_level: str = "ideation"

    def __post_init__(self) -> None:
        unknown = (set(self.weights) - set(COMPONENTS)) | (set(self.penalties) - set(PENALTIES))
        if unknown:
            raise ValueError(f"unknown EARS rubric keys {sorted(unknown)}; use {COMPONENTS} and {PENALTIES}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("EARS weights must add up to more than 0")
        if self.aggregate not in _AGGREGATES:
            raise ValueError(f"aggregate must be one of {sorted(_AGGREGATES)}")
        if self.safety_step_min_level not in LEVEL_RANK:
            raise ValueError(f"safety_step_min_level must be one of {list(LEVEL_RANK)}")


@dataclass(slots=True)
class ResponseScore:
    score: float
    components: dict[str, float]
    penalties: list[str]
    evidence: list[str] = field(default_factory=list)
    risk_present: bool = False
    safety_step: bool = False


@dataclass(slots=True)
class ConversationEars:
    score: float
    passed: bool
    reason: str  # "" | ears_below_threshold | ears_missing_safety_step | ears_no_therapist_reply
    message: str
    responses: list[ResponseScore]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "passed": self.passed,
            "reason": self.reason,
            "responses": [
                {
                    "score": r.score,
                    "components": r.components,
                    "penalties": r.penalties,
                    "evidence": r.evidence,
                }
                for r in self.responses
            ],
        }


class EarsComplianceGate:
    """Scores replies and conversations against the EARS rubric in ``options``."""

    def __init__(self, options: EarsOptions | None = None) -> None:
        self.options = options or EarsOptions()
        self._patterns = PatternLayer()
        self._content = ContentRules({"therapist": ("medication_dosing", "diagnosis")})
        # Every rubric question of a reply, and the content filter's cheap trigger, in one scan.
        rubric = {name: _any(regexes) for name, regexes in _RUBRIC.items()}
        self._rules = RuleSet({**rubric, _CONTENT_TRIGGER: CONTENT_TRIGGERS})

    def score_response(self, client_text: str, therapist_text: str) -> float:
        return self.evaluate_response(client_text, therapist_text).score

    def evaluate_response(
        self, client_text: str, therapist_text: str, risk: bool | None = None, explain: bool = True
    ) -> ResponseScore:
        """Score one reply; ``risk`` says whether the client shows risk (found from the text if None).

        ``explain=False`` skips the evidence (the words each rule matched): the score is the same, and
        finding the words is most of the cost once the one-pass scan has answered every rule.
        """
        if risk is None:
            risk = any(h.counts for h in self._patterns.scan_one(client_text))
        evidence: list[str] | None = [] if explain else None
        hits = self._rules.matching(therapist_text)
        safety = "safety_step" in hits
        support = self._support(therapist_text, hits, evidence)
        if risk and safety:
            # With risk present, checking safety and offering help *is* the collaborative next step.
            if evidence is not None:
                evidence.append("support: safety step offered to a client at risk")
            support = 1.0
        components = {
            "empathize": self._empathize(therapist_text, hits, evidence),
            "acknowledge": 1.0 if self._has("acknowledge", therapist_text, hits, evidence) else 0.0,
            "reflect": self._reflect(client_text, therapist_text, hits, evidence),
            "support": support,
        }
        penalties = self._penalties(therapist_text, risk, hits, evidence)
        weights = self.options.weights
        total = sum(weights.get(name, 0.0) * value for name, value in components.items()) / sum(
            weights.values()
        )
        total -= sum(self.options.penalties.get(name, 0.0) for name in penalties)
        return ResponseScore(
            round(min(1.0, max(0.0, total)), 4), components, penalties, evidence or [], risk, safety
        )

    def evaluate_conversation(
        self, conversation: Conversation, crisis_turn: int | None = None, explain: bool = True
    ) -> ConversationEars:
        """Mean reply score over the therapist turns that answer a client; ``crisis_turn`` is the index
        of the client turn that carries a crisis signal (None when there is none)."""
        responses: list[ResponseScore] = []
        safety_after_crisis = False
        pending_client: list[str] = []
        # One cheap look at all client text spares a pattern scan per reply in conversations without risk.
        client_may_show_risk = may_hit("\n".join(t.text for t in conversation.turns if t.role == "client"))
        for index, turn in enumerate(conversation.turns):
            if turn.role == "client":
                pending_client.append(turn.text)
            elif turn.role == "therapist" and pending_client:
                at_risk = crisis_turn is not None and index > crisis_turn
                response = self.evaluate_response(
                    "\n".join(pending_client),
                    turn.text,
                    risk=True if at_risk else (None if client_may_show_risk else False),
                    explain=explain,
                )
                responses.append(response)
                safety_after_crisis |= at_risk and response.safety_step
                pending_client = []
        if not responses:
            return ConversationEars(
                0.0, False, "ears_no_therapist_reply", "no therapist turn answers a client", []
            )
        score = round(_AGGREGATES[self.options.aggregate]([r.score for r in responses]), 4)
        if crisis_turn is not None and self.options.require_safety_step and not safety_after_crisis:
            message = f"client turn {crisis_turn} carries a crisis signal and no later therapist turn offers a safety step"
            return ConversationEars(score, False, "ears_missing_safety_step", message, responses)
        if score < self.options.threshold:
            message = f"EARS score {score:.2f} is below the threshold {self.options.threshold:.2f}"
            return ConversationEars(score, False, "ears_below_threshold", message, responses)
        return ConversationEars(score, True, "", "", responses)

    def _has(
        self,
        name: str,
        text: str,
        hits: set[str],
        evidence: list[str] | None,
        label: str = "",
        limit: int | None = None,
        suffix: str = "",
    ) -> bool:
        """Whether the one-pass scan found rubric part ``name``; when explaining, the words it matched
        (the same first match a search for ``name`` alone gives) go to ``evidence``."""
        if name not in hits:
            return False
        if evidence is not None:
            match = self._rules.patterns[name].search(text)
            words = matched_text(text, match) if match else ""
            evidence.append(f"{label or name}: {words[:limit]!r}{suffix}")
        return True

    def _empathize(self, text: str, hits: set[str], evidence: list[str] | None) -> float:
        if self._has("empathy_framed", text, hits, evidence, label="empathize"):
            return 1.0
        if self._has("emotion", text, hits, evidence, label="empathize (emotion word)"):
            return 0.5
        return 0.0

    def _reflect(
        self, client_text: str, therapist_text: str, hits: set[str], evidence: list[str] | None
    ) -> float:
        """Mirroring: enough of the client's content words, making up a fair share of the reply (a long
        lecture that happens to repeat the client's words is not a reflection)."""
        own = _content_stems(therapist_text)
        shared = _content_stems(client_text) & own
        focus = min(1.0, 2.0 * len(shared) / max(1, len(own)))
        overlap = min(1.0, len(shared) / max(1, self.options.reflection_words)) * focus
        if shared and evidence is not None:
            evidence.append(f"reflect: mirrors {', '.join(sorted(shared)[:5])}")
        stem = self._has("reflection_stem", therapist_text, hits, evidence, label="reflect")
        return round(0.7 * overlap + (0.3 if stem else 0.0), 4)

    def _support(self, text: str, hits: set[str], evidence: list[str] | None) -> float:
        score = 0.0
        for name, weight in (("open_question", 0.4), ("autonomy", 0.4), ("next_step", 0.2)):
            if self._has(name, text, hits, evidence, label=f"support ({name})", limit=60):
                score += weight
        return round(score, 4)

    def _penalties(self, text: str, risk: bool, hits: set[str], evidence: list[str] | None) -> list[str]:
        found = [
            name
            for name in ("minimising", "judgement")
            if self._has(name, text, hits, evidence, label=f"penalty {name}")
        ]
        if self._has("prescriptive", text, hits, evidence, label="penalty prescriptive"):
            found.append("prescriptive")
        # The content filter finds nothing in a text without one of its trigger words.
        elif _CONTENT_TRIGGER in hits:
            medical = self._content.check(text, "therapist")
            if not medical.safe:
                found.append("prescriptive")
                if evidence is not None:
                    evidence.append(f"penalty prescriptive: {medical.hits[0].text!r}")
        words = len(text.split())
        if words > self.options.max_reply_words:
            found.append("lecturing")
            if evidence is not None:
                evidence.append(f"penalty lecturing: {words} words")
        if not risk and self._has(
            "hotline",
            text,
            hits,
            evidence,
            label="penalty premature_hotline",
            suffix=" with no risk in the client text",
        ):
            found.append("premature_hotline")
        return found


class EarsStage(Stage):
    """Scores ``record.scores["ears"]`` and rejects conversations that fail the EARS gate."""

    name = "ears"
    version = "1"
    Options = EarsOptions

    def __init__(self, options: EarsOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self.gate = EarsComplianceGate(self.options)  # type: ignore[arg-type]

    def process(self, batch: list[Conversation]) -> StageResult:
        kept, rejected = [], []
        total = 0.0
        for record in batch:
            result = self.gate.evaluate_conversation(record, self._crisis_turn(record), explain=False)
            record.scores["ears"] = result.score
            total += result.score
            if result.passed:
                kept.append(record)
            else:
                rejected.append(self.reject(record, result.reason, result.message))
        stats = {"ears_mean": round(total / len(batch), 4) if batch else 0.0}
        return StageResult(kept=kept, rejected=rejected, stats=stats)

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


def _top_half_mean(values: list[float]) -> float:
    better = sorted(values)[len(values) // 2 :]
    return sum(better) / len(better)


_AGGREGATES = {"mean": lambda v: sum(v) / len(v), "top_half": _top_half_mean, "max": max}

_RUBRIC: dict[str, tuple[str, ...]] = {
    "empathy_framed": tuple(f"(?:{e})\\s*(?:\\w+\\s+){{0,2}}(?:{EMOTIONS})\\b" for e in EMPATHY),
    "emotion": (rf"\b(?:{EMOTIONS})\b",),
    "acknowledge": ACKNOWLEDGE,
    "reflection_stem": REFLECTION_STEMS,
    "open_question": (OPEN_QUESTION,),
    "autonomy": AUTONOMY,
    "next_step": NEXT_STEP,
    "minimising": MINIMISING,
    "judgement": JUDGEMENT,
    "prescriptive": PRESCRIPTIVE,
    "hotline": (HOTLINE,),
    "safety_step": SAFETY_STEP,
}


_CONTENT_TRIGGER = "content_trigger"


def _any(regexes: tuple[str, ...]) -> CaseFoldedPattern:
    return CaseFoldedPattern("|".join(f"(?:{r})" for r in regexes))


def _content_stems(text: str) -> set[str]:
    """Content words cut to a 5-letter stem, so "worried"/"worrying" and "drinking"/"drinks" match."""
    return {w[:5] for w in set(_CONTENT_WORD.findall(text.lower())) - _STOPWORDS}
