"""Options and intermediate shapes shared by the PDF and EPUB readers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from ai.core.records import Passage
from ai.core.stage import Rejection


class BookOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options:`` of a ``kind: books`` source."""

    target_chars: int = 1200  # passage size the chunker aims for
    overlap_chars: int = 200  # trailing sentences repeated at the start of the next passage
    password: str = ""  # tried on every encrypted PDF (use ${ENV_VAR} in the config)
    passwords: dict[str, str] = msgspec.field(default_factory=dict)  # file name -> password
    extensions: list[str] = msgspec.field(default_factory=lambda: [".pdf", ".epub"])
    max_file_bytes: int = 200_000_000
    timeout_seconds: float = 120.0  # wall time per file, enforced by killing the extractor
    isolate: bool = True  # extract each file in a forked child so a hang or crash can be killed
    max_memory_mb: int = 2048  # address-space growth allowed to an isolated extractor (0: no limit)
    max_pages: int = 5000
    max_page_chars: int = 200_000  # a page with more text than this is quarantined, not read
    header_footer_min_repeats: int = 3
    # Zip-bomb guards, checked on the central directory before anything is decompressed.
    max_zip_entries: int = 10_000
    max_uncompressed_bytes: int = 500_000_000
    max_member_bytes: int = 100_000_000
    max_compression_ratio: float = 200.0

    def __post_init__(self) -> None:
        if self.target_chars <= 0:
            raise ValueError("target_chars must be positive")
        if not 0 <= self.overlap_chars < self.target_chars:
            raise ValueError("overlap_chars must be >= 0 and smaller than target_chars")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")


class BookError(Exception):
    """A whole file cannot be read; ``reason`` is the quarantine reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(slots=True)
class Section:
    """A run of book text: a chapter of an EPUB or the whole body of a PDF.

    ``page_starts`` maps character offsets in ``text`` to PDF page numbers (offset, page), in order.
    """

    text: str
    title: str = ""
    locator: dict[str, Any] = field(default_factory=dict)
    page_starts: list[tuple[int, int]] = field(default_factory=list)


@dataclass(slots=True)
class BookText:
    sections: list[Section]
    metadata: dict[str, str] = field(default_factory=dict)
    # Parts of a readable file that could not be read (a broken page, a page over the size limit).
    # (reason, message, where in the file: a page number, page range or chapter href)
    problems: list[tuple[str, str, str]] = field(default_factory=list)


class Extraction(msgspec.Struct):
    """What one book file produced; the unit sent back from an isolated extractor."""

    passages: list[Passage] = msgspec.field(default_factory=list)
    rejections: list[Rejection] = msgspec.field(default_factory=list)


def describe_error(exc: BaseException) -> str:
    """'TypeName: first line of the message', short enough for a quarantine entry."""
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
