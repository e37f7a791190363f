"""The journal trigger inside a pipeline run: under-grounded topics -> PubMed -> grounded conversations.

A primary source of conversations about insomnia, panic, grief and OCD (written here) feeds a grounded
synthetic source with ``journal_trigger`` on. PubMed is the loopback replay server answering with real
recorded E-utilities responses from ../shared/data/pubmed; the grief search is answered with the
recorded HTML error page (``pubmed3.html``), and OCD does not fit in the three-query budget.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai_stub import OpenAIStub
from pipeline_helpers import cli, load_academic_replay, read_jsonl

from ai.sourcing.academic.topics import Taxonomy

# Of the four recorded articles, these two talk about mental health in quotable sentences.
USABLE_PMIDS = {"34843274", "37822558"}

# (client, therapist). Topic phrases appear only where intended: insomnia 4, panic 3, grief 2, OCD 1.
CONVERSATIONS = [
    (
        "I lie awake every night since the stress at work began. I keep wondering whether psychological "
        "treatments would help me more than pills.",
        "It sounds like those nights are wearing you down. What have you noticed about the evenings before?",
    ),
    (
        "My insomnia is worse this winter and my mood is low most days. I have read that psychological "
        "treatments can help with low mood and sleep.",
        "You have been carrying a lot this winter. What would you like to try first?",
    ),
    (
        "I can't sleep before big deadlines and then I feel flat the whole next day. My doctor mentioned "
        "treatment options but I felt rushed.",
        "Feeling rushed in that appointment sounds frustrating. What questions did you want to ask?",
    ),
    (
        "Trouble sleeping has become normal for me, and I worry it affects how I treat my family members. "
        "I want a treatment that works for older adults like me.",
        "You care a lot about your family. What does a good evening look like for you?",
    ),
    (
        "I had a panic attack in the supermarket and I still feel shaken. Since then the stress follows me "
        "everywhere and my mental health feels fragile.",
        "That sounds frightening, and it makes sense that you feel shaken. What helped you get through it?",
    ),
    (
        "The panic attacks started after my mother got ill, and as one of her caregivers I feel mental "
        "stress all the time. I keep it hidden from her.",
        "Caring for her while hiding how you feel is a heavy load. Who supports you right now?",
    ),
    (
        "When my heart was racing on the train I had to get off at the next stop. I feel embarrassed and "
        "my mental health has taken a hit.",
        "Getting off the train was a way to look after yourself. What did you notice in your body?",
    ),
    (
        "My grandmother passed away in spring and I still set a cup out for her. The house feels strange "
        "and quiet without her laugh.",
        "Setting out her cup sounds like a way of keeping her close. What do you miss most?",
    ),
    (
        "The grief comes in waves at odd moments, like when I hear her favourite song in a shop. I feel "
        "silly crying in public.",
        "Those waves can arrive without warning. There is nothing silly about missing her.",
    ),
    (
        "Intrusive thoughts about leaving the stove on make me go back home three times before work. I "
        "feel stuck in a loop every morning.",
        "That loop sounds exhausting. What happens in your mind just before you turn back?",
    ),
    (
        "Work has been busy but I enjoyed the walk by the river at lunch today. I want to keep that habit "
        "going.",
        "That walk sounds like a good anchor. How could you protect that time?",
    ),
]


replay = load_academic_replay()
TAXONOMY = Taxonomy.load()
QUERIES = {topic: TAXONOMY.pubmed_query(topic) for topic in ("insomnia", "panic", "grief", "ocd")}


@pytest.fixture(scope="module")
def pubmed(shared_data: Path) -> Iterator[replay.ReplayServer]:
    data = shared_data / "pubmed"
    with replay.ReplayServer() as server:
        replay.add_insomnia_and_panic(server, data, QUERIES["insomnia"], QUERIES["panic"])
        server.add(
            replay.ESEARCH,
            (data / "biopython_entrez" / "pubmed3.html").read_bytes(),
            when={"term": QUERIES["grief"]},
            content_type="text/html",
        )
        yield server


MODEL: dict[str, OpenAIStub] = {}


@pytest.fixture(scope="module", autouse=True)
def model() -> Iterator[OpenAIStub]:
    """The canned cooperative model the grounded source asks (the real one: test_generation_local.py)."""
    with OpenAIStub() as stub:
        MODEL["stub"] = stub
        yield stub


def write_config(tmp_path: Path, server: replay.ReplayServer, **academic: Any) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    conversations = tmp_path / "conversations.jsonl"
    conversations.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"jt-{i:02d}",
                    "messages": [
                        {"role": "user", "content": client},
                        {"role": "assistant", "content": therapist},
                    ],
                }
            )
            + "\n"
            for i, (client, therapist) in enumerate(CONVERSATIONS)
        )
    )
    trigger = {
        "min_passages": 5,
        "max_queries": 3,
        "max_results_per_query": 2,
        "max_passages": 10,
        "academic": {
            "pubmed_url": server.url + "/entrez/eutils",
            "requests_per_second": 1000.0,
            "page_size": 1,
            **academic,
        },
    }
    config = {
        "run": {"name": "journal-grounding", "shard_size": 50, "workers": 1, "seed": 7},
        "sources": [
            {"name": "talks", "path": str(conversations), "license": "CC-BY-4.0"},
            {
                "name": "grounded-research",
                "kind": "synthetic",
                "category": "grounded",
                "options": {
                    "mode": "grounded",
                    # Three client threads share a condition topic with a fetched paper (topic-matched
                    # grounding); the others get no conversation.
                    "target": 3,
                    "journal_trigger": trigger,
                    "generation": {"endpoint": "openai", "base_url": MODEL["stub"].base_url, "model": "stub"},
                },
            },
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_pipeline(config: Path, out: Path) -> None:
    assert cli("run", "--config", str(config), "--output", str(out), "--quiet") == 0


def exported(run: Path) -> list[dict[str, Any]]:
    return [
        row
        for split in ("train", "validation", "test")
        for row in read_jsonl(run / "dataset" / f"{split}.jsonl")
    ]


def summary(run: Path) -> dict[str, Any]:
    return json.loads((run / "work" / "synthetic" / "grounded-research" / "journal_trigger.json").read_text())


def dataset_digest(run: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((run / "dataset").glob("*.jsonl"))
    }


@pytest.fixture(scope="module")
def first_run(pubmed: replay.ReplayServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    base = tmp_path_factory.mktemp("journal-grounding")
    before = len(pubmed.log)
    run_pipeline(write_config(base, pubmed), base / "run")
    return base / "run", pubmed.log[before:]


def test_planned_queries_reach_pubmed_within_budget(first_run) -> None:
    run, requests = first_run
    searches = [r.params["term"] for r in requests if r.path == replay.ESEARCH]
    # Most-mentioned first, three searches (max_queries); OCD is over budget and never asked for.
    assert searches == [QUERIES["insomnia"], QUERIES["panic"], QUERIES["grief"]]
    assert QUERIES["ocd"] not in searches
    assert all("[MeSH Terms]" in term for term in searches)
    fetches = [(r.params["WebEnv"], r.params["retstart"]) for r in requests if r.path == replay.EFETCH]
    assert fetches == [
        (replay.INSOMNIA_WEBENV, "0"),
        (replay.INSOMNIA_WEBENV, "1"),
        (replay.PANIC_WEBENV, "0"),
        (replay.PANIC_WEBENV, "1"),
    ]
    assert len(requests) == 7

    report = summary(run)
    assert report["topics"] == {"insomnia": 4, "panic": 3, "grief": 2, "ocd": 1}
    assert report["passages_at_hand"] == {"insomnia": 0, "panic": 0, "grief": 0, "ocd": 0}
    assert [(q["topic"], q["status"], q["passages_found"]) for q in report["queries"]] == [
        ("insomnia", "done", 2),
        ("panic", "done", 2),
        ("grief", "failed", 0),
    ]
    assert report["over_budget"] == ["ocd"]
    assert (report["passages_fetched"], report["passages_usable"], report["requests"]) == (4, 2, 7)
    assert report["reused_saved_results"] is False
    # Without academic.cache_dir the response cache lives in the run directory.
    assert len(list((run / "work" / "cache" / "academic").glob("*/*.body"))) == 6  # 2 searches, 4 pages
    saved = read_jsonl(run / report["passages_file"])
    assert sorted(p["source"]["locator"]["pmid"] for p in saved) == sorted(
        replay.INSOMNIA_PMIDS + replay.PANIC_PMIDS
    )

    warnings = [e for e in read_jsonl(run / "logs" / "run.jsonl") if e.get("event") == "source_warning"]
    trigger_lines = [e["message"] for e in warnings if "journal trigger" in e["message"]]
    assert len(trigger_lines) == 1
    assert "over budget: ocd" in trigger_lines[0] and "1 failures quarantined" in trigger_lines[0]


def test_grounded_conversations_carry_the_fetched_papers_provenance(first_run) -> None:
    run, _ = first_run
    grounded = [r for r in exported(run) if r["metadata"]["category"] == "grounded"]
    assert len(grounded) == 3
    used = set()
    for row in grounded:
        source = row["metadata"]["source"]
        locator = source["locator"]["passage_locator"]
        assert source["kind"] == "synthetic" and source["name"] == "grounded-research"
        assert source["locator"]["passage_source"] == "journal_trigger"
        assert source["uri"] == locator["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{locator['pmid']}/"
        assert locator["doi"] and locator["journal"]
        excerpt = row["metadata"]["grounding"][0]["quote"]  # the passage sentences the prompt held
        assert re.split(r"(?<=[.!?])\s+", excerpt)[0] in row["messages"][-1]["content"]
        # The reply names the source in plain words (prompt grounded-reply/2: no year, whose digits the
        # groundedness judge would read as a claim); the year stays in the provenance.
        assert f"a paper in {locator['journal']}" in row["messages"][-1]["content"]
        assert locator["year"]
        used.add(locator["pmid"])
    # Only papers on a client's topic ground anything (topic-matched grounding): here one of the two.
    assert used and used <= USABLE_PMIDS


def test_failed_search_is_quarantined_and_the_run_completes(first_run) -> None:
    run, _ = first_run
    (entry,) = read_jsonl(run / "quarantine" / "ingest.jsonl")
    assert entry["stage"] == "ingest" and entry["reason"] == "html_instead_of_xml"
    assert entry["message"].startswith("grounded-research: journal trigger search for topic 'grief' failed")
    assert "HTML page" in entry["message"]
    assert entry["locator"] == f"grounded-research:journal_trigger:query:{QUERIES['grief']}"
    counts = json.loads((run / "manifest.json").read_text())["counts"]
    assert counts["input"] == counts["exported"] + counts["quarantined"]
    assert counts["categories"]["grounded"] == 3
    assert summary(run)["rejections"] == [entry]


def test_resumed_ingest_reuses_the_saved_results_without_a_request(pubmed, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_pipeline(write_config(tmp_path, pubmed), run)
    digest, quarantine = dataset_digest(run), (run / "quarantine" / "ingest.jsonl").read_bytes()
    # As if the run had been killed while the synthetic source was still generating.
    (run / "checkpoints" / "ingest" / "complete.done").unlink()
    before = len(pubmed.log)

    assert cli("resume", str(run), "--quiet") == 0

    assert pubmed.log[before:] == []
    report = summary(run)
    assert report["reused_saved_results"] is True and report["requests"] == 0
    assert report["over_budget"] == ["ocd"] and report["rejected"] == 1
    assert dataset_digest(run) == digest
    assert (run / "quarantine" / "ingest.jsonl").read_bytes() == quarantine


def test_a_second_run_sharing_the_cache_asks_only_for_the_failed_search(pubmed, tmp_path: Path) -> None:
    cache = tmp_path / "academic-cache"
    run_pipeline(write_config(tmp_path / "a", pubmed, cache_dir=str(cache)), tmp_path / "a" / "run")
    before = len(pubmed.log)

    run_pipeline(write_config(tmp_path / "b", pubmed, cache_dir=str(cache)), tmp_path / "b" / "run")

    # Good responses come from the cache; the HTML page was never cached, so grief is searched again.
    again = pubmed.log[before:]
    assert [(r.path, r.params.get("term")) for r in again] == [(replay.ESEARCH, QUERIES["grief"])]
    first, second = summary(tmp_path / "a" / "run"), summary(tmp_path / "b" / "run")
    assert second["requests"] == 1 and second["reused_saved_results"] is False
    assert second["queries"] == first["queries"]
    grounded = [
        sorted(r["id"] for r in exported(tmp_path / name / "run") if r["metadata"]["category"] == "grounded")
        for name in ("a", "b")
    ]
    assert grounded[0] == grounded[1] and len(grounded[0]) == 3
