"""CrisisDetector: the public API, the shipped artifact, and failing closed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ai.safety.crisis_detection.production_crisis_detector import (
    MODEL_DIR,
    CrisisDetector,
    CrisisModelError,
    CrisisResult,
    LinearCrisisModel,
    blank_discounted,
)


@pytest.fixture(scope="module")
def detector() -> CrisisDetector:
    return CrisisDetector()


def test_explicit_first_person_statement_is_a_crisis(detector: CrisisDetector) -> None:
    result = detector.detect("I have the pills ready and I'm going to kill myself tonight")
    assert result.is_crisis and result.score >= 0.9
    assert result.level == "behavior_or_plan"
    assert {"plan_or_intent"} <= set(result.categories)
    assert any(e.text.lower().startswith("going to kill myself") for e in result.evidence)


def test_past_attempt_is_the_highest_level(detector: CrisisDetector) -> None:
    result = detector.detect("Two years ago I tried to kill myself and woke up in hospital.")
    assert result.level == "attempt" and result.is_crisis


def test_everyday_text_is_not_a_crisis(detector: CrisisDetector) -> None:
    result = detector.detect("I made pasta for dinner and watched a film with my sister.")
    assert not result.is_crisis and result.level == "none" and result.score < 0.5
    assert result.categories == [] and result.evidence == []


def test_negated_statement_is_scored_without_the_phrase(detector: CrisisDetector) -> None:
    negated = detector.detect("I would never kill myself, I just had a long day at work.")
    plain = detector.detect("I will kill myself, I just had a long day at work.")
    assert negated.score < plain.score
    assert negated.level in ("none", "indicator")
    assert [e.discount for e in negated.evidence] == ["negated"]


def test_score_and_flag_agree(detector: CrisisDetector) -> None:
    texts = [
        "I feel hopeless",
        "nice weather today",
        "i want to die",
        "my cat is asleep",
        "no reason to live",
    ]
    for result in detector.detect_batch(texts):
        assert result.is_crisis == (result.score >= 0.5)
        assert 0.0 <= result.score <= 1.0


def test_batch_equals_one_by_one(detector: CrisisDetector) -> None:
    texts = ["I want to die", "", "Work is stressful", "he beat me again last night", "🙂"]
    assert detector.detect_batch(texts) == [detector.detect(t) for t in texts]
    assert detector.detect_batch([]) == []


def test_bad_input_fails_closed_without_affecting_the_others(detector: CrisisDetector) -> None:
    results = detector.detect_batch(["a calm day at the park", None, b"bytes"])  # type: ignore[list-item]
    assert not results[0].is_crisis and results[0].error == ""
    for failed in results[1:]:
        assert failed.is_crisis and failed.score == 1.0 and failed.error


def test_threshold_override_changes_the_decision() -> None:
    text = "I have been feeling low and tired for weeks"
    strict = CrisisDetector(threshold=0.99).detect(text)
    loose = CrisisDetector(threshold=0.0001).detect(text)
    assert not strict.is_crisis and loose.is_crisis
    with pytest.raises(ValueError, match="between 0 and 1"):
        CrisisDetector(threshold=1.5)


def test_artifact_is_small_json_and_npz_without_pickle() -> None:
    meta = json.loads((MODEL_DIR / "crisis_linear.json").read_text())
    assert 0 < meta["threshold"] < 1 and meta["n_features"] == 2**18
    with np.load(MODEL_DIR / "crisis_linear.npz", allow_pickle=False) as arrays:
        assert set(arrays.files) == {"indices", "weights", "intercept"}
        assert arrays["weights"].dtype == np.float32
    assert (MODEL_DIR / "crisis_linear.npz").stat().st_size < 2_000_000
    assert (MODEL_DIR / "MODEL_CARD.md").read_text().count("sensitivity") >= 1


def test_missing_or_broken_artifact_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CrisisModelError, match="unreadable"):
        LinearCrisisModel(tmp_path)
    shutil.copy(MODEL_DIR / "crisis_linear.json", tmp_path)
    (tmp_path / "crisis_linear.npz").write_bytes(b"not an npz")
    with pytest.raises(CrisisModelError):
        CrisisDetector(model_dir=tmp_path)


def test_to_dict_is_json_serialisable(detector: CrisisDetector) -> None:
    data = detector.detect("I want to die").to_dict()
    assert json.loads(json.dumps(data))["evidence"][0]["text"] == "want to die"
    assert isinstance(detector.detect("x"), CrisisResult)


def test_blank_discounted_removes_only_discounted_phrases(detector: CrisisDetector) -> None:
    text = "I would never kill myself. I want to die."
    hits = detector.patterns.scan_one(text)
    assert blank_discounted(text, hits) == "I would never  . I want to die."
