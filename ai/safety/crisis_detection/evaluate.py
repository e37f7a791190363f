"""Measure the crisis detector on any labelled file: sensitivity, specificity, precision, F1, PR-AUC.

``crisis_eval`` is ``ai.safety.evaluation.judge_eval`` for the crisis judge, with a detector that can be
handed in. It backs ``dataset-pipeline crisis-eval`` and the dataset-level crisis-sensitivity gate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ai.safety.crisis_detection.production_crisis_detector import CrisisDetector
from ai.safety.evaluation import (
    METRICS,
    Columns,
    EvaluationInputError,
    evaluate_scores,
    judge_eval,
    read_rows,
)

__all__ = ["METRICS", "EvaluationInputError", "crisis_eval", "evaluate_scores", "main", "read_rows"]


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
    detector = detector or CrisisDetector()

    def score(texts: list[str], contexts: list[list[str]]) -> tuple[np.ndarray, float, str]:
        scores = np.array([r.score for r in detector.detect_batch(texts)], dtype=np.float64)
        return scores, 0.5, detector.version

    report = judge_eval(
        "crisis", input_path, Columns(text_col, label_col), positive_values, n_boot, seed, scorer=score
    )
    report["detector_version"] = report["judge_version"]
    return report


if __name__ == "__main__":
    raise SystemExit(main())
