"""Agreement of EARS scores with human labels: AUC and Spearman with percentile bootstrap 95% CIs.

``ears_eval`` measures the shipped judge on anyone's labelled file of (client text, reply, label) rows,
in CSV, JSON or JSON Lines (read like ``crisis-eval``'s input).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata, spearmanr

from ai.safety.crisis_detection.evaluate import EvaluationInputError, read_rows
from ai.safety.ears.judge import EarsJudge


def ears_eval(
    input_path: str | Path,
    client_col: str,
    reply_col: str,
    label_col: str,
    positive_values: list[Any] | tuple[Any, ...],
    judge: EarsJudge | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """AUC of the reply score for rows whose label is one of ``positive_values`` against the rest."""
    path = Path(input_path)
    rows = read_rows(path)
    if rows and any(col not in rows[0] for col in (client_col, reply_col, label_col)):
        raise EvaluationInputError(f"{path}: needs columns {client_col!r}, {reply_col!r} and {label_col!r}")
    kept = [r for r in rows if str(r.get(reply_col) or "").strip() and r.get(label_col) not in (None, "")]
    positives = {str(v) for v in positive_values}
    labels = np.array([str(r[label_col]) in positives for r in kept])
    judge = judge or EarsJudge()
    judged = judge.judge_replies(
        [str(r.get(client_col) or "") for r in kept], [str(r[reply_col]) for r in kept]
    )
    report = auc_interval(labels, np.array([j.score for j in judged]), n_boot=n_boot, seed=seed)
    report.update({"input": str(path), "skipped_rows": len(rows) - len(kept), "judge_version": judge.version})
    return report


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half); None without both classes."""
    labels = np.asarray(labels, dtype=bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def auc_interval(labels: np.ndarray, scores: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    labels, scores = np.asarray(labels, dtype=bool), np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    samples = [auc(labels[i], scores[i]) for i in rng.integers(0, labels.size, (n_boot, labels.size))]
    return {
        "auc": _round(auc(labels, scores)),
        "ci95": _interval([s for s in samples if s is not None]),
        "n": int(labels.size),
        "positives": int(labels.sum()),
    }


def spearman_interval(
    ratings: np.ndarray, scores: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    ratings, scores = np.asarray(ratings, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    samples = []
    for index in rng.integers(0, ratings.size, (n_boot, ratings.size)):
        rho = spearmanr(ratings[index], scores[index]).statistic
        if np.isfinite(rho):
            samples.append(float(rho))
    result = spearmanr(ratings, scores)
    return {
        "spearman": _round(float(result.statistic)),
        "p_value": float(result.pvalue),
        "ci95": _interval(samples),
        "n": int(ratings.size),
    }


def _interval(samples: list[float]) -> list[float] | None:
    if not samples:
        return None
    low, high = np.percentile(samples, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
