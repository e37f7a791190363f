"""Offline grounded composer: passage selection, reflection, EARS shape, groundedness, quotas, variety."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import pytest

from ai.core.config import ConfigError, SourceConfig
from ai.core.records import Conversation, Passage, Provenance, Turn, make_conversation
from ai.core.stage import Rejection
from ai.sourcing.synthetic import MaterialContext, read_source
from ai.sourcing.synthetic.composer import (
    NEXT_STEPS,
    OPENINGS,
    EarsComposer,
    Psychoeducation,
    VarietyTracker,
    repetition_report,
)
from ai.sourcing.synthetic.grounded import client_threads
from ai.sourcing.synthetic.groundedness import check_groundedness, claims_in
from ai.sourcing.synthetic.knowledge import (
    attribution,
    is_mental_health_text,
    quotable_sentences,
    select_knowledge,
)
from ai.sourcing.synthetic.options import parse_options
from ai.sourcing.synthetic.quota import QuotaReport, SyntheticQuotaWarning, gated
from ai.sourcing.synthetic.text import named_feeling, reflect_clause, reflectable_clauses, spread_by_group

ANXIETY_TEXT = (
    "Anxiety often grows when we avoid the situations that frighten us, because avoidance teaches the mind "
    "that the danger was real. Gradual exposure helps people learn that anxious feelings rise and then fall "
    "on their own. Self-compassion makes it easier to face stress without harsh self-criticism and shame. "
    "Loneliness and low mood tend to feed each other, so small steps toward connection support recovery "
    "from depression."
)
SLEEP_TEXT = (
    "Insomnia is closely tied to worry and rumination at night. Keeping a regular wake time and leaving the "
    "bed when sleep does not come helps the body relearn that the bed is for sleep. Stress before bed keeps "
    "the mind alert, and a wind-down routine gives anxious thoughts somewhere else to go."
)


def _passage(text: str, title: str, kind: str = "transcript", **locator: object) -> Passage:
    source = Provenance(
        kind=kind, name="talks", uri=f"file://{title}", license="CC-BY", locator=dict(locator)
    )
    return Passage(id=f"p_{abs(hash(title)) % 10**8}", text=text, source=source, title=title)


def _conversation(*client_lines: str, group: str = "", category: str = "therapeutic") -> Conversation:
    turns: list[Turn] = []
    for line in client_lines:
        turns += [Turn("client", line), Turn("therapist", "Tell me more about that.")]
    source = Provenance(kind="dataset", name="demo", license="MIT", locator={"row": 1})
    return make_conversation(turns, source, category=category, group=group)


CLIENTS = [
    (
        "I have been so anxious at work that I avoid every meeting now.",
        "I feel ashamed that I cannot just face it.",
    ),
    (
        "I can't sleep because I keep worrying about my exams at night.",
        "My mind races and I feel exhausted all day.",
    ),
    (
        "I feel lonely since I moved to a new city for my job.",
        "I have nobody to talk to on weekends and I feel sad.",
    ),
    (
        "I get stressed before bed and my thoughts keep me awake for hours.",
        "I feel tired and frustrated every morning.",
    ),
]


def _context(n_copies: int = 3, gate=None) -> MaterialContext:  # type: ignore[no-untyped-def]
    passages = [
        _passage(ANXIETY_TEXT, "Facing Anxiety", start=0.0, end=60.0),
        _passage(SLEEP_TEXT, "Sleep and Worry", start=60.0, end=120.0),
        _passage(
            "Call me Ishmael. Some years ago I went to sea on a whaling ship.", "Moby Dick", kind="book"
        ),
    ]
    conversations = [
        _conversation(a + f" It started {i} weeks ago.", b, group=f"g{i}")
        for i in range(n_copies)
        for a, b in CLIENTS
    ]
    return MaterialContext(passages, conversations, seed=7, gate=gate)


def _source(**options: object) -> SourceConfig:
    return SourceConfig(name="grounded", kind="synthetic", options={"mode": "grounded", **options})


# --- text helpers ------------------------------------------------------------------------------------


def test_reflect_clause_turns_first_person_into_second_person() -> None:
    assert (
        reflect_clause("I feel lost in my job and I'm tired") == "you feel lost in your job and you're tired"
    )
    assert reflect_clause("Well, I was scared of myself.") == "you were scared of yourself"


def test_reflectable_clauses_skip_questions_and_sentences_addressed_to_the_listener() -> None:
    text = "What should I do? You said I should rest. I have been crying every night since the breakup."
    assert reflectable_clauses(text) == ["I have been crying every night since the breakup"]


def test_named_feeling_maps_client_words_to_a_feeling() -> None:
    assert named_feeling("I feel so lonely lately") == "lonely"
    assert named_feeling("Work has been overwhelming") == "overwhelming"
    assert named_feeling("We went to the park") == ""


def test_spread_by_group_takes_one_per_group_before_repeating() -> None:
    groups = ["a", "a", "a", "b", "b", "c"]
    order = spread_by_group(groups, random.Random(1))
    assert sorted(order) == list(range(6))
    assert {groups[i] for i in order[:3]} == {"a", "b", "c"}
    assert [groups[i] for i in order[-1:]] == ["a"]


# --- knowledge ---------------------------------------------------------------------------------------


def test_mental_health_passages_qualify_and_fiction_does_not() -> None:
    assert is_mental_health_text(ANXIETY_TEXT)
    assert not is_mental_health_text("Call me Ishmael. Some years ago I went to sea on a whaling ship.")
    selected = select_knowledge(list(_context().passages()))
    assert [k.passage.title for k in selected] == ["Facing Anxiety", "Sleep and Worry"]
    assert all(k.kind == "transcript" for k in selected)


def test_quotable_sentences_exclude_numbers_first_person_names_and_crisis() -> None:
    text = (
        "Anxiety affects 30 percent of adults with depression. I think my anxiety is the worst of all of them. "
        "Dr Smith says Anxiety and depression often travel together in people. Suicidal thoughts need urgent "
        "care from a trusted mental health professional. Avoidance keeps anxiety going because the feared "
        "outcome is never tested."
    )
    assert quotable_sentences(text) == [
        "Avoidance keeps anxiety going because the feared outcome is never tested."
    ]


def test_attribution_names_the_source_kind() -> None:
    paper = _passage("x", "A study", kind="paper", pmid="1", journal="J Affect Disord", year=2021)
    assert attribution(paper) == "a 2021 paper in J Affect Disord"
    assert attribution(_passage("x", "Sleep and Worry", start=1.0)) == "the talk ‘Sleep and Worry’"
    assert attribution(_passage("x", "Calm", kind="book", chapter="1")) == "the book ‘Calm’"


# --- groundedness ------------------------------------------------------------------------------------


def test_quoted_claims_must_come_from_the_passage() -> None:
    good = 'A talk puts it like this: "Avoidance teaches the mind that the danger was real."'
    bad = 'A talk puts it like this: "Cold showers cure depression within two weeks for most adults."'
    assert check_groundedness([good], [ANXIETY_TEXT]).passed
    result = check_groundedness([bad], [ANXIETY_TEXT])
    assert not result.passed
    assert "no supporting passage sentence" in result.explain()


def test_unquoted_factual_claims_are_checked_and_reflections_of_the_client_pass() -> None:
    client = ["I have 4 kids and I feel exhausted."]
    reflection = "It sounds like you have 4 kids and feel exhausted."
    invented = "Research shows that parents usually sleep better after a month."
    assert [c[0] for c in claims_in(reflection + " What helps you rest?")] == [reflection]
    assert check_groundedness([reflection], [ANXIETY_TEXT], client).passed
    assert not check_groundedness([invented], [ANXIETY_TEXT], client).passed
    assert check_groundedness(["That sounds hard. What feels hardest?"], [ANXIETY_TEXT]).claims == []


# --- composer ----------------------------------------------------------------------------------------


def test_grounded_reply_has_the_ears_shape_and_passes_its_own_check() -> None:
    composer = EarsComposer(random.Random(3))
    client = "I have been so anxious at work that I avoid every meeting now."
    point = Psychoeducation(
        "p1", "Avoidance teaches the mind that the danger was real.", "the talk ‘Facing Anxiety’"
    )
    reply = composer.grounded_reply(client, point)
    assert "you have been so anxious at work that you avoid every meeting now" in reply
    assert "anxious" in reply.split(".")[1]  # the feeling is named right after the reflection
    assert '"Avoidance teaches the mind that the danger was real."' in reply
    assert "the talk ‘Facing Anxiety’" in reply or "The talk ‘Facing Anxiety’" in reply
    assert reply.rstrip().endswith("?") or any(reply.endswith(step) for step in NEXT_STEPS)
    assert check_groundedness([reply], [ANXIETY_TEXT], [client]).passed


def test_composer_templates_state_no_facts_of_their_own() -> None:
    composer = EarsComposer(random.Random(0))
    for _ in range(60):
        reply = composer.supportive_reply("Things happen.")
        assert claims_in(reply) == [], reply


def test_variety_tracker_caps_every_phrasing_near_its_fair_share() -> None:
    tracker = VarietyTracker(random.Random(0))
    picks = [tracker.choose("opening", OPENINGS) for _ in range(len(OPENINGS) * 10 + 3)]
    counts = {p: picks.count(p) for p in OPENINGS}
    assert max(counts.values()) - min(counts.values()) <= 1


def test_repetition_report_counts_repeated_openings_and_closings() -> None:
    turns = ["Hello there. Bye now?", "Hello there. See you?", "Something else. Bye now?"]
    report = repetition_report(turns)
    assert report["turns"] == 3
    assert report["opening_repeat_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert report["closing_max_share"] == pytest.approx(2 / 3, abs=1e-3)
    assert repetition_report([]) == {"turns": 0.0}


# --- threads and the source --------------------------------------------------------------------------


def test_client_threads_pair_consecutive_substantive_turns_and_skip_crisis_and_thanks() -> None:
    ok = _conversation(*CLIENTS[0], group="g")
    thanks = _conversation("Thank you so much for your advice, I really appreciate it today.")
    crisis = _conversation("I want to die and I have been thinking about how to end my life.")
    other = _conversation(*CLIENTS[1], category="failed_support")
    threads = client_threads([ok, ok, thanks, crisis, other], ["therapeutic"])
    assert len(threads) == 1
    assert threads[0].utterances == CLIENTS[0]


def test_grounded_source_meets_its_target_with_grounded_records() -> None:
    context = _context()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = list(read_source(_source(target=8, max_uses_per_thread=2), Path("."), context))
    records = [i for i in items if isinstance(i, Conversation)]
    assert len(records) == 8
    assert len({r.id for r in records}) == 8
    for record in records:
        assert record.category == "grounded"
        assert record.source.kind == "synthetic"
        assert record.grounding and record.grounding[0].quote in record.turns[-1].text
        assert record.source.locator["passage_id"] == record.grounding[0].passage_id
        assert record.group.startswith("g")  # the group of the conversation the client words came from
        assert [t.role for t in record.turns][-2:] == ["client", "therapist"]
        passage = next(p for p in context.passages() if p.id == record.grounding[0].passage_id)
        assert check_groundedness([record.turns[-1].text], [passage.text], [record.turns[-2].text]).passed
    messages = [str(w.message) for w in caught if issubclass(w.category, SyntheticQuotaWarning)]
    assert messages and "target met: 8/8" in messages[0]


def test_grounded_source_is_deterministic_for_a_seed() -> None:
    first = [
        r.id for r in read_source(_source(target=6), Path("."), _context()) if isinstance(r, Conversation)
    ]
    second = [
        r.id for r in read_source(_source(target=6), Path("."), _context()) if isinstance(r, Conversation)
    ]
    assert first == second


def test_gate_failures_are_not_yielded_and_generation_continues_until_the_target() -> None:
    calls: list[int] = []

    def every_other(batch: list[Conversation]) -> list[Rejection | None]:
        calls.append(len(batch))
        return [
            Rejection(stage="ears", reason="ears_below_threshold", message="low") if i % 2 else None
            for i in range(len(batch))
        ]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = list(read_source(_source(target=5, batch_size=3), Path("."), _context(gate=every_other)))
    assert len([i for i in items if isinstance(i, Conversation)]) == 5
    assert len(calls) >= 2
    assert "gates rejected {'ears_below_threshold'" in str(caught[-1].message)


def test_budget_spent_is_reported_when_the_gates_reject_everything() -> None:
    def reject_all(batch: list[Conversation]) -> list[Rejection | None]:
        return [Rejection(stage="content", reason="unsafe", message="no") for _ in batch]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = list(read_source(_source(target=4, budget=2.0), Path("."), _context(gate=reject_all)))
    assert [i for i in items if isinstance(i, Conversation)] == []
    assert "BUDGET SPENT before the target: 0/4 accepted from 8 candidates" in str(caught[-1].message)


def test_material_exhausted_is_reported_when_threads_run_out() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = list(read_source(_source(target=500, max_uses_per_thread=1), Path("."), _context(n_copies=1)))
    assert 0 < len(items) < 500
    assert "MATERIAL EXHAUSTED" in str(caught[-1].message)


def test_per_stratum_quotas_are_met_separately() -> None:
    items = list(read_source(_source(quotas={"transcript": 3, "paper": 2}), Path("."), _context()))
    records = [i for i in items if isinstance(i, Conversation)]
    assert len(records) == 3
    assert {r.meta["synthetic"]["stratum"] for r in records} == {"transcript"}


def test_missing_material_is_one_clear_rejection() -> None:
    items = list(read_source(_source(target=3), Path("."), MaterialContext([], [], seed=1)))
    assert len(items) == 1 and isinstance(items[0], Rejection)
    assert items[0].reason == "no_grounding_material"


def test_generator_rejections_are_yielded_and_counted() -> None:
    bad = make_conversation(
        [Turn("client", "x"), Turn("therapist", "y")], Provenance(kind="synthetic", name="s")
    )
    rejection = Rejection(stage="ingest", reason="ungrounded_claim", message="m")
    report = QuotaReport("s", "all", target=1, budget=5)
    out = list(gated(iter([rejection, bad]), report, None, batch_size=4))
    assert out == [rejection, bad]
    assert report.status == "met" and report.generator_rejected["ungrounded_claim"] == 1


# --- options -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"mode": "nope"}, "options.mode"),
        ({"mode": "grounded", "target": -1}, "target"),
        ({"mode": "grounded", "budget": 0.5}, "budget"),
        ({"mode": "grounded", "bogus": 1}, "bogus"),
        ({"mode": "counterfactual", "dimensions": ["height"]}, "height"),
        ({"mode": "preference_pairs", "dimensions": ["eye colour"]}, "eye colour"),
    ],
)
def test_bad_options_raise_config_errors(options: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_options(SourceConfig(name="s", kind="synthetic", options=options))


def test_read_source_needs_a_context_and_data_designer_needs_its_section() -> None:
    with pytest.raises(ConfigError, match="pipeline run"):
        list(read_source(_source(), Path("."), None))
    with pytest.raises(ConfigError, match="data_designer section"):
        list(read_source(_source(engine="data_designer"), Path("."), _context()))
