"""The training script end to end on a small synthetic copy of the shared-data layout."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from ai.safety.crisis_detection.corpora import Example
from ai.safety.crisis_detection.production_crisis_detector import CrisisDetector
from ai.safety.crisis_detection.train import _calibrate, main

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
    return crisis


def test_training_writes_a_loadable_artifact_and_card(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    assert main(["--data", str(data_dir), "--out", str(out), "--n-boot", "20"]) == 0
    printed = json.loads(capsys.readouterr().out.split("\n", 5)[-1])
    assert set(printed) >= {"sdcnl", "kaggle", "laxmimerit", "dreaddit"}
    meta = json.loads((out / "crisis_linear.json").read_text())
    assert 0 < meta["threshold"] < 1 and meta["deduplication"]["unique"] > 0
    assert meta["esconv_probe"]["dialogues"] == 10
    card = (out / "MODEL_CARD.md").read_text()
    assert "| sdcnl |" in card and "In-domain probe" in card
    detector = CrisisDetector(model_dir=out)
    assert detector.detect("i want to kill myself tonight").is_crisis
    for source in ("sdcnl", "kaggle", "laxmimerit"):
        assert meta["test"][source]["sensitivity"]["value"] >= 0.95


def test_calibration_keeps_the_target_on_every_source() -> None:
    examples = [Example("x", 1, "sdcnl", "a"), Example("x", 1, "sdcnl", "b"), Example("x", 1, "kaggle", "c")]
    probabilities = np.array([0.9, 0.3, 0.6])
    threshold = _calibrate(examples, probabilities, np.zeros(3), target=1.0)
    assert threshold <= 0.3  # both SDCNL positives must pass
    assert _calibrate(examples, probabilities, np.array([0.9, 0.9, 0.9]), target=1.0) == 0.99
    with pytest.raises(ValueError, match="no development source"):
        _calibrate([Example("x", 0, "sdcnl", "a")], np.array([0.5]), np.zeros(1), target=0.95)
