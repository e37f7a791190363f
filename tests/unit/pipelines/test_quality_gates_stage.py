"""Per-record quality gates and the dataset-level gate report."""

from __future__ import annotations

import json

import msgspec
import pytest

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.pipelines.orchestrator.quality_gates import (
    DatasetGateOptions,
    QualityOptions,
    QualityStage,
    evaluate_dataset_gates,
    quality_score,
)


def conversation(*turns: tuple[str, str], language: str = "en") -> Conversation:
    return make_conversation(
        [Turn(role, text) for role, text in turns], Provenance(kind="dataset", name="t"), language=language
    )


GOOD = conversation(
    ("client", "I keep arguing with my partner about money and it leaves me drained."),
    ("therapist", "Those arguments sound exhausting. What usually happens right before they start?"),
    ("client", "Usually a bill arrives and we both panic."),
    (
        "therapist",
        "So the bills set off panic for both of you. How would you like those talks to go instead?",
    ),
)


@pytest.mark.parametrize(
    ("turns", "reason"),
    [
        ([("client", "hello")], "structure_too_few_turns"),
        ([("client", "hi"), ("therapist", "   ")], "structure_empty_turn"),
        ([("client", "hi"), ("counsellor", "hello")], "structure_unknown_role"),
        ([("client", "hi"), ("client", "anyone?")], "structure_missing_role"),
        ([("client", "x" * 30_000), ("therapist", "ok")], "structure_turn_too_long"),
        ([("client", "mail me at jane.doe@example.com"), ("therapist", "Sure.")], "residual_pii_email"),
        ([("client", "call 415-555-0132 tonight"), ("therapist", "Okay.")], "residual_pii_phone"),
        (
            [("client", "my ssn is 123-45-6789"), ("therapist", "Please don't share that.")],
            "residual_pii_ssn",
        ),
        (
            [("client", "card 4111 1111 1111 1111"), ("therapist", "Let's not share that.")],
            "residual_pii_credit_card",
        ),
        ([("client", "my ip is 192.168.10.22"), ("therapist", "Thanks.")], "residual_pii_ip_address"),
    ],
)
def test_per_record_gates_reject_with_reason(turns: list[tuple[str, str]], reason: str) -> None:
    record = conversation(*turns)
    result = QualityStage().process([record])
    assert result.kept == []
    (rejection,) = result.rejected
    assert rejection.reason == reason and rejection.stage == "quality"


def test_rejection_message_never_echoes_the_pii_value() -> None:
    record = conversation(("client", "reach me at jane.doe@example.com"), ("therapist", "Thanks."))
    (rejection,) = QualityStage().process([record]).rejected
    assert "jane.doe" not in rejection.message and "turn 0" in rejection.message


def test_helpline_numbers_and_non_luhn_digits_are_not_pii() -> None:
    record = conversation(
        ("client", "My order number is 1234 5678 9012 3456 and I feel stuck."),
        (
            "therapist",
            "That sounds stressful. If you ever feel unsafe, 1-800-273-8255 is open all night. What feels hardest?",
        ),
    )
    assert QualityStage().process([record]).rejected == []


def test_good_conversation_passes_with_a_quality_score() -> None:
    result = QualityStage().process([GOOD])
    assert result.kept == [GOOD] and 0.8 <= GOOD.scores["quality"] <= 1.0


def test_low_quality_is_rejected() -> None:
    repetitive = conversation(("client", "ok"), ("therapist", "ok"), ("client", "ok"), ("therapist", "ok"))
    assert quality_score(repetitive) < quality_score(GOOD)
    (rejection,) = QualityStage(QualityOptions(min_quality=0.6)).process([repetitive]).rejected
    assert rejection.reason == "quality_below_threshold"


def test_language_gate() -> None:
    stage = QualityStage(QualityOptions(allowed_languages=["en"]))
    french = conversation(*[(t.role, t.text) for t in GOOD.turns], language="fr")
    (rejection,) = stage.process([french]).rejected
    assert rejection.reason == "language_not_allowed" and "'fr'" in rejection.message


