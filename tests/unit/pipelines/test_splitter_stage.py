"""The 70/15/15 splitter: sizes, groups, near-duplicate clusters, stratification, validation, failure path."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import msgspec
import numpy as np
import pytest

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.pipelines.orchestrator.checkpoint_manager import CheckpointManager
from ai.pipelines.orchestrator.data_splitter import (
    SplitColumns,
    SplitPlan,
    SplitStage,
    SplitSummary,
    validate_assignment,
)
from ai.pipelines.orchestrator.dedup import (
    DedupStage,
    minhash_signatures,
    signatures_reusing,
)
from ai.pipelines.orchestrator.shard_runner import earlier_summaries

_VOCABULARY = (
    "feel anxious tired sleep work family partner panic worry alone help talk day night week hard better "
    "notice breathe calm heart chest mind thought friend mother father job boss school money home change "
    "trust safe scared angry sad hope try again stop start care listen hear understand moment today"
)
WORDS = _VOCABULARY.split()
CATEGORIES = ["therapeutic", "grounded", "bias", "crisis_support"]
SOURCES = ["alpha", "beta", "gamma"]


def corpus(n: int, seed: int = 1, group_every: int = 0) -> list[Conversation]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        turns = [
            Turn(
                "client" if t % 2 == 0 else "therapist",
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40))),
            )
            for t in range(rng.choice([2, 4, 6]))
        ]
        category = rng.choices(CATEGORIES, weights=[6, 2, 1, 1])[0]
        scores = {"crisis": 0.9} if category == "crisis_support" or rng.random() < 0.05 else {}
        group = f"dialog-{i // group_every}" if group_every else ""
        source = Provenance(kind="dataset", name=rng.choice(SOURCES), locator={"row": i})
        records.append(make_conversation(turns, source, category=category, scores=scores, group=group))
    return records


def run(stage: SplitStage, shards: list[list[Conversation]]) -> tuple[SplitPlan, list[Conversation]]:
    summaries = [stage.summarise(shard, i) for i, shard in enumerate(shards)]
    plan = stage.reduce(summaries)
    return plan, [r for i, shard in enumerate(shards) for r in stage.apply(shard, plan, i).kept]


def shares(records: list[Conversation]) -> dict[str, float]:
    counts = Counter(r.split for r in records)
    return {name: counts[name] / len(records) for name in ("train", "validation", "test")}


def test_sizes_are_within_one_point_of_70_15_15() -> None:
    plan, out = run(SplitStage(seed=3), [corpus(3000)[i : i + 500] for i in range(0, 3000, 500)])
    got = shares(out)
    for name, target in (("train", 0.70), ("validation", 0.15), ("test", 0.15)):
        assert abs(got[name] - target) <= 0.01, got
    report = SplitStage().report(plan)
    assert report["passed"] is True and "message" not in report
    assert report["sizes"]["counts"] == dict(Counter(r.split for r in out))


def test_configured_ratios_are_followed() -> None:
    stage = SplitStage(msgspec.convert({"train": 0.8, "validation": 0.1, "test": 0.1}, SplitStage.Options))
    got = shares(stage.process(corpus(2000)).kept)
    assert abs(got["train"] - 0.8) <= 0.01 and abs(got["test"] - 0.1) <= 0.01


def test_a_zero_ratio_split_gets_nothing() -> None:
    stage = SplitStage(SplitStage.Options(train=0.8, validation=0.2, test=0.0))
    result = stage.process(corpus(500))
    assert result.stats["test"] == 0.0 and "test" not in {r.split for r in result.kept}
    assert stage.reduce([stage.summarise(corpus(500), 0)]).report["passed"] is True


def test_groups_never_span_two_splits() -> None:
    records = corpus(2000, group_every=5)
    _, out = run(SplitStage(seed=1), [records[:700], records[700:1400], records[1400:]])
    splits_by_group: dict[str, set[str]] = defaultdict(set)
    for r in out:
        splits_by_group[r.group].add(r.split)
    assert all(len(s) == 1 for s in splits_by_group.values())
    assert abs(shares(out)["train"] - 0.70) <= 0.01


def test_dedup_clusters_and_near_duplicates_stay_together() -> None:
    rng = random.Random(5)
    records = corpus(600, seed=5)
    clustered = [
        msgspec.structs.replace(r, meta={"dup_cluster": f"cluster-{i // 3}"})
        for i, r in enumerate(records[:90])
    ]
    # Near duplicates that dedup never saw (one word changed per turn) must not leak either.
    twins = []
    for i, r in enumerate(records[90:150]):
        turns = [Turn(t.role, t.text.replace(t.text.split()[0], rng.choice(WORDS), 1)) for t in r.turns]
        twins.append(make_conversation(turns, Provenance(kind="dataset", name="twins", locator={"row": i})))
    batch = clustered + records[90:] + twins
    plan, out = run(SplitStage(seed=2), [batch[:400], batch[400:]])
    by_cluster: dict[str, set[str]] = defaultdict(set)
    for r in out:
        if "dup_cluster" in r.meta:
            by_cluster[r.meta["dup_cluster"]].add(r.split)
    assert all(len(s) == 1 for s in by_cluster.values())
    split_of = {r.id: r.split for r in out}
    twin_pairs = list(zip(records[90:150], twins, strict=True))
    assert sum(split_of[a.id] == split_of[b.id] for a, b in twin_pairs) == len(twin_pairs)
    leakage = plan.report["leakage"]
    assert leakage["near_duplicate_pairs_checked"] >= len(twin_pairs)
    assert leakage["leaking_near_duplicate_pairs"] == 0 and leakage["leaking_groups"] == 0


def test_strata_are_balanced_across_splits() -> None:
    plan, out = run(SplitStage(seed=4), [corpus(4000, seed=4)])
    for key in ("category", "source"):
        values = Counter(getattr(r, key) if key == "category" else r.source.name for r in out)
        for value, total in values.items():
            in_train = sum(
                1
                for r in out
                if (r.category if key == "category" else r.source.name) == value and r.split == "train"
            )
            assert abs(in_train / total - 0.70) <= 0.03, (key, value)
    tests = {(t["test"], t["variable"], t.get("compare", "")): t for t in plan.report["tests"]}
    for variable in ("category", "crisis", "source"):
        assert tests[("chi_square", variable, "")]["p_value"] > 0.5
    assert tests[("ks", "turns", "train vs validation")]["passed"] is True
    assert tests[("ks", "length", "train vs test")]["passed"] is True


def test_assignment_is_deterministic_for_a_seed_and_independent_of_shard_order() -> None:
    records = corpus(1000, seed=6, group_every=3)
    _, first = run(SplitStage(seed=11), [records[:500], records[500:]])
    reordered = list(reversed(records))
    _, second = run(SplitStage(seed=11), [reordered[:300], reordered[300:]])
    assert {r.id: r.split for r in first} == {r.id: r.split for r in second}
    _, other_seed = run(SplitStage(seed=12), [records])
    assert {r.id: r.split for r in first} != {r.id: r.split for r in other_seed}


def test_crisis_flag_comes_from_score_tag_or_category() -> None:
    base = corpus(4)
    records = [
        msgspec.structs.replace(base[0], category="therapeutic", scores={"crisis": 0.7}, tags=[]),
        msgspec.structs.replace(base[1], category="therapeutic", scores={}, tags=["crisis"]),
        msgspec.structs.replace(base[2], category="crisis_support", scores={}, tags=[]),
        msgspec.structs.replace(base[3], category="therapeutic", scores={"crisis": 0.2}, tags=[]),
    ]
    assert SplitStage().summarise(records, 0).crisis == [True, True, True, False]


def test_summary_and_plan_survive_msgpack() -> None:
    stage = SplitStage()
    records = corpus(100)
    summary = msgspec.msgpack.decode(
        msgspec.msgpack.encode(stage.summarise(records, 0)), type=SplitStage.summary_type
    )
    assert isinstance(summary, SplitSummary)
    plan = msgspec.msgpack.decode(msgspec.msgpack.encode(stage.reduce([summary])), type=SplitStage.plan_type)
    assert isinstance(plan, SplitPlan)
    assert len(stage.apply(records, plan, 0).kept) == 100


def test_leakage_fails_the_run_with_a_clear_message() -> None:
    records = corpus(200, group_every=4)
    stage = SplitStage()
    columns = SplitColumns.from_summaries([stage.summarise(records, 0)], stage.options.num_perm)
    pairs = columns.near_duplicate_pairs(stage.options)
    assignment = [i % 3 for i in range(len(records))]  # ignores groups on purpose
    report = validate_assignment(columns, assignment, pairs, stage.options)
    assert report["passed"] is False
    assert "groups span several splits" in report["message"]
    assert report["leakage"]["leaking_groups"] == 50
    assert report["leakage"]["examples"]["groups"][0].startswith("group dialog-")


def test_near_duplicate_pair_across_splits_is_reported_as_leakage() -> None:
    records = corpus(50, seed=8)
    twin = make_conversation([*records[0].turns, Turn("client", "ok")], Provenance(kind="dataset", name="t"))
    batch = [*records, twin]
    stage = SplitStage()
    columns = SplitColumns.from_summaries([stage.summarise(batch, 0)], stage.options.num_perm)
    pairs = columns.near_duplicate_pairs(stage.options)
    assert any({a, b} == {0, len(batch) - 1} for a, b, _ in pairs)
    assignment = [0] * len(batch)
    assignment[-1] = 2
    report = validate_assignment(columns, assignment, pairs, stage.options)
    assert report["passed"] is False and "near-duplicate pairs span several splits" in report["message"]


def test_statistical_failures_fail_with_thresholds_from_config() -> None:
    records = corpus(1000, seed=9)
    stage = SplitStage(SplitStage.Options(min_p_value=0.001))
    columns = SplitColumns.from_summaries([stage.summarise(records, 0)], stage.options.num_perm)
    # Long conversations to validation, the rest mostly to train: turn counts and lengths now differ.
    order = sorted(range(len(records)), key=lambda r: columns.lengths[r])
    assignment = [0] * len(records)
    for r in order[-150:]:
        assignment[r] = 1
    for r in order[:150]:
        assignment[r] = 2
    report = validate_assignment(columns, assignment, [], stage.options)
    assert report["passed"] is False
    assert "length distribution of validation differs from train" in report["message"]
    relaxed = SplitStage.Options(min_p_value=0.0)
    assert validate_assignment(columns, assignment, [], relaxed)["passed"] is True


def test_size_failure_is_reported_unless_one_group_is_too_big() -> None:
    records = corpus(300, seed=10)
    stage = SplitStage()
    columns = SplitColumns.from_summaries([stage.summarise(records, 0)], stage.options.num_perm)
    lopsided = [0] * 280 + [1] * 10 + [2] * 10
    report = validate_assignment(columns, lopsided, [], SplitStage.Options(min_p_value=0.0))
    assert report["passed"] is False and "split sizes deviate" in report["message"]
    one_book = [msgspec.structs.replace(r, group="book-1") if i < 120 else r for i, r in enumerate(records)]
    result = SplitStage(seed=1).reduce([SplitStage().summarise(one_book, 0)])
    assert result.report["sizes"]["allowed_deviation"] == pytest.approx(0.4)
    assert result.report["passed"] is True


def test_small_inputs_skip_tests_that_need_data() -> None:
    stage = SplitStage()
    plan = stage.reduce([stage.summarise(corpus(5), 0)])
    skipped = [t for t in plan.report["tests"] if t.get("skipped")]
    assert skipped and all(t["reason"] for t in skipped)
    empty = stage.reduce([stage.summarise([], 0)])
    assert empty.report["records"] == 0 and empty.report["passed"] is True


def test_apply_refuses_a_plan_for_a_different_shard() -> None:
    stage = SplitStage()
    plan = stage.reduce([stage.summarise(corpus(10), 0)])
    with pytest.raises(ValueError, match="does not match shard 0"):
        stage.apply(corpus(11), plan, 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"train": 0.7, "validation": 0.2, "test": 0.2}, "add up to 1"),
        ({"num_perm": 16}, "between 1 and num_perm"),
    ],
)
def test_invalid_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(options, SplitStage.Options)


def test_split_reuses_dedups_signatures_and_gets_the_same_summary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    records = corpus(300, seed=7)
    dedup = DedupStage(seed=3)
    stored = dedup.summarise(records, 4)
    path = tmp_path / "work" / "dedup" / "summary-00004.msgpack"
    path.parent.mkdir(parents=True)
    path.write_bytes(msgspec.msgpack.encode(stored))
    CheckpointManager(tmp_path).mark_done("dedup.summarise", 4, "h1", [str(path.relative_to(tmp_path))])
    hashes = {"dedup": "h1"}
    # Later stages dropped some records and one changed its text: that row must be computed afresh.
    later = [r for i, r in enumerate(records) if i % 3]
    later[5] = msgspec.structs.replace(later[5], turns=[Turn("client", "a different text altogether")])
    split = SplitStage(seed=3)
    # The runner hands the split stage the dedup summary it declares it needs.
    handed = earlier_summaries(split, tmp_path, 4, hashes)
    assert handed == {"dedup": stored}
    # A summary written under another config (its marker's hash differs) is stale and not handed on.
    assert earlier_summaries(split, tmp_path, 4, {"dedup": "h0"}) == {"dedup": None}
    assert msgspec.msgpack.encode(split.summarise(later, 4, handed)) == msgspec.msgpack.encode(
        split.summarise(later, 4)
    )
    expected = minhash_signatures(later, 128, 3, dedup.options.shingle_size)
    assert earlier_summaries(split, tmp_path, 5, hashes) == {"dedup": None}
    reused = signatures_reusing(later, 128, 3, dedup.options.shingle_size, stored)
    assert np.array_equal(reused, expected)
    # Other parameters (or no stored digests) mean nothing is reused, and the answer is still right.
    other_seed = signatures_reusing(later, 128, 4, dedup.options.shingle_size, stored)
    assert np.array_equal(other_seed, minhash_signatures(later, 128, 4, dedup.options.shingle_size))
    path.write_bytes(b"not msgpack")
    assert earlier_summaries(split, tmp_path, 4, hashes) == {"dedup": None}


def test_reused_rows_come_from_the_stored_summary() -> None:
    records = corpus(20, seed=2)
    stored = DedupStage(seed=0).summarise(records, 0)
    size = DedupStage(seed=0).options.shingle_size
    marked = np.frombuffer(stored.signatures, dtype=np.uint32).reshape(20, 128).copy()
    marked[1] = 7  # a row no real signature has: seeing it proves the row was reused, not recomputed
    stored = msgspec.structs.replace(stored, signatures=marked.tobytes())
    out = signatures_reusing(records[1:3], 128, 0, size, stored)
    assert (out[0] == 7).all() and np.array_equal(out[1], marked[2])


def windowed_corpus(dialogues: int, seed: int = 3) -> list[Conversation]:
    """Dialogs cut into 1-24 windows each; a dialog's windows share its group, source and length."""
    rng = random.Random(seed)
    records = []
    for d in range(dialogues):
        source = rng.choice(SOURCES)
        words = rng.randint(10, 120)  # one dialog is long or short in all its windows
        for w in range(rng.choice([1, 2, 6, 12, 24])):
            turns = [
                Turn("client", f"dialog {d} window {w} " + " ".join(rng.choice(WORDS) for _ in range(words))),
                Turn("therapist", " ".join(rng.choice(WORDS) for _ in range(words))),
            ]
            provenance = Provenance(kind="dataset", name=source, locator={"row": d, "window": w})
            records.append(make_conversation(turns, provenance, group=f"dialog-{d}"))
    return records


