"""Exact and near-duplicate removal: what is caught, what is kept apart, and the keep policy."""

from __future__ import annotations

import random

import msgspec
import pytest

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.pipelines.orchestrator.dedup import DedupPlan, DedupStage, DedupSummary, keep_rank_key, shingles
from ai.pipelines.orchestrator.unified_preprocessing_pipeline import RolesStage

# A same-topic vocabulary: conversations drawn from it share many words but are different conversations.
_VOCABULARY = (
    "i feel anxious worried tired sleep night work job boss stress panic heart chest breathing thoughts "
    "racing every day week morning evening friends family partner talk help hard really always never "
    "sometimes maybe think know want need try trying cannot stop start again alone scared afraid better "
    "worse calm relax notice body mind moment today tomorrow yesterday because when while after before "
    "it sounds like you are carrying a lot that makes sense what happens how does this show up for you"
)
TOPIC_WORDS = _VOCABULARY.split()


def talk(rng: random.Random, turns: int = 6, words: int = 30) -> list[Turn]:
    return [
        Turn("client" if i % 2 == 0 else "therapist", " ".join(rng.choice(TOPIC_WORDS) for _ in range(words)))
        for i in range(turns)
    ]


def edit(turns: list[Turn], rng: random.Random, share: float = 0.03) -> list[Turn]:
    """Changes about ``share`` of the words of every turn (substitutions, deletions, insertions)."""
    out = []
    for turn in turns:
        words = turn.text.split()
        for _ in range(max(1, round(share * len(words)))):
            i = rng.randrange(len(words))
            action = rng.random()
            if action < 0.4:
                words[i] = rng.choice(TOPIC_WORDS)
            elif action < 0.7:
                del words[i]
            else:
                words.insert(i, rng.choice(TOPIC_WORDS))
        out.append(Turn(turn.role, " ".join(words)))
    return out


def record(turns: list[Turn], source: str = "alpha", row: int = 0, **fields: object) -> Conversation:
    return make_conversation(turns, Provenance(kind="dataset", name=source, locator={"row": row}), **fields)


def run(stage: DedupStage, shards: list[list[Conversation]]):
    summaries = [stage.summarise(shard, i) for i, shard in enumerate(shards)]
    plan = stage.reduce(summaries)
    return plan, [stage.apply(shard, plan, i) for i, shard in enumerate(shards)]


def test_exact_duplicates_after_normalisation_are_rejected_naming_the_kept_id() -> None:
    rng = random.Random(1)
    turns = talk(rng)
    original = record(turns, "alpha", 1)
    # Raw role spellings give another ingest id; after the roles stage the content is the same.
    respelled = record(
        [Turn({"client": "user"}.get(t.role, "gpt"), "  " + t.text.upper()) for t in turns], "beta", 2
    )
    respelled = RolesStage().process([respelled]).kept[0]
    assert respelled.id != original.id
    other = record(talk(rng), "alpha", 3)
    result = DedupStage().process([respelled, other, original])
    (rejection,) = result.rejected
    assert rejection.reason == "exact_duplicate"
    kept = min(original.id, respelled.id)
    assert {r.id for r in result.kept} == {kept, other.id}
    assert rejection.record_id == max(original.id, respelled.id)
    assert f"exact duplicate of {kept}" in rejection.message
    assert result.stats["exact_duplicates"] == 1.0


def test_same_content_from_two_sources_keeps_one_by_a_deterministic_rank() -> None:
    turns = talk(random.Random(2))
    a, b = record(turns, "zeta", 5), record(turns, "alpha", 9)
    assert a.id == b.id
    for batch in ([a, b], [b, a]):
        result = DedupStage().process(batch)
        assert result.kept[0].source.name == "alpha"  # ties on id broken by source name
        assert "from source 'alpha'" in result.rejected[0].message


def test_near_duplicates_with_three_percent_edits_are_caught() -> None:
    rng = random.Random(3)
    originals = [record(talk(rng), row=i) for i in range(120)]
    copies = [record(edit(o.turns, rng), "copies", 1000 + i) for i, o in enumerate(originals)]
    plan, results = run(DedupStage(), [originals[:60] + copies[:60], originals[60:] + copies[60:]])
    rejected = {r.record_id: r for res in results for r in res.rejected}
    caught = sum(
        (c.id in rejected and o.id in rejected[c.id].message)
        or (o.id in rejected and c.id in rejected[o.id].message)
        for o, c in zip(originals, copies, strict=True)
    )
    assert caught / len(originals) >= 0.95
    assert all(
        r.reason == "near_duplicate" and "estimated similarity" in r.message for r in rejected.values()
    )
    assert plan.near_duplicates == len(rejected)


def test_different_conversations_on_the_same_topic_are_kept_apart() -> None:
    rng = random.Random(4)
    batch = [record(talk(rng), row=i) for i in range(400)]
    result = DedupStage().process(batch)
    assert not result.rejected
    assert len(result.kept) == 400


