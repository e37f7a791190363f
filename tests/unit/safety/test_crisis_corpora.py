"""De-duplication across sources and the per-source splits used to train the crisis model."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ai.safety.crisis_detection.corpora import Example, group_near_duplicates, read_diasafety


def test_exact_and_near_duplicates_share_a_group() -> None:
    base = "i feel like nobody would notice if i was gone and i keep thinking about it every single night"
    texts = [
        base,
        base.upper() + "!!",
        base + " please help",
        "a completely different sentence about cooking dinner",
    ]
    groups = group_near_duplicates(texts)
    assert groups[0] == groups[1] == groups[2]
    assert groups[3] != groups[0]


def test_short_texts_only_group_when_identical() -> None:
    groups = group_near_duplicates(["i want to die", "I want to die.", "i want to sleep"])
    assert groups[0] == groups[1] != groups[2]


def test_development_corpus_is_deduplicated_and_split(
    crisis_corpus: tuple[list[Example], dict[str, int]],
) -> None:
    examples, stats = crisis_corpus
    assert stats["unique"] == len(examples) < stats["raw"]
    assert stats["cross_source_groups"] > 0  # the PROVENANCE notes overlaps between sources
    splits = Counter(e.split for e in examples)
    assert set(splits) == {"train", "validation", "test"}
    assert 0.6 < splits["train"] / len(examples) < 0.8
    keys = Counter(" ".join(e.text.lower().split()) for e in examples)
    assert max(keys.values()) == 1
    assert {e.source for e in examples} >= {"sdcnl", "kaggle", "laxmimerit", "dreaddit"}


def test_diasafety_reader(shared_data: Path) -> None:
    rows = read_diasafety(shared_data / "crisis", "val")
    assert len(rows) == 1097 and {"context", "response", "category", "label"} <= set(rows[0])
