"""Academic sourcing: PubMed / PMC / Semantic Scholar papers as grounding Passages.

Two ways in:
- online: a query goes to PubMed E-utilities (or Semantic Scholar); abstracts, and PMC full-text
  sections when asked for, come back as Passages with provenance (PMID, DOI, PMC id, URL, journal,
  year, licence where the publisher states one);
- offline: PubMed ``PubmedArticleSet`` files, PMC ``pmc-articleset`` files and JATS ``.nxml`` files
  (a file, a directory or a glob; ``.gz`` allowed) are parsed locally.

Pipeline entry: ``read_source(source, base_dir)`` for ``kind: academic`` sources. CLI entry:
``source_academic(...)`` (the command ``dataset-pipeline source academic``). Anything that
goes wrong - a service error, a corrupt or hostile XML file, an article with no text - becomes a
``Rejection`` with a reason code and a sentence; nothing stops the run and nothing is silently lost.
"""

from __future__ import annotations

import glob
import gzip
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec

from ai.core.config import ConfigError, SourceConfig
from ai.core.paths import is_inside
from ai.core.records import Passage, encode
from ai.core.stage import Rejection
from ai.sourcing.academic.passages import DEFAULT_CHUNK_CHARS, article_passages
from ai.sourcing.academic.pubmed import DEFAULT_EUTILS_URL, PubMedClient, PubMedSettings
from ai.sourcing.academic.semantic_scholar import DEFAULT_S2_URL, S2Settings, SemanticScholarClient
from ai.sourcing.academic.transport import ApiError, ResponseCache, default_cache_dir, retry_settings
from ai.sourcing.academic.xml_parsing import Article, XmlError, parse_articles

XML_SUFFIXES = (".xml", ".nxml", ".xml.gz", ".nxml.gz")
Backend = Literal["pubmed", "semantic_scholar"]


# One local XML file, after decompression. PubMed's yearly baseline files are about 150-200 MB.
DEFAULT_MAX_XML_BYTES = 512 * 1024 * 1024


class AcademicOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``source.options`` for ``kind: academic`` (all optional; API keys only from the environment)."""

    query: str | list[str] = ""
    max: int = 20  # articles per query
    from_xml: str | list[str] = ""  # offline: files, directories or globs (``source.path`` works too)
    backend: Backend = "pubmed"
    full_text: bool = False  # also fetch PMC full text for PubMed hits that have a PMC id
    chunk_chars: int = DEFAULT_CHUNK_CHARS
    max_xml_bytes: int = DEFAULT_MAX_XML_BYTES  # per local XML file, after gunzip
    pubmed_url: str = DEFAULT_EUTILS_URL
    s2_url: str = DEFAULT_S2_URL
    email: str = ""  # NCBI asks for a contact address; NCBI_EMAIL in the environment also works
    tool: str = ""
    requests_per_second: float = 0.0  # 0: the service's published limit
    page_size: int = 100
    max_retries: int = 4
    backoff_seconds: float = 1.0
    timeout_seconds: float = 30.0
    cache: bool = True
    cache_dir: str = ""  # default: $DATASET_PIPELINE_HOME/cache/academic

    def queries(self) -> list[str]:
        items = [self.query] if isinstance(self.query, str) else list(self.query)
        return [q.strip() for q in items if q.strip()]

    def xml_paths(self) -> list[str]:
        items = [self.from_xml] if isinstance(self.from_xml, str) else list(self.from_xml)
        return [p for p in items if p]


def parse_options(source: SourceConfig) -> AcademicOptions:
    try:
        return msgspec.convert(source.options, AcademicOptions, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"source {source.name!r} (academic) options: {exc}") from None


# --- pipeline entry ----------------------------------------------------------------------------------


def read_source(source: SourceConfig, base_dir: Path) -> Iterator[Passage | Rejection]:
    """Passages from the source's offline XML paths and/or its queries, with a Rejection per problem."""
    options = parse_options(source)
    paths = [p for p in source.paths() if p] + options.xml_paths()
    if not paths and not options.queries():
        raise ConfigError(
            f"source {source.name!r} (academic): give options.query, or a path / options.from_xml"
        )
    for pattern in paths:
        yield from passages_from_xml(
            _resolve(pattern, base_dir),
            source.name,
            options.chunk_chars,
            options.max_xml_bytes,
        )
    if options.queries():
        with AcademicSearch(options) as search:
            for query in options.queries():
                yield from search.passages_or_rejections(query, options.max, source.name)


