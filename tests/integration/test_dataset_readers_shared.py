"""The dataset readers over the real public data in ../shared/data, checked against PROVENANCE.md counts."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import pytest

from ai.core.config import SourceConfig, load_config
from ai.core.records import Conversation
from ai.core.stage import Rejection
from ai.sourcing.datasets import InvalidUtf8Warning, read_source

pytestmark = pytest.mark.shared_data
REPO_ROOT = Path(__file__).resolve().parents[2]


def read_auto(directory: Path, name: str, **options) -> tuple[list[Conversation], list[Rejection]]:
    """One file through the auto-detecting reader (format: auto)."""
    items = list(read_source(SourceConfig(name=name, path=name, options=options), directory))
    return [i for i in items if isinstance(i, Conversation)], [i for i in items if isinstance(i, Rejection)]


@pytest.fixture(scope="module")
def conversations_dir(shared_data: Path) -> Path:
    return shared_data / "conversations"


def test_counsel_chat_2020(conversations_dir: Path) -> None:
    convs, rejected = read_auto(conversations_dir, "counselchat_20200325_counsel_chat.csv")
    assert len(convs) == 2129 and rejected == []  # 2,129 answers
    assert len({c.source_id.split("#")[0] for c in convs}) == 815  # to 815 questions
    topics = Counter(t for c in convs for t in c.tags)
    assert (
        topics["topic:depression"] == 330
        and topics["topic:anxiety"] == 249
        and topics["topic:self-harm"] == 11
    )
    assert Counter(c.meta["upstream_split"] for c in convs) == {"train": 1839, "val": 173, "test": 117}
    assert all(c.turns[0].role == "client" and c.turns[1].role == "therapist" for c in convs)


def test_counsel_chat_older_scrape(conversations_dir: Path) -> None:
    convs, rejected = read_auto(conversations_dir, "counselchat_counselchat-data.csv")
    assert len(convs) + len(rejected) == 1482  # 1,482 answers; a few have no answer text at all
    assert {r.reason for r in rejected} == {"empty_conversation"} and len(rejected) < 10
    questions = {c.source_id.split("#")[0] for c in convs} | {r.raw.split(",")[0] for r in rejected}
    assert len(questions) == 781  # to 781 questions
    assert not any("<p>" in c.turns[1].text for c in convs)  # HTML answers flattened


def test_esconv_hf_splits(conversations_dir: Path) -> None:
    counts, turns = {}, 0
    for split in ("train", "valid", "test"):
        convs, rejected = read_auto(conversations_dir, f"esconv_hf_{split}.jsonl")
        assert rejected == []
        counts[split] = len(convs)
        turns += sum(len(c.turns) for c in convs)
        assert {t.role for c in convs for t in c.turns} == {"client", "therapist"}
    assert counts == {"train": 910, "valid": 195, "test": 195}  # 1,300 dialogues
    assert turns == 38365


def test_esconv_original_failed_dialogues(conversations_dir: Path) -> None:
    convs, rejected = read_auto(conversations_dir, "esconv_FailedESConv.json")
    assert len(convs) == 196 and rejected == []
    assert sum(len(c.turns) for c in convs) == 5230
    assert {t.role for c in convs for t in c.turns} == {"client", "therapist"}
    assert any(t.startswith("strategy:") for t in convs[0].tags)


def test_esconv_strategy_list_is_not_conversations(conversations_dir: Path) -> None:
    convs, rejected = read_auto(conversations_dir, "esconv_strategy.json")
    assert convs == [] and len(rejected) == 8 and {r.reason for r in rejected} == {"malformed_record"}


@pytest.mark.parametrize("name", ["annomi_AnnoMI-simple.csv", "annomi_AnnoMI-full.csv"])
def test_annomi_transcripts(conversations_dir: Path, name: str) -> None:
    convs, rejected = read_auto(conversations_dir, name)
    assert rejected == []
    assert len(convs) == 133  # transcripts
    assert sum(len(c.turns) for c in convs) == 9699  # utterances, once each even in the full file
    assert sum(c.source.locator["rows"] for c in convs) == (13551 if "full" in name else 9699)
    by_quality = Counter(c.meta["mi_quality"] for c in convs for _ in c.turns)
    assert by_quality == {"high": 8839, "low": 860}
    assert {t.role for c in convs for t in c.turns} == {"client", "therapist"}


def test_annomi_windows_share_the_transcript_group(conversations_dir: Path) -> None:
    convs, _ = read_auto(conversations_dir, "annomi_AnnoMI-simple.csv", max_turns=8, stride=4)
    assert len(convs) > 1000 and len({c.group for c in convs}) == 133
    assert max(len(c.turns) for c in convs) == 8


def test_psyqa_chinese_sample(conversations_dir: Path) -> None:
    convs, rejected = read_auto(conversations_dir, "psyqa_PsyQA_example_zh.json")
    assert rejected == []
    assert len({c.group for c in convs}) == 100 and len(convs) == 268  # 100 questions, 268 answers
    assert all(c.language == "zh" for c in convs)


def test_whole_directory_reads_every_data_file(conversations_dir: Path) -> None:
    items = list(read_source(SourceConfig(name="all", path="."), conversations_dir))
    convs = [i for i in items if isinstance(i, Conversation)]
    files = {c.source.uri.rsplit("/", 1)[1] for c in convs}
    # Every data file but the strategy list, plus EmpatheticDialogues' 32 CSVs; READMEs and licences skipped.
    assert len(files) == 9 + 32
    assert len(convs) == 2129 + 1475 + 1300 + 196 + 133 + 133 + 268 + 24_856


def test_empathetic_dialogues_holds_24847_distinct_dialogues(conversations_dir: Path) -> None:
    source = SourceConfig(name="ed", path="empatheticdialogues/annotated", category="emotional_support")
    items = list(read_source(source, conversations_dir))
    convs = [i for i in items if isinstance(i, Conversation)]
    assert len(items) == len(convs) == 24_856
    # PROVENANCE.md: 9 Dialog_IDs ending in "(1)" repeat another's text, leaving 24,847 distinct dialogues.
    assert len({c.meta["source_dialogue_id"] for c in convs}) == 24_847
    assert sum(len(c.turns) for c in convs) == 107_247
    assert all(c.source.locator["labels"] == "automatic" and c.meta["situation"] for c in convs)


def test_mi_counsel_chat_holds_1129_threads(shared_data: Path) -> None:
    source = SourceConfig(name="mi", path="quality/mi_welivita_pu_2023/MI_augmented_CounselChat.csv")
    convs = [i for i in read_source(source, shared_data) if isinstance(i, Conversation)]
    assert len(convs) == 1_129 and all([t.role for t in c.turns] == ["client", "therapist"] for c in convs)


def test_dreaddit_invalid_utf8_replaced_with_a_warning(shared_data: Path) -> None:
    columns = {"text": "text", "id": "id", "tags": ["subreddit"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        convs, rejected = read_auto(shared_data / "crisis", "dreaddit-train.csv", columns=columns)
    assert len(convs) == 2838 and rejected == []
    [warning] = [w.message for w in caught if isinstance(w.message, InvalidUtf8Warning)]
    assert warning.file.endswith("dreaddit-train.csv") and warning.rows == 3
    assert warning.first_locator.endswith("dreaddit-train.csv:379")
    assert sum("\ufffd" in c.turns[0].text for c in convs) == 3


def test_dreaddit_invalid_utf8_quarantined_on_request(shared_data: Path) -> None:
    options = {"columns": {"text": "text"}, "on_invalid_utf8": "quarantine"}
    convs, rejected = read_auto(shared_data / "crisis", "dreaddit-test.csv", **options)
    assert len(convs) + len(rejected) == 715
    assert [(r.reason, r.locator.rsplit(":", 1)[1]) for r in rejected] == [
        ("invalid_utf8", "203"),
        ("invalid_utf8", "575"),
    ]


def test_real_data_config_yields_10k_conversations(shared_data: Path) -> None:
    config = load_config(REPO_ROOT / "configs" / "real_data.yaml")
    by_category: Counter[str] = Counter()
    licences = set()
    for source in config.sources:
        for item in read_source(source, Path(config.base_dir)):
            if isinstance(item, Conversation):
                by_category[item.category] += 1
                licences.add((source.name, item.source.license))
    # Before any stage: records, not distinct dialogues (ESConv and AnnoMI are windowed).
    assert by_category["therapeutic"] + by_category["emotional_support"] >= 10_000
    assert {name for name, _ in licences} == {s.name for s in config.sources}
    assert all(licence for _, licence in licences)
