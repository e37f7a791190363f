"""PDF text with pypdf: decrypt, read page by page under a deadline, clean, keep page offsets."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import PdfReadError

from ai.sourcing.books.model import BookError, BookOptions, BookText, Section, describe_error
from ai.sourcing.books.page_cleanup import clean_pages

ISBN = re.compile(r"\bISBN(?:-1[03])?[:\s]*((?:97[89][-\s]?)?\d[-\s]?(?:\d[-\s]?){8}[\dXx])")


def read_pdf(path: Path, options: BookOptions, deadline: float) -> BookText:
    with _quiet_pypdf():
        reader = _open(path)
        _decrypt_if_needed(reader, path, options)
        page_count = _page_count(reader, path)
        book = BookText(sections=[], metadata=_metadata(reader))
        raw_pages = _raw_pages(reader, path, page_count, options, deadline, book)
    cleaned = clean_pages([text for _, text in raw_pages], options.header_footer_min_repeats)
    section = _join_pages([(number, text) for (number, _), text in zip(raw_pages, cleaned, strict=True)])
    if section.text:
        book.sections.append(section)
        isbn = ISBN.search(section.text[:20_000])
        if isbn and "isbn" not in book.metadata:
            book.metadata["isbn"] = re.sub(r"[-\s]", "", isbn.group(1)).upper()
    return book


def _open(path: Path) -> PdfReader:
    try:
        return PdfReader(path, strict=False)
    except (PdfReadError, ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise BookError("corrupt_pdf", f"{path.name}: not a readable PDF ({describe_error(exc)})") from None


def _decrypt_if_needed(reader: PdfReader, path: Path, options: BookOptions) -> None:
    if not reader.is_encrypted:
        return
    candidates = [options.passwords.get(path.name, ""), options.password, ""]
    for password in dict.fromkeys(candidates):
        try:
            if reader.decrypt(password) != PasswordType.NOT_DECRYPTED:
                return
        except (PdfReadError, NotImplementedError, ValueError, KeyError, TypeError) as exc:
            raise BookError(
                "encrypted_unsupported",
                f"{path.name}: encrypted with a scheme that cannot be opened ({describe_error(exc)})",
            ) from None
    configured = bool(options.password or options.passwords.get(path.name))
    tried = (
        "neither the configured password nor an empty one opens it" if configured else "no password was given"
    )
    raise BookError(
        "encrypted",
        f"{path.name}: the PDF is encrypted and {tried}; set options.passwords"
        f"['{path.name}'] (or options.password) for this source",
    )


def _page_count(reader: PdfReader, path: Path) -> int:
    try:
        return len(reader.pages)
    except Exception as exc:  # pypdf raises many types on a broken page tree
        raise BookError(
            "corrupt_pdf", f"{path.name}: the page tree cannot be read ({describe_error(exc)})"
        ) from None


def _raw_pages(
    reader: PdfReader, path: Path, page_count: int, options: BookOptions, deadline: float, book: BookText
) -> list[tuple[int, str]]:
    """Text of each readable page (1-based numbers); unreadable pages are recorded as problems."""
    pages: list[tuple[int, str]] = []
    last = min(page_count, options.max_pages)
    for number in range(1, last + 1):
        if time.monotonic() > deadline:
            raise BookError(
                "timeout",
                f"{path.name}: gave up at page {number} of {page_count}: over the per-file time limit",
            )
        text = _page_text(reader, path, number, options, book)
        if text:
            pages.append((number, text))
    if page_count > last:
        book.problems.append(
            (
                "too_many_pages",
                f"{path.name}: pages {last + 1}-{page_count} skipped: over the limit of {options.max_pages} pages",
                f"{last + 1}-{page_count}",
            )
        )
    return pages


def _page_text(reader: PdfReader, path: Path, number: int, options: BookOptions, book: BookText) -> str:
    locator = f"{path.name}:{number}"
    try:
        text = reader.pages[number - 1].extract_text() or ""
    except Exception as exc:  # a damaged content stream breaks one page, not the book
        book.problems.append(
            (
                "page_unreadable",
                f"{locator}: page text cannot be extracted ({describe_error(exc)})",
                str(number),
            )
        )
        return ""
    if len(text) > options.max_page_chars:
        book.problems.append(
            (
                "page_too_large",
                f"{locator}: page has {len(text):,} characters, over the limit of {options.max_page_chars:,}",
                str(number),
            )
        )
        return ""
    return text


def _join_pages(pages: list[tuple[int, str]]) -> Section:
    parts: list[str] = []
    starts: list[tuple[int, int]] = []
    offset = 0
    for number, text in pages:
        if not text:
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        starts.append((offset, number))
        parts.append(text)
        offset += len(text)
    return Section(text="".join(parts), page_starts=starts)


def _metadata(reader: PdfReader) -> dict[str, str]:
    try:
        info = reader.metadata
        fields = {"title": info.title, "author": info.author, "subject": info.subject} if info else {}
    except Exception:  # broken /Info dictionaries are common and never worth losing the text over
        return {}
    return {key: str(value).strip() for key, value in fields.items() if value and str(value).strip()}


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs a warning for every damaged object; problems are reported as rejections instead."""
    logger = logging.getLogger("pypdf")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)