def _resolve(pattern: str, base_dir: Path) -> str:
    path = Path(pattern).expanduser()
    return str(path if path.is_absolute() else Path(base_dir) / path)


# --- offline: local XML ------------------------------------------------------------------------------


def passages_from_xml(
    pattern: str | Path,
    source_name: str,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    max_bytes: int = DEFAULT_MAX_XML_BYTES,
) -> Iterator[Passage | Rejection]:
    """Passages from every article in the XML files that ``pattern`` names."""
    files = xml_files(pattern)
    if not files:
        yield Rejection(
            stage="ingest",
            reason="no_input_files",
            message=f"no PubMed/PMC XML files found at {pattern}",
            locator=str(pattern),
        )
    for file in files:
        yield from _passages_from_file(file, source_name, chunk_chars, max_bytes)


def xml_files(pattern: str | Path) -> list[Path]:
    path = Path(pattern)
    if path.is_file():
        return [path]
    if path.is_dir():
        # A symlink leading out of the directory (say, to a secrets file) is not followed.
        return sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.name.lower().endswith(XML_SUFFIXES) and is_inside(p, path)
        )
    return sorted(Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())


def _passages_from_file(
    file: Path, source_name: str, chunk_chars: int, max_bytes: int
) -> Iterator[Passage | Rejection]:
    try:
        articles = parse_articles(read_xml_bytes(file, max_bytes), str(file))
    except (OSError, EOFError, zlib.error, XmlError) as exc:
        yield Rejection(stage="ingest", reason=_xml_reason(exc), message=str(exc), locator=str(file))
        return
    if not articles:
        yield Rejection(
            stage="ingest",
            reason="no_articles",
            message=f"{file}: the article set is empty",
            locator=str(file),
        )
    for index, article in enumerate(articles, start=1):
        yield from _article_passages_or_rejection(
            article, source_name, chunk_chars, locator=f"{file}:article {index}"
        )


def read_xml_bytes(file: Path, max_bytes: int = DEFAULT_MAX_XML_BYTES) -> bytes:
    """The file's bytes (gunzipped for .gz), refusing more than ``max_bytes`` so a bomb cannot fill memory."""
    size = file.stat().st_size
    if size > max_bytes:
        raise XmlError(f"{file}: {size:,} bytes, over the limit of {max_bytes:,}", reason="too_large")
    if not file.name.lower().endswith(".gz"):
        return file.read_bytes()
    with gzip.open(file, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise XmlError(f"{file}: expands to more than the limit of {max_bytes:,} bytes", reason="too_large")
    return data


def _xml_reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, XmlError) else "unreadable_file"


def _article_passages_or_rejection(
    article: Article,
    source_name: str,
    chunk_chars: int,
    locator: str,
    tags: tuple[str, ...] = (),
    meta: dict[str, object] | None = None,
) -> Iterator[Passage | Rejection]:
    passages = article_passages(article, source_name, chunk_chars, tags=tags, meta=meta)
    if passages:
        yield from passages
        return
    yield Rejection(
        stage="ingest",
        reason="no_abstract",
        message=f"{article.label} ({article.title[:80]!r}) has no abstract or full text to use as a passage",
        locator=locator,
    )


# --- online: the services ----------------------------------------------------------------------------


