"""Semantic Scholar Graph API client: paper search (offset paging) and paper details.

``S2_API_KEY`` is optional; with it the key travels in the ``x-api-key`` header, never in a URL.
Without a key the shared public pool is small, so the default pace is one request a second.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import msgspec

from ai.sourcing.academic.transport import ApiClient, ApiError, ResponseCache
from ai.sourcing.academic.xml_parsing import Article, Section

DEFAULT_S2_URL = "https://api.semanticscholar.org/graph/v1"
PAPER_FIELDS = (
    "paperId,externalIds,title,abstract,venue,year,journal,authors,openAccessPdf,url,publicationTypes"
)
SEARCH_PAGE_LIMIT = 100  # the API's maximum for /paper/search


class S2Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    base_url: str = DEFAULT_S2_URL
    api_key: str = ""
    requests_per_second: float = 1.0
    page_size: int = SEARCH_PAGE_LIMIT
    max_retries: int = 4
    backoff_seconds: float = 1.0
    timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, **overrides: Any) -> S2Settings:
        values: dict[str, Any] = {"api_key": os.environ.get("S2_API_KEY", "")}
        values.update({k: v for k, v in overrides.items() if v not in (None, "")})
        return cls(**values)


class SemanticScholarClient(ApiClient):
    service = "Semantic Scholar"
    settings: S2Settings

    def headers(self, settings: S2Settings) -> dict[str, str]:
        return {"x-api-key": settings.api_key} if settings.api_key else {}

    def search_articles(self, query: str, max_results: int) -> Iterator[Article]:
        """Up to ``max_results`` papers for ``query``, following the ``next`` offset the API returns."""
        offset, yielded = 0, 0
        limit = max(1, min(self.settings.page_size, SEARCH_PAGE_LIMIT, max_results))
        while yielded < max_results:
            params = {"query": query, "fields": PAPER_FIELDS, "offset": offset, "limit": limit}
            page = self._get_json("paper/search", params)
            if not isinstance(page, dict):
                what = type(page).__name__
                raise ApiError(f"{self.service}: search for {query!r} returned {what}, not an object")
            for item in page.get("data") or []:
                if yielded >= max_results:
                    return
                if isinstance(item, dict):
                    yielded += 1
                    yield s2_article(item)
            next_offset = page.get("next")
            if not isinstance(next_offset, int) or next_offset <= offset:
                return
            offset = next_offset

    def paper(self, paper_id: str) -> Article:
        """One paper by S2 id or a prefixed external id (``DOI:...``, ``PMID:...``) or a bare DOI."""
        body = self._get_json(f"paper/{quote(paper_id, safe='/:')}", {"fields": PAPER_FIELDS})
        if not isinstance(body, dict):
            what = type(body).__name__
            raise ApiError(f"{self.service}: paper {paper_id!r} returned {what}, not an object")
        return s2_article(body)

    def _get_json(self, endpoint: str, params: dict[str, Any]) -> Any:
        key = ResponseCache.key("s2", endpoint, params)
        data = self.cache.get(key) if self.cache else None
        from_network = data is None
        if data is None:
            data = self.transport.get(endpoint, params)
        try:
            body = json.loads(data)
        except ValueError:
            what = self.transport.describe(endpoint, params)
            raise ApiError(f"{self.service}: {what} did not return JSON ({_preview(data)})") from None
        if from_network and self.cache:
            self.cache.put(key, data)
        return body


def s2_article(item: dict[str, Any]) -> Article:
    """An ``Article`` from a Graph API paper object (fields that are null or missing are left empty)."""
    external = item.get("externalIds") or {}
    journal = item.get("journal") or {}
    pdf = item.get("openAccessPdf") or {}
    abstract = (item.get("abstract") or "").strip()
    pmcid = str(external.get("PubMedCentral") or "")
    year = item.get("year")
    return Article(
        source_db="semantic_scholar",
        title=(item.get("title") or "").strip(),
        pmid=str(external.get("PubMed") or ""),
        pmcid=f"PMC{pmcid}" if pmcid and not pmcid.startswith("PMC") else pmcid,
        doi=str(external.get("DOI") or ""),
        s2_id=str(item.get("paperId") or ""),
        journal=(journal.get("name") if isinstance(journal, dict) else "") or item.get("venue") or "",
        year=int(year) if str(year).isdigit() else 0,
        license=str(pdf.get("license") or "") if isinstance(pdf, dict) else "",
        url=str(item.get("url") or ""),
        authors=[a["name"] for a in item.get("authors") or [] if isinstance(a, dict) and a.get("name")],
        abstract=[Section("", abstract)] if abstract else [],
    )


def _preview(data: bytes) -> str:
    text = data[:80].decode("utf-8", "replace").strip().replace("\n", " ")
    return f"starts with {text!r}" if text else "empty body"
