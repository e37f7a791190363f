"""Hostile bytes against every reader: arbitrary and mutated input never raises, it is quarantined.

Each reader gets (a) arbitrary bytes and (b) small real samples mutated by byte flips, inserts,
deletions, truncation and duplicated chunks. The contract checked is the pipeline's: a reader yields
only Conversations, Passages and Rejections (with a reason code and a message), and never raises for
bad file content. Real shared-data samples are mutated too when ../shared/data is present.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ai.core.config import SourceConfig
from ai.core.records import Conversation, Passage
from ai.core.stage import Rejection
from ai.sourcing.academic.academic_sourcing import read_source as read_academic
from ai.sourcing.books import read_source as read_books
from ai.sourcing.datasets import read_source as read_dataset
from ai.sourcing.youtube import read_source as read_youtube

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # CI replays the same examples every time; developers' runs explore new ones.
    derandomize=bool(os.environ.get("CI")),
)
HEAVY = settings(FUZZ, max_examples=30)  # PDF and EPUB parsing costs more per example

# --- small real samples (written for these tests) -----------------------------------------------------

OPENAI_JSONL = (
    b'{"id": "a1", "messages": [{"role": "user", "content": "I cannot sleep before exams."}, '
    b'{"role": "assistant", "content": "That sounds exhausting. What keeps you awake?"}]}\n'
    b'{"id": "a2", "messages": [{"role": "system", "content": "Be kind."}, '
    b'{"role": "user", "content": "My dad is ill."}, {"role": "assistant", "content": "I am sorry."}]}\n'
)
SHAREGPT_JSON = (
    b'[{"id": "s1", "conversations": [{"from": "human", "value": "Work is crushing me."}, '
    b'{"from": "gpt", "value": "That sounds heavy. What part weighs most?"}]}]'
)
COUNSEL_CSV = (
    b"questionID,questionTitle,questionText,topic,answerText,upvotes\n"
    b'1,Overthinking,"I overthink every night, what can I do?",insomnia,"Writing worries down earlier helps.",3\n'
    b'2,Lonely,"I moved cities and know nobody.",loneliness,"Moving is hard; small clubs help.",1\n'
)
ESCONV_JSONL = (
    b'{"experience_type": "Current Experience", "emotion_type": "anxiety", "problem_type": "job crisis", '
    b'"situation": "I lost my job.", "dialog": [{"text": "Hello, how are you?", "speaker": "sys", '
    b'"strategy": "Question"}, {"text": "Not great, I was let go.", "speaker": "usr"}, '
    b'{"text": "I am sorry, that is a shock.", "speaker": "sys", "strategy": "Reflection of feelings"}]}\n'
)
PUBMED_XML = b"""<?xml version="1.0"?>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>123</PMID><Article>
<Journal><Title>J Sleep</Title><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue></Journal>
<ArticleTitle>Sleep and anxiety</ArticleTitle><Abstract><AbstractText Label="BACKGROUND">Poor sleep
predicts anxiety in students.</AbstractText><AbstractText>CBT-I helps.</AbstractText></Abstract>
<AuthorList><Author><LastName>Doe</LastName><ForeName>Jane</ForeName></Author></AuthorList>
</Article></MedlineCitation><PubmedData><ArticleIdList><ArticleId IdType="doi">10.1/x</ArticleId>
</ArticleIdList></PubmedData></PubmedArticle></PubmedArticleSet>
"""
VTT = b"""WEBVTT

00:00:00.000 --> 00:00:02.500
Welcome back to the channel.

00:00:02.500 --> 00:00:06.000 align:start position:0%
<c>Today</c><00:00:03.000><c> we talk about</c> anxiety.

00:00:06.000 --> 00:00:09.000
Breathing slowly can help calm the body.
"""
SRT = b"""1
00:00:00,000 --> 00:00:02,500
Therapist: How was your week?

2
00:00:02,500 --> 00:00:05,000
Client: Hard, I barely slept.

3
00:00:05,000 --> 00:00:08,000
Therapist: Tell me more about the nights.
"""


def make_pdf(text: str) -> bytes:
    """A one-page PDF with a real xref table, so pypdf reads it strictly."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 144] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Root 1 0 R /Size %d >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


PDF = make_pdf("Grounding helps when panic rises. Breathe slowly and notice five things you can see.")
EPUB_CONTAINER = b"""<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""
EPUB_OPF = b"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">x</dc:identifier>
<dc:title>Coping</dc:title><dc:language>en</dc:language></metadata>
<manifest><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/></manifest>
<spine><itemref idref="c1"/></spine></package>"""
EPUB_CHAPTER = (
    b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>One</title></head><body><h1>Breathing</h1>'
    b"<p>Slow breathing calms the body. Count to four in, four out. Practise daily.</p></body></html>"
)


