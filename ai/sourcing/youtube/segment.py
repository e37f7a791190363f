"""Clean cues -> passages with start/end times, and speaker-labelled transcripts -> conversations."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from ai.core.records import Conversation, Passage, Provenance, Turn, make_conversation, passage_id
from ai.sourcing.text_chunking import chunk_spans
from ai.sourcing.youtube.cleanup import SPEAKER_CHANGE
from ai.sourcing.youtube.formats import Cue

DEFAULT_SPEAKER_ROLES = {
    "therapist": "therapist",
    "counselor": "therapist",
    "counsellor": "therapist",
    "psychologist": "therapist",
    "doctor": "therapist",
    "dr": "therapist",
    "t": "therapist",
    "client": "client",
    "patient": "client",
    "c": "client",
    "p": "client",
}
_LABEL = re.compile(r"^\s*([A-Za-z][A-Za-z .'_-]{0,30}?)\s*:\s+(\S.*)$")


@dataclass(slots=True)
class TranscriptOrigin:
    """Who a transcript belongs to: shared by all passages and conversations built from it."""

    source_name: str
    key: dict[str, str]  # {"video_id": ...} or {"file": ...}
    uri: str
    title: str
    license: str = ""
    language: str = ""
    category: str = "therapeutic"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        return next(iter(self.key.values()), "")


@dataclass(frozen=True, slots=True)
class JoinedText:
    text: str
    offsets: list[int]  # start offset of each cue's text in ``text``
    cues: list[Cue]


def join_cues(cues: list[Cue]) -> JoinedText:
    """One text for the whole transcript; a speaker change starts a new paragraph."""
    parts: list[str] = []
    offsets: list[int] = []
    length = 0
    for cue in cues:
        text = cue.text
        separator = " "
        if text.startswith(SPEAKER_CHANGE) or _LABEL.match(text):
            text = text.removeprefix(SPEAKER_CHANGE).strip()
            separator = "\n\n"
        text = text.replace(f" {SPEAKER_CHANGE} ", "\n\n")
        if parts:
            parts.append(separator)
            length += len(separator)
        offsets.append(length)
        parts.append(text)
        length += len(text)
    return JoinedText("".join(parts), offsets, cues)


def transcript_passages(
    cues: list[Cue], origin: TranscriptOrigin, target_chars: int, overlap_chars: int
) -> list[Passage]:
    joined = join_cues(cues)
    passages = []
    for index, span in enumerate(chunk_spans(joined.text, target_chars, overlap_chars)):
        text = joined.text[span.start : span.end]
        first = joined.cues[max(bisect.bisect_right(joined.offsets, span.start) - 1, 0)]
        last = joined.cues[max(bisect.bisect_right(joined.offsets, span.end - 1) - 1, 0)]
        locator: dict[str, Any] = {**origin.key, "chunk": index}
        if first.start is not None and last.end is not None:
            locator["start"], locator["end"] = first.start, last.end
        else:
            locator["lines"] = [first.line, last.line]
        source = Provenance(
            kind="transcript",
            name=origin.source_name,
            uri=origin.uri,
            license=origin.license,
            locator=locator,
        )
        section = (
            _time_range(first.start, last.end) if "start" in locator else f"lines {first.line}-{last.line}"
        )
        meta = {**origin.meta, "language": origin.language} if origin.language else dict(origin.meta)
        passages.append(
            Passage(
                id=passage_id(text, source),
                text=text,
                source=source,
                title=origin.title,
                section=section,
                tags=["transcript"],
                meta=meta,
            )
        )
    return passages


def transcript_conversation(
    cues: list[Cue],
    origin: TranscriptOrigin,
    speaker_roles: dict[str, str] | None = None,
    first_speaker_role: str = "client",
) -> Conversation | None:
    """A conversation when the transcript has speaker labels or ``>>`` turns with two speakers."""
    roles = {k.casefold(): v for k, v in (speaker_roles or DEFAULT_SPEAKER_ROLES).items()}
    turns, tag = _labelled_turns(cues, roles), "speaker_labels"
    if turns is None:
        turns, tag = _marked_turns(cues, first_speaker_role), "speaker_turns_inferred"
    if turns is None:
        return None
    timed = [c for c in cues if c.start is not None]
    locator: dict[str, Any] = dict(origin.key)
    if timed:
        locator["start"], locator["end"] = timed[0].start, timed[-1].end
    source = Provenance(
        kind="transcript", name=origin.source_name, uri=origin.uri, license=origin.license, locator=locator
    )
    return make_conversation(
        turns,
        source,
        category=origin.category,
        language=origin.language,
        tags=["transcript", tag],
        group=f"transcript:{origin.group}",
        meta={"title": origin.title},
    )


def _labelled_turns(cues: list[Cue], roles: dict[str, str]) -> list[Turn] | None:
    turns: list[Turn] = []
    labelled = 0
    for cue in cues:
        for line in cue.text.replace(f" {SPEAKER_CHANGE} ", "\n").split("\n"):
            line = line.removeprefix(SPEAKER_CHANGE).strip()
            match = _LABEL.match(line)
            role = roles.get(match.group(1).strip().casefold()) if match else None
            if match and role:
                labelled += 1
                _add(turns, role, match.group(2))
            elif turns and line:
                _add(turns, turns[-1].role, line)
    return _if_dialogue(turns) if labelled >= 2 else None


def _marked_turns(cues: list[Cue], first_role: str) -> list[Turn] | None:
    joined = " ".join(cue.text for cue in cues)
    if SPEAKER_CHANGE not in joined:
        return None
    other = "therapist" if first_role == "client" else "client"
    turns: list[Turn] = []
    for segment in (s.strip() for s in joined.split(SPEAKER_CHANGE)):
        if segment:
            turns.append(Turn(first_role if len(turns) % 2 == 0 else other, segment))
    return _if_dialogue(turns)


def _add(turns: list[Turn], role: str, text: str) -> None:
    text = text.strip()
    if not text:
        return
    if turns and turns[-1].role == role:
        turns[-1] = Turn(role, f"{turns[-1].text} {text}")
    else:
        turns.append(Turn(role, text))


def _if_dialogue(turns: list[Turn]) -> list[Turn] | None:
    return turns if len(turns) >= 2 and len({t.role for t in turns}) >= 2 else None


def _time_range(start: float | None, end: float | None) -> str:
    return f"{_clock(start or 0.0)}-{_clock(end or 0.0)}"


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
