"""The production crisis detector: pattern layer + linear model, calibrated per unit and length.

``CrisisDetector().detect(text)`` / ``detect_batch(texts)`` judge standalone posts;
``detect_conversation(messages)`` / ``detect_conversations(people)`` judge a person from all the messages
they wrote (a dialogue's client turns, a user's posts). Both return ``CrisisResult``s whose score puts
the calibrated threshold at 0.5, so ``is_crisis == (score >= 0.5)``; an undiscounted first-person pattern
hit lifts the score to its level's floor, so explicit statements are never left to the model alone.

Thresholds differ by unit (post or person) and by length (short: tweets, dialogue turns; long: forum
posts), because one threshold set by the hardest source did not transfer: see the model card. A person
is scored on the union of the word n-grams of their messages (evidence adds up across messages, however
many there are, instead of every message getting its own chance to raise a false alarm), and each
message's pattern hits count on their own, naming the message.

The detector fails closed: a text it cannot score is reported as a crisis with the error in ``error``.

The model artifact is a weight vector in an ``.npz`` (loaded with ``allow_pickle=False``) plus a JSON
metadata file; nothing in it can execute code on load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy.sparse import csr_matrix, vstack

from ai.safety.crisis_detection.features import HashedNgrams
from ai.safety.crisis_detection.patterns import (
    CATEGORY_FLOOR,
    LEVEL_FLOOR,
    LEVEL_RANK,
    LEVELS,
    TRIGGERS,
    PatternHit,
    PatternLayer,
)

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_NAME = "crisis_linear"
UNITS = ("post", "person")
# In the model's normalised form (lower case, apostrophes dropped: "you're" is "youre").
SECOND_PERSON_WORDS = ("you", "your", "youre", "yourself", "yourselves", "yours", "u", "ur", "youve", "youll")
FIRST_PERSON_WORDS = ("i", "im", "me", "my", "myself", "mine", "ive", "id", "ill")
DOMAINS = ("short", "long")
_NONE, _INDICATOR = LEVELS[0], LEVELS[1]


class CrisisModelError(RuntimeError):
    """The model artifact is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Evidence:
    start: int
    end: int
    text: str
    category: str
    level: str
    discount: str = ""  # why this hit does not count on its own ("" when it counts)
    message: int = 0  # which of the person's messages it is in (0 for a single post)


@dataclass(frozen=True, slots=True)
class CrisisResult:
    is_crisis: bool
    score: float  # 0..1, >= 0.5 means crisis
    level: str  # none | indicator | ideation | behavior_or_plan | attempt
    categories: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    model_score: float = 0.0  # the linear model's own probability
    error: str = ""  # set when the detector failed on this text (and so failed closed)
    escalating: bool = False  # a person's own risk statements rise in level across messages

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_crisis": self.is_crisis,
            "score": self.score,
            "level": self.level,
            "categories": list(self.categories),
            "evidence": [_evidence_dict(e) for e in self.evidence],
            "model_score": self.model_score,
            "error": self.error,
            "escalating": self.escalating,
        }


class ModelView(NamedTuple):
    probabilities: np.ndarray
    long: np.ndarray
    hits: list[list[tuple[int, PatternHit]]]


