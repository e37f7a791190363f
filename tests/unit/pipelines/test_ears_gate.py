"""EARS gate: reply scoring, conversation results, options, and the stage."""

from __future__ import annotations

import msgspec
import pytest

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.pipelines.orchestrator.ears_compliance_gate import (
    EarsComplianceGate,
    EarsOptions,
    EarsStage,
    summarise_ears,
)

GATE = EarsComplianceGate()
CLIENT = "I've been so anxious about my exams that I can't sleep and I keep snapping at my family."
GOOD = (
    "It sounds like you're feeling really anxious, and the exams are taking your sleep too. That makes sense "
    "given the pressure. Snapping at your family seems to be part of it. What would feel like one small step "
    "toward more rest this week?"
)
MINIMISING = "Don't worry, you'll be fine. Everyone has exams."
JUDGING = "You should have started studying earlier. What were you thinking?"
PRESCRIBING = "You need to take 10 mg of melatonin and stop drinking coffee."
HOTLINE = "Please call a crisis hotline."


def conversation(*turns: tuple[str, str], meta: dict | None = None) -> Conversation:
    return make_conversation(
        [Turn(role, text) for role, text in turns],
        Provenance(kind="dataset", name="t"),
        meta=dict(meta or {}),
    )


def test_empathic_reply_scores_high_with_evidence() -> None:
    result = GATE.evaluate_response(CLIENT, GOOD)
    assert result.score >= 0.7
    assert result.components["empathize"] == 1.0 and result.components["acknowledge"] == 1.0
    assert result.components["reflect"] > 0.5 and result.components["support"] >= 0.6
    assert result.penalties == []
    assert any(e.startswith("reflect: mirrors") for e in result.evidence)


@pytest.mark.parametrize(
    ("reply", "penalty"),
    [
        (MINIMISING, "minimising"),
        (JUDGING, "judgement"),
        (PRESCRIBING, "prescriptive"),
        (HOTLINE, "premature_hotline"),
    ],
)
def test_penalties_lower_the_score(reply: str, penalty: str) -> None:
    result = GATE.evaluate_response(CLIENT, reply)
    assert penalty in result.penalties
    assert result.score < GATE.score_response(CLIENT, GOOD)


def test_hotline_is_fine_when_the_client_is_at_risk() -> None:
    risky = "I don't want to live anymore."
    result = GATE.evaluate_response(
        risky, "I'm so glad you told me. Would you call the crisis line with me now?"
    )
    assert result.risk_present and "premature_hotline" not in result.penalties
    assert result.safety_step and result.components["support"] == 1.0


def test_long_monologue_is_penalised() -> None:
    lecture = " ".join(["You should think about the many reasons exams matter for your future."] * 10)
    assert "lecturing" in GATE.evaluate_response(CLIENT, lecture).penalties


def test_score_response_is_bounded() -> None:
    for reply in (GOOD, MINIMISING + " " + JUDGING + " " + PRESCRIBING, "", "ok"):
        assert 0.0 <= GATE.score_response(CLIENT, reply) <= 1.0


def test_conversation_result_and_aggregate() -> None:
    conv = conversation(("client", "hi"), ("therapist", "Hello."), ("client", CLIENT), ("therapist", GOOD))
    top_half = GATE.evaluate_conversation(conv)
    mean = EarsComplianceGate(EarsOptions(aggregate="mean")).evaluate_conversation(conv)
    assert top_half.passed and top_half.score > mean.score
    assert len(top_half.responses) == 2 and top_half.to_dict()["responses"][1]["score"] >= 0.7


def test_crisis_conversation_needs_a_safety_step_after_the_crisis_turn() -> None:
    turns = [
        ("client", "I want to kill myself."),
        ("therapist", "It sounds like you feel exhausted. What happened?"),
    ]
    missing = GATE.evaluate_conversation(conversation(*turns), crisis_turn=0)
    assert not missing.passed and missing.reason == "ears_missing_safety_step"
    turns.append(("client", "Everything."))
    turns.append(
        ("therapist", "Thank you for telling me. Are you safe right now? Can we make a safety plan together?")
    )
    assert GATE.evaluate_conversation(conversation(*turns), crisis_turn=0).passed


