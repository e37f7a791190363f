"""Caption text cleanup, including the quirks of YouTube auto-captions.

YouTube auto-captions (as yt-dlp writes them) show a rolling two-line window: every cue repeats the
previous line and adds a new one with inline word timings (``word<00:00:01.234><c> next</c>``), and
10 ms "hold" cues repeat the finished line. Keeping only lines not already shown in the last few
cues recovers the spoken text once. Sound tags such as ``[Music]`` are dropped; ``>>`` (a speaker
change) is kept as a marker at the start of a cue for the segmenter.
"""

from __future__ import annotations

import html
import re
from collections import deque

from ai.sourcing.youtube.formats import Cue

SPEAKER_CHANGE = ">>"
_INLINE_TIMING = re.compile(r"<\d{1,2}:\d{2}(?::\d{2})?[.,]\d{1,3}>")
_AUTO_CAPTION_MARK = re.compile(r"<\d{1,2}:\d{2}(?::\d{2})?[.,]\d{1,3}>|<c>")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>")
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|</[^<>]*>")
_SOUND_TAG = re.compile(r"\[[^\[\]\n]{0,40}\]|\([A-Z][A-Z ]{2,30}\)|♪+")
_SPACES = re.compile(r"[ \t\u00a0\u200b]+")
_SPEAKER_MARK = re.compile(r"\s*(?:>>|&gt;&gt;)\s*")
_RECENT_LINES = 3


def is_auto_caption(cues: list[Cue]) -> bool:
    return any(_AUTO_CAPTION_MARK.search(cue.text) for cue in cues[:200])


def clean_cues(cues: list[Cue], keep_sound_tags: bool = False) -> list[Cue]:
    """Cues with markup, sound tags and rolling duplicates removed; empty cues dropped."""
    rolling = is_auto_caption(cues)
    recent: deque[str] = deque(maxlen=_RECENT_LINES)
    cleaned: list[Cue] = []
    for cue in cues:
        lines = [clean_line(line, keep_sound_tags) for line in cue.text.split("\n")]
        lines = [line for line in lines if line]
        if rolling:
            lines = _unseen(lines, recent)
        text = " ".join(lines)
        if text and text != SPEAKER_CHANGE:
            cleaned.append(Cue(cue.start, cue.end, text, cue.line))
    return cleaned


def clean_line(line: str, keep_sound_tags: bool = False) -> str:
    line = _VOICE.sub(lambda m: f"{m.group(1).strip()}: ", line)
    line = _TAG.sub("", _INLINE_TIMING.sub("", line))
    line = html.unescape(line)
    if not keep_sound_tags:
        line = _SOUND_TAG.sub(" ", line)
    line = _SPEAKER_MARK.sub(f" {SPEAKER_CHANGE} ", line)
    return _SPACES.sub(" ", line).strip()


def _unseen(lines: list[str], recent: deque[str]) -> list[str]:
    """Lines not shown in the last cues; a line that extends the last one contributes its new words."""
    fresh: list[str] = []
    for line in lines:
        if line in recent:
            continue
        last = recent[-1] if recent else ""
        if last and line.startswith(last + " "):
            fresh.append(line[len(last) + 1 :])
        else:
            fresh.append(line)
        recent.append(line)
    return fresh
