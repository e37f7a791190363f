"""Sentence-aware chunking of long texts into passages of a target size with overlap.

Chunks are returned as character spans of the input, so callers can map a chunk back to the pages,
chapters or caption timestamps it came from. A chunk ends on a sentence boundary whenever one falls
within the size limit; a single sentence longer than the limit is cut on a word boundary instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at ., ! or ? (optionally followed by closing quotes/brackets) before whitespace,
# or at a blank line. Abbreviations such as "Dr." produce a few extra boundaries, which only makes
# chunks end slightly earlier; it never loses text.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)|\n\s*\n")
_WORD_GAP = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


def sentence_spans(text: str) -> list[Span]:
    """Spans of the sentences of ``text`` (whitespace between sentences belongs to no span)."""
    spans: list[Span] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        _append_trimmed(text, start, match.end(), spans)
        start = match.end()
    _append_trimmed(text, start, len(text), spans)
    return spans


def chunk_spans(text: str, target_chars: int = 1200, overlap_chars: int = 200) -> list[Span]:
    """Split ``text`` into spans of about ``target_chars`` that start and end on sentence boundaries.

    Consecutive chunks share up to ``overlap_chars`` of trailing sentences so a passage never starts
    without the context that precedes it.
    """
    if target_chars <= 0:
        raise ValueError("target_chars must be positive")
    if overlap_chars < 0 or overlap_chars >= target_chars:
        raise ValueError("overlap_chars must be >= 0 and smaller than target_chars")
    units = _bounded_units(text, sentence_spans(text), target_chars)
    chunks: list[Span] = []
    first = 0
    while first < len(units):
        last = first
        while last + 1 < len(units) and units[last + 1].end - units[first].start <= target_chars:
            last += 1
        chunks.append(Span(units[first].start, units[last].end))
        if last + 1 >= len(units):
            break
        first = _overlap_start(units, first, last, overlap_chars)
    return chunks


def chunk_text(text: str, target_chars: int = 1200, overlap_chars: int = 200) -> list[str]:
    return [text[s.start : s.end] for s in chunk_spans(text, target_chars, overlap_chars)]


def _overlap_start(units: list[Span], first: int, last: int, overlap_chars: int) -> int:
    """Index of the first unit of the next chunk: the trailing units of this one that fit the overlap."""
    start = last + 1
    while start - 1 > first and units[last].end - units[start - 1].start <= overlap_chars:
        start -= 1
    return start


def _bounded_units(text: str, sentences: list[Span], limit: int) -> list[Span]:
    """Sentences, with any sentence longer than ``limit`` cut into word-bounded pieces."""
    units: list[Span] = []
    for span in sentences:
        if span.end - span.start <= limit:
            units.append(span)
        else:
            units.extend(_split_long(text, span, limit))
    return units


def _split_long(text: str, span: Span, limit: int) -> list[Span]:
    pieces: list[Span] = []
    start = span.start
    while span.end - start > limit:
        cut = start + limit
        gaps = list(_WORD_GAP.finditer(text, start + 1, cut + 1))
        gap = gaps[-1] if gaps else None
        if gap is not None and gap.start() > start:
            pieces.append(Span(start, gap.start()))
            start = gap.end()
        else:  # one "word" longer than the limit (URLs, CJK text without spaces): hard cut
            pieces.append(Span(start, cut))
            start = cut
    if start < span.end:
        pieces.append(Span(start, span.end))
    return pieces


def _append_trimmed(text: str, start: int, end: int, spans: list[Span]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append(Span(start, end))
