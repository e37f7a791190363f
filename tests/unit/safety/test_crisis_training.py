"""The training script end to end on a small synthetic copy of the shared-data layout."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from ai.safety.crisis_detection import train
from ai.safety.crisis_detection.corpora import Example
from ai.safety.crisis_detection.production_crisis_detector import CrisisDetector
from ai.safety.crisis_detection.train import _budget_threshold, _post_threshold, main

POSITIVE = ["i want to kill myself", "i want to die", "no reason to live anymore", "i tried to kill myself"]
NEGATIVE = ["the match was brilliant", "we cooked pasta", "my dog learned tricks", "the beach was fun"]
FILLER = [
    "today",
    "again",
    "honestly",
    "lately",
    "maybe",
    "really",
    "still",
    "always",
    "sometimes",
    "morning",
    "evening",
    "work",
    "home",
    "school",
]


def _texts(pool: list[str], n: int, rng: random.Random) -> list[str]:
    """Short phrases with shuffled filler, so near-duplicate grouping keeps them apart."""
    return [f"{rng.choice(pool)} {' '.join(rng.sample(FILLER, 5))} {i}" for i in range(n)]


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    rng = random.Random(0)
    crisis, conversations = tmp_path / "crisis", tmp_path / "conversations"
    crisis.mkdir()
    conversations.mkdir()
    for name in ("sdcnl_training-set.csv", "sdcnl_testing-set.csv"):
        rows = [["t", text, 1] for text in _texts(POSITIVE, 40, rng)]
        rows += [["t", text, 0] for text in _texts(NEGATIVE, 40, rng)]
        _write_csv(crisis / name, ["title", "selftext", "is_suicide"], rows)
    kaggle = [[t, "Potential Suicide post "] for t in _texts(POSITIVE, 60, rng)]
    kaggle += [[t, "Not Suicide post"] for t in _texts(NEGATIVE, 60, rng)]
    _write_csv(
        crisis / "kaggle_suicidal_tweet_detection_Suicide_Ideation_Dataset_Twitter-based.csv",
        ["Tweet", "Suicide"],
        kaggle,
    )
    lax = [[t, 1] for t in _texts(POSITIVE, 60, rng)] + [[t, 0] for t in _texts(NEGATIVE, 60, rng)]
    _write_csv(crisis / "laxmimerit_twitter-suicidal_data.csv", ["tweet", "intention"], lax)
    for name in ("dreaddit-train.csv", "dreaddit-test.csv"):
        _write_csv(crisis / name, ["text", "label"], [[t, 1] for t in _texts(NEGATIVE, 30, rng)])
    questions = [
        [i, "question", t, ["train", "val", "test"][i % 3]] for i, t in enumerate(_texts(NEGATIVE, 30, rng))
    ]
    _write_csv(
        conversations / "counselchat_20200325_counsel_chat.csv",
        ["questionID", "questionTitle", "questionText", "split"],
        questions,
    )
    for part in ("train", "valid", "test"):
        lines = [
            json.dumps({"dialog": [{"speaker": "usr", "text": t}, {"speaker": "sys", "text": "ok"}]})
            for t in _texts(NEGATIVE, 10, rng)
        ]
        (conversations / f"esconv_hf_{part}.jsonl").write_text("\n".join(lines) + "\n")
    annomi = [[n % 6, "client", t] for n, t in enumerate(_texts(NEGATIVE, 30, rng))]
    annomi += [[0, "therapist", "how does that feel"]]
    _write_csv(
        conversations / "annomi_AnnoMI-simple.csv",
        ["transcript_id", "interlocutor", "utterance_text"],
        annomi,
    )
    annotated = conversations / "empatheticdialogues" / "annotated"
    annotated.mkdir(parents=True)
    rows = []
    for n in range(120):
        for text in _texts(NEGATIVE, 2, rng):
            rows += [[f"hit:{n}_conv:{n}", "utterance", "speaker", text, "joyful"]]
        rows += [[f"hit:{n}_conv:{n}", "utterance", "listener", "that sounds great", "agreeing"]]
    rows.append(["hit:0_conv:0(1)", "utterance", "speaker", "a copy that must be skipped", "joyful"])
    _write_csv(annotated / "joyful.csv", ["Dialog_ID", "Type", "Actor", "Text", "Label"], rows)
    return crisis


def test_training_writes_a_loadable_artifact_and_card(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    assert main(["--data", str(data_dir), "--out", str(out), "--n-boot", "20"]) == 0
    printed = json.loads(capsys.readouterr().out.split("\n", 3)[-1])
    assert set(printed) == {"thresholds", "people"}
    meta = json.loads((out / "crisis_linear.json").read_text())
    assert meta["deduplication"]["unique"] > 0
    for unit in ("post", "person"):
        assert all(0 < meta["thresholds"][unit][d] < 1 for d in ("short", "long"))
    assert meta["people"]["esconv_flag_rate"]["n"] == 10
    assert meta["people"]["empathetic_dialogues_flag_rate"]["n"] > 0
    assert meta["dialogue_counts"]["empathetic_dialogues"]["train_neg"] > 0
    assert sum(meta["training_only_counts"]["ed_turn"].values()) == 240  # the "(1)" copy skipped
    assert sum(meta["training_only_counts"]["annomi_turn"].values()) == 30  # client turns only
    assert set(meta["cross_source"]) == {"sdcnl", "kaggle", "laxmimerit"}
    card = (out / "MODEL_CARD.md").read_text()
    assert "| sdcnl |" in card and "| planted_kaggle |" in card and "CC BY-NC 4.0" in card
    detector = CrisisDetector(model_dir=out)
    assert detector.detect("i want to kill myself tonight").is_crisis
    assert detector.detect_conversation(["the beach was fun", "i want to die"]).is_crisis
    for source in ("sdcnl", "kaggle", "laxmimerit"):
        assert meta["test"][source]["sensitivity"]["value"] >= 0.95
        assert meta["test"][source]["roc"]


@pytest.fixture
def one_positive_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lower the calibration minimum for the tiny hand-made sets in these tests."""
    monkeypatch.setattr(train, "MIN_CALIBRATION_POSITIVES", 1)


