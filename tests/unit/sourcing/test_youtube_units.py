"""Transcripts: decoding, every format parser, auto-caption cleanup, segmentation and conversations."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from ai.core.config import ConfigError, SourceConfig
from ai.core.records import Conversation, Passage
from ai.core.stage import Rejection
from ai.sourcing.youtube import YouTubeOptions, extract_transcript_files, read_source, youtube_options
from ai.sourcing.youtube.cleanup import clean_cues, clean_line, is_auto_caption
from ai.sourcing.youtube.formats import (
    Cue,
    TranscriptError,
    decode_bytes,
    detect_format,
    parse_json,
    parse_sbv,
    parse_srt,
    parse_text,
    parse_transcript,
    parse_vtt,
    parse_xml,
)
from ai.sourcing.youtube.segment import TranscriptOrigin, transcript_conversation, transcript_passages

ORIGIN = TranscriptOrigin("talks", {"file": "t.vtt"}, "t.vtt", "A talk")

# --- decoding -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (codecs.BOM_UTF8 + "café".encode(), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + "café".encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF32_BE + "café".encode("utf-32-be"), "utf-32"),
        ("café".encode(), "utf-8"),
        ("café".encode("cp1252"), "cp1252"),
        ("café and more text".encode("utf-16-le"), "utf-16-le"),
    ],
)
def test_decoding_handles_boms_utf8_and_windows_1252(data: bytes, encoding: str) -> None:
    text, used = decode_bytes(data)
    assert text.startswith("café") and used == encoding


def test_bytes_invalid_in_cp1252_fall_back_to_latin1() -> None:
    assert decode_bytes(b"\x81abc") == ("\x81abc", "latin-1")


@pytest.mark.parametrize(
    ("suffix", "text", "fmt"),
    [
        (".vtt", "", "vtt"),
        (".JSON3", "", "json"),
        (".bin", "WEBVTT\n", "vtt"),
        (".bin", '{"events": []}', "json"),
        (".bin", "<tt/>", "xml"),
        (".bin", "1\n00:00:01,000 --> 00:00:02,000\nx", "srt"),
        (".bin", "hello", ""),
    ],
)
def test_format_detection(suffix: str, text: str, fmt: str) -> None:
    assert detect_format(suffix, text) == fmt


def test_unknown_formats_are_refused() -> None:
    with pytest.raises(TranscriptError) as error:
        parse_transcript("x", "")
    assert error.value.reason == "unsupported_format"


# --- parsers ------------------------------------------------------------------------------------------

VTT = """WEBVTT
Kind: captions
Language: en

STYLE
::cue { color: red }

NOTE a comment
over two lines

intro
00:00:01.000 --> 00:00:04.500 align:start
<v Dr. Lee>Hello &amp; welcome.</v>

