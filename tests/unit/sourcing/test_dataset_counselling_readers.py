"""Counselling-specific readers (counsel-chat, ESConv, PsyQA, AnnoMI) and Hugging Face datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_helpers import write_csv

from ai.core.config import SourceConfig
from ai.core.records import Conversation, Turn
from ai.core.stage import Rejection
from ai.sourcing.datasets import DatasetError, read_source
from ai.sourcing.datasets.build import Windowing, map_role, tag
from ai.sourcing.datasets.counselling import html_to_text


def read(tmp_path: Path, path: str, **fields) -> list[Conversation | Rejection]:
    return list(read_source(SourceConfig(name="src", path=path, **fields), tmp_path))


COUNSEL_HEADER = [
    "",
    "questionID",
    "questionTitle",
    "questionText",
    "questionLink",
    "topic",
    "answerText",
    "upvotes",
    "views",
    "split",
]


def test_counsel_chat_one_sample_per_answer_grouped_by_question(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "cc.csv",
        COUNSEL_HEADER,
        [
            [
                "0",
                "5",
                "Why do I feel empty?",
                "I feel empty every day.",
                "https://x/q5",
                "depression",
                "Emptiness...",
                "3",
                "40",
                "train",
            ],
            [
                "1",
                "5",
                "Why do I feel empty?",
                "I feel empty every day.",
                "https://x/q5",
                "depression",
                "Second answer",
                "0",
                "40",
                "train",
            ],
            ["2", "6", "Can't focus", "", "https://x/q6", "anxiety", "  ", "0", "1", "test"],
        ],
    )
    items = read(tmp_path, "cc.csv")
    first, second, bad = items
    assert first.turns == [
        Turn("client", "Why do I feel empty?\n\nI feel empty every day."),
        Turn("therapist", "Emptiness..."),
    ]
    assert first.group == second.group and first.group.startswith("counsel-chat:")
    assert first.source_id == "5#0" and second.source_id == "5#1"
    assert first.tags == ["topic:depression"]
    assert first.meta == {
        "upvotes": "3",
        "views": "40",
        "question_url": "https://x/q5",
        "upstream_split": "train",
        "source_dialogue_id": first.id,
    }
    assert (
        isinstance(bad, Rejection) and bad.reason == "empty_conversation" and bad.locator.endswith("cc.csv:4")
    )


def test_counsel_chat_older_scrape_topics_and_html(tmp_path: Path) -> None:
    header = [
        "questionID",
        "questionTitle",
        "questionText",
        "questionUrl",
        "topics",
        "therapistName",
        "therapistUrl",
        "answerText",
        "upvotes",
    ]
    write_csv(
        tmp_path / "old.csv",
        header,
        [
            [
                "abc",
                "Escalating fights",
                "",
                "u",
                "Family Conflict,Marriage",
                "T",
                "tu",
                "<p>First&nbsp;point.</p><p>Second<br>line</p><ul><li>one</li></ul>",
                "2",
            ],
        ],
    )
    [conv] = read(tmp_path, "old.csv")
    assert conv.turns[0].text == "Escalating fights"
    assert conv.turns[1].text == "First\xa0point.\n\nSecond\nline\n\n- one"
    assert conv.tags == ["topic:family conflict", "topic:marriage"]


def test_html_to_text_leaves_plain_text_alone() -> None:
    assert html_to_text("a < b and c > d") == "a < b and c > d"


ESCONV_HF = {
    "experience_type": "Current Experience",
    "emotion_type": "anxiety",
    "problem_type": "job crisis",
    "situation": "Afraid of losing my job.",
    "survey_score": {"seeker": {"empathy": "5"}, "supporter": {"relevance": "5"}},
    "dialog": [
        {"text": "Hello", "speaker": "usr"},
        {"text": "Hi, how are you?", "speaker": "sys", "strategy": "Question"},
        {"text": "Anxious about work.", "speaker": "usr"},
        {"text": "That sounds hard.", "speaker": "sys", "strategy": "Reflection of feelings"},
    ],
}


def test_esconv_hf_roles_and_annotation_tags(tmp_path: Path) -> None:
    (tmp_path / "train.json").write_text(
        json.dumps(ESCONV_HF) + "\n" + json.dumps({"dialog": [{"speaker": "usr", "text": ""}]}) + "\n"
    )
    conv, empty = read(tmp_path, "train.json")
    assert [t.role for t in conv.turns] == ["client", "therapist", "client", "therapist"]
    assert conv.tags == [
        "emotion:anxiety",
        "empathy:5",
        "experience:current experience",
        "problem:job crisis",
        "strategy:question",
        "strategy:reflection of feelings",
    ]
    assert conv.meta["situation"] == "Afraid of losing my job." and conv.source_id == ""
    assert empty.reason == "empty_conversation"


def test_esconv_original_format(tmp_path: Path) -> None:
    dialog = [
        {"speaker": "speaker", "annotation": {}, "content": "I am depressed\n"},
        {"speaker": "listener", "annotation": {"strategy": "Questions"}, "content": "Why?"},
        {"speaker": "speaker", "annotation": {"feedback": "4"}, "content": "Covid"},
    ]
    (tmp_path / "failed.json").write_text(
        json.dumps([{"emotion_type": "depression", "dialog": dialog}], indent=1)
    )
    [conv] = read(tmp_path, "failed.json", options={"tags": ["quality:failed"]})
    assert [(t.role, t.text) for t in conv.turns] == [
        ("client", "I am depressed"),
        ("therapist", "Why?"),
        ("client", "Covid"),
    ]
    assert conv.tags == ["emotion:depression", "quality:failed", "strategy:questions"]
    assert conv.meta["feedback"] == ["4"]


def test_esconv_bad_dialog_turn_is_malformed(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text(
        json.dumps({"dialog": [{"speaker": "usr", "text": "a"}, "oops"]}) + "\n"
    )
    [bad] = read(tmp_path, "e.jsonl", format="esconv")
    assert bad.reason == "malformed_record" and "turn 1" in bad.message


def test_psyqa_one_sample_per_answer(tmp_path: Path) -> None:
    rows = [
        {
            "question": "怎么办？",
            "description": "我很焦虑。",
            "keywords": "焦虑,情绪",
            "questionID": 7,
            "answers": [
                {
                    "answer_text": "你好。",
                    "has_label": True,
                    "labels_sequence": [{"start": 0, "end": 3, "type": "Approval and Reassurance"}],
                },
                {"answer_text": "", "has_label": False, "labels_sequence": []},
            ],
        }
    ]
    (tmp_path / "psyqa.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    conv, bad = read(tmp_path, "psyqa.json")
    assert conv.turns[0].text == "怎么办？\n\n我很焦虑。" and conv.language == "zh"
    assert conv.group == "psyqa:7" and conv.source_id == "7#0" and conv.source.locator["answer"] == 0
    assert conv.tags == ["keyword:情绪", "keyword:焦虑", "strategy:approval and reassurance"]
    assert bad.reason == "empty_conversation" and "answer 1" in bad.message


ANNOMI_HEADER = [
    "mi_quality",
    "transcript_id",
    "video_title",
    "video_url",
    "topic",
    "utterance_id",
    "interlocutor",
    "timestamp",
    "utterance_text",
    "annotator_id",
    "main_therapist_behaviour",
    "client_talk_type",
]


def annomi_row(transcript: str, utterance: int, who: str, text: str, annotator: str = "1") -> list[str]:
    behaviour, talk = ("reflection", "n/a") if who == "therapist" else ("n/a", "change")
    return [
        "high",
        transcript,
        "Video",
        "https://y/v",
        "smoking",
        str(utterance),
        who,
        "00:00:01",
        text,
        annotator,
        behaviour,
        talk,
    ]


def test_annomi_groups_orders_deduplicates_and_windows(tmp_path: Path) -> None:
    rows = []
    for annotator in ("1", "2"):  # the full file repeats each utterance per annotator
        rows += [
            annomi_row("0", i, "client" if i % 2 else "therapist", f"u{i}", annotator) for i in range(11)
        ]
    rows += [annomi_row("1", 0, "therapist", "Hello"), annomi_row("1", 1, "client", "Hi")]
    write_csv(tmp_path / "annomi.csv", ANNOMI_HEADER, rows)
    [whole, short] = read(tmp_path, "annomi.csv")
    assert [t.text for t in whole.turns] == [f"u{i}" for i in range(11)]
    assert whole.group == "annomi:0" and whole.source_id == "0" and whole.source.locator["rows"] == 22
    assert whole.tags == ["behaviour:reflection", "quality:high", "talk:change", "topic:smoking"]
    assert whole.meta == {
        "mi_quality": "high",
        "video_title": "Video",
        "video_url": "https://y/v",
        "source_dialogue_id": whole.id,
    }
    assert short.group == "annomi:1"
    windows = read(tmp_path, "annomi.csv", options={"max_turns": 4, "stride": 2})
    first = [w for w in windows if w.group == "annomi:0"]
    assert len(first) == 4
    assert all(w.turns[0].role == "client" and w.turns[-1].role == "therapist" for w in first)


def test_windowing_rules() -> None:
    turns = [Turn("client" if i % 2 == 0 else "therapist", str(i)) for i in range(7)]
    assert Windowing(0, 0).spans(turns) == [(0, 7)]
    assert Windowing(4, 2).spans(turns) == [(0, 4), (2, 6), (4, 6)]
    monologue = [Turn("therapist", str(i)) for i in range(5)]
    assert Windowing(2, 2).spans(monologue) == [(0, 2), (2, 4), (4, 5)]
    with pytest.raises(DatasetError, match="max_turns"):
        Windowing.from_options({"max_turns": 1})
    with pytest.raises(DatasetError, match="stride"):
        Windowing.from_options({"max_turns": 4, "stride": -1})


def test_role_and_tag_helpers() -> None:
    assert [map_role(r) for r in ("User", "usr", "seeker", "GPT", "supporter", "sys", "System", "Coach")] == [
        "client",
        "client",
        "client",
        "therapist",
        "therapist",
        "therapist",
        "system",
        "Coach",
    ]
    assert tag("topic", " Self  Harm ") == "topic:self harm"
    assert tag("talk", "n/a") is None and tag("x", None) is None and tag("x", True) is None


def test_hugging_face_dataset_from_disk(tmp_path: Path) -> None:
    import datasets

    rows = {"messages": [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]]}
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows)}).save_to_disk(str(tmp_path / "hfds"))
    [conv] = read(tmp_path, "hfds")
    assert conv.turns[1].text == "hello"
    assert conv.source.locator == {
        "file_line": f"{tmp_path / 'hfds'}[train]#row=0",
        "row": 0,
        "split": "train",
    }


def test_hugging_face_hub_offline_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="hf://nobody/no-such-dataset: load_dataset failed"):
        read(tmp_path, "hf://nobody/no-such-dataset")
