"""The split-aware contamination check: near duplicates across splits are moved together or reported."""

from __future__ import annotations

import random

import msgspec
import pytest

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.pipelines.orchestrator.contamination import (
    ContaminationOptions,
    ContaminationPlan,
    ContaminationStage,
    ContaminationSummary,
)
from ai.pipelines.orchestrator.dedup import DedupStage

# One topic's words: conversations drawn from them overlap in vocabulary but are different conversations.
_TOPIC_TEXT = (
    "i feel so tired at work and my boss keeps asking for more while i cannot sleep at night the panic "
    "comes back every morning before the meeting it sounds like you carry a lot what helps you calm down "
    "when the thoughts race have you talked with your partner or friends about this pressure lately"
)
WORDS = _TOPIC_TEXT.split()


def talk(rng: random.Random, turns: int = 6, words: int = 40) -> list[Turn]:
    return [
        Turn("client" if i % 2 == 0 else "therapist", " ".join(rng.choice(WORDS) for _ in range(words)))
        for i in range(turns)
    ]


def edited(turns: list[Turn], rng: random.Random, share: float) -> list[Turn]:
    """Replaces ``share`` of the words of every turn with other words of the topic."""
    out = []
    for turn in turns:
        words = turn.text.split()
        for i in rng.sample(range(len(words)), round(share * len(words))):
            words[i] = rng.choice(WORDS)
        out.append(Turn(turn.role, " ".join(words)))
    return out


def record(turns: list[Turn], split: str, row: int, group: str = "") -> Conversation:
    source = Provenance(kind="dataset", name="alpha", locator={"row": row})
    return make_conversation(turns, source, split=split, group=group)


def run(stage: ContaminationStage, shards: list[list[Conversation]]) -> tuple[ContaminationPlan, list]:
    summaries = [stage.summarise(shard, i) for i, shard in enumerate(shards)]
    plan = stage.reduce(summaries)
    return plan, [stage.apply(shard, plan, i).kept for i, shard in enumerate(shards)]


def splits_of(shards: list[list[Conversation]]) -> dict[str, str]:
    return {r.id: r.split for shard in shards for r in shard}


def background(rng: random.Random, count: int) -> list[Conversation]:
    splits = ("train", "validation", "test")
    return [record(talk(rng), splits[i % 3], 100 + i) for i in range(count)]


def test_a_ten_percent_paraphrase_in_test_joins_its_original_in_train() -> None:
    rng = random.Random(1)
    original = talk(rng)
    first, second = record(original, "train", 0), record(edited(original, rng, 0.10), "test", 1)
    others = background(rng, 30)
    stage = ContaminationStage()
    plan, shards = run(stage, [[first, *others[:15]], [second, *others[15:]]])
    after = splits_of(shards)
    assert after[first.id] == after[second.id] == "train"
    # Distinct conversations on the same topic stay where the splitter put them.
    assert all(after[r.id] == r.split for r in others)
    report = stage.report(plan)
    assert report["passed"] is True
    assert report["moved_records"] == 1
    (pair,) = report["examples"]
    assert {pair["first_id"], pair["second_id"]} == {first.id, second.id}
    assert pair["action"] == "moved" and pair["split_after"] == "train"
    assert pair["similarity"] >= 0.3
    assert original[0].text[:40] in pair["first_text"] + pair["second_text"]
    assert report["shares_after"]["train"] > report["shares_before"]["train"]


def test_a_component_goes_to_the_split_holding_most_of_it_with_its_whole_group() -> None:
    rng = random.Random(2)
    session = [talk(rng) for _ in range(3)]
    in_test = [record(turns, "test", i, group="session-7") for i, turns in enumerate(session)]
    copy_in_train = record(edited(session[0], rng, 0.10), "train", 9)
    unrelated = record(talk(rng), "validation", 10)
    stage = ContaminationStage()
    _, shards = run(stage, [[*in_test, copy_in_train, unrelated]])
    after = splits_of(shards)
    assert {after[r.id] for r in in_test} == {"test"}
    assert after[copy_in_train.id] == "test"
    assert after[unrelated.id] == "validation"


def test_report_mode_leaves_the_split_alone_and_fails_the_gate() -> None:
    rng = random.Random(3)
    original = talk(rng)
    first, second = record(original, "train", 0), record(edited(original, rng, 0.10), "validation", 1)
    stage = ContaminationStage(ContaminationOptions(action="report"))
    plan, shards = run(stage, [[first, second]])
    after = splits_of(shards)
    assert (after[first.id], after[second.id]) == ("train", "validation")
    report = stage.report(plan)
    assert report["passed"] is False
    assert report["remaining_pairs"] == 1
    assert "1 near-duplicate pairs remain across splits" in report["message"]
    assert report["examples"][0]["action"] == "reported"