01:02.250 --> 01:03.000
Short clock form
00:01:04.000 --> 00:01:05.000
No blank line before this cue
"""


def test_vtt_cues_identifiers_styles_notes_and_short_timestamps() -> None:
    parsed = parse_vtt(VTT)
    assert parsed.language == "en" and parsed.problems == []
    assert [(c.start, c.end) for c in parsed.cues] == [(1.0, 4.5), (62.25, 63.0), (64.0, 65.0)]
    assert parsed.cues[0].line == 12  # the timing line
    assert clean_line(parsed.cues[0].text) == "Dr. Lee: Hello & welcome."


def test_srt_and_sbv_with_problems_reported_by_line() -> None:
    srt = "1\r\n00:00:01,000 --> 00:00:02,000\r\nOne\r\n\r\n2\r\n00:00:0x,000 --> 00:00:03,000\r\nTwo\r\n\r\nstray text\r\n"
    parsed = parse_srt(srt)
    assert [c.text for c in parsed.cues] == ["One"]
    assert [(r, line) for r, _, line in parsed.problems] == [("invalid_timestamp", 5), ("missing_timing", 9)]
    sbv = "0:00:01.000,0:00:02.000\nA\n\n0:00:05.000,0:00:04.000\nBackwards\n"
    parsed = parse_sbv(sbv)
    assert [c.text for c in parsed.cues] == ["A"]
    assert parsed.problems[0][0] == "invalid_timestamp" and "ends before it starts" in parsed.problems[0][1]


def test_arrows_inside_cue_text_invalidate_the_cue() -> None:
    parsed = parse_vtt("WEBVTT\n\n00:00.000 --> 00:01.000\nsee --> there\n")
    assert parsed.cues == [] and parsed.problems[0][0] == "invalid_cue"


def test_youtube_json3_events() -> None:
    data = {
        "events": [
            {"tStartMs": 0, "dDurationMs": 5000, "id": 1, "wWinId": 1},
            {"tStartMs": 1000, "dDurationMs": 2500, "segs": [{"utf8": "hello"}, {"utf8": " there"}]},
            {"tStartMs": 3500, "dDurationMs": 10, "segs": [{"utf8": "\n"}]},
            {"tStartMs": "bad", "segs": [{"utf8": "x"}]},
        ]
    }
    parsed = parse_json(json.dumps(data))
    assert parsed.format == "json3"
    assert [(c.start, c.end, c.text) for c in parsed.cues] == [(1.0, 3.5, "hello there")]
    assert parsed.problems[0][0] == "invalid_cue"


def test_sync_map_json_and_snippet_lists() -> None:
    fragments = {"fragments": [{"begin": "0.5", "end": "1.5", "lines": ["a", "b"]}, {"begin": "x"}]}
    parsed = parse_json(json.dumps(fragments))
    assert [(c.start, c.text) for c in parsed.cues] == [(0.5, "a\nb")] and len(parsed.problems) == 1
    snippets = [{"text": "hi", "start": 1.0, "duration": 2.0}, {"text": "bad", "start": "?"}]
    parsed = parse_json(json.dumps(snippets))
    assert [(c.start, c.end) for c in parsed.cues] == [(1.0, 3.0)] and len(parsed.problems) == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "malformed_json"),
        ('{"responseContext": {}}', "unsupported_json"),
        ("[1, 2]", "unsupported_json"),
    ],
)
def test_unusable_json_is_refused(text: str, reason: str) -> None:
    with pytest.raises(TranscriptError) as error:
        parse_json(text)
    assert error.value.reason == reason


def test_timed_xml_flavours() -> None:
    timedtext = '<transcript><text start="1.5" dur="2">It&amp;#39;s <b>fine</b></text></transcript>'
    assert [(c.start, c.end, c.text) for c in parse_xml(timedtext).cues] == [(1.5, 3.5, "It's fine")]
    ttml = (
        '<tt xmlns="http://www.w3.org/ns/ttml" xml:lang="de"><body><div>'
        '<p begin="00:00:01.000" end="00:00:02.500">Eins</p><p begin="2500ms" dur="1s">Zwei</p>'
        '<p begin="soon" end="later">Bad</p></div></body></tt>'
    )
    parsed = parse_xml(ttml)
    assert parsed.language == "de"
    assert [(c.start, c.end) for c in parsed.cues] == [(1.0, 2.5), (2.5, 3.5)]
    assert parsed.problems[0][0] == "invalid_timestamp"
    srv3 = '<timedtext format="3"><body><p t="1200" d="800">srv three</p></body></timedtext>'
    assert [(c.start, c.end) for c in parse_xml(srv3).cues] == [(1.2, 2.0)]


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        ('<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><t>&x;</t>', "unsafe_xml"),
        ('<!DOCTYPE t [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><t>&b;</t>', "unsafe_xml"),
        ("<t><unclosed></t>", "malformed_xml"),
        ("<smil><par/></smil>", "unsupported_xml"),
    ],
)
def test_hostile_or_untimed_xml_is_refused(xml: str, reason: str) -> None:
    with pytest.raises(TranscriptError) as error:
        parse_xml(xml)
    assert error.value.reason == reason


def test_plain_text_and_sync_map_text() -> None:
    parsed = parse_text("first line\n\nsecond line\n")
    assert parsed.format == "text" and [(c.start, c.line) for c in parsed.cues] == [(None, 1), (None, 3)]
    parsed = parse_text('f1 0.000 2.500 "One"\nf2 2.500 4.000 "Two"\n')
    assert parsed.format == "sync_map_text" and [(c.start, c.end, c.text) for c in parsed.cues][1] == (
        2.5,
        4.0,
        "Two",
    )


# --- auto-caption cleanup -----------------------------------------------------------------------------

ROLLING = """WEBVTT
Kind: captions
Language: en

