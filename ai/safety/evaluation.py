"""Measure any judge on a labelled file: metrics at the judge's threshold with bootstrap 95% CIs.

``judge_eval("crisis" | "content" | "ears", input, ...)`` reads CSV, TSV, JSON (a list of objects) or
JSON Lines, decoding invalid UTF-8 with replacement characters, scores each row with the judge and
reports sensitivity, specificity, precision, F1, PR-AUC and ROC-AUC, each with a percentile bootstrap
interval. It backs ``dataset-pipeline judge-eval`` (and ``crisis-eval``); the judges' training commands
use ``evaluate_scores`` for their cards.

What the positive label means depends on the judge: a crisis (crisis), an unsafe reply (content), a
good reply (EARS, whose score rises with quality).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

METRICS = ("sensitivity", "specificity", "precision", "f1", "pr_auc", "roc_auc")
JUDGES = ("crisis", "content", "ears")


class EvaluationInputError(ValueError):
    """The labelled file cannot be read or lacks the named columns."""


@dataclass(frozen=True, slots=True)
class Columns:
    """Where a row keeps what the judge reads. ``text`` is the text (crisis), the reply (content) or
    the therapist's reply (EARS); ``context`` the preceding turns (content: one string, or a JSON list
    of strings) or the client's message (EARS)."""

    text: str
    label: str
    context: str | None = None


@dataclass(frozen=True, slots=True)
class LabelledRows:
    texts: list[str]
    contexts: list[list[str]]
    labels: np.ndarray
    skipped: int


# A scorer takes (texts, contexts) and returns (scores, threshold, version).
Scorer = Callable[[list[str], list[list[str]]], tuple[np.ndarray, float, str]]


def judge_eval(
    judge: str,
    input_path: str | Path,
    columns: Columns,
    positive_values: Sequence[Any],
    n_boot: int = 1000,
    seed: int = 0,
    scorer: Scorer | None = None,
) -> dict[str, Any]:
    """Run ``judge`` over a labelled file and return the metrics as a JSON-able dict."""
    if judge not in JUDGES:
        raise EvaluationInputError(f"unknown judge {judge!r}; choose one of {', '.join(JUDGES)}")
    if judge == "ears" and columns.context is None:
        raise EvaluationInputError("the EARS judge needs the client's message: give --context-col")
    scorer = scorer or SCORERS.get(judge)
    if scorer is None:
        raise EvaluationInputError(f"no scorer for the {judge} judge was given")
    path = Path(input_path)
    rows = labelled_rows(read_rows(path), columns, positive_values, path)
    scores, threshold, version = scorer(rows.texts, rows.contexts)
    report = evaluate_scores(rows.labels, scores, threshold=threshold, n_boot=n_boot, seed=seed)
    report.update(
        {"judge": judge, "input": str(path), "skipped_rows": rows.skipped, "judge_version": version}
    )
    return report


def score_crisis(texts: list[str], contexts: list[list[str]]) -> tuple[np.ndarray, float, str]:
    from ai.safety.crisis_detection.production_crisis_detector import CrisisDetector

    detector = CrisisDetector()
    scores = np.array([r.score for r in detector.detect_batch(texts)], dtype=np.float64)
    return scores, 0.5, detector.version


def score_content(texts: list[str], contexts: list[list[str]]) -> tuple[np.ndarray, float, str]:
    from ai.safety.content_filter import ContentFilter

    content_filter = ContentFilter()
    verdicts = content_filter.check_batch(texts, "therapist", contexts)
    return (
        np.array([v.score for v in verdicts], dtype=np.float64),
        content_filter.threshold,
        content_filter.version,
    )


# EARS lives in the pipeline package (safety must not import it): its caller hands in its scorer.
SCORERS: dict[str, Scorer] = {"crisis": score_crisis, "content": score_content}


def evaluate_scores(
    labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Metrics at ``threshold`` with bootstrap 95% CIs; undefined values (no positives...) are None."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    predicted = scores >= threshold
    point = _confusion_metrics(labels[None, :], predicted[None, :])
    point["pr_auc"] = np.array([_pr_auc(labels, scores)])
    point["roc_auc"] = np.array([_roc_auc(labels, scores)])
    intervals = _bootstrap_intervals(labels, scores, predicted, n_boot, seed)
    tp = int(np.sum(labels & predicted))
    fp = int(np.sum(~labels & predicted))
    report: dict[str, Any] = {
        "n": int(labels.size),
        "n_positive": int(labels.sum()),
        "threshold": threshold,
        "confusion": {"tp": tp, "fp": fp, "fn": int(labels.sum()) - tp, "tn": int((~labels).sum()) - fp},
        "n_boot": n_boot,
    }
    for name in METRICS:
        report[name] = {"value": _finite(point[name][0]), "ci95": intervals[name]}
    return report


def metric_cell(metric: dict[str, Any]) -> str:
    """One metric of ``evaluate_scores`` for a model card's table: "0.812 [0.790, 0.833]"."""
    value, (low, high) = metric["value"], metric["ci95"]
    if value is None:
        return "n/a"
    if low is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV, TSV, JSON list or JSONL file (chosen by extension; ``.json`` falls back to JSONL)."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise EvaluationInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        csv.field_size_limit(sys.maxsize)
        return list(csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","))
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return _jsonl_rows(text, path)
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise EvaluationInputError(f"{path}: expected a JSON list of objects")
        return [row for row in data if isinstance(row, dict)]
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_rows(text, path)
    raise EvaluationInputError(f"{path}: unsupported file type {suffix!r} (use .csv, .tsv, .json or .jsonl)")


