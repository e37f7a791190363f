"""Rate limiting, retries, secret hygiene and the response cache of the academic HTTP transport."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from ai.sourcing.academic.pubmed import PubMedSettings
from ai.sourcing.academic.semantic_scholar import S2Settings, s2_article
from ai.sourcing.academic.transport import (
    ApiError,
    HttpTransport,
    RateLimiter,
    ResponseCache,
    default_cache_dir,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _transport(responses: list, **kw) -> tuple[HttpTransport, list[httpx.Request], FakeClock]:
    """A transport whose network answers with ``responses`` in order (an exception is raised)."""
    seen: list[httpx.Request] = []
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = httpx.Client(transport=httpx.MockTransport(handler))
    transport = HttpTransport(
        "Test API",
        "http://127.0.0.1:9/api",
        1000.0,
        sleep=clock.sleep,
        client=client,
        secret_params=frozenset({"api_key"}),
        **kw,
    )
    return transport, seen, clock


def test_rate_limiter_spaces_requests() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3.0, clock=clock, sleep=clock.sleep)
    waits = [limiter.wait() for _ in range(4)]
    assert waits[0] == 0.0
    assert waits[1:] == pytest.approx([1 / 3] * 3)
    clock.now += 10  # after a pause the next request goes at once
    assert limiter.wait() == 0.0
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)


def test_a_configured_rate_of_zero_means_no_spacing() -> None:
    clock = FakeClock()
    limiter = RateLimiter.per_second(0)
    limiter._sleep = clock.sleep
    assert [limiter.wait() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert RateLimiter.per_second(4.0).interval == 0.25


def test_ncbi_rate_depends_on_the_api_key(monkeypatch) -> None:
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    assert PubMedSettings.from_env().rate() == 3.0
    monkeypatch.setenv("NCBI_API_KEY", "k")
    assert PubMedSettings.from_env().rate() == 10.0
    assert PubMedSettings.from_env(requests_per_second=1.5).rate() == 1.5
    monkeypatch.setenv("S2_API_KEY", "s")
    assert S2Settings.from_env().api_key == "s"


def test_retries_with_exponential_backoff_and_retry_after() -> None:
    responses = [
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(502, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        httpx.Response(200, content=b"ok"),
    ]
    transport, seen, clock = _transport(responses, backoff_seconds=0.5)
    assert transport.get("esearch.fcgi", {"term": "x"}) == b"ok"
    assert len(seen) == 4 and transport.retries == 3
    # 0.5 * 2**0, max(0.5 * 2**1, Retry-After 7), 0.5 * 2**2 (an HTTP-date falls back to the backoff)
    backoffs = [s for s in clock.sleeps if s >= 0.25]
    assert backoffs == [0.5, 7.0, 2.0]


def test_backoff_is_capped() -> None:
    responses = [httpx.Response(429, headers={"Retry-After": "3600"}), httpx.Response(200, content=b"ok")]
    transport, _, clock = _transport(responses, max_backoff_seconds=30.0)
    transport.get("x", {})
    assert max(clock.sleeps) == 30.0


def test_network_errors_are_retried_then_reported() -> None:
    responses = [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.ConnectError("refused")]
    transport, seen, _ = _transport(responses, max_retries=2, backoff_seconds=0.01)
    with pytest.raises(ApiError) as info:
        transport.get("esearch.fcgi", {"term": "x", "api_key": "top-secret"})
    assert info.value.reason == "network_error"
    assert "failed after 3 attempts: ConnectError" in str(info.value)
    assert "top-secret" not in str(info.value)
    assert seen[0].url.params["api_key"] == "top-secret"  # sent to the service, never shown


def test_client_errors_are_not_retried_and_quote_the_service() -> None:
    transport, seen, _ = _transport([httpx.Response(400, json={"error": "Unrecognized field"})])
    with pytest.raises(ApiError) as info:
        transport.get("paper/search", {"query": "x", "api_key": "top-secret"})
    assert len(seen) == 1
    assert info.value.status == 400 and info.value.reason == "http_error"
    message = str(info.value)
    assert message.startswith("Test API: GET http://127.0.0.1:9/api/paper/search?query=x answered HTTP 400")
    assert message.endswith(": Unrecognized field")
    assert "top-secret" not in message


def test_server_errors_after_retries() -> None:
    transport, _, _ = _transport([httpx.Response(500, content=b"<html>oops</html>")] * 2, max_retries=1)
    with pytest.raises(ApiError, match="HTTP 500 after 2 attempts") as info:
        transport.get("x", {})
    assert info.value.reason == "server_error"


def test_response_cache_round_trip_and_expiry(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, max_age_seconds=60)
    key = ResponseCache.key("pubmed", "efetch.fcgi", {"id": "1", "db": "pubmed"})
    assert key == ResponseCache.key("pubmed", "efetch.fcgi", {"db": "pubmed", "id": "1"})  # order-free
    assert key != ResponseCache.key("s2", "efetch.fcgi", {"db": "pubmed", "id": "1"})
    assert cache.get(key) is None
    cache.put(key, b"<xml/>")
    assert cache.get(key) == b"<xml/>"
    assert cache.get(key, max_age_seconds=3600) == b"<xml/>"
    old = time.time() - 120
    path = next(tmp_path.rglob("*.body"))
    os.utime(path, (old, old))
    assert cache.get(key) is None and cache.get(key, max_age_seconds=3600) == b"<xml/>"
    assert (cache.hits, cache.misses) == (3, 2)
    assert not list(tmp_path.rglob("*.tmp*"))


def test_default_cache_dir_follows_the_workspace(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DATASET_PIPELINE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "cache" / "academic"
    monkeypatch.delenv("DATASET_PIPELINE_HOME")
    assert default_cache_dir().parts[-3:] == ("dataset-pipeline", "cache", "academic")


def test_s2_article_tolerates_nulls() -> None:
    article = s2_article(
        {
            "paperId": "p1",
            "title": None,
            "abstract": None,
            "year": None,
            "journal": None,
            "externalIds": {"PubMedCentral": "123", "PubMed": 42},
            "openAccessPdf": {"url": "u", "license": "CCBY"},
            "authors": [{"name": "A"}, {"name": None}, "junk"],
            "venue": "Some Venue",
        }
    )
    assert (article.pmcid, article.pmid, article.year, article.journal) == ("PMC123", "42", 0, "Some Venue")
    assert article.license == "CCBY" and article.authors == ["A"] and article.abstract == []
