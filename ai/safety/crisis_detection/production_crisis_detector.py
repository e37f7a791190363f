"""The production crisis detector: pattern layer + linear model, calibrated for >= 95% sensitivity.

``CrisisDetector().detect(text)`` and ``detect_batch(texts)`` return ``CrisisResult``s. The combined
score puts the model's calibrated threshold at 0.5, so ``is_crisis == (score >= 0.5)``; an undiscounted
first-person pattern hit lifts the score to its level's floor, so explicit statements are never left to
the model alone. The detector fails closed: a text it cannot score is reported as a crisis with the
error in ``error``.

The model artifact is a weight vector in an ``.npz`` (loaded with ``allow_pickle=False``) plus a JSON
metadata file; nothing in it can execute code on load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

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


@dataclass(frozen=True, slots=True)
class CrisisResult:
    is_crisis: bool
    score: float  # 0..1, >= 0.5 means crisis
    level: str  # none | indicator | ideation | behavior_or_plan | attempt
    categories: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    model_score: float = 0.0  # the linear model's own probability
    error: str = ""  # set when the detector failed on this text (and so failed closed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_crisis": self.is_crisis,
            "score": self.score,
            "level": self.level,
            "categories": list(self.categories),
            "evidence": [_evidence_dict(e) for e in self.evidence],
            "model_score": self.model_score,
            "error": self.error,
        }


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
        self.threshold = float(self.meta["threshold"])
        self.version = str(self.meta.get("version", ""))
        self.featurizer = HashedNgrams(n_features, tuple(self.meta["ngram_range"]))

    def features(self, texts: list[str]) -> csr_matrix:
        return self.featurizer.transform(texts)

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
    """Hybrid crisis detector. ``threshold`` overrides the calibrated model threshold (for studies)."""

    def __init__(
        self,
        model_dir: Path | str | None = None,
        threshold: float | None = None,
        model: LinearCrisisModel | None = None,
    ) -> None:
        self.model = model or LinearCrisisModel(Path(model_dir) if model_dir else MODEL_DIR)
        self.threshold = self.model.threshold if threshold is None else float(threshold)
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"crisis threshold must be between 0 and 1, got {self.threshold}")
        self.patterns = PatternLayer()
        self.version = self.model.version
        self._trigger_columns = self.model.columns_of(TRIGGERS)

    def detect(self, text: str) -> CrisisResult:
        return self.detect_batch([text])[0]

    def detect_batch(self, texts: list[str]) -> list[CrisisResult]:
        """One result per text, in order. Never raises for bad input: it fails closed per text."""
        texts = list(texts)
        try:
            return self._detect_valid(texts)
        except Exception:
            return [self._detect_isolated(text) for text in texts]

    def scores(self, texts: list[str]) -> np.ndarray:
        """Only the combined scores (for evaluation curves)."""
        return np.array([r.score for r in self.detect_batch(texts)])

    def _detect_isolated(self, text: Any) -> CrisisResult:
        try:
            return self._detect_valid([text])[0]
        except Exception as exc:
            return CrisisResult(
                is_crisis=True, score=1.0, level="indicator", error=f"{type(exc).__name__}: {exc}"
            )

    def _detect_valid(self, texts: list[str]) -> list[CrisisResult]:
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"expected text, got {type(text).__name__}")
        if not texts:
            return []
        features = self.model.features(texts)
        probabilities = self.model.probabilities(features)
        candidates = np.flatnonzero(features[:, self._trigger_columns].getnnz(axis=1)).tolist()
        hits = self.patterns.scan(texts, candidates)
        self._rescore_without_discounted(texts, hits, probabilities)
        scores = np.round(self._rescale(probabilities), 6).tolist()
        rounded = np.round(probabilities, 6).tolist()
        results = []
        for score, probability, found in zip(scores, rounded, hits, strict=True):
            if found:
                results.append(self._combine(score, probability, found))
            else:  # the common case, kept cheap
                crisis = score >= 0.5
                results.append(
                    CrisisResult(crisis, score, _INDICATOR if crisis else _NONE, model_score=probability)
                )
        return results

    def _rescore_without_discounted(
        self, texts: list[str], hits: list[list[PatternHit]], probabilities: np.ndarray
    ) -> None:
        """Score texts again with their discounted phrases blanked out: the model cannot tell "I would
        never kill myself" from "I will kill myself", but the pattern layer already did."""
        indices = [i for i, found in enumerate(hits) if any(not h.counts for h in found)]
        if not indices:
            return
        masked = [blank_discounted(texts[i], hits[i]) for i in indices]
        probabilities[indices] = self.model.probabilities(self.model.features(masked))

    def _combine(self, score: float, probability: float, hits: list[PatternHit]) -> CrisisResult:
        counted = [h for h in hits if h.counts]
        for hit in counted:
            score = max(score, LEVEL_FLOOR.get(hit.level, 0.0), CATEGORY_FLOOR.get(hit.category, 0.0))
        is_crisis = score >= 0.5
        level_rank = max((LEVEL_RANK[h.level] for h in counted), default=0)
        if is_crisis:
            level_rank = max(level_rank, LEVEL_RANK["indicator"])
        return CrisisResult(
            is_crisis=is_crisis,
            score=score,
            level=LEVELS[level_rank],
            categories=sorted({h.category for h in counted}),
            evidence=[Evidence(h.start, h.end, h.text, h.category, h.level, h.discount) for h in hits],
            model_score=probability,
        )

    def _rescale(self, probabilities: np.ndarray) -> np.ndarray:
        """Map model probabilities so that the calibrated threshold lands on 0.5."""
        t = self.threshold
        return np.where(
            probabilities < t, 0.5 * probabilities / t, 0.5 + 0.5 * (probabilities - t) / (1.0 - t)
        )


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
    }