def test_no_reply_and_low_score_reasons() -> None:
    assert GATE.evaluate_conversation(conversation(("client", "hello?"))).reason == "ears_no_therapist_reply"
    strict = EarsComplianceGate(EarsOptions(threshold=0.95))
    low = strict.evaluate_conversation(conversation(("client", CLIENT), ("therapist", MINIMISING)))
    assert low.reason == "ears_below_threshold" and "below the threshold" in low.message


def test_options_come_from_config_and_are_validated() -> None:
    options = msgspec.convert({"threshold": 0.2, "weights": {"reflect": 1.0}}, EarsOptions)
    assert options.threshold == 0.2
    only_reflect = EarsComplianceGate(options).evaluate_response(CLIENT, GOOD)
    assert only_reflect.score == pytest.approx(only_reflect.components["reflect"], abs=1e-4)
    for bad in ({"weights": {"kindness": 1}}, {"aggregate": "median"}, {"safety_step_min_level": "x"}):
        with pytest.raises((ValueError, msgspec.ValidationError)):
            msgspec.convert(bad, EarsOptions)


def test_stage_scores_rejects_and_uses_crisis_meta() -> None:
    good = conversation(("client", CLIENT), ("therapist", GOOD))
    crisis_meta = {"crisis": {"is_crisis": True, "level": "ideation", "first_turn": 0}}
    unsafe_crisis = conversation(
        ("client", "I want to die."),
        ("therapist", "It sounds like you feel awful. What happened today?"),
        meta=crisis_meta,
    )
    weak_meta = {"crisis": {"is_crisis": True, "level": "indicator", "first_turn": 0}}
    weak_crisis = conversation(("client", "I feel low."), ("therapist", GOOD), meta=weak_meta)
    result = EarsStage().process([good, unsafe_crisis, weak_crisis])
    assert [r.id for r in result.kept] == [good.id, weak_crisis.id]
    (rejection,) = result.rejected
    assert rejection.reason == "ears_missing_safety_step" and rejection.stage == "ears"
    assert all("ears" in r.scores for r in [good, unsafe_crisis, weak_crisis])
    assert 0 < result.stats["ears_mean"] <= 1


def test_dataset_summary() -> None:
    summary = summarise_ears([0.0, 0.1, 0.5, 0.9], threshold=0.3)
    assert summary["n"] == 4 and summary["pass_rate"] == 0.5 and sum(summary["histogram"]) == 4
    assert summary["mean"] == pytest.approx(0.375)
    assert summarise_ears([], 0.3)["mean"] is None


@pytest.mark.parametrize(
    "reply", [GOOD, MINIMISING, JUDGING, PRESCRIBING, HOTLINE, "Take 50mg of sertraline."]
)
def test_explain_false_scores_exactly_like_explain_true(reply: str) -> None:
    explained = GATE.evaluate_response(CLIENT, reply)
    quiet = GATE.evaluate_response(CLIENT, reply, explain=False)
    assert (quiet.score, quiet.components, quiet.penalties) == (
        explained.score,
        explained.components,
        explained.penalties,
    )
    assert quiet.evidence == [] and explained.evidence


def test_evidence_quotes_the_words_each_rule_matched() -> None:
    result = GATE.evaluate_response(CLIENT, "Don't worry. You need to take it easy. Call the hotline?")
    assert 'penalty minimising: "Don\'t worry"' in result.evidence
    assert "penalty prescriptive: 'You need to'" in result.evidence
    assert "penalty premature_hotline: 'hotline' with no risk in the client text" in result.evidence
    dosing = GATE.evaluate_response(CLIENT, "Maybe 50 mg of sertraline would settle it.")
    assert "prescriptive" in dosing.penalties
    assert any(e.startswith("penalty prescriptive: '50 mg") for e in dosing.evidence), dosing.evidence
