"""Measure the crisis detector on any labelled file: sensitivity, specificity, precision, F1, PR-AUC.

``crisis_eval`` reads CSV, JSON (a list of objects) or JSON Lines, decoding invalid UTF-8 with
replacement characters, and reports each metric with a percentile bootstrap 95% confidence interval.
It backs ``dataset-pipeline crisis-eval`` and the dataset-level crisis-sensitivity gate.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from ai.safety.crisis_detection.production_crisis_detector import CrisisDetector

METRICS = ("sensitivity", "specificity", "precision", "f1", "pr_auc", "roc_auc")


class EvaluationInputError(ValueError):
    """The labelled file cannot be read or lacks the named columns."""


def main(argv: list[str] | None = None) -> int:
    """``python -m ai.safety.crisis_detection.evaluate --input F --text-col C --label-col L --positive V...``"""
    parser = argparse.ArgumentParser(description="Measure the crisis detector on a labelled file.")
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--text-col", required=True)
    parser.add_argument("--label-col", required=True)
    parser.add_argument("--positive", required=True, nargs="+", help="label values that mean crisis")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        report = crisis_eval(
            args.input, args.text_col, args.label_col, args.positive, n_boot=args.n_boot, seed=args.seed
        )
    except EvaluationInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


def crisis_eval(
    input_path: str | Path,
    text_col: str,
    label_col: str,
    positive_values: list[Any] | tuple[Any, ...],
    detector: CrisisDetector | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the detector over a labelled file and return the metrics as a JSON-able dict."""
    rows = read_rows(Path(input_path))
    texts, labels, skipped = _labelled_texts(rows, text_col, label_col, positive_values, Path(input_path))
    detector = detector or CrisisDetector()
    scores = np.array([r.score for r in detector.detect_batch(texts)], dtype=np.float64)
    report = evaluate_scores(np.array(labels, dtype=bool), scores, n_boot=n_boot, seed=seed)
    report.update({"input": str(input_path), "skipped_rows": skipped, "detector_version": detector.version})
    return report


def evaluate_scores(
    labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Metrics at ``threshold`` with bootstrap 95% CIs; undefined values (no positives...) are None."""
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


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV, JSON list or JSONL file (chosen by extension; ``.json`` falls back to JSONL)."""
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


def _labelled_texts(
    rows: list[dict[str, Any]], text_col: str, label_col: str, positive_values: Any, path: Path
) -> tuple[list[str], list[bool], int]:
    if not rows:
        raise EvaluationInputError(f"{path}: no rows")
    for column in (text_col, label_col):
        if not any(column in row for row in rows):
            available = ", ".join(sorted(rows[0]))
            raise EvaluationInputError(f"{path}: no column {column!r} (columns: {available})")
    positives = {_label_key(v) for v in positive_values}
    texts, labels, skipped = [], [], 0
    for row in rows:
        label = row.get(label_col)
        if label is None or _label_key(label) == "":
            skipped += 1
            continue
        text = row.get(text_col)
        texts.append("" if text is None else str(text))
        labels.append(_label_key(label) in positives)
    if not texts:
        raise EvaluationInputError(f"{path}: no row has a value in {label_col!r}")
    return texts, labels, skipped


def _label_key(value: Any) -> str:
    """Compare labels as text, ignoring surrounding spaces and "1" vs "1.0" vs 1."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


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


if __name__ == "__main__":
    raise SystemExit(main())
