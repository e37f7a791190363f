"""CrisisDetector: the public API, the shipped artifact, and failing closed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ai.safety.crisis_detection.features import HashedNgrams
from ai.safety.crisis_detection.production_crisis_detector import (
    MODEL_DIR,
    CrisisDetector,
    CrisisModelError,
    CrisisResult,
    LinearCrisisModel,
    blank_discounted,
    union_of_rows,
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
    assert meta["n_features"] == 2**18
    for unit in ("post", "person"):
        assert all(0 < meta["thresholds"][unit][d] < 1 for d in ("short", "long"))
        # A person is never judged more loosely than a single post (the budget only raises it).
        assert all(
            meta["thresholds"]["person"][d] >= meta["thresholds"]["post"][d] for d in ("short", "long")
        )
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


def test_metadata_without_thresholds_is_a_clear_error(tmp_path: Path) -> None:
    meta = json.loads((MODEL_DIR / "crisis_linear.json").read_text())
    del meta["thresholds"]
    (tmp_path / "crisis_linear.json").write_text(json.dumps(meta))
    shutil.copy(MODEL_DIR / "crisis_linear.npz", tmp_path)
    with pytest.raises(CrisisModelError, match="thresholds"):
        LinearCrisisModel(tmp_path)


# Judging a person (issue 16): all their messages at once, evidence naming the message.


def test_escalating_first_person_statements_are_a_crisis(detector: CrisisDetector) -> None:
    messages = [
        "Work has been hard and I feel hopeless most days.",
        "Honestly everyone would be better off without me.",
        "I have the pills ready and I'm going to kill myself tonight.",
    ]
    result = detector.detect_conversation(messages)
    assert result.is_crisis and result.level == "behavior_or_plan" and result.escalating
    assert {e.message for e in result.evidence if not e.discount} == {0, 1, 2}
    plan = next(e for e in result.evidence if e.category == "plan_or_intent")
    assert messages[plan.message][plan.start : plan.end] == plan.text


def test_second_person_support_is_not_at_risk(detector: CrisisDetector) -> None:
    supporter = [
        "Please don't hurt yourself, you deserve to live.",
        "If you are thinking about suicide, please call a crisis line or text 988 right now.",
        "You are not alone. Reach out to someone you trust tonight.",
    ]
    result = detector.detect_conversation(supporter)
    assert not result.is_crisis, result
    assert all(e.discount for e in result.evidence)


@pytest.mark.parametrize(
    "messages",
    [
        ["this homework is killing me", "three essays due on Monday"],
        ["I could just die of embarrassment", "I tripped on stage during the school play"],
        ["I'm dead tired", "the baby was up all night again"],
        ["I used to want to kill myself, but therapy helped and now I'm doing well", "I start college soon"],
        ["♪ I don't want to live forever ♪ has been stuck in my head all day", "Taylor Swift is on tour"],
        ["My boss is stressing me out", "he keeps adding projects and I work most evenings"],
    ],
)
def test_everyday_people_are_not_at_risk(detector: CrisisDetector, messages: list[str]) -> None:
    assert not detector.detect_conversation(messages).is_crisis


def test_one_explicit_message_among_everyday_ones_is_a_crisis(detector: CrisisDetector) -> None:
    messages = ["We moved house last week.", "The kids love their new school.", "I just want to die."]
    result = detector.detect_conversation(messages)
    assert result.is_crisis and result.level == "ideation"
    assert [e.message for e in result.evidence] == [2]


def test_person_batch_equals_one_by_one(detector: CrisisDetector) -> None:
    people = [["I want to die"], [], ["nice day", "🙂"], ["he beat me again last night", "I'm scared"]]
    assert detector.detect_conversations(people) == [detector.detect_conversation(p) for p in people]
    assert detector.detect_conversations([]) == []
    empty = detector.detect_conversation([])
    assert not empty.is_crisis and empty.score == 0.0


def test_a_person_with_an_unreadable_message_fails_closed(detector: CrisisDetector) -> None:
    results = detector.detect_conversations([["a calm day"], ["fine", None], "not a list"])  # type: ignore[list-item]
    assert not results[0].is_crisis and results[0].error == ""
    for failed in results[1:]:
        assert failed.is_crisis and failed.score == 1.0 and failed.error


def test_union_of_rows_is_the_set_of_the_messages_ngrams() -> None:
    featurizer = HashedNgrams()
    messages = ["i feel low", "low energy today", "i feel low"]
    features = featurizer.transform(messages)
    joined = union_of_rows(features, np.array([0, 0, 1]), 2)
    expected = set(features[0].indices) | set(features[1].indices)
    assert set(joined[0].indices) == expected and list(joined[1].indices) == list(features[2].indices)
    assert np.allclose(np.sqrt(joined.multiply(joined).sum(axis=1)).A1, 1.0)
    assert joined.dtype == np.float32


def test_support_messages_do_not_hide_the_writers_own_words(detector: CrisisDetector) -> None:
    # Second person only: left out of the person's model score. With "I" in it: the writer's own.
    assert detector.detect_conversation(["Please don't hurt yourself, you deserve to live."]).score < 0.5
    mixed = detector.detect_conversation(["You deserve to live.", "I don't though. I want to kill myself."])
    assert mixed.is_crisis and mixed.level == "ideation" and mixed.evidence[-1].message == 1
