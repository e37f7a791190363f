"""Marker inventory, counterfactual probe sets, the stereotype inventory and its check, and preference pairs."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import msgspec
import pytest
from openai_stub import OpenAIStub

from ai.core.config import ConfigError, SourceConfig
from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.core.stage import Rejection
from ai.sourcing.generation import Completion, EndpointError, ServerError
from ai.sourcing.synthetic import MaterialContext, bias_audit, read_source
from ai.sourcing.synthetic.counterfactual import JOIN, ProbeBuilder, insert_sentence, targets
from ai.sourcing.synthetic.demographics import PLACEMENTS, detect_markers, dimensions, marker_inventory
from ai.sourcing.synthetic.options import PreferenceOptions
from ai.sourcing.synthetic.preference import (
    PairOptions,
    PairPlanner,
    PairWriter,
    check_pair,
    clean_reply,
    read_preference_pairs,
    splice_sentence,
    stereotyped_sentence,
)
from ai.sourcing.synthetic.stereotypes import stereotype_inventory, stereotypes_in

BBQ_DIMENSIONS = {
    "age",
    "disability",
    "gender_identity",
    "nationality",
    "physical_appearance",
    "race_ethnicity",
    "religion",
    "ses",
    "sexual_orientation",
}
CLIENT_LINES = [
    "I have been feeling anxious about my new job and I can't stop overthinking every email.",
    "I feel lonely since my best friend moved away and weekends are the hardest.",
    "I keep arguing with my brother and I feel guilty after every single fight.",
    "I have been so tired lately and I can't find the motivation to cook or clean.",
    "I feel stuck in my studies and I worry that I am falling behind everyone.",
    "I get nervous before presentations and my hands shake when I start talking.",
]
THERAPIST_LINE = "That sounds hard. What would you like to focus on first?"


def _conversation(client: str, index: int, group: str = "", license: str = "CC BY-NC 4.0") -> Conversation:
    turns = [
        Turn("client", client),
        Turn("therapist", THERAPIST_LINE),
        Turn("client", "I feel a bit calmer now."),
    ]
    source = Provenance(kind="dataset", name="esconv", license=license, locator={"row": index})
    return make_conversation(turns, source, group=group)


def _context(gate=None) -> MaterialContext:  # type: ignore[no-untyped-def]
    originals = [_conversation(line, i, group=f"dialog-{i}") for i, line in enumerate(CLIENT_LINES)]
    return MaterialContext([], originals, seed=3, gate=gate)


def _run(mode: str, context: MaterialContext | None = None, **options: object) -> list[Conversation]:
    source = SourceConfig(name=mode, kind="synthetic", options={"mode": mode, **options})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        items = list(read_source(source, Path("."), context or _context()))
    return [i for i in items if isinstance(i, Conversation)]


# --- the marker inventory ---------------------------------------------------------------------------------


def test_inventory_covers_the_nine_bbq_dimensions_and_ten_intersections_with_sources() -> None:
    inventory = marker_inventory()
    assert set(dimensions()) == BBQ_DIMENSIONS
    assert len(inventory.intersections) >= 10
    assert len({frozenset(p) for p in inventory.intersections}) == len(inventory.intersections)
    kinds = {f.kind for d in inventory.dimensions.values() for f in d.frames}
    # Markers are worked in many ways, not only as a self-description.
    assert {"name", "pronouns", "family_context", "community", "faith_practice", "disability_aid"} <= kinds
    for dimension in inventory.dimensions.values():
        assert dimension.sources and dimension.bbq_category
        assert len(dimension.frames) >= 2


def test_every_self_description_is_detected_as_its_own_marker() -> None:
    inventory = marker_inventory()
    for dimension in inventory.dimensions.values():
        for frame in dimension.frames:
            if frame.kind != "self_description":
                continue
            for value, sentence in frame.sentences.items():
                assert value in detect_markers(sentence).get(dimension.name, []), sentence
    assert detect_markers("We went for a walk in the park.") == {}


def test_no_marker_sentence_except_names_is_mistaken_for_a_name_by_the_pii_stage() -> None:
    # "I'm Black." and "I'm Buddhist." read as self-introductions: every variant of a set would become
    # "[NAME_1]" and dedup would remove them as exact duplicates. Name frames are for the judge audit only.
    from ai.pipelines.orchestrator.pii import PiiScrubber

    scrubber = PiiScrubber()
    for dimension in marker_inventory().dimensions.values():
        for frame in dimension.frames:
            if frame.kind == "name":
                continue
            for sentence in frame.sentences.values():
                for placement in PLACEMENTS:
                    text = insert_sentence(
                        "I have been anxious lately. My boss yells a lot.", sentence, placement
                    )
                    assert scrubber.find(text) == [], text


@pytest.mark.parametrize(
    ("placement", "expected"),
    [
        ("start", "I'm deaf. I feel low. Work is hard."),
        ("after_first_sentence", "I feel low. I'm deaf. Work is hard."),
        ("end", "I feel low. Work is hard. I'm deaf."),
    ],
)
def test_insert_sentence_places_the_marker(placement: str, expected: str) -> None:
    assert insert_sentence("  I feel low. Work is hard. ", "I'm deaf.", placement) == expected


def test_insert_sentence_closes_an_unpunctuated_message_and_falls_back_to_the_end() -> None:
    assert insert_sentence("i feel low", "I'm deaf.", "end") == "i feel low. I'm deaf."
    assert insert_sentence("i feel low", "I'm deaf.", "after_first_sentence") == "i feel low. I'm deaf."


# --- counterfactual probe sets ------------------------------------------------------------------------------


def test_counterfactual_sets_change_only_the_client_marker() -> None:
    originals = {c.id: c for c in _context().conversations()}
    variants = _run("counterfactual", target=12, variants_per_original=3)
    assert len(variants) == 12
    sets: dict[str, list[Conversation]] = {}
    for variant in variants:
        info = variant.meta["counterfactual"]
        sets.setdefault(info["set"], []).append(variant)
        original = originals[info["original_id"]]
        assert variant.category == "bias" and variant.group == original.group
        assert variant.source.kind == "augmentation"
        assert variant.source.locator["original_id"] == original.id
        assert variant.source.license == "CC BY-NC 4.0"  # the client's words keep their licence
        assert [t.text for t in variant.turns if t.role == "therapist"] == [THERAPIST_LINE]
        assert variant.turns[2] == original.turns[2]
        first = variant.turns[0].text
        assert info["inserted"] in first
        assert " ".join(first.replace(info["inserted"], " ").split()) == original.turns[0].text
        assert info["placement"] in PLACEMENTS and info["therapist_turns_changed"] is False
        assert set(info["values"]) == set(info["dimensions"]) and info["dimension"] == JOIN.join(
            info["dimensions"]
        )
    assert len(sets) == 4
    for members in sets.values():
        infos = [m.meta["counterfactual"] for m in members]
        assert len({i["dimension"] for i in infos}) == 1
        assert len({i["value"] for i in infos}) == 3
        assert len({i["placement"] for i in infos}) == 1 and len({tuple(i["frames"]) for i in infos}) == 1
        assert len({m.group for m in members}) == 1


def test_counterfactual_sets_cover_every_dimension_and_intersection_evenly_without_names() -> None:
    many = [
        _conversation(f"{line} It has been {n} weeks now.", n, f"d{n}")
        for n in range(8)
        for line in CLIENT_LINES
    ]
    variants = _run("counterfactual", MaterialContext([], many, seed=5), target=300, variants_per_original=2)
    seen = {v.meta["counterfactual"]["dimension"] for v in variants}
    expected = {JOIN.join(t) for t in targets(dimensions())}
    assert seen == expected and len(expected) >= 9 + 10
    assert "name" not in {k for v in variants for k in v.meta["counterfactual"]["how"]}
    assert any(v.meta["counterfactual"]["intersection"] for v in variants)


def test_counterfactuals_never_contradict_a_marker_the_client_stated() -> None:
    gendered = _conversation("I'm a woman and I have been feeling anxious about my new job lately.", 0, "g")
    variants = _run(
        "counterfactual",
        MaterialContext([], [gendered], seed=1),
        target=3,
        dimensions=["gender_identity", "age"],
    )
    assert {v.meta["counterfactual"]["dimension"] for v in variants} == {"age"}


def test_original_without_group_gives_its_id_as_the_variants_group() -> None:
    original = _conversation(CLIENT_LINES[0], 0)
    variants = _run("counterfactual", MaterialContext([], [original], seed=1), target=2)
    assert {v.group for v in variants} == {original.id}


def test_counterfactuals_respect_the_gate() -> None:
    def reject_religion(batch: list[Conversation]) -> list[Rejection | None]:
        return [
            Rejection(stage="content", reason="x", message="x")
            if "religion" in v.meta["counterfactual"]["dimensions"]
            else None
            for v in batch
        ]

    variants = _run("counterfactual", _context(gate=reject_religion), target=6)
    assert len(variants) == 6
    assert not any("religion" in v.meta["counterfactual"]["dimensions"] for v in variants)


def test_every_target_gives_one_set_per_fitting_target_with_names_when_asked() -> None:
    builder = ProbeBuilder(targets(dimensions()), 3, frozenset(), seed=1)
    original = _conversation(CLIENT_LINES[1], 0)
    sets = [builder.every_target(original) for _ in range(6)]
    assert all(len(s) == len(targets(dimensions())) for s in sets)
    frames = {f.kind for batch in sets for s in batch for f in s.frames}
    assert "name" in frames


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"mode": "counterfactual", "variants_per_original": 1}, "variants_per_original"),
        ({"mode": "preference_pairs", "max_length_ratio": 0.5}, "max_length_ratio"),
        ({"mode": "preference_pairs", "stereotype_attempts": 0}, "stereotype_attempts"),
    ],
)
def test_bad_bias_options_are_config_errors(options: dict, fragment: str) -> None:
    mode = options.pop("mode")
    with pytest.raises(ConfigError, match=fragment):
        _run(mode, **options)


# --- the stereotype inventory and its check -----------------------------------------------------------------

# Hand-written replies a clinician would accept: they acknowledge identity where the client raised it,
# assume nothing from it, and must not set off any stereotype check.
RESPONSIVE_REPLIES = [
    (
        "I'm a man. I have been feeling low.",
        "It sounds like you've been carrying a lot. What has been weighing on you most?",
    ),
    (
        "I'm Muslim. Work stresses me.",
        "Thank you for telling me about your faith. How has the stress at work been showing up for you?",
    ),
    (
        "I use a wheelchair. I feel lonely.",
        "Feeling lonely is painful. What would feeling more connected look like for you?",
    ),
    (
        "I'm in my eighties. I can't sleep.",
        "Sleepless nights can be exhausting. When did this start, and what goes through your mind then?",
    ),
    (
        "I moved here from Syria three years ago. I miss home.",
        "Missing home can ache. What do you miss most, and who do you talk to about it?",
    ),
    (
        "I'm fat, for what it's worth. People are unkind.",
        "I'm sorry people have been unkind. How have their comments affected you?",
    ),
    (
        "Money is really tight; I've been going to the food bank.",
        "That sounds like a lot of pressure. What support would make the biggest difference right now?",
    ),
    (
        "I'm bisexual. My family is distant.",
        "Distance from family can hurt. How would you like things to be with them?",
    ),
    (
        "I'm nonbinary. I'm anxious at work.",
        "Anxiety at work can be draining. What situations bring it on most?",
    ),
    (
        "I'm a Black person. My manager ignores me.",
        "Being ignored by your manager sounds frustrating and isolating. What have you noticed when it happens?",
    ),
    (
        "I have ADHD. I keep missing deadlines.",
        "Missing deadlines can feel discouraging. What tends to get in the way when a deadline is close?",
    ),
    (
        "I'm not religious. My mother died.",
        "I'm so sorry about your mother. What has grieving her been like for you?",
    ),
]


def test_inventory_targets_every_dimension_with_sourced_entries() -> None:
    inventory = stereotype_inventory()
    assert len(inventory) >= 20
    assert {s.dimension for s in inventory.values()} == BBQ_DIMENSIONS
    for stereotype in inventory.values():
        assert stereotype.source and stereotype.beliefs and stereotype.cues and stereotype.applies_to
        assert stereotype.kind in {"stereotype", "microaggression", "assumption", "pathologising"}


def test_the_check_finds_every_belief_of_its_own_stereotype() -> None:
    for stereotype in stereotype_inventory().values():
        for belief in stereotype.beliefs:
            reply = f"That sounds really hard. Honestly, {belief}. What do you think?"
            assert stereotype.found_in(reply), (stereotype.id, belief)


def test_responsive_replies_carry_no_stereotype() -> None:
    for prompt, reply in RESPONSIVE_REPLIES:
        assert stereotypes_in(reply, prompt) == {}, reply


def test_a_cue_the_client_said_first_does_not_count() -> None:
    prompt = "My sister says I need to exercise more and I'm sick of it."
    assert "appearance.weight_blamed" not in stereotypes_in(
        "You said she tells you to exercise more.", prompt
    )
    assert "appearance.weight_blamed" in stereotypes_in("Maybe exercise more.", "I feel low.")


# --- preference pairs ---------------------------------------------------------------------------------------


class ScriptedEndpoint:
    """Stands in for the generation endpoint: a caring reply built from the client's words, and a sentence
    that tells the client the requested belief in words of its own (or whatever ``stated_for`` says)."""

    def __init__(self, stated_for=None, fail_with: str = "") -> None:  # type: ignore[no-untyped-def]
        self.stated_for = stated_for
        self.fail_with = fail_with
        self.requests: list[list[dict[str, str]]] = []
        self.entered = 0

    def __enter__(self) -> ScriptedEndpoint:
        self.entered += 1
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def complete(self, messages: list[dict[str, str]], seed: int = 0, **params: object) -> object:
        self.requests.append(messages)
        if self.fail_with:
            return EndpointError(self.fail_with, "the endpoint timed out")
        return Completion(cooperative_reply(messages, seed, self.stated_for), 100, 40, "stop", False)

    def provenance(self) -> dict[str, str]:
        return {"endpoint": "scripted", "model": "test"}


def cooperative_reply(messages: list[dict[str, str]], seed: int, stated_for=None) -> str:  # type: ignore[no-untyped-def]
    """A model that follows the pair prompts: a caring reply from the client's words, and a sentence that
    says the requested belief with words of its own (or whatever ``stated_for`` makes of the belief)."""
    asked = re.search(r"Tell me that (.*)\.$", messages[-1]["content"])
    if asked:
        belief = asked.group(1)
        return stated_for(belief) if stated_for else f"Honestly, from what you describe, {belief}, I reckon."
    words = [w.strip(".,!?").lower() for w in messages[1]["content"].split()][:6]
    return (
        f"Counsellor: It sounds like {' '.join(words)} has been weighing on you for a while now. It "
        f"takes a real toll on your energy and your days (seed {seed}). What feels hardest about it right now?"
    )


def _pairs(client: ScriptedEndpoint, target: int = 6, gate=None, **options: object) -> list:  # type: ignore[no-untyped-def]
    source = SourceConfig(name="pairs", kind="synthetic", license="generated", options={})
    opts = msgspec.convert({"mode": "preference_pairs", "target": target, **options}, PreferenceOptions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(read_preference_pairs(source, opts, _context(gate), client=client))


def test_preference_pairs_record_the_stereotype_and_pass_the_checks() -> None:
    client = ScriptedEndpoint()
    items = _pairs(client, target=6)
    pairs = [i for i in items if isinstance(i, Conversation)]
    assert len(pairs) == 6 and client.entered == 1
    inventory = stereotype_inventory()
    for pair in pairs:
        dpo, info = pair.meta["dpo"], pair.meta["preference"]
        assert set(dpo) == {"prompt", "chosen", "rejected", "bias_type"}
        stereotype = inventory[dpo["bias_type"]]
        assert info["stereotype"] == stereotype.id and info["dimension"] == stereotype.dimension
        assert info["value"] in stereotype.applies_to and info["belief"] in stereotype.beliefs
        assert [t.role for t in pair.turns] == ["client", "therapist"]
        assert pair.turns[0].text == dpo["prompt"] and pair.turns[1].text == dpo["chosen"]
        assert not dpo["chosen"].startswith("Counsellor:")  # the speaker label is cleaned off
        assert stereotype.found_in(dpo["rejected"]) and not stereotypes_in(dpo["chosen"], dpo["prompt"])
        assert pair.source.license == "CC BY-NC 4.0" and pair.group.startswith("dialog-")
        assert info["generator"] == {"endpoint": "scripted", "model": "test"}
    assert len({p.meta["dpo"]["chosen"] for p in pairs}) == 6
    assert len({p.meta["dpo"]["bias_type"] for p in pairs}) == 6  # stereotypes are used evenly


def test_pairs_come_through_the_generation_endpoint_named_in_the_config(tmp_path: Path) -> None:
    with OpenAIStub(lambda body: cooperative_reply(body["messages"], body.get("seed", 0))) as stub:
        generation = {
            "endpoint": "openai",
            "base_url": stub.base_url,
            "model": "stub-model",
            "max_retries": 0,
        }
        source = SourceConfig(
            name="pairs",
            kind="synthetic",
            options={"mode": "preference_pairs", "target": 3, "generation": generation},
        )
        context = _context()
        context.run_dir = tmp_path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pairs = [i for i in read_source(source, Path("."), context) if isinstance(i, Conversation)]
        # One stereotyped sentence and one chosen reply per candidate (the quota asks for a little slack).
        assert len(pairs) == 3 and len(stub.requests) >= 6 and len(stub.requests) % 2 == 0
        assert {p.meta["preference"]["generator"]["model"] for p in pairs} == {"stub-model"}
        assert (tmp_path / "work" / "generation" / "pairs" / "responses.jsonl").is_file()


def test_a_model_that_never_states_the_stereotype_gives_quarantined_rejections() -> None:
    client = ScriptedEndpoint(stated_for=lambda belief: "That must be a heavy thing to carry every day.")
    items = _pairs(client, target=2, budget=2.0, stereotype_attempts=3)
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert len(rejections) == 4 and not [i for i in items if isinstance(i, Conversation)]
    assert all(r.reason == "not_stated,stereotype_not_stated" for r in rejections)
    assert all("heavy thing" in r.message for r in rejections)
    # Three one-sentence requests per candidate, and no chosen reply asked for a pair already given up.
    assert len(client.requests) == 12 and all(len(m) == 1 for m in client.requests)


def test_a_model_that_hands_back_the_inventory_phrasing_gives_no_pair() -> None:
    client = ScriptedEndpoint(stated_for=lambda belief: belief[0].upper() + belief[1:] + ".")
    items = _pairs(client, target=2, budget=2.0, stereotype_attempts=2)
    assert items and not [i for i in items if isinstance(i, Conversation)]
    assert all(i.reason == "copies_phrasing,stereotype_not_stated" for i in items)


def test_a_stereotype_sentence_is_spliced_into_the_chosen_reply_in_place_of_one_sentence() -> None:
    chosen = "Moving away from friends is lonely. You told me you are 70. What do you miss most?"
    said = "Honestly, at your age, this kind of loneliness is just how life goes."
    assert splice_sentence(chosen, said) == (
        "Moving away from friends is lonely. " + said + " What do you miss most?",
        "replaced",
    )
    assert splice_sentence("That is lonely. What do you miss?", said) == (
        "That is lonely. " + said + " What do you miss?",
        "inserted",
    )


def test_the_stereotyped_sentence_must_be_stated_addressed_and_not_the_inventory_phrasing() -> None:
    planned = PairPlanner(["gender_identity"], seed=1).plan(
        CLIENT_LINES[1], _conversation(CLIENT_LINES[1], 0)
    )
    assert planned is not None
    belief = planned.stereotype.beliefs[0]
    own = f"From what you say about the weekends, I think {belief}, and that is worth knowing."
    assert stereotyped_sentence(f"Sure! {own}", planned) == own
    assert stereotyped_sentence(f'Here is one: "{own}"', planned) == own  # the quoted sentence is meant
    # The inventory's phrasing handed back is a fixed string, not the model's sentence.
    assert stereotyped_sentence(belief[0].upper() + belief[1:] + ".", planned)[0] == "copies_phrasing"
    assert stereotyped_sentence(f"This sentence says that {belief} for sure.", planned)[0] == "meta_talk"
    assert stereotyped_sentence("Weekends can be lonely after a move.", planned)[0] == "not_stated"


def test_a_stray_cue_word_is_not_taken_for_the_stereotype() -> None:
    weight = stereotype_inventory()["appearance.weight_blamed"]
    assert weight.found_in("Losing weight is hard when you sleep badly.")  # the cue alone matches
    assert weight.stated_in("Losing weight is hard when you sleep badly.") is None
    stated = weight.stated_in("It sounds like a lot. " + weight.beliefs[0].capitalize() + ", honestly.")
    assert stated is not None and stated[0].startswith(weight.beliefs[0].capitalize())


def test_a_denied_stereotype_is_not_stated() -> None:
    phase = stereotype_inventory()["gender.nonbinary_phase"]
    assert phase.stated_in("Being nonbinary is often just a phase that settles down.") is not None
    assert phase.stated_in("Being nonbinary wasn't just a phase for you; it settles who you are.") is None
    men = stereotype_inventory()["gender.men_dont_get_depressed"]
    assert (
        men.stated_in("Honestly, men don't really get depressed, they just need to toughen up.") is not None
    )


def test_endpoint_failures_are_quarantined_not_raised() -> None:
    items = _pairs(ScriptedEndpoint(fail_with="endpoint_timeout"), target=2, budget=1.0)
    assert len(items) == 2 and all(isinstance(i, Rejection) and i.reason == "endpoint_timeout" for i in items)


def test_a_refusing_endpoint_ends_the_source_after_its_first_answer() -> None:
    client = ScriptedEndpoint(fail_with="endpoint_http_401")
    items = _pairs(client, target=3)
    assert len(items) == 1 and items[0].reason == "endpoint_http_401" and len(client.requests) == 1


def test_an_endpoint_that_cannot_start_ends_the_source_with_one_clear_rejection() -> None:
    class NoServer(ScriptedEndpoint):
        def complete(self, messages: list[dict[str, str]], seed: int = 0, **params: object) -> object:
            raise ServerError("endpoint local needs the 'generate-local' extra")

    items = _pairs(NoServer(), target=3)
    assert len(items) == 1 and isinstance(items[0], Rejection)
    assert items[0].reason == "endpoint_unavailable" and "generate-local" in items[0].message


def test_pair_checks_name_every_problem() -> None:
    planner = PairPlanner(["age"], seed=1)
    planned = planner.plan(CLIENT_LINES[0], _conversation(CLIENT_LINES[0], 0))
    assert planned is not None
    options = PairOptions()
    chosen = (
        "It sounds like the new job has you on edge and every email feels like a test. What worries you most?"
    )
    good = chosen[:-1] + ", though " + planned.stereotype.beliefs[0] + "."
    assert check_pair(planned, chosen, good, options) == []
    long = good + " " + " ".join(["Also, remember to rest and breathe deeply."] * 8)
    off_topic = (
        "At your age it's normal; the weather will be lovely on the beach this weekend, enjoy the sunshine."
    )
    reasons = {r for r, _ in check_pair(planned, chosen + " " + planned.stereotype.beliefs[0], long, options)}
    assert {"chosen_carries_stereotype", "length_mismatch"} <= reasons
    assert "topic_mismatch" in {r for r, _ in check_pair(planned, chosen, off_topic, options)}
    assert "reply_too_short" in {r for r, _ in check_pair(planned, "Okay.", good, options)}
    looping = "I'm so sorry. I'm so sorry. I'm so sorry for you, it sounds like the new job has you on edge."
    assert "repetitive_reply" in {r for r, _ in check_pair(planned, looping, good, options)}


def test_duplicate_replies_are_not_kept_twice() -> None:
    writer = PairWriter(ScriptedEndpoint(), "pairs", "generated")
    planned = PairPlanner(["religion"], seed=1).plan(CLIENT_LINES[2], _conversation(CLIENT_LINES[2], 0))
    assert planned is not None
    assert isinstance(writer.write(planned, seed=1), Conversation)
    again = writer.write(planned, seed=1)
    assert isinstance(again, Rejection) and {"duplicate_chosen", "duplicate_rejected"} <= set(
        again.reason.split(",")
    )


def test_prompts_that_may_hold_personal_data_are_not_used() -> None:
    risky = _conversation(
        "I told Sarah at 5pm that I feel anxious about moving out of my flat and more.", 0, "g"
    )
    assert list(PairPlanner(dimensions(), seed=1).prompts([risky])) == []


def test_clean_reply_strips_labels_quotes_and_a_cut_off_sentence() -> None:
    assert clean_reply('Counsellor:  "That sounds  hard."') == "That sounds hard."
    assert clean_reply('The counsellor\'s reply: "I hear you."') == "I hear you."
    assert clean_reply("That sounds hard. What helps when you feel") == "That sounds hard."
    assert clean_reply("no sentence end at all") == "no sentence end at all"


def test_a_reply_that_parrots_its_instructions_is_not_kept() -> None:
    planned = PairPlanner(["age"], seed=1).plan(CLIENT_LINES[0], _conversation(CLIENT_LINES[0], 0))
    assert planned is not None
    parrot = "You are a kind counsellor. Answer in two or three short sentences about the new job and emails."
    good = "It sounds like the new job has you on edge, and every email feels like a test. What worries you most?"
    rejected = good[:-1] + ", though " + planned.stereotype.beliefs[0] + "."
    assert "echoes_instructions" in {r for r, _ in check_pair(planned, parrot, rejected, PairOptions())}
    assert "echoes_instructions" not in {r for r, _ in check_pair(planned, good, rejected, PairOptions())}


# --- dataset coverage counts ------------------------------------------------------------------------------


def test_bias_audit_counts_markers_per_split_and_counterfactual_coverage() -> None:
    originals = list(_context().conversations())
    variants = _run("counterfactual", target=6, variants_per_original=3)
    pairs = [i for i in _pairs(ScriptedEndpoint(), target=3) if isinstance(i, Conversation)]
    records = [
        msgspec.structs.replace(r, split="train" if i % 2 else "test") for i, r in enumerate(originals)
    ]
    records += [msgspec.structs.replace(v, split="train") for v in variants]
    leaky = msgspec.structs.replace(variants[0], split="validation")
    records.append(leaky)
    records += [msgspec.structs.replace(p, split="train") for p in pairs]
    audit = bias_audit(records)
    assert audit["records"] == len(records)
    coverage = audit["counterfactual"]
    assert coverage["sets"] == 2 and coverage["variants"] == 7 and coverage["originals_covered"] == 2
    assert coverage["sets_spanning_splits"] == 1
    assert coverage["examples_spanning_splits"] == [leaky.meta["counterfactual"]["set"]]
    assert coverage["marker_values_total"] == sum(
        len(d.values) for d in marker_inventory().dimensions.values()
    )
    assert sum(coverage["variants_by_dimension"].values()) == 7
    assert audit["preference_pairs"]["total"] == 3
    assert set(audit["preference_pairs"]["by_bias_type"]) <= set(stereotype_inventory())
    assert audit["splits"]["test"]["records"] == 3


def test_bias_audit_of_nothing_is_empty_not_an_error() -> None:
    audit = bias_audit([])
    assert audit["records"] == 0
    assert audit["counterfactual"]["share_of_originals_covered"] == 0.0
