"""Grounded generation: passage selection, topic-matched grounding, model replies judged, quotas.

The model is a canned OpenAI-compatible server on 127.0.0.1 (``tests/openai_stub.py``) that answers the
grounded prompt the way a cooperative model would; the real SmolLM2 server runs in
tests/integration/test_generation_local.py.
"""

from __future__ import annotations

import json
import random
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_stub import OpenAIStub, grounded_answer

from ai.core.config import ConfigError, SourceConfig
from ai.core.records import Conversation, Passage, Provenance, Turn, make_conversation
from ai.core.stage import Rejection
from ai.safety.groundedness import GroundednessJudge
from ai.sourcing.synthetic import MaterialContext, read_source
from ai.sourcing.synthetic.composer import OPENINGS, EarsComposer, VarietyTracker, repetition_report
from ai.sourcing.synthetic.grounded import (
    GenerationPlanWarning,
    client_threads,
    finished_sentences,
    reply_shape_problem,
)
from ai.sourcing.synthetic.knowledge import (
    attribution,
    is_mental_health_text,
    quotable_sentences,
    select_knowledge,
)
from ai.sourcing.synthetic.options import parse_options
from ai.sourcing.synthetic.prompts import TEMPLATE_VERSION, echoes_instructions, spoken_source
from ai.sourcing.synthetic.quota import QuotaReport, SyntheticQuotaWarning, gated
from ai.sourcing.synthetic.text import (
    mentions_crisis,
    named_feeling,
    reflect_clause,
    reflectable_clauses,
    spread_by_group,
)

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
    return MaterialContext(passages, conversations, seed=7, gate=gate, judge=GroundednessJudge.load())


STUB: dict[str, OpenAIStub] = {}


@pytest.fixture(autouse=True)
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    """A cooperative canned model; each test runs in its own directory (the response cache lives there)."""
    monkeypatch.chdir(tmp_path)
    with OpenAIStub(grounded_answer) as stub:
        STUB["model"] = stub
        yield stub


def _source(**options: object) -> SourceConfig:
    generation = {
        "endpoint": "openai",
        "base_url": STUB["model"].base_url,
        "model": "stub-model",
        "backoff_seconds": 0.0,
        "max_retries": 0,
        **options.pop("generation", {}),  # type: ignore[dict-item]
    }
    return SourceConfig(
        name="grounded", kind="synthetic", options={"mode": "grounded", "generation": generation, **options}
    )


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


# --- composer (the chosen side of preference pairs) ----------------------------------------------


def test_composer_templates_state_no_facts_of_their_own() -> None:
    composer = EarsComposer(random.Random(0))
    for _ in range(60):
        reply = composer.supportive_reply("Things happen.")
        assert "research" not in reply.lower() and '"' not in reply, reply


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


def test_grounded_source_meets_its_target_with_judged_model_replies(model: OpenAIStub) -> None:
    context = _context()
    judge = GroundednessJudge.load()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = list(read_source(_source(target=4, max_uses_per_thread=2), Path("."), context))
    records = [i for i in items if isinstance(i, Conversation)]
    assert len(records) == 4 and len({r.id for r in records}) == 4
    passages = {p.id: p for p in context.passages()}
    for record in records:
        assert record.category == "grounded" and record.source.kind == "synthetic"
        assert [t.role for t in record.turns] == ["client", "therapist"]
        passage = passages[record.grounding[0].passage_id]
        assert record.source.locator["passage_id"] == passage.id
        assert record.group.startswith("g")  # the group of the conversation the client words came from
        assert judge.judge(record.turns[1].text, passage.text, [record.turns[0].text]).passed
        generation = record.source.locator["generation"]
        assert generation["template"] == TEMPLATE_VERSION and generation["model"] == "stub-model"
        assert generation["endpoint"] == "openai" and generation["sampling"]["max_tokens"] == 200
    # topic agreement: anxious clients cite the anxiety talk; sleepless or stressed-at-bedtime ones the sleep talk
    for record in records:
        topics = record.meta["synthetic"]["topics"]
        title = passages[record.grounding[0].passage_id].title
        assert topics and all(f"topic:{t}" in record.tags for t in topics)
        assert title == ("Facing Anxiety" if topics == ["anxiety"] else "Sleep and Worry"), (topics, title)
    assert not any("lonely" in r.turns[0].text for r in records)  # no passage fits loneliness
    quota = [str(w.message) for w in caught if issubclass(w.category, SyntheticQuotaWarning)]
    plan = [str(w.message) for w in caught if issubclass(w.category, GenerationPlanWarning)]
    assert quota and "target met: 4/4" in quota[0]
    assert plan and "target 4 accepted; at most 12 requests" in plan[0]
    summary = json.loads(Path("work/synthetic/grounded/generation.json").read_text())
    assert summary["endpoint"]["requests"] == len(model.requests) > 0
    assert summary["judge"]["threads_without_fitting_passage:all"] > 0