def make_epub(
    container: bytes = EPUB_CONTAINER,
    opf: bytes = EPUB_OPF,
    chapter: bytes = EPUB_CHAPTER,
    extra: dict[str, bytes] | None = None,
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("OEBPS/content.opf", opf)
        archive.writestr("OEBPS/c1.xhtml", chapter)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


EPUB = make_epub()

# --- readers under test ---------------------------------------------------------------------------------

BOOK_OPTIONS = {"isolate": False, "timeout_seconds": 20.0, "max_pages": 50}


def _dataset(fmt: str) -> Callable[[Path], Iterator]:
    def read(path: Path) -> Iterator:
        return read_dataset(
            SourceConfig(name="fuzz", kind="dataset", path=str(path), format=fmt), path.parent
        )

    return read


def _academic(path: Path) -> Iterator:
    return read_academic(SourceConfig(name="fuzz", kind="academic", path=str(path)), path.parent)


def _youtube(path: Path) -> Iterator:
    return read_youtube(SourceConfig(name="fuzz", kind="youtube", path=str(path)), path.parent)


def _books(path: Path) -> Iterator:
    return read_books(
        SourceConfig(name="fuzz", kind="books", path=str(path), options=BOOK_OPTIONS), path.parent
    )


# name -> (file name, reader, seed sample)
READERS: dict[str, tuple[str, Callable[[Path], Iterator], bytes]] = {
    "jsonl": ("chat.jsonl", _dataset("openai"), OPENAI_JSONL),
    "sharegpt": ("chat.json", _dataset("sharegpt"), SHAREGPT_JSON),
    "csv": ("qa.csv", _dataset("counsel_chat"), COUNSEL_CSV),
    "esconv": ("esconv.jsonl", _dataset("esconv"), ESCONV_JSONL),
    "pubmed": ("pubmed.xml", _academic, PUBMED_XML),
    "vtt": ("talk.en.vtt", _youtube, VTT),
    "srt": ("session.srt", _youtube, SRT),
    "pdf": ("book.pdf", _books, PDF),
    "epub": ("book.epub", _books, EPUB),
}
LIGHT = [name for name in READERS if name not in ("pdf", "epub")]


def read_bytes(reader: str, data: bytes) -> list[Conversation | Passage | Rejection]:
    """Write ``data`` under the reader's file name in a fresh directory and read it all."""
    file_name, read, _ = READERS[reader]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / file_name
        path.write_bytes(data)
        return list(read(path))


def assert_quarantined_not_raised(items: list[Conversation | Passage | Rejection]) -> None:
    for item in items:
        assert isinstance(item, Conversation | Passage | Rejection), type(item)
        if isinstance(item, Rejection):
            assert item.stage == "ingest"
            assert item.reason and item.reason.replace("_", "").isalnum(), item.reason
            assert item.message.strip(), item


# --- mutations ------------------------------------------------------------------------------------------

_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=24)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.just(0)),
    st.tuples(st.just("duplicate"), st.integers(0, 1 << 20), st.integers(1, 64)),
    st.tuples(
        st.just("token"),
        st.integers(0, 1 << 20),
        st.sampled_from(
            [
                b"\xff\xfe",
                b"\x00",
                b'"',
                b"{",
                b"]",
                b",",
                b"\n",
                b"-->",
                b"<",
                b"&",
                b"\xe9",
                b"%%EOF",
                b"obj",
            ]
        ),
    ),
)


def mutate(data: bytes, operations: list[tuple[str, int, object]]) -> bytes:
    buffer = bytearray(data)
    for kind, position, arg in operations:
        at = position % (len(buffer) + 1)
        if kind == "flip" and buffer:
            buffer[at % len(buffer)] ^= int(arg)  # type: ignore[arg-type]
        elif kind in ("insert", "token"):
            buffer[at:at] = arg  # type: ignore[assignment]
        elif kind == "delete":
            del buffer[at : at + int(arg)]  # type: ignore[arg-type]
        elif kind == "truncate":
            del buffer[at:]
        elif kind == "duplicate":
            buffer[at:at] = buffer[at : at + int(arg)]  # type: ignore[arg-type]
    return bytes(buffer)


mutations = st.lists(_mutation, min_size=1, max_size=6)

