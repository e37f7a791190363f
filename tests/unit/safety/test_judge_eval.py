"""judge_eval: any judge on a user's labelled file, columns by name, bootstrap intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ai.safety.evaluation import Columns, EvaluationInputError, evaluate_scores, judge_eval, labelled_rows


def length_scorer(texts: list[str], contexts: list[list[str]]) -> tuple[np.ndarray, float, str]:
    """A stand-in judge for the plumbing: longer context + reply scores higher."""
    scores = np.array([len(t) + sum(map(len, c)) for t, c in zip(texts, contexts, strict=True)], dtype=float)
    return scores / scores.max(), 0.5, "length-1"


def test_contexts_are_read_as_turns_from_json_lists_or_plain_cells(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"reply": "aaaa", "context": ["x", "yy"], "label": "unsafe"},
        {"reply": "b", "context": '["c1", "c2"]', "label": "safe"},
        {"reply": "c", "context": "one turn", "label": "safe"},
        {"reply": "d", "context": None, "label": ""},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    read = labelled_rows(
        [json.loads(line) for line in path.read_text().splitlines()],
        Columns("reply", "label", "context"),
        ["unsafe"],
        path,
    )
    assert read.contexts == [["x", "yy"], ["c1", "c2"], ["one turn"]]
    assert read.labels.tolist() == [True, False, False] and read.skipped == 1


def test_judge_eval_reports_every_metric_with_intervals(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    lines = ["reply,context,label"] + [f"{'long reply ' * 5},ctx,1"] * 6 + ["no,c,0"] * 6
    path.write_text("\n".join(lines), encoding="utf-8")
    report = judge_eval(
        "content", path, Columns("reply", "label", "context"), ["1"], n_boot=50, scorer=length_scorer
    )
    assert report["judge"] == "content" and report["judge_version"] == "length-1"
    assert report["confusion"] == {"tp": 6, "fp": 0, "fn": 0, "tn": 6}
    assert report["roc_auc"]["value"] == 1.0 and report["f1"]["ci95"] == [1.0, 1.0]


def test_judge_eval_names_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{"reply": "hi", "label": 1}]), encoding="utf-8")
    with pytest.raises(EvaluationInputError, match="unknown judge"):
        judge_eval("vibes", path, Columns("reply", "label"), ["1"])
    with pytest.raises(EvaluationInputError, match="needs the client's message"):
        judge_eval("ears", path, Columns("reply", "label"), ["1"])
    with pytest.raises(EvaluationInputError, match="no scorer for the ears judge"):
        judge_eval("ears", path, Columns("reply", "label", "client"), ["1"])
    with pytest.raises(EvaluationInputError, match="no column 'context'"):
        judge_eval("content", path, Columns("reply", "label", "context"), ["1"], scorer=length_scorer)


def test_roc_auc_is_undefined_without_both_classes() -> None:
    report = evaluate_scores(np.array([True, True]), np.array([0.2, 0.9]), n_boot=10)
    assert report["roc_auc"] == {"value": None, "ci95": [None, None]}
    report = evaluate_scores(np.array([True, False, True, False]), np.array([0.9, 0.1, 0.4, 0.6]), n_boot=0)
    assert report["roc_auc"]["value"] == 0.75


def test_content_judge_on_real_diasafety_rows(shared_data: Path, tmp_path: Path) -> None:
    rows = json.loads((shared_data / "crisis" / "diasafety_val.json").read_text(encoding="utf-8"))[:200]
    path = tmp_path / "val.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    report = judge_eval("content", path, Columns("response", "label", "context"), ["Unsafe"], n_boot=100)
    assert report["n"] == 200
    assert report["roc_auc"]["value"] > 0.75  # held out: DiaSafety's validation split is never trained on


def test_ears_judge_scores_client_and_reply(tmp_path: Path) -> None:
    path = tmp_path / "ears.csv"
    good = "It sounds like losing your job has left you frightened about the rent. What feels most urgent?"
    lines = ["client,reply,quality"]
    lines += [f'"I lost my job and I am scared about rent.","{good}",high'] * 3
    lines += ['"I lost my job and I am scared about rent.","ok.",low'] * 3
    path.write_text("\n".join(lines), encoding="utf-8")
    from ai.pipelines.orchestrator.main_orchestrator import score_ears

    columns = Columns("reply", "quality", "client")
    report = judge_eval("ears", path, columns, ["high"], n_boot=20, scorer=score_ears)
    assert report["n"] == 6 and report["roc_auc"]["value"] == 1.0