def test_keep_policy_is_independent_of_order_and_sharding() -> None:
    rng = random.Random(5)
    originals = [record(talk(rng), row=i) for i in range(30)]
    batch = originals + [record(edit(o.turns, rng), "copies", 100 + i) for i, o in enumerate(originals)]
    batch += [record(o.turns, "beta", 200 + i) for i, o in enumerate(originals[:10])]

    def outcome(shards: list[list[Conversation]]) -> tuple[set[str], dict[str, str]]:
        _, results = run(DedupStage(seed=7), shards)
        kept = {keep_rank_key(r) for res in results for r in res.kept}
        why = {keep_rank_key(r.record): r.message for res in results for r in res.rejected}
        return kept, why

    shuffled = list(batch)
    random.Random(9).shuffle(shuffled)
    assert outcome([batch]) == outcome([shuffled[:25], shuffled[25:50], shuffled[50:]])


def test_plan_and_summary_survive_msgpack_and_report_counts() -> None:
    rng = random.Random(6)
    base = [record(talk(rng), row=i) for i in range(5)]
    batch = [*base, record(base[0].turns, "beta", 9), record(edit(base[1].turns, rng), "copies", 10)]
    stage = DedupStage()
    summary = msgspec.msgpack.decode(
        msgspec.msgpack.encode(stage.summarise(batch, 0)), type=DedupStage.summary_type
    )
    assert isinstance(summary, DedupSummary)
    plan = msgspec.msgpack.decode(msgspec.msgpack.encode(stage.reduce([summary])), type=DedupStage.plan_type)
    assert isinstance(plan, DedupPlan)
    result = stage.apply(batch, plan, 0)
    assert sorted(r.reason for r in result.rejected) == ["exact_duplicate", "near_duplicate"]
    report = stage.report(plan)
    assert report["passed"] is True
    assert (report["records"], report["exact_duplicates"], report["near_duplicates"], report["kept"]) == (
        7,
        1,
        1,
        5,
    )
    assert {e["reason"] for e in report["examples"]} == {"exact_duplicate", "near_duplicate"}


def test_cluster_mode_keeps_near_duplicates_and_marks_their_cluster() -> None:
    rng = random.Random(7)
    original = record(talk(rng), row=1)
    copy = record(edit(original.turns, rng), "copies", 2)
    loner = record(talk(rng), row=3)
    stage = DedupStage(DedupStage.Options(near_action="cluster"))
    result = stage.process([original, copy, loner])
    assert not result.rejected
    clusters = {r.id: r.meta.get("dup_cluster") for r in result.kept}
    head = min(original.id, copy.id)
    assert clusters == {original.id: head, copy.id: head, loner.id: None}


def test_switching_off_exact_or_near_detection() -> None:
    rng = random.Random(8)
    base = record(talk(rng), row=1)
    batch = [base, record(base.turns, "beta", 2), record(edit(base.turns, rng), "copies", 3)]
    assert not DedupStage(DedupStage.Options(exact=False, near=False)).process(batch).rejected
    only_exact = DedupStage(DedupStage.Options(near=False)).process(batch)
    assert [r.reason for r in only_exact.rejected] == ["exact_duplicate"]
    only_near = DedupStage(DedupStage.Options(exact=False)).process(batch)
    assert [r.reason for r in only_near.rejected] == ["near_duplicate", "near_duplicate"]


def test_short_and_empty_conversations_only_match_themselves() -> None:
    a = record([Turn("client", "hi"), Turn("therapist", "hello")], row=1)
    b = record([Turn("client", "hey"), Turn("therapist", "hello")], row=2)
    empty = record([Turn("client", "!!!"), Turn("therapist", "???")], row=3)
    assert shingles(empty, 3) == [empty.id]
    assert shingles(a, 3) == ["hi hello"]
    assert not DedupStage().process([a, b, empty]).rejected


def test_system_turns_do_not_make_conversations_similar() -> None:
    rng = random.Random(10)
    prompt = Turn("system", " ".join(rng.choice(TOPIC_WORDS) for _ in range(300)))
    batch = [record([prompt, *talk(rng, turns=2, words=20)], row=i) for i in range(20)]
    assert not DedupStage().process(batch).rejected


def test_apply_refuses_a_plan_for_a_different_shard() -> None:
    rng = random.Random(11)
    base = record(talk(rng), row=1)
    batch = [base, record(base.turns, "beta", 2)]
    stage = DedupStage()
    plan = stage.reduce([stage.summarise(batch, 0)])
    with pytest.raises(ValueError, match="does not match shard 0"):
        stage.apply([base, record(talk(rng), row=5)], plan, 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"threshold": 0}, "threshold"),
        ({"num_perm": 16, "bands": 32}, "between 1 and num_perm"),
        ({"shingle_size": 0}, "shingle_size"),
        ({"near_action": "merge"}, "near_action"),
    ],
)
def test_invalid_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(options, DedupStage.Options)
