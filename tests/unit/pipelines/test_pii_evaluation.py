"""Whole-conversation PII measures: planted items that survive or leak in part, clean text left alone."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ai.pipelines.orchestrator.pii import PiiScrubber, ScrubResult
from ai.pipelines.orchestrator.pii_evaluation import evaluate_clean, evaluate_planted, load_jsonl

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def conversation(text: str, *items: tuple[str, str]) -> dict:
    return {"id": "c", "turns": [{"text": text}], "items": [{"type": t, "text": v} for t, v in items]}


class GluingScrubber(PiiScrubber):
    """A faulty scrubber that replaces the first two letters of every text, as the old one did to names."""

    def scrub(self, texts: Sequence[str]) -> ScrubResult:
        return ScrubResult(texts=["[NAME_1]" + t[2:] for t in texts], counts={"NAME": 1}, entities=[])


def test_planted_items_caught_survived_and_leaked_in_part() -> None:
    result = evaluate_planted(
        [
            conversation("I'm Jessica, call 555-867-5309", ("NAME", "Jessica"), ("PHONE", "555-867-5309")),
            conversation("my code word is zebra-7", ("ID", "zebra-7")),
            conversation("Hi Sarah, call tomorrow", ("NAME", "Sarah, call")),
        ]
    )
    assert result["items"] == 4
    assert [s["text"] for s in result["survived"]] == ["zebra-7"]
    # "Sarah" went but "call", which belongs to the item and nowhere else, is still there.
    assert [p["text"] for p in result["partial"]] == ["Sarah, call"]
    assert result["recall"] == 0.5
    assert result["by_type"]["NAME"] == {"items": 2, "missed": 1, "recall": 0.5}
    low, high = result["recall_ci95"]
    assert 0.0 <= low <= 0.5 <= high <= 1.0


def test_glued_placeholders_count_as_partial_replacements() -> None:
    result = evaluate_planted([conversation("Zoë is here", ("NAME", "Zoë"))], GluingScrubber())
    assert result["partial"] == [{"conversation": "c", "type": "GLUED", "text": "[NAME_1]ë"}]
    assert result["recall"] == 0.0


def test_clean_text_share_unchanged_and_spans() -> None:
    result = evaluate_clean(["Call 988 any time.", "Hi Sarah, thanks.", "I feel low."])
    assert result["texts"] == 3
    assert result["texts_changed"] == 1
    assert result["spans"] == [{"type": "NAME", "text": "Sarah", "in": "Hi Sarah, thanks."}]
    assert result["unchanged"] == 0.6667


def test_planted_conversations_leave_nothing_whole_and_nothing_in_part() -> None:
    planted = load_jsonl(FIXTURES / "pii_planted.jsonl")
    assert len(planted) >= 40
    result = evaluate_planted(planted)
    assert result["items"] >= 85
    # Measured 0.989 (docs/PREPROCESSING.md, one lower-case name with an inner apostrophe left); a floor.
    assert result["recall"] >= 0.97
    assert not result["partial"]
    for kind in ("DOB", "HANDLE", "MRN", "EMAIL", "SSN", "PHONE", "ADDRESS"):
        assert result["by_type"][kind]["missed"] == 0, kind


def test_written_clean_text_is_left_exactly_as_it_was() -> None:
    texts = [case["text"] for case in load_jsonl(FIXTURES / "pii_clean.jsonl")]
    assert len(texts) >= 100
    result = evaluate_clean(texts)
    assert result["texts_changed"] == 0, result["spans"]


def test_real_support_conversations_are_rarely_changed(shared_data: Path) -> None:
    """ESConv validation+test turns: names the crowd workers gave are the only expected changes."""
    turns = []
    for name in ("esconv_hf_valid.jsonl", "esconv_hf_test.jsonl"):
        for line in (shared_data / "conversations" / name).read_text(encoding="utf-8").splitlines():
            turns += [t["text"] for t in json.loads(line)["dialog"] if t.get("text")]
    result = evaluate_clean(turns)
    assert result["texts"] > 10_000
    # Measured 0.9945 (65 of 11,717 turns, mostly the workers' own first names); a floor.
    assert result["unchanged"] >= 0.99
    assert set(result["spans_by_type"]) <= {"NAME", "URL"}