00:00:00.240 --> 00:00:02.790 align:start position:0%
·
Welcome<00:00:00.800><c> to</c><00:00:01.120><c> the</c><00:00:01.520><c> show</c>

00:00:02.790 --> 00:00:02.800 align:start position:0%
Welcome to the show
·

00:00:02.800 --> 00:00:05.590 align:start position:0%
Welcome to the show
[Music]<00:00:03.280><c> today</c><00:00:03.679><c> we</c><00:00:04.160><c> talk</c>

00:00:05.590 --> 00:00:05.600 align:start position:0%
today we talk
·

00:00:05.600 --> 00:00:08.000 align:start position:0%
today we talk
&gt;&gt; sounds<00:00:06.000><c> good</c>
""".replace("·", " ")  # YouTube puts a line of one space inside its cues


def test_rolling_auto_captions_are_deduplicated_and_stripped() -> None:
    cues = parse_vtt(ROLLING).cues
    assert is_auto_caption(cues)
    cleaned = clean_cues(cues)
    assert [(c.start, c.end, c.text) for c in cleaned] == [
        (0.24, 2.79, "Welcome to the show"),
        (2.8, 5.59, "today we talk"),
        (5.6, 8.0, ">> sounds good"),
    ]
    assert "[Music]" in " ".join(c.text for c in clean_cues(cues, keep_sound_tags=True))


def test_manual_captions_keep_repeated_lines() -> None:
    cues = [Cue(0, 1, "Yes."), Cue(1, 2, "Yes."), Cue(2, 3, "  "), Cue(3, 4, "(APPLAUSE) ♪♪")]
    assert [c.text for c in clean_cues(cues)] == ["Yes.", "Yes."]


def test_an_extended_line_contributes_only_its_new_words() -> None:
    cues = [Cue(0, 1, "<c>so we</c>"), Cue(1, 2, "so we begin<00:00:01.500><c> now</c>")]
    assert [c.text for c in clean_cues(cues)] == ["so we", "begin now"]


# --- segmentation and conversations -------------------------------------------------------------------


def test_passages_carry_start_and_end_of_their_cues() -> None:
    cues = [Cue(float(i), float(i) + 1, f"Sentence {i} is spoken here.") for i in range(30)]
    passages = transcript_passages(cues, ORIGIN, target_chars=200, overlap_chars=40)
    assert len(passages) > 3
    first, last = passages[0], passages[-1]
    assert first.source.locator == {"file": "t.vtt", "chunk": 0, "start": 0.0, "end": 7.0}
    assert first.section == "0:00:00-0:00:07" and first.title == "A talk"
    assert last.source.locator["end"] == 30.0
    assert all(p.source.kind == "transcript" for p in passages)


def test_untimed_passages_locate_by_line() -> None:
    [passage] = transcript_passages([Cue(None, None, "Just words.", 4)], ORIGIN, 100, 10)
    assert passage.source.locator == {"file": "t.vtt", "chunk": 0, "lines": [4, 4]}


def test_speaker_labels_become_conversation_turns() -> None:
    cues = [
        Cue(0, 2, "THERAPIST: How have you been sleeping?"),
        Cue(2, 4, "CLIENT: Not well."),
        Cue(4, 6, "Maybe four hours."),
        Cue(6, 8, "Therapist: That sounds exhausting."),
    ]
    conversation = transcript_conversation(cues, ORIGIN)
    assert conversation is not None
    assert [(t.role, t.text) for t in conversation.turns] == [
        ("therapist", "How have you been sleeping?"),
        ("client", "Not well. Maybe four hours."),
        ("therapist", "That sounds exhausting."),
    ]
    assert conversation.tags == ["transcript", "speaker_labels"]
    assert conversation.group == "transcript:t.vtt"
    assert conversation.source.locator == {"file": "t.vtt", "start": 0, "end": 8}


def test_turn_marks_alternate_roles_and_single_speakers_give_nothing() -> None:
    cues = [Cue(0, 1, "Hello there."), Cue(1, 2, ">> Hi, how are you?"), Cue(2, 3, ">> Fine.")]
    conversation = transcript_conversation(cues, ORIGIN, first_speaker_role="therapist")
    assert conversation is not None
    assert [t.role for t in conversation.turns] == ["therapist", "client", "therapist"]
    assert conversation.tags[-1] == "speaker_turns_inferred"
    assert transcript_conversation([Cue(0, 1, "Monologue only.")], ORIGIN) is None
    assert transcript_conversation([Cue(0, 1, "CLIENT: a"), Cue(1, 2, "CLIENT: b")], ORIGIN) is None


# --- files and the source entry -----------------------------------------------------------------------


def test_files_become_passages_conversations_and_rejections(tmp_path: Path) -> None:
    (tmp_path / "session.srt").write_bytes(
        "1\n00:00:01,000 --> 00:00:03,000\nTHERAPIST: Où étiez-vous?\n\n2\n00:00:03,000 --> 00:00:05,000\nCLIENT: Chez moi.\n".encode(
            "cp1252"
        )
    )
    (tmp_path / "empty.vtt").write_text("WEBVTT\n")
    (tmp_path / "LICENSE.txt").write_text("MIT")
    (tmp_path / "big.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\n" + "x" * 500)
    items = list(extract_transcript_files([tmp_path], YouTubeOptions(max_file_bytes=400), "talks", "CC-BY"))
    passages = [i for i in items if isinstance(i, Passage)]
    conversations = [i for i in items if isinstance(i, Conversation)]
    rejections = {i.locator: i.reason for i in items if isinstance(i, Rejection)}
    assert rejections == {"big.vtt": "too_large", "empty.vtt": "empty_transcript"}
    assert passages[0].meta == {"format": "srt", "encoding": "cp1252"}
    assert passages[0].source.license == "CC-BY" and "Où étiez-vous?" in passages[0].text
    assert [t.role for t in conversations[0].turns] == ["therapist", "client"]


def test_conversations_can_be_switched_off(tmp_path: Path) -> None:
    (tmp_path / "s.txt").write_text("THERAPIST: Hi.\nCLIENT: Hello.\n")
    items = list(extract_transcript_files([tmp_path], YouTubeOptions(conversations=False)))
    assert [type(i) for i in items] == [Passage]


def test_source_entry_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "a.sbv").write_text("0:00:01.000,0:00:02.000\nHello.\n")
    source = SourceConfig(
        name="subs", kind="youtube", path=["a.sbv", "missing.vtt"], options={"languages": ["en"]}
    )
    items = list(read_source(source, tmp_path))
    assert isinstance(items[0], Passage) and items[0].source.name == "subs"
    assert isinstance(items[1], Rejection) and items[1].reason == "path_not_found"


def test_options_are_validated_with_the_source_name() -> None:
    with pytest.raises(ConfigError, match=r"sources\[subs\]"):
        youtube_options({"first_speaker_role": "narrator"}, "subs")
    with pytest.raises(ConfigError):
        youtube_options({"speaker_roles": {"host": "presenter"}}, "subs")
    with pytest.raises(ConfigError):
        youtube_options({"target_chars": 10, "overlap_chars": 20}, "subs")


@pytest.mark.parametrize(
    ("name", "title"),
    [("Dr. Who_talk.en.clean.vtt", "Dr. Who talk"), ("Dr. X.vtt", "Dr. X"), ("talk.pt-BR.vtt", "talk")],
)
def test_titles_come_from_yt_dlp_style_file_names(tmp_path: Path, name: str, title: str) -> None:
    (tmp_path / name).write_text("WEBVTT\n\n00:01.000 --> 00:02.000\nHello.\n")
    [passage] = extract_transcript_files([tmp_path / name], YouTubeOptions())
    assert isinstance(passage, Passage) and passage.title == title
