"""Subtitle and transcript files -> timed cues.

Formats: WebVTT, SRT, SBV, YouTube JSON3, aeneas JSON sync maps, timed XML (YouTube timedtext, TTML,
aeneas XML), and plain text (with or without ``id begin end "text"`` sync-map lines). A cue that
cannot be read becomes a problem with its line number; the rest of the file is still used.
"""

from __future__ import annotations

import codecs
import contextlib
import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException


@dataclass(slots=True)
class Cue:
    start: float | None  # seconds; None for untimed plain text
    end: float | None
    text: str
    line: int = 0  # 1-based line of the cue in the file, for quarantine locators


@dataclass(slots=True)
class ParsedTranscript:
    format: str
    cues: list[Cue] = field(default_factory=list)
    problems: list[tuple[str, str, int]] = field(default_factory=list)  # (reason, message, line)
    language: str = ""


class TranscriptError(Exception):
    """The whole file is unusable; ``reason`` is the quarantine reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# --- decoding ---------------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding): BOMs first, then strict UTF-8, then Windows-1252 (then Latin-1, which never fails)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise TranscriptError(
                    "invalid_encoding",
                    f"starts with a {encoding} byte-order mark but is not valid {encoding} "
                    f"({exc.reason} at byte {exc.start})",
                ) from None
    if data[:200].count(0) > len(data[:200]) // 4:  # UTF-16 without a BOM
        guess = "utf-16-le" if data[1:2] == b"\x00" else "utf-16-be"
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode(guess), guess
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


# --- format detection --------------------------------------------------------------------------------

EXTENSION_FORMATS = {
    ".vtt": "vtt",
    ".srt": "srt",
    ".sbv": "sbv",
    ".json3": "json",
    ".json": "json",
    ".xml": "xml",
    ".ttml": "xml",
    ".dfxp": "xml",
    ".srv3": "xml",
    ".txt": "text",
}


def detect_format(suffix: str, text: str) -> str:
    by_extension = EXTENSION_FORMATS.get(suffix.lower(), "")
    if by_extension:
        return by_extension
    head = text.lstrip()[:200]
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith(("{", "[")):
        return "json"
    if head.startswith("<"):
        return "xml"
    if "-->" in text[:2000]:
        return "srt"
    return ""


def parse_transcript(text: str, fmt: str) -> ParsedTranscript:
    parser = _PARSERS.get(fmt)
    if parser is None:
        raise TranscriptError("unsupported_format", f"unsupported transcript format {fmt or '(unknown)'!r}")
    return parser(text)


# --- timestamped blocks: VTT, SRT, SBV ---------------------------------------------------------------

_VTT_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_ARROW_LINE = re.compile(rf"^\s*{_VTT_TIME}\s*-->\s*{_VTT_TIME}(?:\s+.*)?$")
_SBV_LINE = re.compile(rf"^\s*{_VTT_TIME}\s*,\s*{_VTT_TIME}\s*$")
_LOOKS_TIMED = re.compile(r"-->|^\s*\d+:\d+[:.,]\S*\s*,\s*\d+:\d+")
_BLOCK_SPLIT = re.compile(r"\n[ \t]*\n")
# In WebVTT only an empty line ends a cue; YouTube auto-captions put a line of one space inside cues.
_VTT_BLOCK_SPLIT = re.compile(r"\n\n")


def parse_vtt(text: str) -> ParsedTranscript:
    result = ParsedTranscript("vtt")
    blocks = _blocks(text, _VTT_BLOCK_SPLIT)
    if blocks and blocks[0][1][0].lstrip("\ufeff").startswith("WEBVTT"):
        result.language = _vtt_language(blocks[0][1])
        blocks = blocks[1:]
    for line_no, lines in blocks:
        if lines[0].startswith(("NOTE", "STYLE", "REGION")) and not _ARROW_LINE.match(lines[0]):
            continue
        _timed_block(line_no, lines, _ARROW_LINE, result, identifier_allowed=True)
    return result


def parse_srt(text: str) -> ParsedTranscript:
    result = ParsedTranscript("srt")
    for line_no, lines in _blocks(text):
        _timed_block(line_no, lines, _ARROW_LINE, result, identifier_allowed=True)
    return result


def parse_sbv(text: str) -> ParsedTranscript:
    result = ParsedTranscript("sbv")
    for line_no, lines in _blocks(text):
        _timed_block(line_no, lines, _SBV_LINE, result, identifier_allowed=False)
    return result


def _blocks(text: str, separator: re.Pattern[str] = _BLOCK_SPLIT) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks as (first line number, lines)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[tuple[int, list[str]]] = []
    line_no = 1
    for chunk in separator.split(text):
        lines = chunk.split("\n")
        leading = 0
        while leading < len(lines) and not lines[leading].strip():
            leading += 1
        body = lines[leading:]
        if any(line.strip() for line in body):
            blocks.append((line_no + leading, body))
        line_no += chunk.count("\n") + 2
    return blocks


def _timed_block(
    line_no: int,
    lines: list[str],
    timing: re.Pattern[str],
    result: ParsedTranscript,
    identifier_allowed: bool,
) -> None:
    """Cues of one block. Usually one; more when cues follow each other without a blank line."""
    rows = [i for i, line in enumerate(lines) if timing.match(line)]
    if not rows:
        header = lines[0]
        if _LOOKS_TIMED.search(header) or (len(lines) > 1 and _LOOKS_TIMED.search(lines[1])):
            bad = header if _LOOKS_TIMED.search(header) else lines[1]
            result.problems.append(
                ("invalid_timestamp", f"line {line_no}: unreadable timing {bad.strip()!r}", line_no)
            )
        else:
            result.problems.append(
                ("missing_timing", f"line {line_no}: a caption block without a timing line", line_no)
            )
        return
    if rows[0] > (1 if identifier_allowed else 0):
        result.problems.append(
            ("missing_timing", f"line {line_no}: caption text before any timing line", line_no)
        )
    for k, row in enumerate(rows):
        body = lines[row + 1 : rows[k + 1] if k + 1 < len(rows) else len(lines)]
        _add_cue(line_no + row, lines[row], body, timing, result)


def _add_cue(
    where: int, header: str, body: list[str], timing: re.Pattern[str], result: ParsedTranscript
) -> None:
    match = timing.match(header)
    if match is None:
        return
    if any("-->" in line for line in body):
        result.problems.append(("invalid_cue", f"line {where}: '-->' inside the caption text", where))
        return
    start, end = _seconds(match.groups()[:4]), _seconds(match.groups()[4:])
    if end < start:
        result.problems.append(("invalid_timestamp", f"line {where}: the cue ends before it starts", where))
        return
    result.cues.append(Cue(start, end, "\n".join(body).strip(), where))


def _seconds(parts: tuple[str | None, ...]) -> float:
    hours, minutes, seconds, fraction = parts
    return round(
        int(hours or 0) * 3600
        + int(minutes or 0) * 60
        + int(seconds or 0)
        + int((fraction or "0").ljust(3, "0")) / 1000,
        3,
    )


def _vtt_language(header: list[str]) -> str:
    for line in header:
        if line.lower().startswith("language:"):
            return line.split(":", 1)[1].strip()
    return ""


# --- JSON: YouTube json3 and aeneas sync maps --------------------------------------------------------


def parse_json(text: str) -> ParsedTranscript:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptError("malformed_json", f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        return _json3(data["events"])
    if isinstance(data, dict) and isinstance(data.get("fragments"), list):
        return _fragments(data["fragments"])
    if isinstance(data, list) and all(isinstance(x, dict) and "text" in x for x in data):
        return _snippets(data)
    hint = (
        " (a YouTube player response lists caption tracks but holds no caption text)"
        if _is_player(data)
        else ""
    )
    raise TranscriptError(
        "unsupported_json",
        "JSON is neither YouTube json3 ('events'), an aeneas sync map ('fragments') nor a list of "
        f"{{text, start, duration}} snippets{hint}",
    )


def _json3(events: list[Any]) -> ParsedTranscript:
    result = ParsedTranscript("json3")
    for number, event in enumerate(events, start=1):
        if not isinstance(event, dict) or "segs" not in event:
            continue  # window/style events carry no text
        try:
            start = float(event.get("tStartMs", 0)) / 1000
            end = start + float(event.get("dDurationMs", 0)) / 1000
            text = "".join(str(seg.get("utf8", "")) for seg in event["segs"] if isinstance(seg, dict))
        except (TypeError, ValueError, AttributeError):
            result.problems.append(("invalid_cue", f"event {number}: unreadable timing or segments", number))
            continue
        if text.strip():
            result.cues.append(Cue(round(start, 3), round(end, 3), text, number))
    return result


def _fragments(fragments: list[Any]) -> ParsedTranscript:
    result = ParsedTranscript("sync_map_json")
    for number, fragment in enumerate(fragments, start=1):
        try:
            start, end = float(fragment["begin"]), float(fragment["end"])
            text = "\n".join(str(line) for line in fragment.get("lines", []))
        except (KeyError, TypeError, ValueError):
            result.problems.append(
                ("invalid_cue", f"fragment {number}: missing or unreadable begin/end", number)
            )
            continue
        result.cues.append(Cue(start, end, text, number))
    return result


def _snippets(snippets: list[dict[str, Any]]) -> ParsedTranscript:
    """The shape youtube-transcript-api returns: [{text, start, duration}]."""
    result = ParsedTranscript("snippets")
    for number, snippet in enumerate(snippets, start=1):
        try:
            start = float(snippet.get("start", 0))
            end = start + float(snippet.get("duration", 0))
        except (TypeError, ValueError):
            result.problems.append(("invalid_cue", f"snippet {number}: unreadable start/duration", number))
            continue
        result.cues.append(Cue(round(start, 3), round(end, 3), str(snippet["text"]), number))
    return result


def _is_player(data: Any) -> bool:
    return isinstance(data, dict) and (
        "captions" in data or "playabilityStatus" in data or "responseContext" in data
    )


# --- XML: timedtext, TTML, aeneas ---------------------------------------------------------------------

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")
_OFFSET = re.compile(r"^(\d+(?:\.\d+)?)(h|m|s|ms)?$")


def parse_xml(text: str) -> ParsedTranscript:
    try:
        root = SafeET.fromstring(text.encode("utf-8"))
    except DefusedXmlException as exc:
        raise TranscriptError("unsafe_xml", f"XML uses forbidden entities or DTDs ({exc})") from None
    except SafeET.ParseError as exc:
        raise TranscriptError("malformed_xml", f"not well-formed XML ({exc})") from None
    result = ParsedTranscript(
        "timed_xml", language=root.get("{http://www.w3.org/XML/1998/namespace}lang", "")
    )
    _timed_elements(root, result)
    if not result.cues and not result.problems:
        raise TranscriptError(
            "unsupported_xml", "XML holds no timed text elements (begin/end, start/dur or t/d)"
        )
    return result


def _timed_elements(element: Any, result: ParsedTranscript) -> None:
    for number, child in enumerate(element, start=1):
        timing = _element_timing(child)
        if timing is None:
            _timed_elements(child, result)
            continue
        if timing == "invalid":
            tag = child.tag.rsplit("}", 1)[-1]
            result.problems.append(
                ("invalid_timestamp", f"<{tag}> {number}: unreadable timing attributes", number)
            )
            continue
        start, end = timing
        text = html.unescape("".join(child.itertext()))
        result.cues.append(Cue(start, end, text, len(result.cues) + 1))


def _element_timing(element: Any) -> tuple[float, float] | str | None:
    attrs = element.attrib
    try:
        if "begin" in attrs:
            start = _xml_time(attrs["begin"])
            end = _xml_time(attrs["end"]) if "end" in attrs else start + _xml_time(attrs.get("dur", "0"))
        elif "start" in attrs:
            start = _xml_time(attrs["start"])
            end = start + _xml_time(attrs.get("dur", "0"))
        elif "t" in attrs and element.tag.rsplit("}", 1)[-1] == "p":  # YouTube srv3: milliseconds
            start = int(attrs["t"]) / 1000
            end = start + int(attrs.get("d", "0")) / 1000
        else:
            return None
    except (ValueError, KeyError):
        return "invalid"
    return round(start, 3), round(end, 3)


def _xml_time(value: str) -> float:
    value = value.strip()
    clock = _CLOCK.match(value)
    if clock:
        hours, minutes, seconds = clock.groups()
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    offset = _OFFSET.match(value)
    if offset is None:
        raise ValueError(f"unreadable time {value!r}")
    number, unit = float(offset.group(1)), offset.group(2) or "s"
    return number * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]


# --- plain text ---------------------------------------------------------------------------------------

_SYNC_MAP_LINE = re.compile(r'^\S+\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+"(.*)"\s*$')


def parse_text(text: str) -> ParsedTranscript:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    filled = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    sync_lines = [(number, _SYNC_MAP_LINE.match(line)) for number, line in filled]
    timed = [(number, match.groups()) for number, match in sync_lines if match]
    if filled and len(timed) == len(filled):
        result = ParsedTranscript("sync_map_text")
        result.cues = [Cue(float(begin), float(end), text, number) for number, (begin, end, text) in timed]
        return result
    result = ParsedTranscript("text")
    result.cues = [Cue(None, None, line, number) for number, line in filled]
    return result


_PARSERS = {
    "vtt": parse_vtt,
    "srt": parse_srt,
    "sbv": parse_sbv,
    "json": parse_json,
    "xml": parse_xml,
    "text": parse_text,
}