def test_options_are_validated_and_pii_can_be_switched_off() -> None:
    with pytest.raises(ValueError, match="unknown pii_kinds"):
        QualityOptions(pii_kinds=["passport"])
    options = msgspec.convert({"check_pii": False, "dataset": {"min_total": 5}}, QualityOptions)
    assert options.dataset.min_total == 5
    assert QualityOptions(**{"dataset": {"max_duplicate_rate": 0.2}}).dataset.max_duplicate_rate == 0.2
    record = conversation(
        ("client", "jane.doe@example.com"), ("therapist", "Thank you for sharing that with me.")
    )
    assert QualityStage(options).process([record]).rejected == []


SUMMARY = {
    "total": 1000,
    "counts_by_category": {"therapeutic": 900, "crisis_support": 100},
    "counts_by_split": {"train": 700, "validation": 150, "test": 150},
    "split_leakage": 0,
    "duplicate_rate": 0.001,
    "crisis_eval": {"sensitivity": {"value": 0.97, "ci95": [0.95, 0.99]}},
    "ears_mean": 0.3,
}


def test_dataset_gates_pass_on_a_healthy_summary() -> None:
    options = DatasetGateOptions(min_per_category={"crisis_support": 50}, min_ears_mean=0.2)
    report = evaluate_dataset_gates(SUMMARY, options)
    assert report.passed and report.failed == []
    names = [g.name for g in report.gates]
    assert "crisis_sensitivity" in names and "min_count:crisis_support" in names and "ears_mean" in names
    assert json.loads(json.dumps(report.to_dict()))["passed"] is True


@pytest.mark.parametrize(
    ("change", "gate", "shortfall"),
    [
        ({"crisis_eval": {"sensitivity": {"value": 0.91}}}, "crisis_sensitivity", 0.04),
        ({"duplicate_rate": 0.05}, "duplicate_rate", 0.04),
        ({"split_leakage": 3}, "split_leakage", 3),
        ({"counts_by_split": {"train": 900, "validation": 50, "test": 50}}, "split_ratio:train", 0.15),
        ({"counts_by_category": {"therapeutic": 1000}}, "min_count:crisis_support", 50),
        ({"total": 0}, "min_total", 1),
    ],
)
def test_each_failed_gate_says_by_how_much(change: dict, gate: str, shortfall: float) -> None:
    report = evaluate_dataset_gates(
        {**SUMMARY, **change}, DatasetGateOptions(min_per_category={"crisis_support": 50})
    )
    assert not report.passed
    failed = {g.name: g for g in report.failed}
    assert gate in failed and failed[gate].shortfall == pytest.approx(shortfall)
    assert "by" in failed[gate].message
    assert "FAIL" in report.summary_table() and gate in report.to_dict()["failed"]


def test_missing_or_undefined_crisis_evaluation() -> None:
    without = {k: v for k, v in SUMMARY.items() if k != "crisis_eval"}
    assert evaluate_dataset_gates(without).passed
    required = evaluate_dataset_gates(without, DatasetGateOptions(require_crisis_eval=True))
    assert (
        required.failed[0].name == "crisis_sensitivity"
        and "no labelled crisis evaluation" in required.failed[0].message
    )
    undefined = evaluate_dataset_gates({**SUMMARY, "crisis_eval": {"sensitivity": {"value": None}}})
    assert "no positive examples" in undefined.failed[0].message


def test_small_runs_skip_split_ratio_checks() -> None:
    report = evaluate_dataset_gates({"total": 3, "counts_by_split": {"train": 3}})
    assert report.passed and not any(g.name.startswith("split_ratio") for g in report.gates)


def test_letter_share_counts_like_str_methods_for_ascii_and_other_text() -> None:
    from ai.pipelines.orchestrator.quality_gates import _letter_or_space_count

    for text in ("", "Hello, world!\x1c\t42", "naïve café ½ ²", "\x00\x7f~~ ab"):
        assert _letter_or_space_count(text) == sum(c.isalpha() or c.isspace() for c in text)
