"""One book file -> passages, or rejections that say why not. Never raises for a bad file."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ai.core.records import Passage, Provenance, passage_id
from ai.core.stage import Rejection
from ai.sourcing.books.epub import read_epub
from ai.sourcing.books.isolation import fork_available, run_in_child
from ai.sourcing.books.model import BookError, BookOptions, BookText, Extraction, Section, describe_error
from ai.sourcing.books.pdf import read_pdf
from ai.sourcing.text_chunking import Span, chunk_spans

STAGE = "ingest"
_extraction_decoder = msgspec.msgpack.Decoder(Extraction)
_extraction_encoder = msgspec.msgpack.Encoder()


@dataclass(frozen=True, slots=True)
class BookFile:
    path: Path  # where to read it
    display: str  # how quarantine entries and locators name it (relative to the source root)
    source_name: str
    license: str = ""


def extract_book(book_file: BookFile, options: BookOptions) -> Extraction:
    """Passages of one PDF/EPUB; a file that cannot be read gives a Rejection instead."""
    if options.isolate and fork_available():
        return _extract_in_child(book_file, options)
    return extract_in_process(book_file, options)


def extract_in_process(book_file: BookFile, options: BookOptions) -> Extraction:
    deadline = time.monotonic() + options.timeout_seconds
    try:
        book = _read(book_file, options, deadline)
    except BookError as exc:
        return Extraction(rejections=[_rejection(book_file, exc.reason, exc.message)])
    except MemoryError:
        return Extraction(
            rejections=[
                _rejection(book_file, "too_large", f"{book_file.display}: ran out of memory reading it")
            ]
        )
    except RecursionError:
        return Extraction(
            rejections=[_rejection(book_file, "corrupt", f"{book_file.display}: nested too deeply to read")]
        )
    except Exception as exc:  # a reader bug on one hostile file must not stop the run
        message = f"{book_file.display}: unexpected error while reading ({describe_error(exc)})"
        return Extraction(rejections=[_rejection(book_file, "unreadable", message)])
    return _passages_and_problems(book_file, book, options)


def _extract_in_child(book_file: BookFile, options: BookOptions) -> Extraction:
    def work() -> bytes:
        return _extraction_encoder.encode(extract_in_process(book_file, options))

    # The child enforces the same deadline between pages; the parent's kill is the backstop for a hang
    # inside one page, so it waits a little longer than the child's own limit.
    outcome = run_in_child(work, options.timeout_seconds + 5.0, options.max_memory_mb)
    if outcome.status == "ok":
        try:
            return _extraction_decoder.decode(outcome.payload)
        except msgspec.DecodeError as exc:
            detail = f"the extractor's answer was unreadable ({exc})"
            return Extraction(
                rejections=[_rejection(book_file, "unreadable", f"{book_file.display}: {detail}")]
            )
    reason = "timeout" if outcome.status == "timeout" else "extractor_crashed"
    return Extraction(rejections=[_rejection(book_file, reason, f"{book_file.display}: {outcome.detail}")])


def _read(book_file: BookFile, options: BookOptions, deadline: float) -> BookText:
    path = book_file.path
    size = path.stat().st_size
    if size > options.max_file_bytes:
        raise BookError(
            "too_large", f"{book_file.display}: {size:,} bytes, over the limit of {options.max_file_bytes:,}"
        )
    kind = book_format(path)
    if kind == "pdf":
        return read_pdf(path, options, deadline)
    if kind == "epub":
        return read_epub(path, options, deadline)
    raise BookError("unsupported_format", f"{book_file.display}: neither a PDF nor an EPUB")


def book_format(path: Path) -> str:
    """'pdf' or 'epub' by extension, else by the file's first bytes; '' when it is neither."""
    suffix = path.suffix.lower()
    if suffix in (".pdf", ".epub"):
        return suffix[1:]
    with path.open("rb") as handle:
        head = handle.read(1024)
    if b"%PDF-" in head:
        return "pdf"
    return "epub" if head.startswith(b"PK") else ""


def _passages_and_problems(book_file: BookFile, book: BookText, options: BookOptions) -> Extraction:
    passages = [
        passage
        for section in book.sections
        for passage in _section_passages(book_file, book, section, options)
    ]
    rejections = [
        Rejection(stage=STAGE, reason=reason, message=message, locator=f"{book_file.display}:{where}")
        for reason, message, where in book.problems
    ]
    if not passages:
        why = "; some parts could not be read (see the other entries)" if rejections else ""
        hint = (
            " (a scanned PDF without a text layer needs OCR first)"
            if book_format(book_file.path) == "pdf"
            else ""
        )
        rejections.append(
            _rejection(book_file, "no_text", f"{book_file.display}: no extractable text{hint}{why}")
        )
    return Extraction(passages=passages, rejections=rejections)


def _section_passages(
    book_file: BookFile, book: BookText, section: Section, options: BookOptions
) -> list[Passage]:
    fmt = book_format(book_file.path)
    meta = {k: v for k, v in book.metadata.items() if k in ("author", "isbn", "language", "subject")}
    meta["format"] = fmt
    title = book.metadata.get("title") or book_file.path.stem
    license_ = book_file.license or book.metadata.get("rights", "")
    passages = []
    for index, span in enumerate(chunk_spans(section.text, options.target_chars, options.overlap_chars)):
        text = section.text[span.start : span.end]
        locator: dict[str, object] = {"file": book_file.display, **section.locator, "chunk": index}
        heading = section.title
        if section.page_starts:
            first, last = _page_range(section.page_starts, span)
            locator["pages"] = [first, last]
            heading = f"page {first}" if first == last else f"pages {first}-{last}"
        source = Provenance(
            kind="book", name=book_file.source_name, uri=book_file.display, license=license_, locator=locator
        )
        passages.append(
            Passage(
                id=passage_id(text, source),
                text=text,
                source=source,
                title=title,
                section=heading,
                tags=["book", fmt],
                meta=dict(meta),
            )
        )
    return passages


def _page_range(page_starts: list[tuple[int, int]], span: Span) -> tuple[int, int]:
    offsets = [offset for offset, _ in page_starts]
    first = page_starts[max(bisect.bisect_right(offsets, span.start) - 1, 0)][1]
    last = page_starts[max(bisect.bisect_right(offsets, span.end - 1) - 1, 0)][1]
    return first, last


def _rejection(book_file: BookFile, reason: str, message: str) -> Rejection:
    return Rejection(stage=STAGE, reason=reason, message=message, locator=book_file.display)