class LinearCrisisModel:
    """Hashed n-gram logistic regression, loaded from ``<name>.npz`` + ``<name>.json``."""

    def __init__(self, model_dir: Path = MODEL_DIR, name: str = MODEL_NAME) -> None:
        meta_path, weights_path = model_dir / f"{name}.json", model_dir / f"{name}.npz"
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(weights_path, allow_pickle=False) as arrays:
                indices, values = arrays["indices"], arrays["weights"]
                intercept = float(arrays["intercept"][0])
        except (OSError, KeyError, ValueError) as exc:
            raise CrisisModelError(f"crisis model artifact in {model_dir} is unreadable: {exc}") from exc
        n_features = int(self.meta["n_features"])
        self.weights = np.zeros(n_features, dtype=np.float64)
        self.weights[indices] = values
        self.intercept = intercept
        try:
            self.thresholds = {
                unit: {domain: float(self.meta["thresholds"][unit][domain]) for domain in DOMAINS}
                for unit in UNITS
            }
            self.short_max_ngrams = int(self.meta["short_max_ngrams"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CrisisModelError(f"crisis model metadata in {model_dir} lacks thresholds: {exc}") from exc
        self.version = str(self.meta.get("version", ""))
        self.featurizer = HashedNgrams(n_features, tuple(self.meta["ngram_range"]))

    def features(self, texts: list[str]) -> csr_matrix:
        return self.featurizer.transform(texts)

    def is_long(self, features: csr_matrix) -> np.ndarray:
        """Long texts (forum posts) have more distinct word 1-2-grams than the short-text limit."""
        return features.getnnz(axis=1) > self.short_max_ngrams

    def probabilities(self, features: csr_matrix) -> np.ndarray:
        """Model probabilities; a text without a single word (empty, emoji only) carries no evidence."""
        logits = features @ self.weights + self.intercept
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
        probabilities[features.getnnz(axis=1) == 0] = 0.0
        return probabilities

    def columns_of(self, grams: tuple[str, ...]) -> np.ndarray:
        """The hashed columns of n-grams given in normalised form ("better off")."""
        return np.unique([self.featurizer.column(g) for g in grams])


class CrisisDetector:
    """Hybrid crisis detector. ``threshold`` replaces every calibrated threshold with one (for studies)."""

    def __init__(
        self,
        model_dir: Path | str | None = None,
        threshold: float | None = None,
        model: LinearCrisisModel | None = None,
    ) -> None:
        self.model = model or LinearCrisisModel(Path(model_dir) if model_dir else MODEL_DIR)
        if threshold is None:
            self.thresholds = self.model.thresholds
        else:
            if not 0.0 < float(threshold) < 1.0:
                raise ValueError(f"crisis threshold must be between 0 and 1, got {threshold}")
            self.thresholds = {unit: dict.fromkeys(DOMAINS, float(threshold)) for unit in UNITS}
        self.patterns = PatternLayer()
        self.version = self.model.version
        self._trigger_columns = self.model.columns_of(TRIGGERS)
        self._second_person_columns = self.model.columns_of(SECOND_PERSON_WORDS)
        self._first_person_columns = self.model.columns_of(FIRST_PERSON_WORDS)

    def detect(self, text: str) -> CrisisResult:
        return self.detect_batch([text])[0]

    def detect_batch(self, texts: list[str]) -> list[CrisisResult]:
        """One result per standalone post, in order. Never raises for bad input: fails closed per text."""
        texts = list(texts)
        try:
            return self._detect_valid([[text] for text in texts], "post")
        except Exception:
            return [self._detect_isolated([text], "post") for text in texts]

    def detect_conversation(self, texts: list[str]) -> CrisisResult:
        """Judge one person from all the messages they wrote, in order (evidence names the message)."""
        return self.detect_conversations([texts])[0]

    def detect_conversations(self, people: list[list[str]]) -> list[CrisisResult]:
        """``detect_conversation`` for many people at once (what the pipeline stage calls)."""
        people = [list(messages) if isinstance(messages, list | tuple) else messages for messages in people]
        try:
            return self._detect_valid(people, "person")
        except Exception:
            return [self._detect_isolated(messages, "person") for messages in people]

    def scores(self, texts: list[str]) -> np.ndarray:
        """Only the combined scores of standalone posts (for evaluation curves)."""
        return np.array([r.score for r in self.detect_batch(texts)])

    def _detect_isolated(self, messages: Any, unit: str) -> CrisisResult:
        try:
            return self._detect_valid([messages], unit)[0]
        except Exception as exc:
            return CrisisResult(
                is_crisis=True, score=1.0, level="indicator", error=f"{type(exc).__name__}: {exc}"
            )

    def evidence(self, people: list[list[str]], unit: str) -> ModelView:
        """What the decision rests on, before any threshold: the model's probability per post or person,
        whether it is long, and the pattern hits with their message index (training calibrates on it)."""
        texts, owners = _flatten(people)
        features = self.model.features(texts)
        candidates = np.flatnonzero(features[:, self._trigger_columns].getnnz(axis=1)).tolist()
        hits = self.patterns.scan(texts, candidates)
        features = self._without_discounted(texts, hits, features)
        if unit == "person":
            own = ~self._addressed_to_someone_else(features)
            features = union_of_rows(features[own], owners[own], len(people))
        return ModelView(
            self.model.probabilities(features),
            self.model.is_long(features),
            _hits_per_person(hits, owners, len(people)),
        )

    def _detect_valid(self, people: list[list[str]], unit: str) -> list[CrisisResult]:
        if not people:
            return []
        probabilities, long, per_person = self.evidence(people, unit)
        thresholds = np.where(long, self.thresholds[unit]["long"], self.thresholds[unit]["short"])
        scores = np.round(rescale(probabilities, thresholds), 6).tolist()
        rounded = np.round(probabilities, 6).tolist()
        results = []
        for score, probability, found in zip(scores, rounded, per_person, strict=True):
            if found:
                results.append(self._combine(score, probability, found))
            else:  # the common case, kept cheap
                crisis = score >= 0.5
                results.append(
                    CrisisResult(crisis, score, _INDICATOR if crisis else _NONE, model_score=probability)
                )
        return results

    def _addressed_to_someone_else(self, features: csr_matrix) -> np.ndarray:
        """Messages that speak to another person and never of the writer ("Please don't hurt yourself,
        you deserve to live"): support, whose words ("deserve to live", "please") the model learned from
        people at risk. A person's score leaves them out; their pattern hits are discounted anyway.
        Read from the hashed unigram columns, so it costs no second pass over the text."""
        second = features[:, self._second_person_columns].getnnz(axis=1) > 0
        first = features[:, self._first_person_columns].getnnz(axis=1) > 0
        return second & ~first

    def _without_discounted(
        self, texts: list[str], hits: list[list[PatternHit]], features: csr_matrix
    ) -> csr_matrix:
        """Features of the texts with their discounted phrases blanked out: the model cannot tell "I
        would never kill myself" from "I will kill myself", but the pattern layer already did."""
        indices = [i for i, found in enumerate(hits) if any(not h.counts for h in found)]
        if not indices:
            return features
        masked = self.model.features([blank_discounted(texts[i], hits[i]) for i in indices])
        rows = np.arange(features.shape[0])
        rows[indices] = features.shape[0] + np.arange(len(indices))
        return vstack([features, masked], format="csr")[rows]

    def _combine(self, score: float, probability: float, hits: list[tuple[int, PatternHit]]) -> CrisisResult:
        counted = [(m, h) for m, h in hits if h.counts]
        score = max(score, pattern_floor(counted))
        is_crisis = score >= 0.5
        level_rank = max((LEVEL_RANK[h.level] for _, h in counted), default=0)
        if is_crisis:
            level_rank = max(level_rank, LEVEL_RANK["indicator"])
        return CrisisResult(
            is_crisis=is_crisis,
            score=score,
            level=LEVELS[level_rank],
            categories=sorted({h.category for _, h in counted}),
            evidence=[Evidence(h.start, h.end, h.text, h.category, h.level, h.discount, m) for m, h in hits],
            model_score=probability,
            escalating=_escalates(counted),
        )


def rescale(probabilities: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """Map model probabilities so that each one's calibrated threshold lands on 0.5."""
    t = thresholds
    return np.where(probabilities < t, 0.5 * probabilities / t, 0.5 + 0.5 * (probabilities - t) / (1.0 - t))


def union_of_rows(features: csr_matrix, owners: np.ndarray, n_people: int) -> csr_matrix:
    """One row per person: the n-grams present in any of their messages, scaled to unit length, as
    the vectorizer would give for their messages joined (less the pairs that straddle two messages)."""
    presence = csr_matrix(
        (np.ones(features.nnz, dtype=np.float32), features.indices, features.indptr), shape=features.shape
    )
    grouping = csr_matrix(
        (np.ones(owners.size, dtype=np.float32), (owners, np.arange(owners.size))),
        shape=(n_people, owners.size),
    )
    joined = (grouping @ presence).tocsr()
    joined.sort_indices()
    per_row = np.diff(joined.indptr)
    with np.errstate(divide="ignore"):
        scale = (1.0 / np.sqrt(per_row.astype(np.float64))).astype(np.float32)
    joined.data = np.repeat(scale, per_row)
    return joined


def _flatten(people: list[list[str]]) -> tuple[list[str], np.ndarray]:
    texts: list[str] = []
    lengths = []
    for messages in people:
        if not isinstance(messages, list):
            raise TypeError(f"expected a list of messages, got {type(messages).__name__}")
        for text in messages:
            if not isinstance(text, str):
                raise TypeError(f"expected text, got {type(text).__name__}")
        texts += messages
        lengths.append(len(messages))
    return texts, np.repeat(np.arange(len(people)), lengths)


def _hits_per_person(
    hits: list[list[PatternHit]], owners: np.ndarray, n_people: int
) -> list[list[tuple[int, PatternHit]]]:
    """Each person's pattern hits with the index of the message (within the person) they are in."""
    per_person: list[list[tuple[int, PatternHit]]] = [[] for _ in range(n_people)]
    first_message = np.searchsorted(owners, np.arange(n_people))
    for index in np.flatnonzero([bool(found) for found in hits]).tolist():
        person = int(owners[index])
        per_person[person] += [(index - int(first_message[person]), hit) for hit in hits[index]]
    return per_person


def _escalates(counted: list[tuple[int, PatternHit]]) -> bool:
    """The person's own statements reach a higher level in a later message than in their first one."""
    by_message: dict[int, int] = {}
    for message, hit in counted:
        by_message[message] = max(by_message.get(message, 0), LEVEL_RANK[hit.level])
    levels = [by_message[m] for m in sorted(by_message)]
    return len(levels) > 1 and max(levels[1:]) > levels[0]


def blank_discounted(text: str, hits: list[PatternHit]) -> str:
    """``text`` with the discounted hits' phrases removed (what the model scores)."""
    pieces, position = [], 0
    for hit in sorted(hits, key=lambda h: h.start):
        if not hit.counts and hit.start >= position:
            pieces.append(text[position : hit.start])
            position = hit.end
    pieces.append(text[position:])
    return " ".join(pieces)


def _evidence_dict(evidence: Evidence) -> dict[str, Any]:
    return {
        "start": evidence.start,
        "end": evidence.end,
        "text": evidence.text,
        "category": evidence.category,
        "level": evidence.level,
        "discount": evidence.discount,
        "message": evidence.message,
    }


def pattern_floor(hits: list[tuple[int, PatternHit]]) -> float:
    """The score the counted (undiscounted) pattern hits guarantee."""
    return max(
        (
            max(LEVEL_FLOOR.get(h.level, 0.0), CATEGORY_FLOOR.get(h.category, 0.0))
            for _, h in hits
            if h.counts
        ),
        default=0.0,
    )
