"""crisis_eval: reading labelled files and the metrics with bootstrap intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ai.safety.crisis_detection.evaluate import (
    EvaluationInputError,
    crisis_eval,
    evaluate_scores,
    main,
    read_rows,
)

ROWS = [
    ("I want to kill myself tonight", "yes"),
    ("I tried to end my life last year and I'm scared I'll do it again", "yes"),
    ("nobody would miss me if I was gone, I want to die", "yes"),
    ("The bus was late again this morning", "no"),
    ("I baked bread with my daughter", "no"),
    ("Our team won the match on Saturday", "no"),
]


def test_metrics_match_a_hand_computed_confusion_matrix() -> None:
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.1, 0.1, 0.1])
    report = evaluate_scores(labels, scores, n_boot=200, seed=1)
    assert report["confusion"] == {"tp": 3, "fp": 1, "fn": 1, "tn": 3}
    assert report["sensitivity"]["value"] == 0.75
    assert report["specificity"]["value"] == 0.75
    assert report["precision"]["value"] == 0.75
    assert report["f1"]["value"] == 0.75
    low, high = report["sensitivity"]["ci95"]
    assert 0.0 <= low <= 0.75 <= high <= 1.0
    assert 0.0 < report["pr_auc"]["value"] <= 1.0


def test_undefined_metrics_are_none() -> None:
    report = evaluate_scores(np.array([False, False]), np.array([0.1, 0.7]), n_boot=50)
    assert report["sensitivity"]["value"] is None
    assert report["pr_auc"] == {"value": None, "ci95": [None, None]}
    assert report["specificity"]["value"] == 0.5


def test_bootstrap_is_reproducible_with_a_seed() -> None:
    labels = np.array([1, 0, 1, 0, 1, 0, 1, 1], dtype=bool)
    scores = np.linspace(0, 1, 8)
    assert evaluate_scores(labels, scores, n_boot=100, seed=3) == evaluate_scores(
        labels, scores, n_boot=100, seed=3
    )


def _write_csv(path: Path) -> Path:
    lines = ["text,label"] + [f'"{t}",{label}' for t, label in ROWS]
    # An invalid UTF-8 byte in a negative row must be replaced, not crash the evaluation.
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'"caf\xe9 time with friends",no\n')
    return path


def test_crisis_eval_on_csv_with_invalid_utf8(tmp_path: Path) -> None:
    report = crisis_eval(_write_csv(tmp_path / "labelled.csv"), "text", "label", ["yes"], n_boot=100)
    assert report["n"] == 7 and report["n_positive"] == 3
    assert report["sensitivity"]["value"] == 1.0
    for name in ("sensitivity", "specificity", "precision", "f1", "pr_auc"):
        assert set(report[name]) == {"value", "ci95"}
    assert json.loads(json.dumps(report)) == report


def test_crisis_eval_on_json_and_jsonl(tmp_path: Path) -> None:
    records = [{"t": t, "y": 1 if label == "yes" else 0} for t, label in ROWS]
    (tmp_path / "a.json").write_text(json.dumps(records))
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    from_json = crisis_eval(tmp_path / "a.json", "t", "y", [1], n_boot=0)
    from_jsonl = crisis_eval(tmp_path / "a.jsonl", "t", "y", ["1"], n_boot=0)
    assert from_json["confusion"] == from_jsonl["confusion"]
    assert from_json["n"] == 6 and from_json["sensitivity"]["ci95"] == [None, None]


def test_labels_are_matched_without_surrounding_spaces(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    path.write_text('Tweet,Suicide\n"I want to die",Potential Suicide post \n"nice day",Not Suicide post\n')
    report = crisis_eval(path, "Tweet", "Suicide", ["Potential Suicide post"], n_boot=0)
    assert report["n_positive"] == 1


def test_rows_without_a_label_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"t": "hello", "y": 0}\n{"t": "x", "y": null}\n{"t": "i want to die", "y": 1}\n')
    report = crisis_eval(path, "t", "y", [1], n_boot=0)
    assert report["n"] == 2 and report["skipped_rows"] == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"t": 1}\n{broken\n', "bad.jsonl:2: malformed JSON"),
        ("bad.json", '{"a": 1}', "expected a JSON list"),
        ("bad.txt", "hello", "unsupported file type"),
        ("empty.csv", "t,y\n", "no rows"),
    ],
)
def test_unreadable_inputs_give_clear_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(EvaluationInputError, match=message):
        crisis_eval(path, "t", "y", [1], n_boot=0)


def test_missing_column_names_the_available_ones(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "l.csv")
    with pytest.raises(EvaluationInputError, match=r"no column 'body'.*columns: label, text"):
        crisis_eval(path, "body", "label", ["yes"])
    with pytest.raises(EvaluationInputError, match="cannot read"):
        read_rows(tmp_path / "missing.csv")


def test_sensitivity_on_each_development_source_test_portion(crisis_corpus: tuple) -> None:
    """The shipped model meets >= 0.95 sensitivity on every development source's held-back test part."""
    from ai.safety.crisis_detection.corpora import DEVELOPMENT_SOURCES
    from ai.safety.crisis_detection.production_crisis_detector import CrisisDetector

    examples, _ = crisis_corpus
    detector = CrisisDetector()
    for source in DEVELOPMENT_SOURCES:
        positives = [e.text for e in examples if e.source == source and e.split == "test" and e.label == 1]
        flagged = sum(r.is_crisis for r in detector.detect_batch(positives))
        assert flagged / len(positives) >= 0.95, source


def test_module_entry_prints_json_and_reports_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_csv(tmp_path / "l.csv")
    argv = [
        "--input",
        str(path),
        "--text-col",
        "text",
        "--label-col",
        "label",
        "--positive",
        "yes",
        "--n-boot",
        "50",
    ]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["n_positive"] == 3
    assert main([*argv[:3], "nope", *argv[4:]]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