# --- the fuzz tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", list(READERS))
def test_unmutated_seed_samples_are_read(reader: str) -> None:
    """The seeds are real, readable samples, so mutations start from inputs that reach deep code."""
    items = read_bytes(reader, READERS[reader][2])
    records = [i for i in items if isinstance(i, Conversation | Passage)]
    assert records, [i for i in items if isinstance(i, Rejection)]


@pytest.mark.parametrize("reader", LIGHT)
@FUZZ
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_are_quarantined(reader: str, data: bytes) -> None:
    assert_quarantined_not_raised(read_bytes(reader, data))


@pytest.mark.parametrize("reader", LIGHT)
@FUZZ
@given(operations=mutations)
def test_mutated_samples_are_quarantined(reader: str, operations: list) -> None:
    assert_quarantined_not_raised(read_bytes(reader, mutate(READERS[reader][2], operations)))


@pytest.mark.parametrize("reader", ["pdf", "epub"])
@HEAVY
@given(data=st.one_of(st.binary(max_size=2048), st.binary(max_size=64).map(lambda b: b"%PDF-1.7\n" + b)))
def test_arbitrary_bytes_are_quarantined_books(reader: str, data: bytes) -> None:
    assert_quarantined_not_raised(read_bytes(reader, data))


@pytest.mark.parametrize("reader", ["pdf", "epub"])
@HEAVY
@given(operations=mutations)
def test_mutated_samples_are_quarantined_books(reader: str, operations: list) -> None:
    assert_quarantined_not_raised(read_bytes(reader, mutate(READERS[reader][2], operations)))


@HEAVY
@given(
    member=st.sampled_from(["container", "opf", "chapter"]),
    operations=mutations,
)
def test_epub_with_mutated_members_is_quarantined(member: str, operations: list) -> None:
    """Byte mutations of the zip mostly break CRCs; mutating members reaches the XML and HTML parsers."""
    parts = {"container": EPUB_CONTAINER, "opf": EPUB_OPF, "chapter": EPUB_CHAPTER}
    parts[member] = mutate(parts[member], operations)
    assert_quarantined_not_raised(read_bytes("epub", make_epub(**parts)))


# --- real shared-data samples, mutated -----------------------------------------------------------------

SHARED_SAMPLES = {
    "esconv": ("conversations/esconv_hf_test.jsonl", 3),  # first lines only
    "pubmed": ("pubmed/metapub_pmid_xml", None),
    "vtt": ("subtitles/healnpd_youtube_autocaptions_vtt", None),
    "srt": ("subtitles/pysrt", None),
    "epub": ("books/epub/epubcheck_epub3_00-minimal__minimal.epub", None),
    "pdf": ("books/malformed/pdfjs_helloworld-bad.pdf", None),
}


def _shared_sample(root: Path, reader: str) -> bytes:
    rel, lines = SHARED_SAMPLES[reader]
    path = root / rel
    if path.is_dir():
        suffix = Path(READERS[reader][0]).suffix
        path = min((p for p in path.rglob(f"*{suffix}") if p.stat().st_size < 50_000), key=lambda p: p.name)
    data = path.read_bytes()
    if lines:
        data = b"\n".join(data.splitlines()[:lines]) + b"\n"
    return data


@pytest.mark.parametrize("reader", list(SHARED_SAMPLES))
def test_mutated_shared_samples_are_quarantined(reader: str, shared_data: Path) -> None:
    sample = _shared_sample(shared_data, reader)
    examples = 15 if reader in ("pdf", "epub") else 40

    @settings(FUZZ, max_examples=examples)
    @given(operations=mutations)
    def check(operations: list) -> None:
        assert_quarantined_not_raised(read_bytes(reader, mutate(sample, operations)))

    check()


# --- hostile inputs -------------------------------------------------------------------------------------


def test_epub_chapter_with_an_external_entity_does_not_read_local_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT-42")
    chapter = (
        f'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<html xmlns="http://www.w3.org/1999/xhtml"><body><h1>T</h1><p>Before &xxe; after. '
        "Breathing slowly calms the body.</p></body></html>"
    ).encode()
    items = read_bytes("epub", make_epub(chapter=chapter))
    assert_quarantined_not_raised(items)
    assert not any("TOP-SECRET" in getattr(i, "text", "") for i in items)


@pytest.mark.parametrize("part", ["container", "opf"])
def test_epub_package_xml_with_entities_is_refused(part: str) -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
    parts = {"container": EPUB_CONTAINER, "opf": EPUB_OPF}
    parts[part] = bomb + parts[part].split(b"?>", 1)[1]
    items = read_bytes("epub", make_epub(**parts))
    assert [i.reason for i in items if isinstance(i, Rejection)] == ["unsafe_xml"]


