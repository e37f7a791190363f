"""The content-safety model at inference: loads the artifact, scores (context, reply) pairs.

The artifact is ``content_pairs.npz`` (sparse weights of the safety model and of the context-kind
model, loaded with ``allow_pickle=False``) plus ``content_pairs.json`` (metadata, the threshold chosen
on training folds, the card's figures). Nothing in it can execute code on load, and scoring needs
numpy and scipy only: importing scikit-learn would cost every pipeline worker ~3.5 s.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from ai.safety.content.features import (
    CONTEXT_KINDS,
    N_KINDS,
    NO_CONTEXT,
    PairFeatures,
    context_text,
    empty_contexts,
)

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_NAME = "content_pairs"


class ContentModelError(RuntimeError):
    """The model artifact is missing or malformed."""


@dataclass(frozen=True, slots=True)
class PairScores:
    probabilities: np.ndarray  # P(reply unsafe | context), one per pair
    kinds: np.ndarray  # index into CONTEXT_KINDS, or NO_CONTEXT


class ContentModel:
    """Logistic regression over ``PairFeatures``, with its context-kind classifier."""

    def __init__(self, model_dir: Path = MODEL_DIR, name: str = MODEL_NAME) -> None:
        meta_path, weights_path = model_dir / f"{name}.json", model_dir / f"{name}.npz"
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(weights_path, allow_pickle=False) as arrays:
                self.features = PairFeatures(int(self.meta["n_features"]), tuple(self.meta["ngram_range"]))
                self.weights = _dense(arrays["indices"], arrays["weights"], self.features.n_columns)
                self.intercept = float(arrays["intercept"][0])
                self.kind_weights = np.zeros((self.features.n_features, len(CONTEXT_KINDS)), np.float64)
                self.kind_weights[arrays["kind_rows"], arrays["kind_columns"]] = arrays["kind_values"]
                self.kind_intercepts = arrays["kind_intercepts"].astype(np.float64)
        except (OSError, KeyError, ValueError) as exc:
            raise ContentModelError(f"content model artifact in {model_dir} is unreadable: {exc}") from exc
        # The judge's threshold (DiaSafety's F1 optimum) and the pipeline gate's (the F1-best cut flagging
        # at most train.HELPER_MAX_FLAG_RATE of real helpers' replies); both chosen on training folds.
        self.threshold = float(self.meta["threshold"])
        self.gate_threshold = float(self.meta["gate_threshold"])
        self.version = str(self.meta.get("version", ""))
        # Column k: the reply weights of context kind k (assemble's third block, one slice per kind).
        self._crossed_weights = self.weights[2 * self.features.n_features :].reshape(N_KINDS, -1).T.copy()

    def score(self, replies: Sequence[str], contexts: Sequence[Sequence[str]]) -> PairScores:
        """``PairFeatures.assemble(...) @ weights``, block by block: no wide matrix is built, and a text
        that is both a reply and the turn the next reply answers is hashed once."""
        reply_matrix, context_matrix = self._hashed(list(replies), [context_text(c) for c in contexts])
        kinds = self.kinds(context_matrix)
        n = self.features.n_features
        crossed = np.take_along_axis(reply_matrix @ self._crossed_weights, kinds[:, None], axis=1)[:, 0]
        logits = reply_matrix @ self.weights[:n] + context_matrix @ self.weights[n : 2 * n] + crossed
        probabilities = _sigmoid(logits + self.intercept)
        # A reply without a single word (empty, emoji only) carries no evidence either way.
        probabilities[reply_matrix.getnnz(axis=1) == 0] = 0.0
        return PairScores(probabilities, kinds)

    def _hashed(self, replies: list[str], contexts: list[str]) -> tuple[csr_matrix, csr_matrix]:
        rows: dict[str, int] = {}
        indices = [rows.setdefault(text, len(rows)) for text in replies + contexts]
        matrix = self.features.transform(list(rows))
        return matrix[indices[: len(replies)]], matrix[indices[len(replies) :]]

    def kinds(self, context_matrix: csr_matrix) -> np.ndarray:
        """The most likely unsafe-reply category each context invites (NO_CONTEXT when it is empty)."""
        logits = context_matrix @ self.kind_weights + self.kind_intercepts
        kinds = np.argmax(logits, axis=1)
        kinds[empty_contexts(context_matrix)] = NO_CONTEXT
        return kinds


def _dense(indices: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    weights = np.zeros(size, dtype=np.float64)
    weights[indices] = values
    return weights


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
