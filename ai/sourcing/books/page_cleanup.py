"""Turning raw PDF page text into clean prose.

Running headers, footers and page numbers are found by repetition: a first or last line that, once
digits are masked, recurs on a good share of the pages is page furniture, not text. Hyphens at line
ends are joined, ligatures unfolded and hard line wraps inside paragraphs removed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

LIGATURES = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",
    "\ufb06": "st",
    "\u0132": "IJ",
    "\u0133": "ij",
    "\u0152": "OE",
    "\u0153": "oe",
}
_LIGATURE_TABLE = str.maketrans(LIGATURES)
# Characters PDFs put in text layers that carry no meaning for a reader.
_INVISIBLE = str.maketrans({"\u00ad": None, "\u200b": None, "\ufeff": None, "\x00": None})

_HYPHEN_BREAK = re.compile(r"(\w)[-\u2010]\n[ \t]*(?=[a-zà-ÿ])")
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?[\divxlcdm]{1,6}(?:\s*(?:/|of)\s*\d{1,6})?\s*$", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_EDGE_LINES = 2  # how many lines at the top and bottom of a page may be header/footer


def clean_pages(pages: list[str], min_repeats: int = 3, repeat_share: float = 0.5) -> list[str]:
    """Clean every page and drop lines repeated at page edges across the document."""
    normalised = [normalise_characters(p) for p in pages]
    furniture = repeated_edge_lines(normalised, min_repeats, repeat_share)
    return [reflow(dehyphenate(_strip_page_furniture(p, furniture))) for p in normalised]


def normalise_characters(text: str) -> str:
    text = unicodedata.normalize("NFC", text.translate(_LIGATURE_TABLE).translate(_INVISIBLE))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))


def repeated_edge_lines(pages: list[str], min_repeats: int = 3, repeat_share: float = 0.5) -> set[str]:
    """Digit-masked lines that appear at a page edge on at least ``repeat_share`` of the pages."""
    if len(pages) < min_repeats:
        return set()
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({_edge_key(line) for line in _edge_lines(page)})
    needed = max(min_repeats, int(repeat_share * len(pages)))
    return {key for key, n in counts.items() if n >= needed and key}


def dehyphenate(text: str) -> str:
    """Join words split by a hyphen at a line end ("thera-\\npy" -> "therapy")."""
    return _HYPHEN_BREAK.sub(r"\1", text)


def reflow(text: str) -> str:
    """Unwrap hard line breaks inside paragraphs; keep blank lines as paragraph breaks."""
    paragraphs = re.split(r"\n\s*\n", text)
    joined = (" ".join(line.strip() for line in p.split("\n") if line.strip()) for p in paragraphs)
    return _BLANK_LINES.sub("\n\n", "\n\n".join(p for p in joined if p)).strip()


def _strip_page_furniture(page: str, furniture: set[str]) -> str:
    lines = page.split("\n")
    top, bottom = _edge_indices(lines)
    drop = {
        i
        for i in top | bottom
        if _edge_key(lines[i]) in furniture or (_PAGE_NUMBER.match(lines[i]) and lines[i].strip())
    }
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def _edge_lines(page: str) -> list[str]:
    lines = page.split("\n")
    top, bottom = _edge_indices(lines)
    return [lines[i] for i in sorted(top | bottom)]


def _edge_indices(lines: list[str]) -> tuple[set[int], set[int]]:
    filled = [i for i, line in enumerate(lines) if line.strip()]
    # On a short page the second line from an edge is body text more often than furniture.
    depth = _EDGE_LINES if len(filled) >= 3 * _EDGE_LINES else 1
    return set(filled[:depth]), set(filled[-depth:])


def _edge_key(line: str) -> str:
    return _DIGITS.sub("#", line.strip().casefold())
