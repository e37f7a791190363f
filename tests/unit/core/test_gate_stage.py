"""GateStage: the base owns the kept/rejected loop and the statistics; a gate only judges."""

from __future__ import annotations

import pytest

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.core.stage import GateStage, Rejection, StageOptions


class WordOptions(StageOptions, kw_only=True):
    word: str = "banned"


class WordGate(GateStage[WordOptions]):
    """Rejects conversations containing ``options.word``; scores every record it judges."""

    name = "word"
    Options = WordOptions
    stat_keys = ("word_hits", "never_counted")

    def judge(self, record: Conversation) -> Rejection | None:
        hit = any(self.options.word in turn.text for turn in record.turns)
        record.scores["word"] = 0.0 if hit else 1.0
        if not hit:
            return None
        self.count("word_hits")
        return self.reject(record, "word_found", f"a turn holds {self.options.word!r}")


class ShortBatchGate(WordGate):
    name = "short"

    def judge_batch(self, records: list[Conversation]) -> list[Rejection | None]:
        return [self.judge(record) for record in records[1:]]


def conversation(text: str) -> Conversation:
    return make_conversation(
        [Turn("client", text), Turn("therapist", "I hear you.")], Provenance(kind="dataset", name="t")
    )


def test_gate_keeps_and_rejects_in_order_and_counts() -> None:
    batch = [conversation("fine"), conversation("a banned word"), conversation("also fine")]
    result = WordGate(WordOptions()).process(batch)
    assert [r.turns[0].text for r in result.kept] == ["fine", "also fine"]
    assert [(r.reason, r.record_id) for r in result.rejected] == [("word_found", batch[1].id)]
    # Declared keys appear even at zero; counters restart with every batch.
    assert result.stats == {"word_hits": 1, "never_counted": 0}
    assert WordGate().process([conversation("fine")]).stats == {"word_hits": 0, "never_counted": 0}


def test_annotations_set_by_judge_travel_with_the_record() -> None:
    result = WordGate(WordOptions(word="fine")).process([conversation("fine"), conversation("other")])
    assert result.kept[0].scores == {"word": 1.0}
    assert result.rejected[0].record is not None and result.rejected[0].record.scores == {"word": 0.0}


def test_options_are_typed_and_defaulted() -> None:
    assert WordGate().options == WordOptions()
    assert WordGate(WordOptions(word="x")).options.word == "x"


def test_a_batch_judge_that_loses_records_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 verdicts for 3 records"):
        ShortBatchGate().process([conversation("a"), conversation("b"), conversation("c")])
