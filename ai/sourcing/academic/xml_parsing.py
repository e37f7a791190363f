"""Safe parsing of PubMed article XML and PMC JATS full text into ``Article`` records.

Everything goes through defusedxml: a document that declares entities (the shape of both XXE and
"billion laughs" attacks) or references external resources is refused with an ``XmlError``, as are
truncated documents and HTML error pages that a service sometimes returns with a 200 status.
The DOCTYPE lines NCBI puts on every response are allowed: they name a DTD that is never fetched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Only the element type and the error class come from the stdlib; all parsing goes through defusedxml.
from xml.etree.ElementTree import Element, ParseError  # nosec B405

import defusedxml.ElementTree as SafeET
import msgspec
from defusedxml import DefusedXmlException

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_WS = re.compile(r"\s+")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html)", re.IGNORECASE)
_HTML_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
# Figures and tables hold captions and cell fragments, not prose worth grounding on.
_SKIPPED_JATS = frozenset({"table-wrap", "fig", "table", "disp-formula", "inline-formula", "xref", "graphic"})


class XmlError(ValueError):
    """XML that was refused or could not be parsed; the message names where it came from.

    ``reason`` is the machine-readable code used for the quarantine entry.
    """

    def __init__(self, message: str, reason: str = "malformed_xml") -> None:
        super().__init__(message)
        self.reason = reason


class Section(msgspec.Struct, array_like=True):
    label: str
    text: str


class Article(msgspec.Struct, omit_defaults=True):
    """One paper, whichever service or file it came from."""

    source_db: str  # pubmed | pmc | semantic_scholar
    title: str = ""
    pmid: str = ""
    pmcid: str = ""
    doi: str = ""
    s2_id: str = ""
    journal: str = ""
    year: int = 0
    language: str = ""
    license: str = ""
    url: str = ""
    authors: list[str] = msgspec.field(default_factory=list)
    mesh_terms: list[str] = msgspec.field(default_factory=list)
    keywords: list[str] = msgspec.field(default_factory=list)
    abstract: list[Section] = msgspec.field(default_factory=list)
    body: list[Section] = msgspec.field(default_factory=list)

    @property
    def label(self) -> str:
        """A short human name for messages: the first identifier the article has."""
        ids = (("PMID ", self.pmid), ("", self.pmcid), ("DOI ", self.doi), ("S2 ", self.s2_id))
        for prefix, value in ids:
            if value:
                return prefix + value
        return repr(self.title[:60]) if self.title else "article without identifiers"

    def abstract_text(self) -> str:
        parts = [f"{s.label}: {s.text}" if s.label else s.text for s in self.abstract if s.text]
        return "\n\n".join(parts)


def parse_xml(data: bytes, origin: str) -> Element:
    """Parse bytes into an element tree with entity and external-reference protection."""
    if _HTML_START.match(data[:512]):
        title = _HTML_TITLE.search(data[:4096])
        what = f" ({_clean(title.group(1).decode('utf-8', 'replace'))})" if title else ""
        raise XmlError(f"{origin}: got an HTML page{what} where XML was expected", "html_instead_of_xml")
    if not data.strip():
        raise XmlError(f"{origin}: empty response where XML was expected", "empty_response")
    try:
        root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlError(
            f"{origin}: refused XML that declares entities or external references ({type(exc).__name__})",
            "unsafe_xml",
        ) from None
    except ParseError as exc:
        raise XmlError(f"{origin}: malformed or truncated XML ({exc})") from None
    _strip_namespaces(root)
    return root


def parse_articles(data: bytes, origin: str) -> list[Article]:
    """Articles in a PubMed ``PubmedArticleSet``, a PMC ``pmc-articleset`` or one JATS ``article``."""
    return articles_from_root(parse_xml(data, origin), origin)


def articles_from_root(root: Element, origin: str) -> list[Article]:
    if root.tag == "PubmedArticleSet":
        # DeleteCitation and other bookkeeping children are not articles.
        readers = {"PubmedArticle": pubmed_article, "PubmedBookArticle": pubmed_book_article}
        return [readers[el.tag](el) for el in root if el.tag in readers]
    if root.tag == "pmc-articleset":
        return [jats_article(el) for el in root if el.tag == "article"]
    if root.tag == "article":
        return [jats_article(root)]
    error = root.findtext("ERROR")
    if error:
        raise XmlError(f"{origin}: the service answered with an error: {_clean(error)}", "service_error")
    raise XmlError(f"{origin}: <{root.tag}> is not a PubMed or PMC article set", "not_article_xml")


# --- PubMed (MEDLINE citation) XML -------------------------------------------------------------------


def pubmed_article(el: Element) -> Article:
    citation = el.find("MedlineCitation")
    article = citation.find("Article") if citation is not None else None
    if citation is None or article is None:
        return Article(source_db="pubmed", pmid=_text(el.find(".//PMID")))
    pmid = _text(citation.find("PMID"))
    ids = {a.get("IdType", ""): _text(a) for a in el.findall("PubmedData/ArticleIdList/ArticleId")}
    doi = ids.get("doi", "") or _text(article.find("ELocationID[@EIdType='doi']"))
    return Article(
        source_db="pubmed",
        title=_text(article.find("ArticleTitle")) or _text(article.find("VernacularTitle")),
        pmid=pmid,
        pmcid=ids.get("pmc", ""),
        doi=doi,
        journal=_text(article.find("Journal/Title")) or _text(article.find("Journal/ISOAbbreviation")),
        year=_pubmed_year(article),
        language=_text(article.find("Language")),
        url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid else "",
        authors=_pubmed_authors(article),
        mesh_terms=[_text(d) for d in citation.findall("MeshHeadingList/MeshHeading/DescriptorName")],
        keywords=[_text(k) for k in citation.findall("KeywordList/Keyword") if _text(k)],
        abstract=[
            Section(label=a.get("Label", "").strip().capitalize(), text=_text(a))
            for a in article.findall("Abstract/AbstractText")
            if _text(a)
        ],
    )


def pubmed_book_article(el: Element) -> Article:
    """A chapter of an NCBI Bookshelf book (GeneReviews, StatPearls ...) listed in PubMed."""
    doc = el.find("BookDocument")
    doc = doc if doc is not None else Element("BookDocument")
    pmid = _text(doc.find("PMID"))
    found = _YEAR.search(_text(doc.find("Book/PubDate/Year")) or _text(doc.find("Book/PubDate/MedlineDate")))
    return Article(
        source_db="pubmed",
        title=_text(doc.find("ArticleTitle")) or _text(doc.find("Book/BookTitle")),
        pmid=pmid,
        journal=_text(doc.find("Book/BookTitle")),
        year=int(found.group(1)) if found else 0,
        language=_text(doc.find("Language")),
        url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid else "",
        authors=_pubmed_authors(doc),
        keywords=[_text(k) for k in doc.findall("KeywordList/Keyword") if _text(k)],
        abstract=[
            Section(label=a.get("Label", "").strip().capitalize(), text=_text(a))
            for a in doc.findall("Abstract/AbstractText")
            if _text(a)
        ],
    )


def _pubmed_year(article: Element) -> int:
    issue = "Journal/JournalIssue/PubDate"
    paths = (f"{issue}/Year", "ArticleDate/Year", f"{issue}/MedlineDate")
    for path in paths:
        found = _YEAR.search(_text(article.find(path)))
        if found:
            return int(found.group(1))
    return 0


def _pubmed_authors(article: Element) -> list[str]:
    names = []
    for author in article.findall("AuthorList/Author"):
        collective = _text(author.find("CollectiveName"))
        last, initials = _text(author.find("LastName")), _text(author.find("Initials"))
        name = collective or " ".join(p for p in (last, initials) if p)
        if name:
            names.append(name)
    return names


# --- PMC JATS full text ------------------------------------------------------------------------------


def jats_article(el: Element) -> Article:
    meta = el.find("front/article-meta")
    meta = meta if meta is not None else Element("article-meta")
    ids = {a.get("pub-id-type", ""): _text(a) for a in meta.findall("article-id")}
    pmcid = ids.get("pmcid", "") or ids.get("pmc", "")
    if pmcid and not pmcid.upper().startswith("PMC"):
        pmcid = "PMC" + pmcid
    return Article(
        source_db="pmc",
        title=_text(meta.find("title-group/article-title")),
        pmid=ids.get("pmid", ""),
        pmcid=pmcid,
        doi=ids.get("doi", ""),
        journal=_text(el.find("front/journal-meta//journal-title")),
        year=_jats_year(meta),
        language=el.get("{http://www.w3.org/XML/1998/namespace}lang", ""),
        license=_jats_license(meta),
        url=f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/" if pmcid else "",
        authors=_jats_authors(meta),
        keywords=[_text(k) for k in meta.findall("kwd-group/kwd") if _text(k)],
        abstract=_jats_abstract(meta),
        body=_jats_body(el.find("body")),
    )


def _jats_year(meta: Element) -> int:
    dates = meta.findall("pub-date")
    # The print or electronic publication date is the one a citation uses; others are fallbacks.
    preferred = [d for d in dates if (d.get("pub-type") or d.get("date-type")) in ("ppub", "epub", "pub")]
    for date in preferred + dates:
        found = _YEAR.search(_text(date.find("year")))
        if found:
            return int(found.group(1))
    return 0


def _jats_license(meta: Element) -> str:
    license_el = meta.find("permissions/license")
    if license_el is None:
        return ""
    # A licence URL is the most useful answer; the free-text statement is the last resort.
    candidates = [license_el.get(XLINK_HREF, ""), _text(license_el.find("license_ref"))]
    candidates += [ext.get(XLINK_HREF, "") for ext in license_el.iter("ext-link")]
    url = next((c for c in candidates if c.startswith(("http://", "https://"))), "")
    return url or license_el.get("license-type", "") or _text(license_el)[:200]


def _jats_authors(meta: Element) -> list[str]:
    names = []
    for contrib in meta.findall("contrib-group/contrib"):
        if contrib.get("contrib-type", "author") != "author":
            continue
        surname, given = _text(contrib.find("name/surname")), _text(contrib.find("name/given-names"))
        name = " ".join(p for p in (surname, given) if p) or _text(contrib.find("collab"))
        if name:
            names.append(name)
    return names


def _jats_abstract(meta: Element) -> list[Section]:
    abstract = next((a for a in meta.findall("abstract") if not a.get("abstract-type")), None)
    if abstract is None:
        abstract = meta.find("abstract")
    if abstract is None:
        return []
    sections = abstract.findall("sec")
    if sections:
        return [s for s in (Section(_text(sec.find("title")), _prose(sec)) for sec in sections) if s.text]
    text = _prose(abstract)
    return [Section("", text)] if text else []


def _jats_body(body: Element | None) -> list[Section]:
    if body is None:
        return []
    sections = [Section(_text(sec.find("title")), _prose(sec)) for sec in body.findall("sec")]
    loose = " ".join(_text(p) for p in body.findall("p"))
    if loose:
        sections.insert(0, Section("", _clean(loose)))
    return [s for s in sections if s.text]


def _prose(el: Element) -> str:
    """The paragraphs of a section and its subsections, with subsection titles kept as lead-ins."""
    parts: list[str] = []
    for child in el:
        if child.tag == "p":
            parts.append(_text(child, skip=_SKIPPED_JATS))
        elif child.tag == "sec":
            title, inner = _text(child.find("title")), _prose(child)
            parts.append(f"{title}. {inner}" if title and inner else inner)
    return "\n\n".join(p for p in parts if p)


# --- helpers -----------------------------------------------------------------------------------------


def _text(el: Element | None, skip: Iterable[str] = ()) -> str:
    if el is None:
        return ""
    skip = frozenset(skip)
    return _clean("".join(_itertext(el, skip)))


def _itertext(el: Element, skip: frozenset[str]) -> Iterable[str]:
    if el.text:
        yield el.text
    for child in el:
        if child.tag not in skip:
            yield from _itertext(child, skip)
        if child.tail:
            yield child.tail


def _clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _strip_namespaces(root: Element) -> None:
    # PMC and some publishers put JATS in a default namespace; matching on local names handles both.
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.split("}", 1)[1]