def test_shared_client_turns_confirm_a_pair_whose_shingles_differ() -> None:
    rng = random.Random(4)
    client = [Turn("client", " ".join(rng.choice(WORDS) for _ in range(25))) for _ in range(3)]
    # The same client turns, re-cased and re-punctuated, answered by a different therapist.
    transcribed = [Turn("client", t.text.upper().replace(" ", ", ", 3) + ".") for t in client]
    first = record(
        [t for c in client for t in (c, Turn("therapist", " ".join(rng.sample(WORDS, 8))))], "train", 0
    )
    second = record(
        [t for c in transcribed for t in (c, Turn("therapist", " ".join(rng.sample(WORDS, 8))))], "test", 1
    )
    stage = ContaminationStage(ContaminationOptions(threshold=0.9))
    plan, _ = run(stage, [[first, second]])
    (pair,) = plan.pairs
    assert pair.client_turn_share == 1.0
    assert pair.similarity < 0.9


def test_a_component_larger_than_max_component_is_template_text_left_in_place() -> None:
    rng = random.Random(8)
    template = talk(rng)
    splits = ("train", "validation", "test")
    batch = [record(edited(template, rng, 0.1), splits[i % 3], i) for i in range(12)]
    stage = ContaminationStage(ContaminationOptions(max_component=10))
    plan, shards = run(stage, [batch])
    assert [r.split for r in shards[0]] == [r.split for r in batch]
    assert plan.pairs and {p.action for p in plan.pairs} == {"template"}
    report = stage.report(plan)
    assert report["passed"] is True and report["template_pairs"] == len(plan.pairs)
    assert "larger than max_component (10 records)" in report["message"]


def test_pairs_inside_one_split_are_not_contamination() -> None:
    rng = random.Random(5)
    original = talk(rng)
    stage = ContaminationStage()
    plan, _ = run(stage, [[record(original, "train", 0), record(edited(original, rng, 0.1), "train", 1)]])
    assert plan.pairs == [] and plan.moved == 0
    assert stage.report(plan)["passed"] is True


def test_signatures_are_taken_from_the_dedup_summary_of_the_shard() -> None:
    rng = random.Random(6)
    batch = background(rng, 6)
    dedup = DedupStage().summarise(batch, 0)
    stage = ContaminationStage()
    assert stage.summarise(batch, 0, {"dedup": dedup}).signatures == stage.summarise(batch, 0).signatures


def test_summary_and_plan_survive_msgpack_and_a_changed_shard_is_refused() -> None:
    rng = random.Random(7)
    original = talk(rng)
    batch = [record(original, "train", 0), record(edited(original, rng, 0.1), "test", 1)]
    stage = ContaminationStage()
    summary = stage.summarise(batch, 0)
    summary = msgspec.msgpack.decode(msgspec.msgpack.encode(summary), type=ContaminationSummary)
    plan = stage.reduce([summary])
    plan = msgspec.msgpack.decode(msgspec.msgpack.encode(plan), type=ContaminationPlan)
    assert [r.split for r in stage.apply(batch, plan, 0).kept] == ["train", "train"]
    with pytest.raises(ValueError, match="does not match shard 0"):
        stage.apply(batch[:1], plan, 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"client_turn_share": 1.5}, "client_turn_share"),
        ({"bands": 0}, "bands"),
        ({"action": "delete"}, "action"),
    ],
)
def test_invalid_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, msgspec.ValidationError), match=message):
        msgspec.convert(options, ContaminationOptions)


def test_boilerplate_joining_many_dialogues_of_a_small_dataset_stays_where_the_split_put_it() -> None:
    # Twenty conversations built from one template join into one component: pulling them all into one split
    # would empty the others, so they are left in place and listed as template text (the gate passes).
    rng = random.Random(6)
    template = talk(rng)
    splits = ["train"] * 14 + ["validation"] * 3 + ["test"] * 3
    records = [record(edited(template, rng, 0.05), split, i) for i, split in enumerate(splits)]
    stage = ContaminationStage()
    plan, shards = run(stage, [records])
    assert sorted(splits_of(shards).values()) == sorted(splits)
    report = stage.report(plan)
    assert report["passed"] is True and plan.templated > 0
