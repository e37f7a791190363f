"""The preprocessing, dedup and split stages on real counselling data (read in place from shared data)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.core.stage import Stage
from ai.pipelines.orchestrator.data_splitter import SplitStage
from ai.pipelines.orchestrator.dedup import DedupStage
from ai.pipelines.orchestrator.unified_preprocessing_pipeline import (
    LanguageStage,
    NormalizeStage,
    PiiStage,
    RolesStage,
)

pytestmark = pytest.mark.shared_data


def esconv(path: Path) -> list[Conversation]:
    records = []
    for row, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        dialog = json.loads(line)["dialog"]
        turns = [Turn(t["speaker"], t["text"]) for t in dialog]
        source = Provenance(kind="dataset", name="esconv", locator={"row": row})
        records.append(make_conversation(turns, source, group=f"esconv-{row}"))
    return records


def counsel_chat(path: Path, name: str) -> list[Conversation]:
    records = []
    previous_limit = csv.field_size_limit(2**24)  # the older scrape has answers over csv's default 128 KiB
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    csv.field_size_limit(previous_limit)
    for row, data in enumerate(rows):
        turns = [Turn("client", data["questionText"] or ""), Turn("counselor", data["answerText"] or "")]
        source = Provenance(kind="dataset", name=name, locator={"row": row})
        records.append(make_conversation(turns, source, group=f"question-{data['questionID']}"))
    return records


def run_all(records: list[Conversation]) -> tuple[list[Conversation], dict[str, list], dict]:
    rejected: dict[str, list] = {}
    for stage in (NormalizeStage(), RolesStage(), PiiStage(), LanguageStage(), DedupStage(seed=1)):
        result = run(stage, records)
        rejected[stage.name] = result.rejected
        records = result.kept
    split = SplitStage(seed=1)
    plan = split.reduce(
        [split.summarise(records[i : i + 500], i // 500) for i in range(0, len(records), 500)]
    )
    records = [
        r for i in range(0, len(records), 500) for r in split.apply(records[i : i + 500], plan, i // 500).kept
    ]
    return records, rejected, split.report(plan)


def run(stage: Stage, records: list[Conversation]):
    result = stage.process(records)
    assert len(result.kept) + len(result.rejected) == len(records), stage.name
    return result


def test_real_conversations_go_through_every_stage(shared_data: Path) -> None:
    folder = shared_data / "conversations"
    dialogs = esconv(folder / "esconv_hf_valid.jsonl")
    answers = counsel_chat(folder / "counselchat_20200325_counsel_chat.csv", "counsel-chat-2020")
    older = counsel_chat(folder / "counselchat_counselchat-data.csv", "counsel-chat-older")
    kept, rejected, report = run_all(dialogs + answers + older)

    # ESConv's usr/sys become client/therapist and its dialogs survive.
    esconv_kept = [r for r in kept if r.source.name == "esconv"]
    assert len(esconv_kept) >= 190
    assert all({t.role for t in r.turns} == {"client", "therapist"} for r in esconv_kept)

    # The two counsel-chat scrapes overlap: the same answers are exact duplicates naming the kept record.
    exact = [r for r in rejected["dedup"] if r.reason == "exact_duplicate"]
    assert len(exact) > 500
    assert all("exact duplicate of c_" in r.message for r in exact)

    # Empty answers in the older scrape are quarantined, not dropped silently.
    assert {r.reason for r in rejected["roles"]} <= {"empty_turn", "no_client_turn", "no_therapist_turn"}

    # Therapists' own phone numbers are scrubbed; toll-free helplines stay.
    text = "\n".join(t.text for r in kept for t in r.turns)
    assert "787-466-5478" not in text
    assert "[PHONE_1]" in text
    assert "1-800-422-4453" in text or "800-422-4453" in text

    # English data stays English.
    assert len(rejected["language"]) <= len(kept) * 0.01

    # Answers to one question never straddle splits; the split validates.
    by_group: dict[str, set[str]] = defaultdict(set)
    for r in kept:
        by_group[r.group].add(r.split)
    assert all(len(splits) == 1 for splits in by_group.values())
    assert report["passed"] is True, report.get("message")
    assert abs(report["sizes"]["shares"]["train"] - 0.70) <= max(0.01, report["sizes"]["allowed_deviation"])
