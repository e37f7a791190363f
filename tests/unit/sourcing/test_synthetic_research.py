"""Grounded generation's ``journal_trigger`` option: validation, planning against the knowledge at hand,
failures as quarantine entries. The only sockets touched are on 127.0.0.1 (a port nobody listens on)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_stub import OpenAIStub

from ai.core.config import ConfigError, SourceConfig
from ai.core.records import Conversation, Passage, Provenance, Turn, make_conversation
from ai.core.stage import Rejection
from ai.safety.groundedness import GroundednessJudge
from ai.sourcing.synthetic import MaterialContext, read_source
from ai.sourcing.synthetic.options import parse_options
from ai.sourcing.synthetic.research import JournalTriggerWarning, resolve_trigger_paths

SLEEP_TEXT = (
    "Insomnia is closely tied to worry and rumination at night. Keeping a regular wake time and leaving the "
    "bed when sleep does not come helps the body relearn that the bed is for sleep. Stress before bed keeps "
    "the mind alert, and a wind-down routine gives anxious thoughts somewhere else to go."
)
CLIENTS = [
    "I can't sleep because I keep worrying about my exams at night. My mind races and I feel exhausted.",
    "I get stressed before bed and I can't sleep for hours. I feel tired and frustrated every morning.",
    "I can't sleep since the move and I lie in bed replaying the day. I feel drained at work.",
]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


MODEL: dict[str, OpenAIStub] = {}


@pytest.fixture(autouse=True)
def model() -> Iterator[OpenAIStub]:
    with OpenAIStub() as stub:
        MODEL["stub"] = stub
        yield stub


def _source(trigger: dict[str, object], **options: object) -> SourceConfig:
    generation = {"endpoint": "openai", "base_url": MODEL["stub"].base_url, "model": "stub"}
    return SourceConfig(
        name="grounded",
        kind="synthetic",
        options={
            "mode": "grounded",
            "target": 2,
            "journal_trigger": trigger,
            "generation": generation,
            **options,
        },
    )


def _context(run_dir: Path) -> MaterialContext:
    source = Provenance(kind="transcript", name="talks", uri="file://sleep", locator={"start": 0.0})
    passages = [Passage(id="p_sleep", text=SLEEP_TEXT, source=source, title="Sleep and Worry")]
    conversations: list[Conversation] = [
        make_conversation(
            [Turn("client", text), Turn("therapist", "Tell me more about that.")],
            Provenance(kind="dataset", name="demo", license="MIT"),
            group=f"g{i}",
        )
        for i, text in enumerate(CLIENTS)
    ]
    return MaterialContext(passages, conversations, seed=7, run_dir=run_dir, judge=GroundednessJudge.load())


def _academic(port: int) -> dict[str, object]:
    return {"pubmed_url": f"http://127.0.0.1:{port}/entrez/eutils", "max_retries": 0, "timeout_seconds": 5}


@pytest.mark.parametrize(
    ("trigger", "named"),
    [
        ({"max_queriez": 2}, "max_queriez"),
        ({"academic": {"pubmed_ur": "http://127.0.0.1:1"}}, "pubmed_ur"),
        ({"extra_topics": {"loneliness": {"phrasez": ["lonely"]}}}, "phrasez"),
        ({"backend": "scholar"}, "backend"),
        ({"max_queries": -1}, "max_queries"),
    ],
)
def test_invalid_trigger_options_are_a_config_error_naming_the_key(trigger, named: str) -> None:
    with pytest.raises(ConfigError, match=named) as caught:
        parse_options(_source(trigger))
    assert str(caught.value).startswith("sources[grounded].options")


def test_the_section_switches_the_trigger_on_and_enabled_false_off() -> None:
    assert parse_options(_source({})).research() is not None
    assert parse_options(_source({"enabled": False})).research() is None
    assert (
        parse_options(SourceConfig(name="g", kind="synthetic", options={"mode": "grounded"})).research()
        is None
    )


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    options = parse_options(_source({"taxonomy": "topics.yaml", "academic": {"cache_dir": "cache"}}))
    trigger = resolve_trigger_paths(options, tmp_path).journal_trigger
    assert trigger is not None
    assert trigger.taxonomy == str(tmp_path / "topics.yaml")
    assert trigger.academic["cache_dir"] == str(tmp_path / "cache")
    with pytest.raises(ConfigError, match=r"taxonomy file not found: .*topics\.yaml"):
        list(read_source(_source({"taxonomy": "topics.yaml"}), tmp_path, _context(tmp_path)))


@pytest.mark.filterwarnings("ignore::ai.sourcing.synthetic.quota.SyntheticQuotaWarning")
def test_topics_grounded_well_enough_need_no_search(tmp_path: Path, closed_port: int) -> None:
    source = _source({"min_passages": 1, "academic": _academic(closed_port)})
    with pytest.warns(JournalTriggerWarning, match="0 queries; 0 passages fetched") as caught:
        items = list(read_source(source, tmp_path, _context(tmp_path)))
    assert "0 requests" in str(caught[0].message)
    assert [i for i in items if isinstance(i, Rejection)] == []
    assert len([i for i in items if isinstance(i, Conversation)]) == 2
    summary = json.loads((tmp_path / "work" / "synthetic" / "grounded" / "journal_trigger.json").read_text())
    assert summary["topics"] == {"insomnia": 3}
    assert summary["passages_at_hand"] == {"insomnia": 1}
    assert summary["queries"] == [] and summary["requests"] == 0


@pytest.mark.filterwarnings("ignore::ai.sourcing.synthetic.quota.SyntheticQuotaWarning")
def test_an_unreachable_service_is_quarantined_and_generation_uses_what_is_at_hand(
    tmp_path: Path, closed_port: int
) -> None:
    source = _source({"min_passages": 3, "academic": _academic(closed_port)})
    with pytest.warns(JournalTriggerWarning, match=r"1 queries \(1 failed\)"):
        items = list(read_source(source, tmp_path, _context(tmp_path)))
    (rejection,) = [i for i in items if isinstance(i, Rejection)]
    assert rejection.stage == "ingest" and rejection.reason == "network_error"
    assert rejection.message.startswith("grounded: journal trigger search for topic 'insomnia' failed")
    assert rejection.locator.startswith("grounded:journal_trigger:query:")
    generated = [i for i in items if isinstance(i, Conversation)]
    assert len(generated) == 2
    assert {c.source.locator["passage_id"] for c in generated} == {"p_sleep"}
