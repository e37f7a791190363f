"""EmpatheticDialogues and MI-coded counsel-chat readers: roles, situation, automatic labels, groups."""

from __future__ import annotations

from pathlib import Path

from pipeline_helpers import write_csv

from ai.core.config import SourceConfig
from ai.core.records import SOURCE_DIALOGUE_ID, Conversation, Turn, to_openai
from ai.core.stage import Rejection
from ai.sourcing.datasets import read_source
from ai.sourcing.datasets.counselling import counsel_chat_group
from ai.sourcing.datasets.inspect import inspect_dataset

ED_HEADER = ["Dialog_ID", "Type", "Actor", "Text", "Label"]
ED_ROWS = [
    ["hit:10_conv:20", "situation", "none", "My dog died last week.", "devastated"],
    ["hit:10_conv:20", "utterance", "speaker", "I lost my dog last week.", "sad"],
    ["hit:10_conv:20", "utterance", "listener", "I'm so sorry. How old was he?", "questioning"],
    ["hit:10_conv:20", "utterance", "speaker", "Fourteen. He was family.", "sad"],
    ["hit:10_conv:21", "situation", "none", "I passed my exam.", "proud"],
    ["hit:10_conv:21", "utterance", "speaker", "I passed the bar exam!", "proud"],
    ["hit:10_conv:21", "utterance", "listener", "Congratulations, that is huge!", "encouraging"],
    ["hit:11_conv:22", "situation", "none", "Alone on my birthday.", "lonely"],
    ["hit:11_conv:22", "utterance", "speaker", "", "lonely"],
]
MI_HEADER = ["dialog_id", "title", "turn_count", "turn", "author", "text", "Union (without disambiguities)"]
MI_ROWS = [
    ["counsel_chat | 0", "Why do I feel empty?", "2", "1", "speaker", "I feel empty every day.", ""],
    [
        "counsel_chat | 0",
        "Why do I feel empty?",
        "2",
        "2",
        "listener",
        "That sounds heavy.",
        "Complex Reflection",
    ],
    [
        "counsel_chat | 0",
        "Why do I feel empty?",
        "2",
        "2",
        "listener",
        "What helps, even a little?",
        "Open Question",
    ],
    ["counsel_chat | 1", "Why do I feel empty?", "2", "1", "speaker", "I feel empty every day.", ""],
    [
        "counsel_chat | 1",
        "Why do I feel empty?",
        "2",
        "2",
        "listener",
        "See a counsellor soon.",
        "Advise without Permission",
    ],
]


def read(tmp_path: Path, path: str, **fields) -> list[Conversation | Rejection]:
    return list(read_source(SourceConfig(name="src", path=path, **fields), tmp_path))


def test_empathetic_dialogues_speaker_is_client_and_situation_is_kept(tmp_path: Path) -> None:
    write_csv(tmp_path / "sad.csv", ED_HEADER, ED_ROWS)
    dog, exam, empty = read(tmp_path, "sad.csv", category="emotional_support")
    assert dog.turns == [
        Turn("client", "I lost my dog last week."),
        Turn("therapist", "I'm so sorry. How old was he?"),
        Turn("client", "Fourteen. He was family."),
    ]
    assert dog.category == "emotional_support" and dog.tags == ["emotion:devastated"]
    assert dog.meta["situation"] == "My dog died last week." and dog.meta["prompt_emotion"] == "devastated"
    assert dog.meta["utterance_labels"] == ["sad", "questioning", "sad"]
    assert dog.source.locator["labels"] == "automatic"
    assert dog.source_id == "hit:10_conv:20" and dog.meta[SOURCE_DIALOGUE_ID] == dog.id
    # The two dialogs of one crowdsourcing task share a split group.
    assert dog.group == exam.group == "empatheticdialogues:hit:10"
    assert isinstance(empty, Rejection) and empty.reason == "empty_conversation"


def test_mi_counsel_chat_joins_answer_sentences_and_groups_by_question(tmp_path: Path) -> None:
    write_csv(tmp_path / "mi.csv", MI_HEADER, MI_ROWS)
    first, second = read(tmp_path, "mi.csv")
    assert first.turns == [
        Turn("client", "I feel empty every day."),
        Turn("therapist", "That sounds heavy. What helps, even a little?"),
    ]
    assert first.meta["mi_labels"] == ["Complex Reflection", "Open Question"]
    assert first.meta["question_title"] == "Why do I feel empty?"
    assert first.source.locator["labels"] == "automatic"
    # Same group as counsel-chat's own answers to this question, so both files split it together.
    assert first.group == second.group == counsel_chat_group("Why do I feel empty?")
    assert first.meta[SOURCE_DIALOGUE_ID] != second.meta[SOURCE_DIALOGUE_ID]


def test_inspect_detects_both_formats(tmp_path: Path) -> None:
    write_csv(tmp_path / "ed.csv", ED_HEADER, ED_ROWS)
    write_csv(tmp_path / "mi.csv", MI_HEADER, MI_ROWS)
    reports = {Path(r.path).name: r for r in inspect_dataset(["ed.csv", "mi.csv"], base_dir=tmp_path)}
    assert reports["ed.csv"].format == "empathetic_dialogues" and reports["ed.csv"].records == 2
    assert reports["ed.csv"].rejected == {"empty_conversation": 1}
    assert reports["mi.csv"].format == "mi_counsel_chat" and len(reports["mi.csv"].groups) == 1


def test_windows_of_one_dialog_share_the_source_dialogue_id_in_the_export(tmp_path: Path) -> None:
    rows = [["hit:1_conv:2", "situation", "none", "A long talk.", "anxious"]]
    rows += [
        ["hit:1_conv:2", "utterance", "speaker" if i % 2 == 0 else "listener", f"turn number {i}", "neutral"]
        for i in range(8)
    ]
    write_csv(tmp_path / "long.csv", ED_HEADER, rows)
    windows = read(tmp_path, "long.csv", options={"max_turns": 4, "stride": 2})
    assert len(windows) == 3
    ids = {to_openai(w)["metadata"][SOURCE_DIALOGUE_ID] for w in windows}
    assert len(ids) == 1 and ids != {windows[0].id}
    again = read(tmp_path, "long.csv", options={"max_turns": 4, "stride": 2})
    assert {w.meta[SOURCE_DIALOGUE_ID] for w in again} == ids
    assert (
        "meta" in to_openai(windows[0])["metadata"]
        and SOURCE_DIALOGUE_ID not in to_openai(windows[0])["metadata"]["meta"]
    )
