"""The crisis and content stages: scoring, routing, tagging and the few rejections they make."""

from __future__ import annotations

import pickle

import msgspec
import pytest

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.pipelines.orchestrator.safety_gates import ContentStage, CrisisOptions, CrisisStage

SOURCE = Provenance(kind="dataset", name="unit", locator={"file_line": "unit.jsonl:1"})


def conversation(*turns: tuple[str, str], tags: list[str] | None = None) -> Conversation:
    return make_conversation([Turn(role, text) for role, text in turns], SOURCE, tags=list(tags or []))


CALM = conversation(
    ("client", "We adopted a puppy last week and the kids love him."),
    ("therapist", "That sounds like a lovely change at home. What do you enjoy most about him?"),
)
ANSWERED = conversation(
    ("client", "Work has been fine."),
    ("therapist", "Good to hear. What else is on your mind?"),
    ("client", "Honestly I want to kill myself. I have been thinking about it every night."),
    ("therapist", "Thank you for telling me. Are you safe right now? Can we make a safety plan together?"),
)
UNANSWERED = conversation(
    ("therapist", "Hello, what brings you here?"),
    ("client", "I took a handful of pills an hour ago and I want to die."),
)


def test_every_record_is_scored_and_crisis_ones_are_routed_not_deleted() -> None:
    result = CrisisStage().process([CALM, ANSWERED])
    assert [r.id for r in result.kept] == [CALM.id, ANSWERED.id] and result.rejected == []
    calm, crisis = result.kept
    assert calm.scores["crisis"] < 0.5 and calm.category == "therapeutic" and "crisis" not in calm.tags
    assert crisis.scores["crisis"] >= 0.5 and crisis.category == "crisis_support"
    assert {"crisis", "crisis_level:ideation", "crisis:ideation"} <= set(crisis.tags)
    info = crisis.meta["crisis"]
    assert info["first_turn"] == 2 and info["level"] == "ideation"
    assert info["evidence"][0]["text"].lower() == "kill myself"
    assert result.stats["crisis_flagged"] == 1


def test_unanswered_crisis_is_rejected_with_reason() -> None:
    result = CrisisStage().process([UNANSWERED])
    (rejection,) = result.rejected
    assert rejection.reason == "crisis_unanswered" and rejection.stage == "crisis"
    assert "client turn 1" in rejection.message and rejection.record_id == UNANSWERED.id
    assert result.kept == []


def test_unanswered_crisis_can_be_kept_by_config() -> None:
    stage = CrisisStage(CrisisOptions(reject_unanswered=False))
    result = stage.process([UNANSWERED])
    assert result.rejected == [] and result.kept[0].category == "crisis_support"


def test_route_min_level_decides_which_crises_change_category() -> None:
    weak = conversation(("client", "I feel hopeless about everything lately"), ("therapist", "Tell me more."))
    (tagged,) = CrisisStage().process([weak]).kept
    assert tagged.scores["crisis"] >= 0.5 and "crisis_level:indicator" in tagged.tags
    assert tagged.category == "therapeutic"
    (routed,) = CrisisStage(CrisisOptions(route_min_level="indicator")).process([weak]).kept
    assert routed.category == "crisis_support"


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="route_min_level"):
        CrisisOptions(route_min_level="severe")
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"no_such_option": 1}, CrisisOptions)
    with pytest.raises(ValueError, match="threshold"):
        CrisisOptions(threshold=1.2)


def test_stage_pickles_without_its_detector_and_rebuilds_it() -> None:
    stage = CrisisStage()
    stage.process([CALM])
    clone = pickle.loads(pickle.dumps(stage))
    assert clone._detector is None
    assert clone.process([ANSWERED]).kept[0].category == "crisis_support"


def test_empty_batch() -> None:
    assert CrisisStage().process([]).kept == []
    assert ContentStage().process([]).kept == []


def test_content_stage_rejects_harmful_therapist_turns_with_codes() -> None:
    harmful = conversation(
        ("client", "I can't sleep and I feel awful."),
        ("therapist", "You clearly have depression. Take 100 mg of trazodone tonight."),
    )
    result = ContentStage().process([CALM, harmful])
    assert [r.id for r in result.kept] == [CALM.id]
    (rejection,) = result.rejected
    assert rejection.reason == "content_diagnosis"
    assert "therapist turn 1" in rejection.message and "medication_dosing" in rejection.message
    assert rejection.record.meta["content_hits"][0]["code"] == "diagnosis"
    assert result.kept[0].scores["content"] == 1.0


def test_content_stage_lets_clients_say_hard_things() -> None:
    raw = conversation(
        ("client", "I want to kill myself and the internet says 50 mg would do it."),
        ("therapist", "I'm really glad you told me. Are you safe right now?"),
    )
    assert ContentStage().process([raw]).rejected == []
