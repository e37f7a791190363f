"""Books: chunking, page cleanup, HTML text, EPUB container guards, isolation and passage building."""

from __future__ import annotations

import itertools
import os
import signal
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ai.core.config import ConfigError
from ai.core.records import Passage
from ai.core.stage import Rejection
from ai.sourcing.books import BookOptions, book_options, extract_books, find_book_files
from ai.sourcing.books.extract import BookFile, book_format, extract_book
from ai.sourcing.books.html_text import html_to_text
from ai.sourcing.books.isolation import run_in_child
from ai.sourcing.books.model import BookError
from ai.sourcing.books.page_cleanup import clean_pages, dehyphenate, normalise_characters, repeated_edge_lines
from ai.sourcing.books.safe_zip import check_epub_container
from ai.sourcing.text_chunking import chunk_spans, chunk_text, sentence_spans

INLINE = BookOptions(isolate=False)

# --- chunking -----------------------------------------------------------------------------------------


def test_sentences_are_split_at_terminal_punctuation_and_blank_lines() -> None:
    text = 'He said "Stop." Then left! Why?\n\nNew paragraph without end'
    assert [text[s.start : s.end] for s in sentence_spans(text)] == [
        'He said "Stop."',
        "Then left!",
        "Why?",
        "New paragraph without end",
    ]


def test_chunks_end_on_sentence_boundaries_and_overlap() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(40)]
    text = " ".join(sentences)
    chunks = chunk_text(text, target_chars=200, overlap_chars=60)
    assert all(len(c) <= 200 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    for previous, following in itertools.pairwise(chunks):
        last_sentence = previous.rsplit(". ", 1)[-1]
        first_sentence = following.split(". ", 1)[0] + "."
        assert last_sentence in following, "the next chunk repeats the last sentence"
        assert first_sentence in previous and len(first_sentence) <= 60
    covered = " ".join(chunks)
    assert all(s in covered for s in sentences)


def test_a_sentence_longer_than_the_target_is_cut_between_words() -> None:
    text = " ".join(["word"] * 100) + " " + "x" * 150
    spans = chunk_spans(text, target_chars=64, overlap_chars=0)
    pieces = [text[s.start : s.end] for s in spans]
    assert all(len(p) <= 64 for p in pieces)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet="ab .!?\n\u00e9", max_size=600),
    target=st.integers(min_value=5, max_value=200),
    overlap_share=st.floats(min_value=0, max_value=0.9),
)
def test_chunks_cover_every_character_and_respect_the_size(
    text: str, target: int, overlap_share: float
) -> None:
    spans = chunk_spans(text, target, int(target * overlap_share))
    assert all(0 < s.end - s.start <= target for s in spans)
    assert all(a.start < b.start for a, b in itertools.pairwise(spans))
    covered = set().union(*(range(s.start, s.end) for s in spans)) if spans else set()
    assert {i for i, ch in enumerate(text) if not ch.isspace()} <= covered


