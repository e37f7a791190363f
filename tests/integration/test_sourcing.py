"""PubMed and Semantic Scholar clients against a loopback server replaying real recorded responses."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_helpers import cli, load_academic_replay

from ai.core.config import SourceConfig
from ai.core.records import Passage, decode_passage
from ai.core.stage import Rejection
from ai.sourcing.academic.academic_sourcing import AcademicOptions, AcademicSearch, read_source
from ai.sourcing.academic.pubmed import PubMedClient, PubMedSettings
from ai.sourcing.academic.semantic_scholar import S2Settings, SemanticScholarClient
from ai.sourcing.academic.transport import ApiError, ResponseCache

REPO = Path(__file__).resolve().parents[2]
ESEARCH = "/entrez/eutils/esearch.fcgi"
EFETCH = "/entrez/eutils/efetch.fcgi"
WEBENV = "MCID_6927d6e7fee3e90f880ec190"  # the history session recorded in esearch2.xml
MENTAL_HEALTH_PMIDS = ["38147649", "34843274", "38011560"]


replay = load_academic_replay()


@pytest.fixture
def pubmed_data(shared_data: Path) -> Path:
    return shared_data / "pubmed"


@pytest.fixture
def server() -> Iterator[replay.ReplayServer]:
    with replay.ReplayServer() as srv:
        yield srv


def _fast_settings(server: replay.ReplayServer, **kw: object) -> PubMedSettings:
    values = {
        "base_url": server.url + "/entrez/eutils",
        "requests_per_second": 1000.0,
        "backoff_seconds": 0.001,
    }
    values.update(kw)
    return PubMedSettings(**values)


def _options(server: replay.ReplayServer, tmp_path: Path, **kw: object) -> AcademicOptions:
    values = {
        "pubmed_url": server.url + "/entrez/eutils",
        "s2_url": server.url + "/graph/v1",
        "requests_per_second": 1000.0,
        "backoff_seconds": 0.001,
        "cache_dir": str(tmp_path / "cache"),
    }
    values.update(kw)
    return AcademicOptions(**values)


def _history_routes(server: replay.ReplayServer, data: Path) -> None:
    server.add(ESEARCH, (data / "biopython_entrez" / "esearch2.xml").read_bytes())
    for retstart, pmid in enumerate(MENTAL_HEALTH_PMIDS):
        body = (data / "metapub_pmid_xml" / f"{pmid}.xml").read_bytes()
        server.add(EFETCH, body, when={"WebEnv": WEBENV, "query_key": "1", "retstart": str(retstart)})


def _split(items: list) -> tuple[list[Passage], list[Rejection]]:
    return [i for i in items if isinstance(i, Passage)], [i for i in items if isinstance(i, Rejection)]


# --- PubMed E-utilities ------------------------------------------------------------------------------


def test_history_server_paging(server, pubmed_data, monkeypatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", "secret-key-123")
    monkeypatch.setenv("NCBI_EMAIL", "team@example.org")
    _history_routes(server, pubmed_data)
    settings = PubMedSettings.from_env(
        base_url=server.url + "/entrez/eutils", page_size=1, backoff_seconds=0.001
    )
    assert settings.rate() == 10.0  # NCBI's limit with an API key
    client = PubMedClient(settings)

    articles = list(client.search_articles("depression anxiety", max_results=3))

    assert [a.pmid for a in articles] == MENTAL_HEALTH_PMIDS
    search = server.requests_to(ESEARCH)[0].params
    assert search["term"] == "depression anxiety" and search["usehistory"] == "y"
    fetches = [r.params for r in server.requests_to(EFETCH)]
    assert [f["retstart"] for f in fetches] == ["0", "1", "2"]
    assert all(f["WebEnv"] == WEBENV and f["query_key"] == "1" and f["retmax"] == "1" for f in fetches)
    for request in server.log:  # NCBI's etiquette on every request
        assert request.params["tool"] == "unified-ai-dataset-pipeline"
        assert request.params["email"] == "team@example.org"
        assert request.params["api_key"] == "secret-key-123"


def test_paging_stops_at_max_results_even_if_a_page_is_larger(server, pubmed_data) -> None:
    server.add(ESEARCH, (pubmed_data / "biopython_entrez" / "esearch2.xml").read_bytes())
    # One recorded efetch page with 1 article for every offset: asking for 2 with pages of 1.
    server.add(EFETCH, (pubmed_data / "metapub_pmid_xml" / "38147649.xml").read_bytes())
    client = PubMedClient(_fast_settings(server, page_size=1))
    assert len(list(client.search_articles("x", max_results=2))) == 2
    assert len(server.requests_to(EFETCH)) == 2


def test_search_without_history_fetches_by_id(server, pubmed_data) -> None:
    server.add(ESEARCH, (pubmed_data / "biopython_entrez" / "esearch1.xml").read_bytes())
    server.add(EFETCH, (pubmed_data / "biopython_entrez" / "pubmed2.xml").read_bytes())
    client = PubMedClient(_fast_settings(server, page_size=20))
    articles = list(client.search_articles("biopython", max_results=2))
    (fetch,) = server.requests_to(EFETCH)
    assert fetch.params["id"] == "41282813,41148224"  # the first two ids esearch1.xml lists
    assert "WebEnv" not in fetch.params
    assert len(articles) == 2 and all(a.pmid for a in articles)  # pubmed2.xml holds two articles


def test_search_without_history_pages_the_id_list(server, pubmed_data) -> None:
    server.add(ESEARCH, (pubmed_data / "biopython_entrez" / "esearch3.xml").read_bytes())  # 6 ids, no WebEnv
    server.add(EFETCH, (pubmed_data / "biopython_entrez" / "pubmed2.xml").read_bytes())
    client = PubMedClient(_fast_settings(server, page_size=6))
    list(client.search_articles("PNAS[ta] AND 97[vi]", max_results=10))
    assert [r.params["retstart"] for r in server.requests_to(ESEARCH)] == ["0", "6"]
    assert len(server.requests_to(EFETCH)[0].params["id"].split(",")) == 10


def test_no_results_is_not_an_error(server, pubmed_data, tmp_path) -> None:
    server.add(ESEARCH, (pubmed_data / "biopython_entrez" / "esearch8.xml").read_bytes())
    with AcademicSearch(_options(server, tmp_path)) as search:
        assert list(search.passages_or_rejections("abcXYZ", 5, "pubmed")) == []
    assert not server.requests_to(EFETCH)


def test_429_then_success(server, pubmed_data, tmp_path) -> None:
    server.add(ESEARCH, b"Too Many Requests", status=429, times=1, headers={"Retry-After": "0"})
    server.add(EFETCH, b"Service Unavailable", status=503, times=2)
    _history_routes(server, pubmed_data)
    with AcademicSearch(_options(server, tmp_path, page_size=3)) as search:
        passages, rejections = _split(list(search.passages_or_rejections("anxiety", 1, "pubmed")))
        assert search.pubmed.transport.retries == 3
    assert not rejections
    assert [p.source.locator["pmid"] for p in passages] == ["38147649"]
    assert len(server.requests_to(ESEARCH)) == 2 and len(server.requests_to(EFETCH)) == 3


def test_persistent_429_becomes_a_rejection_without_the_key(server, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", "secret-key-123")
    server.add(ESEARCH, b"Too Many Requests", status=429)
    with AcademicSearch(_options(server, tmp_path, max_retries=2)) as search:
        (rejection,) = list(search.passages_or_rejections("anxiety", 5, "pubmed"))
    assert rejection.reason == "rate_limited"
    assert "HTTP 429 after 3 attempts" in rejection.message
    assert "term=anxiety" in rejection.message
    assert "secret-key-123" not in rejection.message
    assert len(server.requests_to(ESEARCH)) == 3


@pytest.mark.parametrize(
    ("endpoint", "file", "reason", "words"),
    [
        (ESEARCH, "einfo4.xml", "malformed_xml", "truncated"),
        (ESEARCH, "esummary8.xml", "api_error", "not <eSearchResult>"),
        (EFETCH, "pubmed3.html", "html_instead_of_xml", "HTML page (PmFetch response)"),
        (EFETCH, "epost2.xml", "service_error", "Invalid db name specified"),
    ],
)
def test_corrupt_responses_are_clear_rejections(server, pubmed_data, tmp_path, endpoint, file, reason, words):
    body = (pubmed_data / "biopython_entrez" / file).read_bytes()
    if endpoint == EFETCH:
        server.add(ESEARCH, (pubmed_data / "biopython_entrez" / "esearch2.xml").read_bytes())
    server.add(endpoint, body)
    with AcademicSearch(_options(server, tmp_path)) as search:
        (rejection,) = list(search.passages_or_rejections("q", 2, "pubmed"))
    assert rejection.reason == reason
    assert words in rejection.message
    assert rejection.locator == "query:q"
    # Bad answers are never cached; only the good esearch before a bad efetch is.
    assert len(list((tmp_path / "cache").rglob("*.body"))) == (1 if endpoint == EFETCH else 0)


def test_cache_replays_without_requests(server, pubmed_data, tmp_path) -> None:
    _history_routes(server, pubmed_data)
    options = _options(server, tmp_path, page_size=1)
    with AcademicSearch(options) as search:
        first = list(search.passages_or_rejections("anxiety", 3, "pubmed"))
    requests = len(server.log)
    with AcademicSearch(options) as search:
        second = list(search.passages_or_rejections("anxiety", 3, "pubmed"))
        assert search.requests_made() == 0
        assert search.cache.hits == 4
    assert first == second and len(server.log) == requests == 4


def test_eutils_cassettes_replay_into_articles(server, pubmed_data) -> None:
    cassettes = sorted((pubmed_data / "eutils_cassettes").glob("test_eutils_xmlfacades_pubmedarticle_*.yaml"))
    pmids = [c.stem.rsplit("_", 1)[1] for c in cassettes]
    for cassette, pmid in zip(cassettes, pmids, strict=True):
        server.add(EFETCH, replay.cassette_body(cassette), when={"db": "pubmed", "id": pmid})
    client = PubMedClient(_fast_settings(server))
    articles = [client.fetch([pmid])[0] for pmid in pmids]
    assert [a.pmid for a in articles] == pmids
    assert all(a.title and a.abstract and a.doi and a.year for a in articles)
    assert articles[pmids.index("29915538")].pmcid == "PMC5994433"


def test_pmc_full_text_replaces_the_abstract_only_record(server, pubmed_data, tmp_path) -> None:
    cassette = (
        pubmed_data / "eutils_cassettes" / "test_eutils_xmlfacades_pubmedcentralarticle_PMC3299399.yaml"
    )
    (request_uri, status, body), *_ = replay.cassette_bodies(cassette)
    assert "efetch" in request_uri and status == 200
    # A PubMed record we write ourselves that links to the recorded PMC article.
    pubmed_record = (
        b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>22416237</PMID><Article>"
        b"<ArticleTitle>Psychosis risk variants</ArticleTitle><Abstract><AbstractText>Short.</AbstractText>"
        b"</Abstract></Article><MeshHeadingList><MeshHeading><DescriptorName>Psychotic Disorders</DescriptorName>"
        b"</MeshHeading></MeshHeadingList></MedlineCitation><PubmedData><ArticleIdList>"
        b'<ArticleId IdType="pmc">PMC3299399</ArticleId></ArticleIdList></PubmedData></PubmedArticle>'
        b"</PubmedArticleSet>"
    )
    server.add(ESEARCH, (pubmed_data / "biopython_entrez" / "esearch2.xml").read_bytes())
    server.add(EFETCH, pubmed_record, when={"db": "pubmed"})
    server.add(EFETCH, body, when={"db": "pmc", "id": "3299399"})
    with AcademicSearch(_options(server, tmp_path, full_text=True)) as search:
        passages, rejections = _split(list(search.passages_or_rejections("psychosis", 1, "pubmed")))
    assert not rejections
    sections = [p.section for p in passages]
    assert sections[0] == "abstract" and "body: Introduction" in sections and "body: Discussion" in sections
    first = passages[0]
    assert first.source.locator["pmcid"] == "PMC3299399" and first.source.locator["pmid"] == "22416237"
    assert first.source.locator["journal"] == "Frontiers in Psychiatry"
    assert first.source.license == "http://www.frontiersin.org/licenseagreement"
    assert first.meta["mesh_terms"] == ["Psychotic Disorders"]
    assert first.text != "Short."  # the PMC abstract, not the stub


def test_read_source_runs_queries_and_local_files(server, pubmed_data, tmp_path) -> None:
    _history_routes(server, pubmed_data)
    options = {
        "query": ["anxiety"],
        "max": 2,
        "page_size": 1,
        "from_xml": str(pubmed_data / "metapub_pmid_xml" / "38271020.xml"),
        "pubmed_url": server.url + "/entrez/eutils",
        "requests_per_second": 1000.0,
        "cache": False,
    }
    source = SourceConfig(name="pubmed", kind="academic", options=options)
    passages, rejections = _split(list(read_source(source, tmp_path)))
    assert not rejections
    assert [p.source.locator["pmid"] for p in passages] == ["38271020", "38147649", "34843274"]
    assert passages[1].meta["query"] == "anxiety" and passages[1].meta["rank"] == 1


# --- Semantic Scholar --------------------------------------------------------------------------------


def _s2_search_routes(server, data: Path) -> None:
    for uri, _status, body in replay.cassette_bodies(
        data / "semanticscholar" / "test_search_paper_next_page.yaml"
    ):
        offset = uri.split("offset=")[1].split("&")[0]
        server.add("/graph/v1/paper/search", body, when={"offset": offset}, content_type="application/json")


def test_s2_search_follows_next_offsets(server, pubmed_data, monkeypatch) -> None:
    monkeypatch.setenv("S2_API_KEY", "s2-secret")
    _s2_search_routes(server, pubmed_data)
    client = SemanticScholarClient(
        S2Settings.from_env(base_url=server.url + "/graph/v1", requests_per_second=1000.0)
    )
    articles = list(client.search_articles("turing", max_results=150))
    assert len(articles) == 150
    assert [r.params["offset"] for r in server.log] == ["0", "100"]
    assert all(r.headers["x-api-key"] == "s2-secret" for r in server.log)
    assert "s2-secret" not in json.dumps([r.params for r in server.log])
    assert all(a.s2_id and a.title for a in articles)


def test_s2_paper_details_become_a_passage(server, pubmed_data, tmp_path) -> None:
    body = (pubmed_data / "semanticscholar" / "Paper.json").read_bytes()
    server.add("/graph/v1/paper/10.1093/mind/lix.236.433", body, content_type="application/json")
    with AcademicSearch(_options(server, tmp_path, backend="semantic_scholar")) as search:
        article = search.s2.paper("10.1093/mind/lix.236.433")
    assert server.log[0].params["fields"].startswith("paperId,externalIds,title,abstract")
    assert (article.title, article.journal, article.year) == (
        "Computing Machinery and Intelligence",
        "Mind",
        1950,
    )
    assert article.doi == "10.1093/MIND/LIX.236.433"
    assert article.abstract_text().startswith("I propose to consider the question")


def test_s2_search_passages_and_429_then_success(server, pubmed_data, tmp_path) -> None:
    server.add("/graph/v1/paper/search", b'{"message": "Too Many Requests"}', status=429, times=1)
    paper = json.loads((pubmed_data / "semanticscholar" / "Paper.json").read_text())
    fields = ("paperId", "externalIds", "title", "abstract", "venue", "year", "journal", "url")
    paper = {k: paper[k] for k in fields}
    # The recorded search page (titles only) with the recorded Paper.json object as its first hit.
    _, _, page = replay.cassette_bodies(pubmed_data / "semanticscholar" / "test_search_paper.yaml")[0]
    page = json.loads(page)
    page["data"][0] = paper
    server.add("/graph/v1/paper/search", json.dumps(page), content_type="application/json")
    with AcademicSearch(_options(server, tmp_path, backend="semantic_scholar")) as search:
        items = list(search.passages_or_rejections("turing", 3, "s2"))
        assert search.s2.transport.retries == 1
    passages, rejections = _split(items)
    (passage,) = passages
    assert passage.source.locator["doi"] == "10.1093/MIND/LIX.236.433"
    assert passage.source.locator["year"] == 1950
    assert passage.source.uri.startswith("https://www.semanticscholar.org/paper/")
    assert [r.reason for r in rejections] == ["no_abstract", "no_abstract"]  # titles-only hits


@pytest.mark.parametrize(
    ("cassette", "path", "reason", "words"),
    [
        ("test_not_found.yaml", "/graph/v1/paper/0", "not_found", "HTTP 404: Paper with id 0 not found"),
        ("test_debug.yaml", "/graph/v1/paper/0", "http_error", "HTTP 403: Forbidden"),
    ],
)
def test_s2_errors_are_clear(server, pubmed_data, cassette, path, reason, words) -> None:
    _, status, body = replay.cassette_bodies(pubmed_data / "semanticscholar" / cassette)[0]
    server.add(path, body, status=status, content_type="application/json")
    client = SemanticScholarClient(S2Settings(base_url=server.url + "/graph/v1", requests_per_second=1000.0))
    with pytest.raises(ApiError) as info:
        client.paper("0")
    assert info.value.reason == reason and words in str(info.value)


def test_s2_non_json_and_empty_results(server, pubmed_data, tmp_path) -> None:
    _, _, empty = replay.cassette_bodies(
        pubmed_data / "semanticscholar" / "test_empty_paginated_results.yaml"
    )[0]
    server.add("/graph/v1/paper/search", empty, when={"query": "n0 r3sult s3arch t3rm"})
    server.add("/graph/v1/paper/search", (pubmed_data / "biopython_entrez" / "pubmed3.html").read_bytes())
    cache = ResponseCache(tmp_path / "cache")
    client = SemanticScholarClient(
        S2Settings(base_url=server.url + "/graph/v1", requests_per_second=1000.0), cache
    )
    assert list(client.search_articles("n0 r3sult s3arch t3rm", 10)) == []
    with pytest.raises(ApiError, match="did not return JSON"):
        list(client.search_articles("turing", 10))
    assert len(list((tmp_path / "cache").rglob("*.body"))) == 1  # only the valid answer was cached


# --- CLI ---------------------------------------------------------------------------------------------


def test_cli_main_against_the_loopback_server(server, pubmed_data, tmp_path, capsys) -> None:
    _history_routes(server, pubmed_data)
    out = tmp_path / "passages.jsonl"
    code = cli(
        "source",
        "academic",
        "--query",
        "anxiety",
        "--max",
        "3",
        "--out",
        str(out),
        "--pubmed-url",
        server.url + "/entrez/eutils",
    )
    assert code == 0
    lines = out.read_bytes().splitlines()
    # One efetch page of up to 3 (the default page is 100); the recorded page holds one article.
    assert server.requests_to(EFETCH)[0].params["retmax"] == "3"
    assert [decode_passage(line).source.locator["pmid"] for line in lines] == ["38147649"]
    assert f"academic: 1 passages -> {out}" in capsys.readouterr().err


def test_python_dash_m_offline(pubmed_data, tmp_path) -> None:
    out = tmp_path / "offline.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ai.pipelines.orchestrator.main_orchestrator",
            "source",
            "academic",
            "--from-xml",
            str(pubmed_data / "biopython_entrez"),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(out.read_bytes().splitlines()) == 8  # the 8 PubMed/PMC articles among the Entrez fixtures
    quarantine = (tmp_path / "offline.jsonl.rejected.jsonl").read_text().splitlines()
    reasons = {json.loads(line)["reason"] for line in quarantine}
    assert {"malformed_xml", "not_article_xml", "service_error", "no_abstract"} <= reasons
    assert "einfo4.xml" in result.stderr


def test_cli_without_inputs_fails_cleanly(tmp_path, capsys) -> None:
    assert cli("source", "academic", "--out", str(tmp_path / "x.jsonl")) == 2
    assert "give --query or --from-xml" in capsys.readouterr().err
