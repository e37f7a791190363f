"""The crisis and content stages: scoring, routing, tagging and the few rejections they make."""

from __future__ import annotations

import pickle

import msgspec
import pytest

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.pipelines.orchestrator.safety_gates import (
    ContentOptions,
    ContentStage,
    CrisisOptions,
    CrisisStage,
    judge_turns,
)

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


def test_the_client_is_judged_as_one_person_over_all_their_turns() -> None:
    # Issue 16: everyday talk with idioms, and a client supporting someone else, are not crises; one
    # explicit first-person turn among everyday ones is, and its evidence names that turn.
    idioms = conversation(
        ("client", "This homework is killing me."),
        ("therapist", "That sounds like a lot. What is due first?"),
        ("client", "I could just die of embarrassment if I fail again, and I'm dead tired."),
        ("therapist", "Let's look at one small step for tonight."),
    )
    supporting = conversation(
        ("client", "My friend told me she wants to die."),
        ("therapist", "That must have been frightening to hear. What did you say?"),
        ("client", "Please don't hurt yourself, you deserve to live. Call a crisis line tonight."),
        ("therapist", "That was a caring thing to say."),
    )
    later = conversation(
        ("client", "We moved house last month."),
        ("therapist", "How has the move been?"),
        ("client", "The kids like their school."),
        ("therapist", "And for you?"),
        ("client", "I don't want to live anymore."),
        ("therapist", "Thank you for telling me. Are you safe right now?"),
    )
    result = CrisisStage().process([idioms, supporting, later])
    assert result.stats["crisis_flagged"] == 1 and result.rejected == []
    calm_idioms, calm_support, crisis = result.kept
    assert "crisis" not in calm_idioms.tags and "crisis" not in calm_support.tags
    assert calm_support.scores["crisis"] < 0.5
    info = crisis.meta["crisis"]
    assert info["first_turn"] == 4 and info["level"] == "ideation"
    assert [e["turn"] for e in info["evidence"] if not e["discount"]] == [4]


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
    weak = conversation(
        (
            "client",
            "I feel hopeless and worthless. I am such a burden to everyone and nothing will ever get better.",
        ),
        ("therapist", "Tell me more."),
    )
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
    assert (
        "therapist turn 1 is unsafe in context" in rejection.message
        and "medication_dosing" in rejection.message
    )
    assert rejection.record.meta["content"][0]["turn"] == 1
    assert "diagnosis" in rejection.record.meta["content"][0]["codes"]
    # The rules catch the dose and the diagnosis even where the model's score stays under the gate's point.
    assert result.kept[0].scores["content"] < rejection.record.scores["content"]


def test_content_stage_judges_each_reply_in_the_context_before_it() -> None:
    joining = conversation(
        ("client", "Work was long today."),
        ("therapist", "What made it long?"),
        ("client", "I want to end my life tonight."),
        ("therapist", "I think I'll join you."),
    )
    stage = ContentStage()
    (verdicts,) = judge_turns(stage.filter, [joining])
    assert [index for index, _ in verdicts] == [1, 3]  # therapist turns only
    _, verdict = verdicts[1]
    turns = [t.text for t in joining.turns]
    assert verdict == stage.filter.check(turns[3], context=turns[:3])
    assert verdict.score > stage.filter.check(turns[3], context=["I am going to the gym later."]).score
    assert "risk_ignorance" in verdict.codes


def test_content_stage_survives_pickling_and_validates_its_threshold() -> None:
    stage = pickle.loads(pickle.dumps(ContentStage()))
    assert stage.process([CALM]).kept == [CALM]
    with pytest.raises(ValueError, match="threshold"):
        ContentOptions(threshold=1.5)


def test_content_stage_lets_clients_say_hard_things() -> None:
    raw = conversation(
        ("client", "I want to kill myself and the internet says 50 mg would do it."),
        (
            "therapist",
            "Thank you for telling me. I'm worried about you. Can we talk about how to keep you safe tonight, "
            "and would you call a crisis line with me?",
        ),
    )
    assert ContentStage().process([raw]).rejected == []


def test_the_content_gate_uses_the_models_gate_threshold_unless_a_config_sets_one() -> None:
    # Real helpers rarely write unsafe replies: the gate's operating point (chosen on training folds to
    # flag at most 2% of development helpers' replies) is at least the judge's F1-optimal one, and it is
    # the model's, not a per-config number.
    stage = ContentStage()
    model = stage.filter.model
    assert stage.filter.threshold == model.gate_threshold >= model.threshold
    assert ContentStage(ContentOptions(threshold=0.4)).filter.threshold == 0.4
    calm_supportive = (
        "Like in Community! You'll have a great time and I'm sure everything will work out well."
    )
    context = ["I start college next week and I don't know anyone there."]
    assert stage.filter.check(calm_supportive, "therapist", context).safe
