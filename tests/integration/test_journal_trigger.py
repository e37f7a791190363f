"""The journal trigger end to end: conversations -> topics -> budgeted PubMed queries -> passages.

PubMed is a loopback server replaying real recorded E-utilities responses (../shared/data/pubmed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_helpers import cli, load_academic_replay

from ai.core.records import Provenance, Turn, decode_passage, encode, make_conversation
from ai.journal_dataset_research.trigger import JournalTriggerStage, journal_trigger_cli
from ai.sourcing.academic.topics import Taxonomy, TriggerOptions, count_topics, run_trigger

CONVERSATIONS = [
    ("I can't sleep at all, I lie awake until 4am every night.", "That sounds exhausting."),
    ("My insomnia is getting worse since I started the new job.", "Let's look at your evenings."),
    ("I’ve been lying awake for hours, my mind won’t stop.", "What goes through your mind?"),
    ("I had a panic attack on the train, my heart was racing.", "That must have been frightening."),
    ("The panic attacks come out of nowhere.", "Let's notice what happens just before."),
    ("Since my father passed away I feel numb.", "Grief can feel like that."),
    ("I feel hopeless most mornings.", "Thank you for telling me."),
    ("Work was fine today, just a bit busy.", "Glad to hear it."),
]


replay = load_academic_replay()


def _conversations():
    source = Provenance(kind="dataset", name="demo")
    return [
        make_conversation([Turn("client", client), Turn("therapist", therapist)], source)
        for client, therapist in CONVERSATIONS
    ]


@pytest.fixture
def pubmed(shared_data: Path) -> Iterator[replay.ReplayServer]:
    """PubMed replay: one recorded history search per topic, then recorded efetch pages."""
    data = shared_data / "pubmed"
    taxonomy = Taxonomy.load()
    with replay.ReplayServer() as server:
        replay.add_insomnia_and_panic(
            server, data, taxonomy.pubmed_query("insomnia"), taxonomy.pubmed_query("panic")
        )
        yield server


def _options(server, tmp_path: Path, **kw) -> TriggerOptions:
    academic = {
        "pubmed_url": server.url + "/entrez/eutils",
        "requests_per_second": 1000.0,
        "page_size": 1,
        "cache_dir": str(tmp_path / "cache"),
    }
    values = {"min_passages": 5, "max_queries": 2, "max_results_per_query": 2, "academic": academic}
    values.update(kw)
    return TriggerOptions(**values)


def test_insomnia_and_panic_conversations_become_budgeted_queries_and_passages(pubmed, tmp_path) -> None:
    options = _options(pubmed, tmp_path)
    stage = JournalTriggerStage(options)
    result = stage.process(_conversations())
    assert len(result.kept) == len(CONVERSATIONS) and not result.rejected
    topic_counts = count_topics(result.kept)
    assert topic_counts == {"insomnia": 3, "panic": 2, "grief": 1, "depression": 1}

    # Grief already has plenty of grounding; depression is needy but over the 2-query budget.
    trigger = run_trigger(topic_counts, {"grief": 30, "insomnia": 4}, options)

    assert [q.topic for q in trigger.queries] == ["insomnia", "panic"]
    assert trigger.over_budget == ["depression"]
    insomnia, panic = trigger.queries
    assert '"Sleep Initiation and Maintenance Disorders"[MeSH Terms]' in insomnia.query
    assert '"Panic Disorder"[MeSH Terms]' in panic.query
    assert insomnia.max_results == 1  # min_passages 5 - 4 at hand
    assert panic.max_results == 2  # the per-query cap
    assert (insomnia.status, insomnia.passages_found) == ("done", 1)
    assert (panic.status, panic.passages_found) == ("done", 2)
    assert [r.params["term"] for r in pubmed.requests_to(replay.ESEARCH)] == [insomnia.query, panic.query]

    by_topic = {p.source.locator["pmid"]: p for p in trigger.passages}
    assert set(by_topic) == {"38147649", *replay.PANIC_PMIDS}
    assert by_topic["38147649"].tags[-1] == "topic:insomnia"
    assert all("topic:panic" in by_topic[pmid].tags for pmid in replay.PANIC_PMIDS)
    for passage in trigger.passages:
        assert passage.source.kind == "paper" and passage.source.name == "journal_trigger"
        locator = passage.source.locator
        assert locator["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{locator['pmid']}/"
        assert locator["journal"] and locator["year"] >= 2020
        assert passage.meta["query"] in (insomnia.query, panic.query)
    assert trigger.requests == 2 + 1 + 2  # two searches, one + two efetch pages
    assert not trigger.rejections

    # A second run is served from the response cache: the same passages and no requests.
    again = run_trigger(topic_counts, {"grief": 30, "insomnia": 4}, options)
    assert again.requests == 0
    assert [p.id for p in again.passages] == [p.id for p in trigger.passages]


def test_passage_cap_and_failed_queries(pubmed, tmp_path) -> None:
    options = _options(pubmed, tmp_path, max_passages=1, max_queries=3)
    counts = {"insomnia": 3, "panic": 2, "ocd": 1}
    trigger = run_trigger(counts, {}, options)
    assert [(q.topic, q.status) for q in trigger.queries] == [
        ("insomnia", "done"),
        ("panic", "skipped_budget"),
        ("ocd", "skipped_budget"),
    ]
    assert len(trigger.passages) == 1
    assert trigger.over_budget == ["panic", "ocd"]

    # OCD has no recorded response: the replay answers 404, which is a rejection, not a crash.
    options = _options(pubmed, tmp_path, max_queries=1, academic={**options.academic, "max_retries": 0})
    failed = run_trigger({"ocd": 4}, {}, options)
    assert failed.queries[0].status == "failed"
    (rejection,) = failed.rejections
    assert rejection.stage == "journal_trigger" and rejection.reason == "not_found"
    assert "HTTP 404" in rejection.message


def test_standalone_cli(pubmed, tmp_path, capsys) -> None:
    conversations = tmp_path / "conversations.jsonl"
    lines = [encode(c) for c in _conversations()[:5]]
    lines.append(
        json.dumps({"messages": [{"role": "user", "content": "Another panic attack at work."}]}).encode()
    )
    lines.append(b"{not json")
    conversations.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "trigger_passages.jsonl"

    written = journal_trigger_cli(conversations, out, options=_options(pubmed, tmp_path))

    # insomnia 3 and panic 3 conversations (one in OpenAI shape); 2 results per query.
    assert written == 4
    pmids = [decode_passage(line).source.locator["pmid"] for line in out.read_bytes().splitlines()]
    assert pmids == replay.INSOMNIA_PMIDS + replay.PANIC_PMIDS
    printed = capsys.readouterr().out
    assert "journal trigger: 6 conversations" in printed
    assert "insomnia" in printed and "[done]" in printed
    (rejected,) = (tmp_path / "trigger_passages.jsonl.rejected.jsonl").read_text().splitlines()
    assert json.loads(rejected)["reason"] == "unreadable_conversation"


def test_journal_trigger_command(pubmed, tmp_path) -> None:
    conversations = tmp_path / "c.jsonl"
    conversations.write_bytes(b"\n".join(encode(c) for c in _conversations()[3:5]) + b"\n")
    existing = tmp_path / "existing.jsonl"
    existing.write_bytes(b"")
    out = tmp_path / "p.jsonl"
    argv = [
        "journal-trigger",
        str(conversations),
        "--out",
        str(out),
        "--passages",
        str(existing),
        "--max-results",
        "2",
    ]
    assert cli(*argv, "--min-passages", "2", "--pubmed-url", pubmed.url + "/entrez/eutils") == 0
    # Default paging: one efetch page of 2, which the recording answers with one article.
    assert [r.params["retmax"] for r in pubmed.requests_to(replay.EFETCH)] == ["2"]
    assert [
        decode_passage(line).source.locator["pmid"] for line in out.read_bytes().splitlines()
    ] == replay.PANIC_PMIDS[:1]
    assert cli("journal-trigger", str(tmp_path / "missing.jsonl"), "--out", str(out)) == 2
