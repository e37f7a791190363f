"""Topic detection, the journal_trigger stage and query planning (no network)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from ai.core.config import ConfigError
from ai.core.records import Passage, Provenance, Turn, make_conversation
from ai.journal_dataset_research.trigger import JournalTriggerStage
from ai.sourcing.academic.topics import (
    Taxonomy,
    TriggerOptions,
    count_passages_by_topic,
    plan_queries,
    run_trigger,
)


def _conv(*texts: str, tags: list[str] | None = None):
    turns = [Turn("client" if i % 2 == 0 else "therapist", t) for i, t in enumerate(texts)]
    return make_conversation(turns, Provenance(kind="dataset", name="t"), tags=tags or [])


@pytest.mark.parametrize(
    ("text", "topics"),
    [
        ("I can’t sleep and I lie awake for hours", ["insomnia"]),
        ("I CANNOT   SLEEP", ["insomnia"]),
        ("My therapist suggested CBT and a thought record", ["cbt"]),
        ("We tried EMDR for the flashbacks", ["emdr", "ptsd"]),
        ("I had panic attacks after the accident", ["panic"]),
        ("Acceptance and commitment therapy helped my anxiety", ["act", "anxiety"]),
        ("He was speaking about the Act of Parliament", []),  # no bare "act"
        ("acbt and cbtx are not words we know", []),  # whole words only
        ("Since mum passed away my grief has been heavy", ["grief"]),
        ("I started cutting myself again and relapsed with drinking", ["self_harm", "substance_use"]),
        ("Just a normal day at work.", []),
    ],
)
def test_topic_detection(text: str, topics: list[str]) -> None:
    assert Taxonomy.load().detect(text) == topics


def test_bundled_taxonomy_has_the_issue_topics() -> None:
    topics = Taxonomy.load().topics
    wanted = {"cbt", "dbt", "act", "emdr", "motivational_interviewing", "panic", "insomnia", "grief", "ptsd"}
    wanted |= {"ocd", "eating_disorders", "self_harm", "substance_use"}
    assert wanted <= set(topics)
    assert all(t.mesh and t.phrases for t in topics.values())


def test_extra_topics_extend_and_override() -> None:
    taxonomy = Taxonomy.load(
        extra_topics={
            "loneliness": {"kind": "condition", "phrases": ["lonely", "no friends"], "mesh": ["Loneliness"]},
            "insomnia": {"phrases": ["sleepless nights"], "mesh": ["Sleep Wake Disorders"]},
        }
    )
    assert taxonomy.detect("I feel so lonely and have no friends") == ["loneliness"]
    assert taxonomy.detect("I can't sleep") == []  # the override replaced the phrases
    assert taxonomy.detect("Many sleepless nights") == ["insomnia"]
    assert taxonomy.pubmed_query("loneliness").startswith(
        '("Loneliness"[MeSH Terms] OR "loneliness"[Title/Abstract])'
    )
    with pytest.raises(ConfigError, match="extra_topics"):
        Taxonomy.load(extra_topics={"x": {"phrases": "not a list"}})


def test_taxonomy_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="taxonomy file not found"):
        Taxonomy.load(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        Taxonomy.load(str(bad))
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("topics: {x: {colour: red}}\n")
    with pytest.raises(ConfigError, match=r"wrong\.yaml"):
        Taxonomy.load(str(wrong))


def test_custom_taxonomy_file_queries(tmp_path: Path) -> None:
    path = tmp_path / "mini.yaml"
    path.write_text(
        "topics:\n"
        "  cbt: {kind: modality, label: CBT, phrases: [cbt], mesh: [Cognitive Behavioral Therapy]}\n"
        "  panic: {kind: condition, label: panic disorder, phrases: [panic], mesh: [Panic Disorder]}\n"
    )
    taxonomy = Taxonomy.load(str(path))
    assert (
        taxonomy.pubmed_query("cbt")
        == '("Cognitive Behavioral Therapy"[MeSH Terms] OR "CBT"[Title/Abstract])'
    )
    assert taxonomy.plain_query("cbt") == "CBT"
    assert taxonomy.plain_query("panic") == "panic disorder psychotherapy"


def test_bundled_queries_add_the_focus_and_filter() -> None:
    query = Taxonomy.load().pubmed_query("insomnia")
    assert query.startswith(
        '("Sleep Initiation and Maintenance Disorders"[MeSH Terms] OR "insomnia"[Title/Abstract])'
    )
    assert "psychotherapy[MeSH Terms]" in query and query.endswith("AND hasabstract AND english[lang]")
    assert "psychotherapy" not in Taxonomy.load().pubmed_query("cbt")  # modalities need no focus


def test_stage_tags_topics_and_keeps_everything() -> None:
    stage = JournalTriggerStage(TriggerOptions())
    batch = [
        _conv("I can't sleep", "Tell me more about your nights"),
        _conv("We practised mindfulness", "How did the body scan feel?", tags=["topic:mindfulness", "src"]),
        _conv("Nothing in particular today"),
    ]
    result = stage.process(batch)
    assert [c.tags for c in result.kept] == [["topic:insomnia"], ["topic:mindfulness", "src"], []]
    assert [c.id for c in result.kept] == [c.id for c in batch]
    assert result.rejected == []
    assert result.stats == {"topic.insomnia": 1.0, "topic.mindfulness": 1.0, "conversations_with_topics": 2.0}
    assert JournalTriggerStage.name == "journal_trigger" and not JournalTriggerStage.enabled_by_default
    clone = pickle.loads(pickle.dumps(stage))  # built in worker processes
    assert clone.process(batch).kept == result.kept


def test_stage_rejects_foreign_options() -> None:
    from ai.core.stage import StageOptions

    with pytest.raises(ConfigError, match="TriggerOptions"):
        JournalTriggerStage(StageOptions())


def test_plan_orders_by_demand_and_respects_budget() -> None:
    options = TriggerOptions(min_passages=10, max_queries=2, max_results_per_query=6, min_conversations=2)
    counts = {"panic": 5, "insomnia": 9, "grief": 5, "ocd": 1, "unknown_topic": 50, "ptsd": 7}
    have = {"ptsd": 10, "grief": 7}
    planned, over = plan_queries(counts, have, options, Taxonomy.load())
    # ptsd has enough passages, ocd too few mentions, unknown_topic is not in the taxonomy
    assert [(p.topic, p.max_results, p.passages_before) for p in planned] == [
        ("insomnia", 6, 0),
        ("grief", 3, 7),
    ]
    assert over == ["panic"]


def test_plan_for_semantic_scholar_uses_plain_queries() -> None:
    options = TriggerOptions(backend="semantic_scholar")
    planned, _ = plan_queries({"cbt": 1}, {}, options, Taxonomy.load())
    assert planned[0].query == "cognitive behavioural therapy"


def test_nothing_needed_means_no_requests(tmp_path: Path) -> None:
    options = TriggerOptions(academic={"cache_dir": str(tmp_path), "pubmed_url": "http://127.0.0.1:9"})
    result = run_trigger({"insomnia": 3}, {"insomnia": 50}, options)
    assert result.queries == [] and result.passages == [] and result.requests == 0
    with pytest.raises(ConfigError, match="academic"):
        run_trigger({"insomnia": 3}, {}, TriggerOptions(academic={"max": "lots"}))


def test_count_passages_by_topic() -> None:
    source = Provenance(kind="paper", name="x")
    passages = [
        Passage(id="p1", text="a", source=source, tags=["topic:insomnia", "topic:insomnia"]),
        Passage(id="p2", text="b", source=source, tags=["topic:panic", "academic"]),
    ]
    assert count_passages_by_topic(passages) == {"insomnia": 1, "panic": 1}
