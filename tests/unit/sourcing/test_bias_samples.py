"""Counterfactual demographic variants, preference pairs for DPO, and the bias audit."""

from __future__ import annotations

import warnings
from pathlib import Path

import msgspec

from ai.core.config import SourceConfig
from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.core.stage import Rejection
from ai.sourcing.synthetic import MaterialContext, bias_audit, read_source
from ai.sourcing.synthetic.demographics import (
    DESCRIPTOR_FORMS,
    MARKERS,
    descriptor,
    detect_markers,
    stereotyped_reply,
)

CLIENT_LINES = [
    "I have been feeling anxious about my new job and I can't stop overthinking every email.",
    "I feel lonely since my best friend moved away and weekends are the hardest.",
    "I keep arguing with my brother and I feel guilty after every single fight.",
    "I have been so tired lately and I can't find the motivation to cook or clean.",
    "I feel stuck in my studies and I worry that I am falling behind everyone.",
    "I get nervous before presentations and my hands shake when I start talking.",
]
THERAPIST_LINE = "That sounds hard. What would you like to focus on first?"


def _conversation(client: str, index: int, group: str = "") -> Conversation:
    turns = [
        Turn("client", client),
        Turn("therapist", THERAPIST_LINE),
        Turn("client", "I feel a bit calmer now."),
    ]
    source = Provenance(kind="dataset", name="demo", license="MIT", locator={"row": index})
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


# --- markers -----------------------------------------------------------------------------------------


def test_detect_markers_finds_each_dimension() -> None:
    text = "I'm a woman in my sixties, my family is from Nigeria, I'm Muslim, I'm bisexual and I use a wheelchair."
    found = detect_markers(text)
    assert found["gender"] == ["woman"]
    assert found["age"] == ["sixties"]
    assert found["culture"] == ["Nigeria"]
    assert found["religion"] == ["Muslim"]
    assert found["sexual_orientation"] == ["bisexual"]
    assert found["disability"] == ["wheelchair user"]
    assert detect_markers("We went for a walk in the park.") == {}


def test_every_descriptor_is_detected_as_its_own_marker() -> None:
    for dimension, markers in MARKERS.items():
        for marker in markers:
            sentence = descriptor(marker, "For context, {d}.")
            assert marker.value in detect_markers(sentence).get(dimension, []), sentence


def test_stereotyped_reply_addresses_the_client_in_second_person() -> None:
    marker = next(m for m in MARKERS["disability"] if m.value == "ADHD")
    reply = stereotyped_reply(
        marker, "A lot of this probably comes down to the fact that {said}. {Group} are."
    )
    assert reply == "A lot of this probably comes down to the fact that you have ADHD. People with ADHD are."


# --- counterfactual variants -------------------------------------------------------------------------


def test_counterfactual_sets_change_only_the_client_marker() -> None:
    originals = {c.id: c for c in _context().conversations()}
    variants = _run("counterfactual", target=12, variants_per_original=3)
    assert len(variants) == 12
    sets: dict[str, list[Conversation]] = {}
    for variant in variants:
        info = variant.meta["counterfactual"]
        sets.setdefault(info["set"], []).append(variant)
        original = originals[info["original_id"]]
        assert variant.category == "bias"
        assert variant.group == original.group
        assert variant.source.kind == "augmentation"
        assert variant.source.locator["original_id"] == original.id
        assert [t.text for t in variant.turns if t.role == "therapist"] == [THERAPIST_LINE]
        first_client = variant.turns[0].text
        assert info["descriptor"] in first_client
        assert first_client.replace(info["descriptor"], "").strip() == original.turns[0].text
        assert variant.turns[2] == original.turns[2]
        assert info["value"] in detect_markers(first_client)[info["dimension"]]
    assert len(sets) == 4
    for members in sets.values():
        infos = [m.meta["counterfactual"] for m in members]
        assert len({i["dimension"] for i in infos}) == 1
        assert len({i["value"] for i in infos}) == 3
        assert len({i["placement"] for i in infos}) == 1
        assert len({m.group for m in members}) == 1


def test_counterfactual_dimensions_are_balanced_and_never_contradict_present_markers() -> None:
    variants = _run("counterfactual", target=18, variants_per_original=3)
    dimensions = [v.meta["counterfactual"]["dimension"] for v in variants]
    assert sorted(set(dimensions)) == sorted(MARKERS)
    gendered = _conversation("I'm a woman and I have been feeling anxious about my new job lately.", 0, "g")
    context = MaterialContext([], [gendered], seed=1)
    variants = _run("counterfactual", context, target=3, dimensions=["gender", "age"])
    assert {v.meta["counterfactual"]["dimension"] for v in variants} == {"age"}