def test_a_second_run_reads_the_cache_and_is_identical(model: OpenAIStub) -> None:
    first = [r for r in read_source(_source(target=4), Path("."), _context()) if isinstance(r, Conversation)]
    asked = len(model.requests)
    second = [r for r in read_source(_source(target=4), Path("."), _context()) if isinstance(r, Conversation)]
    assert [r.id for r in first] == [r.id for r in second] and len(model.requests) == asked
    summary = json.loads(Path("work/synthetic/grounded/generation.json").read_text())
    assert summary["endpoint"]["requests"] == 0 and summary["endpoint"]["cache_hits"] >= 4


def test_replies_the_judge_rejects_land_in_the_quarantine_with_their_text(model: OpenAIStub) -> None:
    model.answer = lambda body: "I hear you. Research shows that most people recover within two weeks."
    items = list(read_source(_source(target=2, budget=2.0), Path("."), _context()))
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert rejected and all(r.reason == "ungrounded_claim" for r in rejected)
    assert all(r.record is not None and "two weeks" in r.record.turns[1].text for r in rejected)
    assert not [i for i in items if isinstance(i, Conversation)]


def test_replies_that_ignore_the_passage_or_parrot_the_prompt_are_rejected(model: OpenAIStub) -> None:
    model.answer = lambda body: "That sounds hard. What would you like to talk about?"
    unused = [
        i
        for i in read_source(_source(target=1, budget=1.0), Path("."), _context())
        if isinstance(i, Rejection)
    ]
    assert unused and unused[0].reason == "passage_unused"
    assert echoes_instructions("Sure. First say what you hear they are feeling.")
    assert echoes_instructions("My sister calls me every night to vent and I always pick up.")
    # The worked example's framing is what the model should imitate; only its content is parroting.
    assert not echoes_instructions("A talk on grief makes a point that fits here: loss takes time.")
    assert not echoes_instructions("I can hear how tired you are.")


def test_text_that_is_no_reply_to_the_client_is_rejected_before_the_judge() -> None:
    assert reply_shape_problem("") == (
        "empty_reply",
        "the model returned no reply (or none that finished a sentence)",
    )
    loop = "You are not alone in this. You are not alone in this. What helps?"
    assert reply_shape_problem(loop)[0] == "repetitive_reply"  # type: ignore[index]
    again = "You're not going to get the job done, I say. You're not going to get the job done alone."
    assert reply_shape_problem(again)[0] == "repetitive_reply"  # type: ignore[index]
    copied = "Avoidance keeps anxiety going. The feared outcome is never tested."
    assert reply_shape_problem(copied)[0] == "not_addressed_to_client"  # type: ignore[index]
    assert reply_shape_problem("It sounds exhausting. What would help you rest?") is None


def test_a_reply_cut_off_by_max_tokens_loses_its_unfinished_sentence() -> None:
    assert finished_sentences("It sounds hard. A talk on grief says that loss") == "It sounds hard."
    assert finished_sentences('You said "enough." And then') == 'You said "enough."'
    assert finished_sentences("It sounds hard and") == ""


def test_the_prompt_holds_worked_examples_and_a_short_excerpt_of_quotable_sentences(
    model: OpenAIStub,
) -> None:
    list(read_source(_source(target=1, budget=1.0), Path("."), _context()))
    messages = model.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    prompt = messages[-1]["content"]
    excerpt = prompt.split('"""')[3]
    sentences = re.split(r"(?<=[.!?])\s+", excerpt.strip())
    assert len(excerpt.split()) <= 45 and 1 <= len(sentences) <= 2
    assert all(s in ANXIETY_TEXT or s in SLEEP_TEXT for s in sentences)
    assert "a talk on " in prompt and "‘" not in prompt  # a short spoken source, not the title
    assert spoken_source("paper", "anxiety", "J Affect Disord") == "a paper in J Affect Disord"