def test_windowed_dialogs_pass_the_group_level_tests() -> None:
    records = windowed_corpus(600)
    stage = SplitStage(SplitStage.Options(group_near_duplicates=False), seed=5)
    plan, _ = run(stage, [records[: len(records) // 2], records[len(records) // 2 :]])
    assert plan.report["passed"] is True, plan.report.get("message")
    assert plan.report["groups"] == 600 and plan.report["records"] == len(records)
    chi = [t for t in plan.report["tests"] if t["test"] == "chi_square" and not t.get("skipped")]
    # A balanced split stops after 20 shuffles reach its statistic: a few dozen draws, not 1,999.
    assert chi and all(t["groups"] == 600 and t["permutations"] < 200 for t in chi)


def test_a_source_planted_in_test_fails_the_split_gate() -> None:
    records = windowed_corpus(600)
    stage = SplitStage(SplitStage.Options(group_near_duplicates=False), seed=5)
    columns = SplitColumns.from_summaries([stage.summarise(records, 0)], 0)
    honest = stage.reduce([stage.summarise(records, 0)])
    assignment = [int(c) for c in honest.assignments[0]]
    # Every group of source "gamma" moved to test; the other groups keep their honest splits.
    skewed = [2 if columns.sources[i] == "gamma" else a for i, a in enumerate(assignment)]
    report = validate_assignment(columns, skewed, [], stage.options, seed=5)
    assert report["passed"] is False
    assert "source is not homogeneous across splits (chi-square over 600 groups" in report["message"]
    source_test = next(t for t in report["tests"] if t.get("variable") == "source")
    assert source_test["p_value"] == pytest.approx(1 / 2000) and source_test["permutations"] == 1999


def test_the_group_permutation_p_value_is_reproducible_for_a_seed() -> None:
    records = windowed_corpus(200, seed=8)
    stage = SplitStage(SplitStage.Options(group_near_duplicates=False), seed=2)
    first = stage.reduce([stage.summarise(records, 0)]).report["tests"]
    again = SplitStage(SplitStage.Options(group_near_duplicates=False), seed=2).reduce(
        [stage.summarise(records, 0)]
    )
    assert first == again.report["tests"]


def test_too_few_permutations_for_the_p_value_floor_are_refused() -> None:
    with pytest.raises(ValueError, match="permutations"):
        SplitStage.Options(permutations=99, min_p_value=0.001)
    assert SplitStage.Options(permutations=99, min_p_value=0.05).permutations == 99