@pytest.mark.usefixtures("one_positive_is_enough")
def test_post_calibration_keeps_the_target_on_every_source() -> None:
    examples = [Example("x", 1, "sdcnl", "a"), Example("x", 1, "sdcnl", "b"), Example("x", 1, "kaggle", "c")]
    view = {"p": np.array([0.9, 0.3, 0.6]), "long": np.zeros(3, dtype=bool), "floor": np.zeros(3)}
    assert _post_threshold(examples, view, "short", target=1.0) <= 0.3  # both SDCNL positives pass
    caught = {**view, "floor": np.full(3, 0.9)}
    assert _post_threshold(examples, caught, "short", target=1.0) == 0.99
    with pytest.raises(ValueError, match="no development source"):
        _post_threshold([Example("x", 0, "sdcnl", "a")], view, "long", target=0.95)


def test_a_domain_without_enough_positives_uses_every_positive() -> None:
    examples = [Example("x", 1, "sdcnl", "a"), Example("y", 1, "sdcnl", "b")]
    view = {"p": np.array([0.4, 0.6]), "long": np.array([True, False]), "floor": np.zeros(2)}
    # Neither domain reaches MIN_CALIBRATION_POSITIVES: both positives must pass in both.
    assert _post_threshold(examples, view, "short", 1.0) == _post_threshold(examples, view, "long", 1.0) < 0.4


def test_budget_threshold_flags_at_most_the_budget() -> None:
    rng = np.random.default_rng(0)
    view = {"p": rng.random(1000), "long": np.zeros(1000, dtype=bool), "floor": np.zeros(1000)}
    threshold = _budget_threshold(view, "short")
    assert (view["p"] >= threshold).mean() <= 0.02 < (view["p"] >= threshold - 0.01).mean()
    # Pattern hits use up the budget first.
    view["floor"][:15] = 0.8
    assert _budget_threshold(view, "short") > threshold
    # Too few dialogues in a domain to say anything: no raise.
    assert _budget_threshold(view, "long") == 0.0