class AcademicSearch:
    """One query interface over PubMed and Semantic Scholar, sharing the on-disk response cache."""

    def __init__(
        self,
        options: AcademicOptions,
        pubmed: PubMedClient | None = None,
        s2: SemanticScholarClient | None = None,
    ) -> None:
        self.options = options
        cache = None
        if options.cache:
            cache = ResponseCache(Path(options.cache_dir) if options.cache_dir else default_cache_dir())
        self.cache = cache
        self.pubmed = pubmed or PubMedClient(
            PubMedSettings.from_env(
                base_url=options.pubmed_url,
                email=options.email,
                tool=options.tool,
                requests_per_second=options.requests_per_second,
                page_size=options.page_size,
                **retry_settings(options),
            ),
            cache=cache,
        )
        self.s2 = s2 or SemanticScholarClient(
            S2Settings.from_env(
                base_url=options.s2_url,
                requests_per_second=options.requests_per_second or None,
                page_size=min(options.page_size, 100),
                **retry_settings(options),
            ),
            cache=cache,
        )

    def __enter__(self) -> AcademicSearch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.pubmed.close()
        self.s2.close()

    def requests_made(self) -> int:
        return self.pubmed.transport.requests + self.s2.transport.requests

    def articles(self, query: str, max_results: int) -> list[Article]:
        """Articles for one query (raises ``ApiError`` / ``XmlError`` when the service fails)."""
        if self.options.backend == "semantic_scholar":
            return list(self.s2.search_articles(query, max_results))
        articles = list(self.pubmed.search_articles(query, max_results))
        if self.options.full_text:
            articles = self._with_full_text(articles)
        return articles

    def passages_or_rejections(
        self, query: str, max_results: int, source_name: str, tags: tuple[str, ...] = ()
    ) -> Iterator[Passage | Rejection]:
        """Passages for a query; a failed query becomes one Rejection naming the query and the cause."""
        try:
            articles = self.articles(query, max_results)
        except (ApiError, XmlError) as exc:
            reason = getattr(exc, "reason", "api_error")
            yield Rejection(stage="ingest", reason=reason, message=str(exc), locator=f"query:{query}")
            return
        for rank, article in enumerate(articles, start=1):
            yield from _article_passages_or_rejection(
                article,
                source_name,
                self.options.chunk_chars,
                locator=f"query:{query}#{rank}",
                tags=tags,
                meta={"query": query, "rank": rank},
            )

    def _with_full_text(self, articles: list[Article]) -> list[Article]:
        """Replace PubMed records by their PMC full text where one exists (the abstract comes along)."""
        pmcids = [a.pmcid for a in articles if a.pmcid]
        if not pmcids:
            return articles
        full = {a.pmcid: a for a in self.pubmed.fetch(pmcids, db="pmc") if a.pmcid}
        merged = []
        for article in articles:
            pmc = full.get(article.pmcid)
            if pmc is None:
                merged.append(article)
                continue
            merged.append(
                msgspec.structs.replace(
                    pmc,
                    pmid=pmc.pmid or article.pmid,
                    mesh_terms=article.mesh_terms,
                    abstract=pmc.abstract or article.abstract,
                )
            )
        return merged


# --- CLI ---------------------------------------------------------------------------------------------


def source_academic(
    query: str | None,
    max_results: int,
    out: Path,
    from_xml: Path | None = None,
    *,
    backend: Backend = "pubmed",
    full_text: bool = False,
    pubmed_url: str = DEFAULT_EUTILS_URL,
    s2_url: str = DEFAULT_S2_URL,
    cache: bool = True,
    quarantine: Path | None = None,
    source_name: str = "academic",
    stream: Any = None,
) -> int:
    """Write passages for ``query`` (online) and/or ``from_xml`` (offline) to ``out`` as JSONL.

    Rejections go to ``quarantine`` (default: ``<out>.rejected.jsonl``) when there are any. Prints a
    one-line summary per input and returns the number of passages written.
    """
    if not query and from_xml is None:
        raise ConfigError("give --query or --from-xml")
    stream = stream or sys.stderr
    options = AcademicOptions(
        query=query or "",
        max=max_results,
        from_xml=str(from_xml) if from_xml else "",
        backend=backend,
        full_text=full_text,
        pubmed_url=pubmed_url,
        s2_url=s2_url,
        cache=cache,
    )
    source = SourceConfig(name=source_name, kind="academic", options=msgspec.to_builtins(options))
    quarantine = quarantine or out.with_name(out.name + ".rejected.jsonl")
    written, rejected = 0, 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as passages_fh:
        quarantine_fh = None
        try:
            for item in read_source(source, Path.cwd()):
                if isinstance(item, Passage):
                    passages_fh.write(encode(item) + b"\n")
                    written += 1
                    continue
                rejected += 1
                print(f"rejected [{item.reason}] {item.message}", file=stream)
                quarantine_fh = quarantine_fh or open(quarantine, "wb")  # noqa: SIM115 - closed below
                quarantine_fh.write(encode(item) + b"\n")
        finally:
            if quarantine_fh:
                quarantine_fh.close()
    where = f", {rejected} rejected -> {quarantine}" if rejected else ""
    print(f"academic: {written} passages -> {out}{where}", file=stream)
    return written