def labelled_rows(
    rows: list[dict[str, Any]], columns: Columns, positive_values: Sequence[Any], path: Path
) -> LabelledRows:
    """The texts, contexts and labels of ``rows``; rows without a label are counted, not scored."""
    if not rows:
        raise EvaluationInputError(f"{path}: no rows")
    for column in (columns.text, columns.label, columns.context):
        if column is not None and not any(column in row for row in rows):
            available = ", ".join(sorted(rows[0]))
            raise EvaluationInputError(f"{path}: no column {column!r} (columns: {available})")
    positives = {label_key(v) for v in positive_values}
    texts, contexts, labels, skipped = [], [], [], 0
    for row in rows:
        label = row.get(columns.label)
        if label is None or label_key(label) == "":
            skipped += 1
            continue
        text = row.get(columns.text)
        texts.append("" if text is None else str(text))
        contexts.append(_turns(row.get(columns.context)) if columns.context else [])
        labels.append(label_key(label) in positives)
    if not texts:
        raise EvaluationInputError(f"{path}: no row has a value in {columns.label!r}")
    return LabelledRows(texts, contexts, np.array(labels, dtype=bool), skipped)


def label_key(value: Any) -> str:
    """Compare labels as text, ignoring surrounding spaces and "1" vs "1.0" vs 1."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _turns(value: Any) -> list[str]:
    """A context cell as turns: a list as is, a JSON list inside a CSV cell, else one turn."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value)
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return [text]
        if isinstance(parsed, list):
            return [str(v) for v in parsed]
    return [text] if text else []


def _jsonl_rows(text: str, path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvaluationInputError(f"{path}:{number}: malformed JSON ({exc.msg})") from None
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _confusion_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics for each row of (resamples x n) label/prediction matrices."""
    tp = np.sum(labels & predicted, axis=1).astype(float)
    fp = np.sum(~labels & predicted, axis=1).astype(float)
    fn = np.sum(labels & ~predicted, axis=1).astype(float)
    tn = np.sum(~labels & ~predicted, axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sensitivity = tp / (tp + fn)
        precision = tp / (tp + fp)
        return {
            "sensitivity": sensitivity,
            "specificity": tn / (tn + fp),
            "precision": precision,
            "f1": 2 * tp / (2 * tp + fp + fn),
        }


def _bootstrap_intervals(
    labels: np.ndarray, scores: np.ndarray, predicted: np.ndarray, n_boot: int, seed: int
) -> dict[str, list[float | None]]:
    if n_boot <= 0 or labels.size == 0:
        return {name: [None, None] for name in METRICS}
    rng = np.random.default_rng(seed)
    # Chunks keep the (resamples x n) boolean matrices small for large inputs.
    chunk = max(1, min(n_boot, 20_000_000 // max(1, labels.size)))
    samples: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    for begin in range(0, n_boot, chunk):
        idx = rng.integers(0, labels.size, size=(min(chunk, n_boot - begin), labels.size))
        for name, values in _confusion_metrics(labels[idx], predicted[idx]).items():
            samples[name].append(values)
        samples["pr_auc"].append(np.array([_pr_auc(labels[row], scores[row]) for row in idx]))
        samples["roc_auc"].append(np.array([_roc_auc(labels[row], scores[row]) for row in idx]))
    intervals: dict[str, list[float | None]] = {}
    for name, parts in samples.items():
        values = np.concatenate(parts)
        values = values[np.isfinite(values)]
        if values.size == 0:
            intervals[name] = [None, None]
        else:
            low, high = np.percentile(values, [2.5, 97.5])
            intervals[name] = [round(float(low), 6), round(float(high), 6)]
    return intervals


def _pr_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    if labels.all() or not labels.any():
        return float("nan")
    return float(average_precision_score(labels, scores))


def _roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def _finite(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None
