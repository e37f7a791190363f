"""Every file in ../shared/data/books gives passages or a quarantine reason (real PDFs and EPUBs)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from ai.core.config import SourceConfig
from ai.core.records import Passage
from ai.core.stage import Rejection
from ai.sourcing.books import BookOptions, extract_books, find_book_files, read_source

# A 20-page limit keeps the 117-page thesis and the 23-page review quick, and exercises too_many_pages.
FAST = {"isolate": False, "max_pages": 20}
PASSWORDS = {
    "samplefiles_libreoffice-writer-password_ENCRYPTED.pdf": "openpassword",
    "pypdf_encrypted-file_ENCRYPTED.pdf": "test",
}


def _by_file(items: list[Passage | Rejection]) -> tuple[Counter[str], dict[str, list[str]]]:
    passages: Counter[str] = Counter()
    reasons: dict[str, list[str]] = {}
    for item in items:
        if isinstance(item, Passage):
            passages[item.source.locator["file"]] += 1
        else:
            reasons.setdefault(item.locator.split(":")[0], []).append(item.reason)
    return passages, reasons


@pytest.fixture(scope="module")
def books(shared_data: Path) -> Path:
    return shared_data / "books"


@pytest.fixture(scope="module")
def pdf_results(books: Path) -> list[Passage | Rejection]:
    return list(extract_books([books / "pdf"], BookOptions(passwords=PASSWORDS, **FAST)))


@pytest.fixture(scope="module")
def epub_results(books: Path) -> list[Passage | Rejection]:
    return list(extract_books([books / "epub"], BookOptions(**FAST)))


@pytest.fixture(scope="module")
def malformed_results(books: Path) -> list[Passage | Rejection]:
    # Hostile files run the production way: one killable child per file.
    return list(extract_books([books / "malformed"], BookOptions(isolate=True, timeout_seconds=30)))


def test_every_pdf_gives_text_or_a_reason(books: Path, pdf_results: list[Passage | Rejection]) -> None:
    files = {display for _, display in find_book_files(books / "pdf", [".pdf", ".epub"])}
    passages, reasons = _by_file(pdf_results)
    assert len(files) == 18
    assert files == set(passages) | set(reasons)
    assert len(passages) == 17  # both encrypted files open with their configured passwords
    assert reasons["pdfjs_empty_no_text.pdf"] == ["no_text"]
    assert reasons["samplefiles_GeoTopo-komprimiert.pdf"] == ["too_many_pages"]
    assert reasons["pdfjs_TAMReview.pdf"] == ["too_many_pages"]
    assert len(reasons) == 3
    assert passages["pdfjs_tracemonkey.pdf"] > 50


def test_encrypted_pdfs_without_password_are_quarantined_with_the_reason(books: Path) -> None:
    encrypted = sorted((books / "pdf").glob("*_ENCRYPTED.pdf"))
    items = list(extract_books(encrypted, BookOptions(isolate=False)))
    assert [type(i) for i in items] == [Rejection, Rejection]
    assert {i.reason for i in items} == {"encrypted"}
    assert all("options.passwords" in i.message for i in items if isinstance(i, Rejection))


def test_pdf_passages_carry_pages_title_and_clean_text(pdf_results: list[Passage | Rejection]) -> None:
    tracemonkey = [
        p
        for p in pdf_results
        if isinstance(p, Passage) and p.source.locator["file"] == "pdfjs_tracemonkey.pdf"
    ]
    pages = [p.source.locator["pages"] for p in tracemonkey]
    assert pages[0][0] == 1 and pages[-1][1] == 14
    assert all(first <= last for first, last in pages)
    text = " ".join(p.text for p in tracemonkey)
    assert "\ufb01" not in text and "\ufb02" not in text  # ligatures unfolded
    assert "Trace-based Just-in-Time Type Specialization" in text
    assert all(p.source.kind == "book" and p.id.startswith("p_") for p in tracemonkey)
    assert all(len(p.text) <= 1200 for p in tracemonkey)


def test_pdf_text_matches_pypdf_expected_extraction(
    books: Path, pdf_results: list[Passage | Rejection]
) -> None:
    # pypdf's expected text keeps the ﬁ ligature; ours unfolds it, which NFKC does to the expectation too.
    raw = (books / "pdf" / "pypdf_crazyones.expected.txt").read_text(encoding="utf-8")
    expected = re.findall(r"\w+", unicodedata.normalize("NFKC", raw).lower())
    ours = [
        p for p in pdf_results if isinstance(p, Passage) and p.source.locator["file"] == "pypdf_crazyones.pdf"
    ]
    words = re.findall(r"\w+", " ".join(p.text for p in ours).lower())
    assert words == expected


def test_every_epub_gives_chaptered_passages(books: Path, epub_results: list[Passage | Rejection]) -> None:
    files = {display for _, display in find_book_files(books / "epub", [".pdf", ".epub"])}
    passages, reasons = _by_file(epub_results)
    assert len(files) == 26  # includes two upper-case .ePub files
    assert set(passages) == files
    assert reasons == {}
    moby = [
        p
        for p in epub_results
        if isinstance(p, Passage) and p.source.locator["file"] == "idpf-samples_moby-dick.epub"
    ]
    assert moby[0].title == "Moby-Dick" and moby[0].meta["author"] == "Herman Melville"
    indexes = [p.source.locator["chapter_index"] for p in moby]
    assert indexes == sorted(indexes)  # spine order
    assert any(p.section.startswith("CHAPTER 1") or "Loomings" in p.section for p in moby)
    assert sum(len(p.text.split()) for p in moby) > 200_000


def test_malformed_books_each_give_text_or_a_reason(
    books: Path, malformed_results: list[Passage | Rejection]
) -> None:
    files = {display for _, display in find_book_files(books / "malformed", [".pdf", ".epub"])}
    passages, reasons = _by_file(malformed_results)
    assert len(files) == 55
    assert files == set(passages) | set(reasons)
    assert len(passages) == 29
    unread = files - set(passages)
    assert len(unread) == 26
    counts = Counter(r for f in unread for r in reasons[f] if r != "page_unreadable")
    assert counts == {
        "corrupt_pdf": 17,
        "no_text": 4,
        "encrypted": 1,
        "not_a_zip": 2,
        "empty_file": 1,
        "not_an_epub": 1,
    }
    assert reasons["qpdf_broken-lzw.pdf"] == ["page_unreadable", "no_text"]


def test_books_source_entry_reads_config_paths(books: Path) -> None:
    source = SourceConfig(
        name="shared-books",
        kind="books",
        path="epub/epubjs_alice.epub",
        license="BSD-2",
        options={"isolate": False},
    )
    items = list(read_source(source, books))
    assert items and all(isinstance(i, Passage) for i in items)
    assert {i.source.name for i in items} == {"shared-books"}
    assert {i.source.license for i in items} == {"BSD-2"}