def test_a_pair_is_asked_again_with_another_seed_until_the_judge_accepts_a_reply(model: OpenAIStub) -> None:
    answers: dict[int, int] = {}

    def second_try_grounded(body: dict[str, object]) -> str:
        prompt = str(body["messages"][-1]["content"])  # type: ignore[index]
        answers[hash(prompt)] = answers.get(hash(prompt), 0) + 1
        if answers[hash(prompt)] == 1:
            return "That sounds hard. What would you like to talk about?"
        return grounded_answer(body)

    model.answer = second_try_grounded
    items = list(
        read_source(
            _source(target=2, budget=3.0, samples_per_pair=3, generation={"concurrency": 1}),
            Path("."),
            _context(),
        )
    )
    accepted = [i for i in items if isinstance(i, Conversation)]
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert len(accepted) == 2 and {r.reason for r in rejected} == {"passage_unused"}
    # A window of two pairs: two tries each, with different seeds, and no third once one was accepted;
    # the quota's batch had room for the first tries of the next window, which count as candidates.
    assert sorted(answers.values()) == [1, 1, 2, 2] and len(rejected) == 4
    seeds = [r["seed"] for r in model.requests]
    assert len(set(seeds)) == len(seeds) == 6


def test_endpoint_failures_become_generation_failed_rejections(model: OpenAIStub) -> None:
    model.answer = lambda body: (500, "boom")
    items = list(read_source(_source(target=2, budget=1.0), Path("."), _context()))
    assert items and all(isinstance(i, Rejection) and i.reason == "generation_failed" for i in items)
    assert "endpoint_http_500" in items[0].message  # type: ignore[union-attr]


def test_grounded_source_is_deterministic_for_a_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = [
        r.id for r in read_source(_source(target=4), Path("."), _context()) if isinstance(r, Conversation)
    ]
    monkeypatch.chdir(tmp_path.parent)  # a fresh directory: no cache, the requests are made again
    (tmp_path.parent / "again").mkdir()
    monkeypatch.chdir(tmp_path.parent / "again")
    second = [
        r.id for r in read_source(_source(target=4), Path("."), _context()) if isinstance(r, Conversation)
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
    kept = [
        json.loads(line)
        for line in Path("work/synthetic/grounded/gate_rejected.jsonl").read_text().splitlines()
    ]
    assert kept and all(k["reason"] == "ears_below_threshold" and k["record"]["turns"][1][1] for k in kept)


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
    items = list(
        read_source(
            _source(target=3), Path("."), MaterialContext([], [], seed=1, judge=GroundednessJudge.load())
        )
    )
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
        ({"mode": "grounded", "engine": "offline"}, "offline"),
        ({"mode": "grounded", "generation": {"endpoint": "openai"}}, "needs base_url and model"),
        ({"mode": "grounded", "max_uses_per_thread": 0}, "max_uses_per_thread"),
        ({"mode": "counterfactual", "dimensions": ["height"]}, "height"),
        ({"mode": "preference_pairs", "dimensions": ["eye colour"]}, "eye colour"),
    ],
)
def test_bad_options_raise_config_errors(options: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_options(SourceConfig(name="s", kind="synthetic", options=options))


def test_read_source_needs_a_context() -> None:
    with pytest.raises(ConfigError, match="pipeline run"):
        list(read_source(_source(), Path("."), None))


def test_a_reply_written_twice_is_rejected_as_a_duplicate_not_dropped(model: OpenAIStub) -> None:
    model.answer = lambda body: "That sounds hard for you. What would you like to talk about?"
    options = {"target": 1, "budget": 3.0, "samples_per_pair": 2, "generation": {"concurrency": 1}}
    items = list(read_source(_source(**options), Path("."), _context()))
    reasons = [i.reason for i in items if isinstance(i, Rejection)]
    # Every request is a candidate: 3 requests, 3 rejections (the second sample of the first pair is the
    # same text as the first).
    assert len(model.requests) == 3 and reasons == ["passage_unused", "passage_unused", "duplicate_reply"]


@pytest.mark.parametrize(
    "text",
    [
        "I can't even bring myself to care if I live or die anymore.",
        "Some days I just don't want to wake up.",
        "I wish I was dead, honestly.",
        "I don't want to be here anymore.",
    ],
)
def test_passive_ideation_keeps_a_client_out_of_generation_material(text: str) -> None:
    assert mentions_crisis(text)


@pytest.mark.parametrize(
    "text",
    ["I want to live a calmer life.", "I want to wake up earlier for work.", "We live in a small town."],
)
def test_ordinary_talk_of_living_and_waking_is_not_crisis(text: str) -> None:
    assert not mentions_crisis(text)
