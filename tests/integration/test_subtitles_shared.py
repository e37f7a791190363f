"""Every file in ../shared/data/subtitles gives passages or a quarantine reason; auto-caption cleanup
is measured against the cleaned rendering of the same talk."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from pathlib import Path

import pytest

from ai.core.config import SourceConfig
from ai.core.records import Conversation, Passage
from ai.core.stage import Rejection
from ai.sourcing.youtube import YouTubeOptions, extract_transcript_files, find_transcript_files, read_source
from ai.sourcing.youtube.cleanup import clean_cues
from ai.sourcing.youtube.formats import decode_bytes, parse_vtt

TALK = "galoismoto_youtube/The_AI_Agent_Economy_Is_Here.en"
# Word-level similarity of our cleaned raw auto-captions to the published clean VTT (measured: 1.000).
SIMILARITY_FLOOR = 0.97

Item = Passage | Conversation | Rejection


@pytest.fixture(scope="module")
def subtitles(shared_data: Path) -> Path:
    return shared_data / "subtitles"


@pytest.fixture(scope="module")
def results(subtitles: Path) -> list[Item]:
    return list(extract_transcript_files([subtitles], YouTubeOptions()))


def _file_of(item: Item) -> str:
    if isinstance(item, Rejection):
        return item.locator.split(":")[0]
    return str(item.source.locator["file"])


def test_every_subtitle_file_gives_text_or_a_reason(subtitles: Path, results: list[Item]) -> None:
    files = {display for _, display in find_transcript_files(subtitles, YouTubeOptions().exclude)}
    with_text = {_file_of(i) for i in results if isinstance(i, Passage)}
    rejected = {_file_of(i) for i in results if isinstance(i, Rejection)}
    assert len(files) == 203  # licences, READMEs and PROVENANCE.md are excluded by name
    assert files == with_text | rejected
    assert len(with_text) == 191
    assert len(files - with_text) == 12
    assert sum(1 for f in files if f.startswith("healnpd_youtube_autocaptions_vtt/")) == 101
    assert all(f in with_text for f in files if f.startswith("healnpd_youtube_autocaptions_vtt/"))


def test_files_without_text_have_these_reasons(subtitles: Path, results: list[Item]) -> None:
    with_text = {_file_of(i) for i in results if isinstance(i, Passage)}
    final = {
        _file_of(i): i.reason
        for i in results
        if isinstance(i, Rejection)
        and _file_of(i) not in with_text
        and i.reason not in ("missing_timing", "invalid_timestamp", "invalid_cue")
    }
    assert Counter(final.values()) == {"empty_transcript": 9, "unsupported_json": 2, "unsupported_xml": 1}
    assert final["malformed/webvtt-py__empty.vtt"] == "empty_transcript"
    assert final["youtube-transcript-api/youtube.innertube.json"] == "unsupported_json"
    assert final["aeneas/sonnet001.smil"] == "unsupported_xml"


def test_malformed_cues_are_quarantined_with_their_line(results: list[Item]) -> None:
    bad = [
        i
        for i in results
        if isinstance(i, Rejection) and _file_of(i) == "malformed/webvtt-py__invalid_timeframe.vtt"
    ]
    assert [(r.reason, r.locator) for r in bad] == [
        ("invalid_timestamp", "malformed/webvtt-py__invalid_timeframe.vtt:6")
    ]
    kept = [
        i
        for i in results
        if isinstance(i, Passage) and _file_of(i) == "malformed/webvtt-py__invalid_timeframe.vtt"
    ]
    assert "Caption text #1" in kept[0].text and "Caption text #2" not in kept[0].text


def _words(path: Path) -> list[str]:
    cues = clean_cues(parse_vtt(decode_bytes(path.read_bytes())[0]).cues)
    text = re.sub(r"\[[^\]]*\]|>>", " ", " ".join(c.text for c in cues).lower())
    return re.findall(r"[\w']+", text)


def test_cleaned_auto_captions_match_the_clean_version(subtitles: Path) -> None:
    raw_cue_words = len(re.findall(r"[\w']+", (subtitles / f"{TALK}.vtt").read_text(encoding="utf-8")))
    ours, reference = _words(subtitles / f"{TALK}.vtt"), _words(subtitles / f"{TALK}.clean.vtt")
    similarity = difflib.SequenceMatcher(None, ours, reference, autojunk=False).ratio()
    assert similarity >= SIMILARITY_FLOOR, f"word similarity {similarity:.3f}"
    assert len(ours) < raw_cue_words / 2  # the rolling duplicates (and timing tags) are really gone


def test_auto_caption_passages_have_timestamps_and_no_markup(results: list[Item]) -> None:
    passages = [i for i in results if isinstance(i, Passage) and _file_of(i).startswith("healnpd_")]
    assert len(passages) > 500
    for p in passages:
        assert p.source.kind == "transcript"
        assert 0 <= p.source.locator["start"] <= p.source.locator["end"]
        assert "<c>" not in p.text and "<00:" not in p.text and "[Music]" not in p.text
    first = [
        p for p in passages if _file_of(p) == "healnpd_youtube_autocaptions_vtt/Getting Integrated.en.vtt"
    ]
    starts = [p.source.locator["start"] for p in first]
    assert starts == sorted(starts) and first[0].title == "Getting Integrated"


def test_speaker_changes_become_a_conversation(results: list[Item]) -> None:
    conversations = [i for i in results if isinstance(i, Conversation)]
    assert {_file_of(c) for c in conversations} == {
        f"{TALK}.vtt",
        f"{TALK}.clean.vtt",
        f"{TALK}.srt",
        f"{TALK}.txt",
    }
    raw = next(c for c in conversations if _file_of(c) == f"{TALK}.vtt")
    assert raw.tags == ["transcript", "speaker_turns_inferred"]
    assert len(raw.turns) > 10 and {t.role for t in raw.turns} == {"client", "therapist"}
    assert ">>" not in " ".join(t.text for t in raw.turns)


def test_windows_1252_and_utf8_copies_give_the_same_text(subtitles: Path) -> None:
    def texts(name: str) -> list[str]:
        items = extract_transcript_files([subtitles / "pysrt" / name], YouTubeOptions())
        return [i.text for i in items if isinstance(i, Passage)]

    assert texts("windows-1252.srt") == texts("utf-8.srt")
    assert "é" in " ".join(texts("windows-1252.srt"))
    bom_texts = {
        tuple(texts(f"bom-{enc}.srt"))
        for enc in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
    }
    assert len(bom_texts) == 1


def test_youtube_source_entry_reads_config_paths(subtitles: Path) -> None:
    source = SourceConfig(
        name="talks", kind="youtube", path="aeneas", options={"target_chars": 300, "overlap_chars": 50}
    )
    items = list(read_source(source, subtitles))
    sonnet = [i for i in items if isinstance(i, Passage) and _file_of(i) == "sonnet001.ttml"]
    assert sonnet and "From fairest creatures we desire increase" in sonnet[0].text
    assert all(len(p.text) <= 300 for p in sonnet)