@pytest.mark.parametrize(("target", "overlap"), [(0, 0), (100, 100), (100, -1)])
def test_chunk_sizes_are_validated(target: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_spans("Some text.", target, overlap)


# --- page cleanup -------------------------------------------------------------------------------------


def _page(number: int, body: str) -> str:
    return f"JOURNAL OF THINGS, VOL. 3\n{body}\nPage {number} of 9"


def test_running_headers_footers_and_page_numbers_are_removed() -> None:
    pages = [_page(n, f"Body text of page {n} continues here.\nA second line.") for n in range(1, 7)]
    pages.append("12\nClosing words.")
    cleaned = clean_pages(pages)
    assert cleaned[0] == "Body text of page 1 continues here. A second line."
    assert all("JOURNAL" not in p and "of 9" not in p for p in cleaned)
    assert cleaned[-1] == "Closing words."


def test_repeated_lines_need_enough_pages() -> None:
    assert repeated_edge_lines(["Header\nx", "Header\ny"]) == set()
    assert repeated_edge_lines([f"Header {n}\nbody {n}\nmore {n}\nend" for n in range(5)]) == {
        "header #",
        "end",
    }


def test_hyphenation_ligatures_and_invisible_characters() -> None:
    assert dehyphenate("psycho-\ntherapy works") == "psychotherapy works"
    assert dehyphenate("Anglo-\nSaxon") == "Anglo-\nSaxon"  # a capital after the break: a real hyphen
    assert normalise_characters("e\ufb03cient \ufb02ow\u00ad\r\nok") == "efficient flow\nok"


# --- HTML ---------------------------------------------------------------------------------------------


def test_html_chapters_become_paragraphs_with_a_title() -> None:
    markup = b"""<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>T</title>
    <style>p {color: red}</style></head><body><nav>skip me</nav><h1>Chapter  One</h1>
    <p>First <em>para</em>graph.</p><p>Second<br/>line.</p><script>alert(1)</script></body></html>"""
    title, text = html_to_text(markup)
    assert title == "Chapter One"
    assert text == "Chapter One\n\nFirst paragraph.\n\nSecond\nline."


def test_html_without_heading_uses_the_title_element() -> None:
    assert (
        html_to_text("<html><head><title> Only title </title></head><body><p>x</p></body></html>")[0]
        == "Only title"
    )


# --- EPUB fixtures ------------------------------------------------------------------------------------

CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""
OPF = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:identifier id="id">urn:isbn:978-0-306-40615-7</dc:identifier><dc:title>Coping Skills</dc:title>
<dc:creator>A. Author</dc:creator><dc:language>en</dc:language><dc:rights>CC-BY-4.0</dc:rights>
</metadata>
<manifest>
<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
<item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/>
<item id="c2" href="c2.xhtml" media-type="application/xhtml+xml"/>
</manifest>
<spine><itemref idref="c2"/><itemref idref="c1"/></spine>
</package>"""
NAV = """<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"
xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Nav</title></head><body>
<nav epub:type="toc"><ol><li><a href="c1.xhtml">Breathing</a></li><li><a href="c2.xhtml#top">Grounding</a></li></ol></nav>
</body></html>"""


def _chapter(heading: str, sentences: int) -> str:
    body = " ".join(f"{heading} sentence {i} keeps going." for i in range(sentences))
    return f'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body><h2>{heading}</h2><p>{body}</p></body></html>'


def write_epub(path: Path, extra: dict[str, bytes] | None = None, container: str = CONTAINER) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("OEBPS/content.opf", OPF)
        archive.writestr("OEBPS/nav.xhtml", NAV)
        archive.writestr("OEBPS/c1.xhtml", _chapter("Breathe", 30))
        archive.writestr("OEBPS/c2.xhtml", _chapter("Ground", 5))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def _extract(path: Path, options: BookOptions = INLINE) -> list[Passage | Rejection]:
    return list(extract_books([path], options))


def test_epub_chapters_in_spine_order_with_toc_titles_and_metadata(tmp_path: Path) -> None:
    items = _extract(
        write_epub(tmp_path / "book.epub"), BookOptions(isolate=False, target_chars=300, overlap_chars=50)
    )
    assert all(isinstance(i, Passage) for i in items)
    assert next(i.section for i in items) == "Grounding"  # spine puts c2 first
    assert {i.section for i in items} == {"Grounding", "Breathing"}
    first = items[0]
    assert first.title == "Coping Skills"
    assert first.meta == {"author": "A. Author", "isbn": "9780306406157", "language": "en", "format": "epub"}
    assert first.source.license == "CC-BY-4.0"
    assert first.source.locator == {
        "file": "book.epub",
        "chapter": "Grounding",
        "chapter_index": 1,
        "href": "c2.xhtml",
        "chunk": 0,
    }
    assert all(len(i.text) <= 300 for i in items)
    assert len({i.id for i in items}) == len(items)


def test_zip_slip_entries_are_refused(tmp_path: Path) -> None:
    path = write_epub(tmp_path / "slip.epub", {"../../evil.sh": b"rm -rf /"})
    [rejection] = _extract(path)
    assert isinstance(rejection, Rejection) and rejection.reason == "unsafe_zip_path"
    assert "../../evil.sh" in rejection.message


def test_zip_bombs_are_refused_before_decompression(tmp_path: Path) -> None:
    path = write_epub(tmp_path / "bomb.epub", {"OEBPS/zeros.bin": bytes(3_000_000)})
    [rejection] = _extract(path)
    assert isinstance(rejection, Rejection) and rejection.reason == "zip_bomb"
    assert "compression ratio" in rejection.message
    small_limit = BookOptions(isolate=False, max_uncompressed_bytes=1000)
    assert [r.reason for r in _extract(write_epub(tmp_path / "big.epub"), small_limit)] == ["zip_bomb"]
    few_entries = BookOptions(isolate=False, max_zip_entries=2)
    assert [r.reason for r in _extract(write_epub(tmp_path / "many.epub"), few_entries)] == ["zip_bomb"]


def test_xml_entity_tricks_in_the_container_are_refused(tmp_path: Path) -> None:
    evil = '<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]><container>&x;</container>'
    [rejection] = _extract(write_epub(tmp_path / "xxe.epub", container=evil))
    assert isinstance(rejection, Rejection) and rejection.reason == "unsafe_xml"


@pytest.mark.parametrize(
    ("container", "reason"),
    [
        ("<container><rootfiles/></container>", "not_an_epub"),
        ("<container><oops></container>", "corrupt_epub"),
        (CONTAINER.replace("OEBPS/content.opf", "missing.opf"), "not_an_epub"),
    ],
)
def test_broken_containers_are_refused(tmp_path: Path, container: str, reason: str) -> None:
    [rejection] = _extract(write_epub(tmp_path / "broken.epub", container=container))
    assert isinstance(rejection, Rejection) and rejection.reason == reason


def test_non_zip_and_truncated_epubs(tmp_path: Path) -> None:
    (tmp_path / "text.epub").write_text("just text, not a zip")
    good = write_epub(tmp_path / "good.epub").read_bytes()
    (tmp_path / "truncated.epub").write_bytes(good[: len(good) // 2])
    reasons = {r.locator: r.reason for r in _extract(tmp_path) if isinstance(r, Rejection)}
    assert reasons == {"text.epub": "not_a_zip", "truncated.epub": "not_a_zip"}


def test_check_epub_container_raises_book_error_with_reason(tmp_path: Path) -> None:
    (tmp_path / "empty.epub").write_bytes(b"")
    with pytest.raises(BookError) as error:
        check_epub_container(tmp_path / "empty.epub", INLINE)
    assert error.value.reason == "empty_file"


# --- PDFs and limits ----------------------------------------------------------------------------------


def test_files_over_the_size_limit_are_not_opened(tmp_path: Path) -> None:
    path = write_epub(tmp_path / "book.epub")
    [rejection] = _extract(path, BookOptions(isolate=False, max_file_bytes=100))
    assert isinstance(rejection, Rejection) and rejection.reason == "too_large"


def test_unknown_files_are_sniffed_by_content(tmp_path: Path) -> None:
    (tmp_path / "book.bin").write_bytes(b"%PDF-1.4 garbage")
    (tmp_path / "other.bin").write_bytes(b"hello")
    write_epub(tmp_path / "zipped.bin")
    assert book_format(tmp_path / "book.bin") == "pdf"
    assert book_format(tmp_path / "zipped.bin") == "epub"
    assert book_format(tmp_path / "other.bin") == ""
    [rejection] = _extract(tmp_path / "other.bin")
    assert isinstance(rejection, Rejection) and rejection.reason == "unsupported_format"
    [corrupt] = _extract(tmp_path / "book.bin")
    assert isinstance(corrupt, Rejection) and corrupt.reason == "corrupt_pdf"


def test_missing_paths_and_directories_without_books_are_reported(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("not a book")
    reasons = [
        r.reason for r in extract_books([tmp_path / "nope", tmp_path], INLINE) if isinstance(r, Rejection)
    ]
    assert reasons == ["path_not_found", "path_not_found"]


def test_book_files_are_found_recursively_case_insensitively_and_by_glob(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write_epub(tmp_path / "sub" / "A.ePub")
    write_epub(tmp_path / "b.epub")
    (tmp_path / "notes.txt").write_text("x")
    assert [d for _, d in find_book_files(tmp_path, [".epub", ".pdf"])] == ["b.epub", "sub/A.ePub"]
    assert [d for _, d in find_book_files(tmp_path / "**" / "*.ePub", [".epub"])] == ["A.ePub"]


def test_isolated_extraction_gives_the_same_passages(tmp_path: Path) -> None:
    path = write_epub(tmp_path / "book.epub")
    book_file = BookFile(path, "book.epub", "books")
    inline = extract_book(book_file, INLINE)
    isolated = extract_book(book_file, BookOptions(isolate=True))
    assert isolated == inline and inline.passages


def test_a_hanging_extractor_is_killed_at_the_deadline() -> None:
    def hang() -> bytes:
        time.sleep(60)
        return b""

    started = time.monotonic()
    outcome = run_in_child(hang, timeout=0.5)
    assert outcome.status == "timeout"
    assert time.monotonic() - started < 10


def test_a_crashing_extractor_is_reported() -> None:
    def crash() -> bytes:
        os.kill(os.getpid(), signal.SIGKILL)
        return b""

    outcome = run_in_child(crash, timeout=10)
    assert outcome.status == "crashed" and "signal" in outcome.detail

    def fail() -> bytes:
        raise RuntimeError("boom")

    assert run_in_child(fail, timeout=10).status == "crashed"


def test_isolated_child_returns_large_payloads() -> None:
    payload = os.urandom(1_000_000)
    outcome = run_in_child(lambda: payload, timeout=30)
    assert outcome.status == "ok" and outcome.payload == payload


def test_book_options_errors_name_the_source() -> None:
    with pytest.raises(ConfigError, match=r"sources\[mybooks\]\.options"):
        book_options({"target_chars": 100, "overlap_chars": 100}, "mybooks")
    with pytest.raises(ConfigError):
        book_options({"no_such_option": 1}, "mybooks")
    assert book_options({"password": "pw"}).password == "pw"


# --- page-level problems and limits on real PDFs (in process, so every branch is measured) ------------


def test_page_level_problems_keep_the_rest_of_the_book(shared_data: Path) -> None:
    books = shared_data / "books"
    broken = _extract(books / "malformed" / "qpdf_broken-lzw.pdf")
    assert [(r.reason, r.locator) for r in broken if isinstance(r, Rejection)] == [
        ("page_unreadable", "qpdf_broken-lzw.pdf:1"),
        ("no_text", "qpdf_broken-lzw.pdf"),
    ]
    small_pages = BookOptions(isolate=False, max_page_chars=3000)
    items = _extract(books / "pdf" / "pdfminer_naacl06-shinyama_NONFREE.pdf", small_pages)
    too_large = [r.locator for r in items if isinstance(r, Rejection) and r.reason == "page_too_large"]
    assert too_large == [f"pdfminer_naacl06-shinyama_NONFREE.pdf:{n}" for n in (1, 2, 3, 5, 6, 7, 8)]
    kept_pages = {tuple(p.source.locator["pages"]) for p in items if isinstance(p, Passage)}
    assert kept_pages == {(4, 4)}  # the one page under the limit is still used


def test_the_per_file_deadline_stops_between_pages(shared_data: Path) -> None:
    path = shared_data / "books" / "pdf" / "samplefiles_GeoTopo-komprimiert.pdf"
    [rejection] = _extract(path, BookOptions(isolate=False, timeout_seconds=0.05))
    assert isinstance(rejection, Rejection) and rejection.reason == "timeout"
    assert "per-file time limit" in rejection.message


@pytest.mark.parametrize(
    ("error", "reason"),
    [(MemoryError(), "too_large"), (RecursionError(), "corrupt"), (KeyError("x"), "unreadable")],
)
def test_reader_failures_become_rejections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException, reason: str
) -> None:
    def failing_reader(*args: object) -> None:
        raise error

    monkeypatch.setattr("ai.sourcing.books.extract.read_epub", failing_reader)
    [rejection] = _extract(write_epub(tmp_path / "book.epub"))
    assert isinstance(rejection, Rejection) and rejection.reason == reason


def test_the_child_memory_cap_stops_a_runaway_allocation() -> None:
    def allocate() -> bytes:
        return bytes(4_000_000_000)

    outcome = run_in_child(allocate, timeout=30, max_memory_mb=200)
    assert outcome.status == "crashed" and "exit status 70" in outcome.detail
