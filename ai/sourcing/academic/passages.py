"""Articles to Passages: an abstract passage and full-text section passages, each with provenance."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ai.core.records import Passage, Provenance, passage_id
from ai.sourcing.academic.xml_parsing import Article

DEFAULT_CHUNK_CHARS = 3000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def article_passages(
    article: Article,
    source_name: str,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    tags: Iterable[str] = (),
    meta: dict[str, object] | None = None,
) -> list[Passage]:
    """The abstract (one passage unless longer than ``chunk_chars``) then each full-text section."""
    provenance = article_provenance(article, source_name)
    base_tags = ["academic", article.source_db, *tags]
    base_meta: dict[str, object] = {"authors": article.authors[:20], "source_db": article.source_db}
    if article.mesh_terms:
        base_meta["mesh_terms"] = article.mesh_terms
    if article.keywords:
        base_meta["keywords"] = article.keywords
    if article.language:
        base_meta["language"] = article.language
    base_meta.update(meta or {})
    pieces = [("abstract", chunk) for chunk in chunk_text(article.abstract_text(), chunk_chars)]
    for section in article.body:
        label = f"body: {section.label}" if section.label else "body"
        pieces.extend((label, chunk) for chunk in chunk_text(section.text, chunk_chars))
    passages = []
    for index, (section, text) in enumerate(pieces):
        source = Provenance(
            kind=provenance.kind,
            name=provenance.name,
            uri=provenance.uri,
            license=provenance.license,
            locator={**provenance.locator, "section": section, "chunk": index},
        )
        passages.append(
            Passage(
                id=passage_id(text, source),
                text=text,
                source=source,
                title=article.title,
                section=section,
                tags=list(dict.fromkeys(base_tags)),
                meta=dict(base_meta),
            )
        )
    return passages


def article_provenance(article: Article, source_name: str) -> Provenance:
    locator: dict[str, object] = {
        key: value
        for key, value in (
            ("pmid", article.pmid),
            ("doi", article.doi),
            ("pmcid", article.pmcid),
            ("s2_id", article.s2_id),
            ("url", article.url or (f"https://doi.org/{article.doi}" if article.doi else "")),
            ("journal", article.journal),
            ("year", article.year),
        )
        if value
    }
    return Provenance(
        kind="paper",
        name=source_name,
        uri=str(locator.get("url", "")),
        license=article.license,
        locator=locator,
    )


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Split on paragraphs, then sentences, packing greedily so no chunk exceeds ``max_chars``.

    A single sentence longer than ``max_chars`` is cut at the limit: grounding needs bounded passages
    more than it needs that one sentence whole.
    """
    text = text.strip()
    if not text:
        return []
    if len(text) <= max_chars:
        return [text]
    units: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        for sentence in _SENTENCE_END.split(paragraph.strip()):
            while len(sentence) > max_chars:
                units.append(sentence[:max_chars])
                sentence = sentence[max_chars:]
            if sentence:
                units.append(sentence)
    chunks: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current} {unit}" if current else unit
        if len(candidate) <= max_chars:
            current = candidate
        else:
            chunks.append(current)
            current = unit
    if current:
        chunks.append(current)
    return chunks
