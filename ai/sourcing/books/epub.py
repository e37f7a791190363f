"""EPUB text with ebooklib: chapters in spine order, titled from the table of contents."""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path
from typing import Any

import ebooklib
from ebooklib import epub

from ai.sourcing.books.html_text import html_to_text
from ai.sourcing.books.model import BookError, BookOptions, BookText, Section, describe_error
from ai.sourcing.books.safe_zip import check_epub_container

_ISBN_ID = re.compile(r"^(?:urn:isbn:|isbn:?\s*)?((?:97[89])?\d{9}[\dXx])$", re.IGNORECASE)


def read_epub(path: Path, options: BookOptions, deadline: float) -> BookText:
    check_epub_container(path, options)
    book = _load(path)
    titles = _toc_titles(book.toc)
    result = BookText(sections=[], metadata=_metadata(book))
    for index, (idref, _linear) in enumerate(book.spine, start=1):
        if time.monotonic() > deadline:
            raise BookError(
                "timeout", f"{path.name}: gave up at spine item {index}: over the per-file time limit"
            )
        section = _chapter(path, book, idref, index, titles, options, result)
        if section is not None:
            result.sections.append(section)
    return result


def _load(path: Path) -> epub.EpubBook:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return epub.read_epub(str(path), options={"ignore_ncx": False})
    except Exception as exc:  # ebooklib surfaces lxml and zip errors of every kind
        raise BookError(
            "corrupt_epub", f"{path.name}: the EPUB package cannot be read ({describe_error(exc)})"
        ) from None


def _chapter(
    path: Path,
    book: epub.EpubBook,
    idref: str,
    index: int,
    titles: dict[str, str],
    options: BookOptions,
    result: BookText,
) -> Section | None:
    item = book.get_item_with_id(idref)
    if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
        return None
    locator = f"{path.name}:{item.get_name()}"
    try:
        content = item.get_content()
        heading, text = html_to_text(content)
    except Exception as exc:  # one broken chapter must not lose the rest of the book
        result.problems.append(
            (
                "chapter_unreadable",
                f"{locator}: chapter cannot be parsed ({describe_error(exc)})",
                item.get_name(),
            )
        )
        return None
    if len(text) > options.max_page_chars * 10:
        result.problems.append(
            (
                "chapter_too_large",
                f"{locator}: chapter has {len(text):,} characters, over the limit of {options.max_page_chars * 10:,}",
                item.get_name(),
            )
        )
        return None
    if not text:
        return None
    title = titles.get(item.get_name(), "") or heading or f"Chapter {index}"
    return Section(
        text=text, title=title, locator={"chapter": title, "chapter_index": index, "href": item.get_name()}
    )


def _toc_titles(toc: Any) -> dict[str, str]:
    """Document href (without fragment) -> the first table-of-contents title that points into it."""
    titles: dict[str, str] = {}
    stack = list(toc) if isinstance(toc, list | tuple) else [toc]
    while stack:
        entry = stack.pop(0)
        if isinstance(entry, tuple | list):
            stack[0:0] = list(entry)
            continue
        href = getattr(entry, "href", "") or ""
        title = (getattr(entry, "title", "") or "").strip()
        if href and title:
            titles.setdefault(href.split("#", 1)[0], title)
    return titles


def _metadata(book: epub.EpubBook) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, field in (
        ("title", "title"),
        ("author", "creator"),
        ("language", "language"),
        ("rights", "rights"),
    ):
        values = _dc(book, field)
        if values:
            found[key] = "; ".join(values) if key == "author" else values[0]
    for identifier in _dc(book, "identifier"):
        match = _ISBN_ID.match(identifier.replace("-", "").replace(" ", ""))
        if match:
            found["isbn"] = match.group(1).upper()
            break
    return found


def _dc(book: epub.EpubBook, field: str) -> list[str]:
    try:
        entries = book.get_metadata("DC", field)
    except (KeyError, AttributeError):
        return []
    return [str(value).strip() for value, _attrs in entries if value and str(value).strip()]