@pytest.mark.parametrize("name", ["../../evil.xhtml", "/etc/evil.xhtml", "OEBPS\\..\\..\\evil.xhtml"])
def test_epub_with_paths_outside_the_archive_is_refused(name: str) -> None:
    items = read_bytes("epub", make_epub(extra={name: b"<html><body>x</body></html>"}))
    assert [i.reason for i in items if isinstance(i, Rejection)] == ["unsafe_zip_path"]
    assert not any(isinstance(i, Passage) for i in items)


def test_epub_zip_bomb_is_refused_before_decompression() -> None:
    bomb = b"\0" * 3_000_000  # 3 MB of zeros compresses about 1000:1
    items = read_bytes("epub", make_epub(extra={"OEBPS/bomb.bin": bomb}))
    assert [i.reason for i in items if isinstance(i, Rejection)] == ["zip_bomb"]


@pytest.mark.parametrize("reader", ["pdf", "epub"])
def test_books_over_the_size_limit_are_refused(reader: str, tmp_path: Path) -> None:
    file_name = READERS[reader][0]
    path = tmp_path / file_name
    path.write_bytes(READERS[reader][2])
    options = {**BOOK_OPTIONS, "max_file_bytes": 100}
    items = list(read_books(SourceConfig(name="b", kind="books", path=str(path), options=options), tmp_path))
    assert [i.reason for i in items if isinstance(i, Rejection)] == ["too_large"]


def test_a_pdf_that_hangs_is_stopped_by_the_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The isolated extractor is killed at ``timeout_seconds``: a hostile file cannot stall the run."""
    import time

    import pypdf

    monkeypatch.setattr(pypdf.PdfReader, "__init__", lambda self, *a, **k: time.sleep(60))
    path = tmp_path / "slow.pdf"
    path.write_bytes(PDF)
    options = {"isolate": True, "timeout_seconds": 1.0}
    started = time.monotonic()
    items = list(read_books(SourceConfig(name="b", kind="books", path=str(path), options=options), tmp_path))
    assert [i.reason for i in items if isinstance(i, Rejection)] == ["timeout"]
    assert time.monotonic() - started < 30


def test_huge_pubmed_xml_is_bounded(tmp_path: Path) -> None:
    """Deeply nested XML is refused or read, never a RecursionError or a crash."""
    depth = 100_000
    data = b"<PubmedArticleSet>" + b"<a>" * depth + b"x" + b"</a>" * depth + b"</PubmedArticleSet>"
    assert_quarantined_not_raised(read_bytes("pubmed", data))


# --- regressions found by the fuzzer ---------------------------------------------------------------------


def test_counsel_chat_csv_without_question_ids_is_quarantined_per_row() -> None:
    """Found by fuzzing: a header without ``questionID`` raised KeyError out of the reader."""
    items = read_bytes("csv", COUNSEL_CSV.replace(b"questionID", b"puestionID", 1))
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert len(rejections) == 2 and not any(isinstance(i, Conversation) for i in items)
    assert all("questionID" in r.message for r in rejections)


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"])
def test_subtitles_with_a_bom_and_an_odd_length_body_are_quarantined(bom: bytes) -> None:
    """Found by fuzzing: a UTF-16 BOM over a body that is not UTF-16 raised UnicodeDecodeError."""
    items = read_bytes("vtt", bom + VTT)
    assert [i.reason for i in items if isinstance(i, Rejection)] == ["invalid_encoding"]


# --- XML size limits ------------------------------------------------------------------------------------


def _read_pubmed(path: Path, **options: object) -> list:
    source = SourceConfig(name="x", kind="academic", path=str(path), options=dict(options))
    return list(read_academic(source, path.parent))


def test_pubmed_xml_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(PUBMED_XML)
    assert [i.reason for i in _read_pubmed(path, max_xml_bytes=100)] == ["too_large"]
    assert any(isinstance(i, Passage) for i in _read_pubmed(path, max_xml_bytes=len(PUBMED_XML)))


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "bomb.xml.gz"
    path.write_bytes(gzip.compress(PUBMED_XML + b"<!--" + b" " * 5_000_000 + b"-->"))
    assert path.stat().st_size < 20_000
    (rejection,) = _read_pubmed(path, max_xml_bytes=1_000_000)
    assert rejection.reason == "too_large" and "expands" in rejection.message


@FUZZ
@given(operations=mutations)
def test_mutated_gzip_xml_is_quarantined(operations: list) -> None:
    import gzip

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "articles.xml.gz"
        path.write_bytes(mutate(gzip.compress(PUBMED_XML), operations))
        assert_quarantined_not_raised(_read_pubmed(path))
