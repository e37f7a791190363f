"""EARS gate: the stage that applies the EARS judge, its options and the module-level API."""

from __future__ import annotations

import msgspec
import pytest

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.pipelines.orchestrator.ears_compliance_gate import (
    EarsOptions,
    EarsStage,
    score_conversation,
    score_response,
    summarise_ears,
)
from ai.safety.ears.judge import DEFAULT_THRESHOLD

CLIENT = "I've been so anxious about my exams that I can't sleep and I keep snapping at my family."
GOOD = (
    "You're anxious about the exams, and it's costing you sleep and some patience with your family. "
    "What has the snapping been like for you?"
)
DISMISSIVE = "Don't worry, you'll be fine. Just get over it and move on."


def conversation(*turns: tuple[str, str], meta: dict | None = None) -> Conversation:
    return make_conversation(
        [Turn(role, text) for role, text in turns],
        Provenance(kind="dataset", name="t"),
        meta=dict(meta or {}),
    )


def test_module_api_scores_a_reply_and_openai_messages() -> None:
    reply = score_response(CLIENT, GOOD)
    assert 0.0 < reply <= 1.0 and reply > score_response(CLIENT, DISMISSIVE)
    messages = [{"role": "user", "content": CLIENT}, {"role": "assistant", "content": GOOD}]
    # The conversation score is the reply's times the session's MI consistency (at most 1).
    assert 0.5 * reply < score_conversation(messages) <= reply
    stage_record = conversation(("client", CLIENT), ("therapist", GOOD))
    EarsStage().process([stage_record])
    assert stage_record.scores["ears"] == score_conversation(messages)


def test_crisis_conversation_needs_a_safety_step_after_the_crisis_turn() -> None:
    crisis_meta = {"crisis": {"is_crisis": True, "level": "ideation", "first_turn": 0}}
    turns = [
        ("client", "I want to kill myself. Everything at work fell apart."),
        ("therapist", "Work falling apart sounds exhausting. What happened?"),
    ]
    missing = EarsStage().process([conversation(*turns, meta=crisis_meta)])
    assert [r.reason for r in missing.rejected] == ["ears_missing_safety_step"]
    assert "client turn 0 carries a crisis signal" in missing.rejected[0].message
    turns += [
        ("client", "Everything at work."),
        (
            "therapist",
            "Thank you for telling me about work. Are you safe right now? Can we make a safety plan together?",
        ),
    ]
    assert len(EarsStage().process([conversation(*turns, meta=crisis_meta)]).kept) == 1


def test_stage_scores_rejects_and_reads_crisis_meta() -> None:
    good = conversation(("client", CLIENT), ("therapist", GOOD))
    weak_meta = {"crisis": {"is_crisis": True, "level": "indicator", "first_turn": 0}}
    weak_crisis = conversation(("client", "I feel low about my exams."), ("therapist", GOOD), meta=weak_meta)
    unanswered = conversation(("client", "hello?"))
    dismissive = conversation(("client", CLIENT), ("therapist", DISMISSIVE))
    result = EarsStage().process([good, weak_crisis, unanswered, dismissive])
    assert [r.id for r in result.kept] == [good.id, weak_crisis.id]
    reasons = {r.record_id: r.reason for r in result.rejected}
    assert reasons == {unanswered.id: "ears_no_therapist_reply", dismissive.id: "ears_below_threshold"}
    assert all(r.stage == "ears" and r.message for r in result.rejected)
    assert unanswered.scores["ears"] == 0.0
    assert 0 < result.stats["ears_mean"] <= 1
    assert EarsStage().process([]).stats == {"ears_mean": 0.0}


def test_threshold_decides_and_says_so() -> None:
    record = conversation(("client", CLIENT), ("therapist", GOOD))
    strict = EarsStage(EarsOptions(threshold=0.99)).process([record])
    assert strict.rejected[0].reason == "ears_below_threshold"
    assert "below the threshold 0.99" in strict.rejected[0].message


def test_options_come_from_config_and_are_validated() -> None:
    assert EarsOptions().threshold == DEFAULT_THRESHOLD
    options = msgspec.convert({"weights": {"reflect": 1.0}, "directive_penalty": 0.0}, EarsOptions)
    [judged] = EarsStage(options).judge_model.judge_replies([CLIENT], [GOOD])
    assert judged.score == pytest.approx(judged.engagement * judged.components["reflect"], abs=1e-4)
    bad_options = (
        {"weights": {"kindness": 1}},
        {"threshold": 2},
        {"safety_step_min_level": "x"},
        {"penalties": {}},
    )
    for bad in bad_options:
        with pytest.raises((ValueError, msgspec.ValidationError)):
            EarsStage(msgspec.convert(bad, EarsOptions))


def test_dataset_summary() -> None:
    summary = summarise_ears([0.0, 0.1, 0.5, 0.9], threshold=0.3)
    assert summary["n"] == 4 and summary["pass_rate"] == 0.5 and sum(summary["histogram"]) == 4
    assert summary["mean"] == pytest.approx(0.375)
    assert summarise_ears([], 0.3)["mean"] is None