def test_original_without_group_gives_its_id_as_the_variants_group() -> None:
    original = _conversation(CLIENT_LINES[0], 0)
    variants = _run("counterfactual", MaterialContext([], [original], seed=1), target=2)
    assert {v.group for v in variants} == {original.id}


def test_counterfactuals_respect_the_gate() -> None:
    def reject_gender(batch: list[Conversation]) -> list[Rejection | None]:
        return [
            Rejection(stage="content", reason="x", message="x")
            if v.meta["counterfactual"]["dimension"] == "gender"
            else None
            for v in batch
        ]

    variants = _run("counterfactual", _context(gate=reject_gender), target=6)
    assert len(variants) == 6
    assert "gender" not in {v.meta["counterfactual"]["dimension"] for v in variants}


# --- preference pairs --------------------------------------------------------------------------------


def test_preference_pairs_carry_dpo_fields_and_an_unbiased_chosen_reply() -> None:
    pairs = _run("preference_pairs", target=6)
    assert len(pairs) == 6
    for pair in pairs:
        dpo = pair.meta["dpo"]
        assert set(dpo) == {"prompt", "chosen", "rejected", "bias_type"}
        assert pair.category == "bias"
        assert [t.role for t in pair.turns] == ["client", "therapist"]
        assert pair.turns[0].text == dpo["prompt"] and pair.turns[1].text == dpo["chosen"]
        dimension = pair.meta["preference"]["dimension"]
        assert dimension in detect_markers(dpo["prompt"])
        # The chosen reply is written from the client's own words, never from the stated marker.
        assert not detect_markers(dpo["chosen"])
        assert dpo["bias_type"] in (f"{dimension}_stereotype", "dismissive")
        assert dpo["rejected"] != dpo["chosen"]
        assert pair.group.startswith("dialog-")


def test_preference_pairs_skip_prompts_that_may_hold_personal_data() -> None:
    risky = _conversation("I told Sarah at 5pm that I feel anxious about moving out of my flat.", 0, "g")
    context = MaterialContext([], [risky], seed=1)
    assert _run("preference_pairs", context, target=2) == []


def test_dismissive_share_one_makes_every_pair_dismissive() -> None:
    pairs = _run("preference_pairs", target=4, dismissive_share=1.0)
    assert {p.meta["dpo"]["bias_type"] for p in pairs} == {"dismissive"}


# --- audit -------------------------------------------------------------------------------------------


def test_bias_audit_counts_markers_per_split_and_counterfactual_coverage() -> None:
    originals = list(_context().conversations())
    variants = _run("counterfactual", target=6, variants_per_original=3)
    pairs = _run("preference_pairs", target=3)
    records = []
    for index, record in enumerate(originals):
        records.append(msgspec.structs.replace(record, split="train" if index % 2 else "test"))
    for variant in variants:
        records.append(msgspec.structs.replace(variant, split="train"))
    leaky = msgspec.structs.replace(variants[0], split="validation")
    records.append(leaky)
    records += [msgspec.structs.replace(p, split="train") for p in pairs]
    audit = bias_audit(records)
    assert audit["records"] == len(records)
    coverage = audit["counterfactual"]
    assert coverage["sets"] == 2 and coverage["variants"] == 7
    assert coverage["originals_covered"] == 2
    assert coverage["sets_spanning_splits"] == 1
    assert coverage["examples_spanning_splits"] == [leaky.meta["counterfactual"]["set"]]
    assert coverage["marker_values_total"] == sum(len(m) for m in MARKERS.values())
    assert sum(coverage["variants_by_dimension"].values()) == 7
    assert audit["preference_pairs"]["total"] == 3
    assert sum(audit["preference_pairs"]["by_bias_type"].values()) == 3
    train_markers = audit["splits"]["train"]["markers"]
    total = sum(n for values in audit["markers"].values() for n in values.values())
    per_split = sum(
        n
        for split in audit["splits"].values()
        for values in split["markers"].values()
        for n in values.values()
    )
    assert total == per_split > 0 and train_markers
    assert audit["splits"]["test"]["records"] == 3


def test_bias_audit_of_nothing_is_empty_not_an_error() -> None:
    audit = bias_audit([])
    assert audit["records"] == 0
    assert audit["counterfactual"]["share_of_originals_covered"] == 0.0


def test_no_descriptor_is_mistaken_for_a_name_by_the_pii_stage() -> None:
    # "I'm Buddhist." once read as a self-introduction: every variant of a set became "[NAME_1]" and
    # dedup removed them as exact duplicates.
    from ai.pipelines.orchestrator.pii import PiiScrubber

    scrubber = PiiScrubber()
    for markers in MARKERS.values():
        for marker in markers:
            for form in DESCRIPTOR_FORMS:
                sentence = descriptor(marker, form)
                for text in (
                    f"{sentence} I have been anxious lately.",
                    f"I have been anxious lately. {sentence}",
                ):
                    assert scrubber.find(text) == [], text
