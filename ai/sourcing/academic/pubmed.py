"""NCBI E-utilities client: esearch on the history server, then efetch pages of PubMed/PMC XML.

NCBI asks every caller to send ``tool`` and ``email`` and allows 3 requests a second (10 with an API
key). The key comes only from the environment (``NCBI_API_KEY``) and is left out of every message
and cache key. Responses are validated (parsed) before they are cached, so a corrupt answer is
never replayed from the cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import msgspec

from ai.sourcing.academic.transport import ApiClient, ApiError, ResponseCache
from ai.sourcing.academic.xml_parsing import Article, XmlError, articles_from_root, parse_xml

DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
DEFAULT_TOOL = "unified-ai-dataset-pipeline"
# The history server keeps a WebEnv for hours, not days: a cached search must not outlive it.
SEARCH_CACHE_SECONDS = 3600.0
EFETCH_MAX_IDS = 200


class PubMedSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    base_url: str = DEFAULT_EUTILS_URL
    tool: str = DEFAULT_TOOL
    email: str = ""
    api_key: str = ""
    requests_per_second: float = 0.0  # 0: NCBI's limit, 3/s, or 10/s with an API key
    page_size: int = 100
    max_retries: int = 4
    backoff_seconds: float = 1.0
    timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, **overrides: Any) -> PubMedSettings:
        """Settings with ``NCBI_API_KEY``, ``NCBI_EMAIL`` and ``NCBI_TOOL`` from the environment."""
        values: dict[str, Any] = {
            "api_key": os.environ.get("NCBI_API_KEY", ""),
            "email": os.environ.get("NCBI_EMAIL", ""),
            "tool": os.environ.get("NCBI_TOOL", DEFAULT_TOOL),
        }
        values.update({k: v for k, v in overrides.items() if v not in (None, "")})
        return cls(**values)

    def rate(self) -> float:
        if self.requests_per_second > 0:
            return self.requests_per_second
        return 10.0 if self.api_key else 3.0


class SearchResult(msgspec.Struct):
    count: int
    ids: list[str]
    webenv: str = ""
    query_key: str = ""


class PubMedClient(ApiClient):
    service = "PubMed E-utilities"
    secret_params = frozenset({"api_key"})
    settings: PubMedSettings

    def requests_per_second(self, settings: PubMedSettings) -> float:
        return settings.rate()

    def search_articles(self, term: str, max_results: int, db: str = "pubmed") -> Iterator[Article]:
        """Up to ``max_results`` articles matching ``term``, fetched page by page via the history server."""
        if max_results <= 0:
            return
        page = max(1, min(self.settings.page_size, max_results))
        found = self.esearch(term, retmax=page, db=db)
        wanted = min(found.count, max_results)
        if found.webenv and found.query_key:
            yielded = 0
            for retstart in range(0, wanted, page):
                batch = self._efetch_history(term, db, found, retstart, min(page, wanted - retstart))
                for article in batch[: wanted - yielded]:
                    yielded += 1
                    yield article
                if not batch:
                    return
            return
        # Without a history server (it can be switched off), page the id list and fetch by id.
        ids = list(found.ids)
        while len(ids) < wanted:
            more = self.esearch(term, retmax=page, retstart=len(ids), db=db).ids
            if not more:
                break
            ids.extend(more)
        yield from self.fetch(ids[:wanted], db=db)[:wanted]

    def esearch(self, term: str, retmax: int, retstart: int = 0, db: str = "pubmed") -> SearchResult:
        params = {"db": db, "term": term, "retmax": retmax, "retstart": retstart, "usehistory": "y"}
        root = self._request_xml("esearch.fcgi", params, cache_seconds=SEARCH_CACHE_SECONDS)
        if root.tag != "eSearchResult":
            raise ApiError(f"{self.service}: esearch for {term!r} returned <{root.tag}>, not <eSearchResult>")
        error = root.findtext("ERROR")
        if error:
            raise ApiError(f"{self.service}: esearch for {term!r} failed: {error.strip()}")
        try:
            count = int(root.findtext("Count") or "0")
        except ValueError:
            raise ApiError(f"{self.service}: esearch for {term!r} returned a non-numeric <Count>") from None
        return SearchResult(
            count=count,
            ids=[(i.text or "").strip() for i in root.findall("IdList/Id")],
            webenv=(root.findtext("WebEnv") or "").strip(),
            query_key=(root.findtext("QueryKey") or "").strip(),
        )

    def fetch(self, ids: list[str], db: str = "pubmed") -> list[Article]:
        """Articles by PMID (``db="pubmed"``) or PMC id (``db="pmc"``), in batches NCBI accepts."""
        articles: list[Article] = []
        for start in range(0, len(ids), EFETCH_MAX_IDS):
            batch = [i.removeprefix("PMC") for i in ids[start : start + EFETCH_MAX_IDS]]
            params = {"db": db, "id": ",".join(batch), "retmode": "xml"}
            articles.extend(self._articles("efetch.fcgi", params))
        return articles

    def _efetch_history(
        self, term: str, db: str, found: SearchResult, retstart: int, retmax: int
    ) -> list[Article]:
        params = {
            "db": db,
            "WebEnv": found.webenv,
            "query_key": found.query_key,
            "retstart": retstart,
            "retmax": retmax,
            "retmode": "xml",
        }
        # The WebEnv changes with every search; the page's identity is the term and the offset.
        cache_params = {"db": db, "term": term, "retstart": retstart, "retmax": retmax}
        return self._articles("efetch.fcgi", params, cache_params=cache_params)

    def _articles(
        self, endpoint: str, params: dict[str, Any], cache_params: dict[str, Any] | None = None
    ) -> list[Article]:
        origin = self.transport.describe(endpoint, params)
        root = self._request_xml(endpoint, params, cache_params=cache_params)
        try:
            return articles_from_root(root, origin)
        except XmlError as exc:
            raise ApiError(f"{self.service}: {exc}", reason=exc.reason) from None

    def _request_xml(
        self,
        endpoint: str,
        params: dict[str, Any],
        cache_params: dict[str, Any] | None = None,
        cache_seconds: float | None = None,
    ) -> Any:
        key = ResponseCache.key("pubmed", endpoint, cache_params or params)
        cached = self.cache.get(key, cache_seconds) if self.cache else None
        if cached is not None:
            return parse_xml(cached, f"cached {endpoint}")
        full = {**params, **self._identity()}
        data = self.transport.get(endpoint, full)
        try:
            root = parse_xml(data, self.transport.describe(endpoint, full))
        except XmlError as exc:
            raise ApiError(f"{self.service}: {exc}", reason=exc.reason) from None
        if self.cache and root.findtext("ERROR") is None:
            self.cache.put(key, data)
        return root

    def _identity(self) -> dict[str, str]:
        identity = {"tool": self.settings.tool}
        if self.settings.email:
            identity["email"] = self.settings.email
        if self.settings.api_key:
            identity["api_key"] = self.settings.api_key
        return identity
