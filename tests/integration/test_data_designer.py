"""NeMo Data Designer as the request engine (``engine: data_designer``) against a loopback endpoint.

The endpoint is the canned OpenAI-compatible server of ``tests/openai_stub.py``, answering the grounded
prompt the way a cooperative model would. A guard on ``socket.connect`` records every outbound
connection during the test, so the test proves that nothing but this server was contacted.
"""

from __future__ import annotations

import json
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_stub import OpenAIStub

pytest.importorskip("data_designer")

from ai.core.config import SourceConfig
from ai.core.records import Conversation, Passage, Provenance, Turn, make_conversation
from ai.core.stage import Rejection
from ai.safety.groundedness import GroundednessJudge
from ai.sourcing.synthetic import MaterialContext, read_source

PASSAGE_TEXT = (
    "Anxiety often grows when we avoid the situations that frighten us, because avoidance teaches the mind "
    "that the danger was real. Gradual exposure helps people learn that anxious feelings rise and then fall "
    "on their own. Self-compassion makes it easier to face stress without harsh self-criticism and shame. "
    "Loneliness and low mood tend to feed each other, so small steps toward connection support recovery "
    "from depression."
)


@pytest.fixture
def fake_model() -> Iterator[OpenAIStub]:
    with OpenAIStub() as stub:
        yield stub


@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch, fake_model: OpenAIStub) -> list[object]:
    """Every address a socket tried to connect to; anything but the fake model is refused."""
    attempts: list[object] = []
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def allowed(address: object) -> bool:
        attempts.append(address)
        return isinstance(address, tuple) and address[:2] == ("127.0.0.1", _port(fake_model))

    def connect(self: socket.socket, address: object) -> None:
        if not allowed(address):
            raise ConnectionRefusedError(f"test guard: connection to {address!r} refused")
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        if not allowed(address):
            raise ConnectionRefusedError(f"test guard: connection to {address!r} refused")
        return original_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return attempts


def _port(stub: OpenAIStub) -> int:
    return int(stub.base_url.rsplit(":", 1)[1].split("/")[0])


def _context(run_dir: Path) -> MaterialContext:
    passage = Passage(
        id="p_anxiety",
        text=PASSAGE_TEXT,
        title="Facing Anxiety",
        source=Provenance(kind="transcript", name="talks", uri="file://talk.vtt", locator={"start": 0.0}),
    )
    clients = [
        f"I have been so anxious at work that I avoid every meeting now, for {n} weeks. I feel ashamed of it."
        for n in range(12)
    ]
    conversations = [
        make_conversation(
            [Turn("client", text), Turn("therapist", "Tell me more.")],
            Provenance(kind="dataset", name="chats"),
            category="therapeutic",
            group=f"g{i}",
        )
        for i, text in enumerate(clients)
    ]
    return MaterialContext([passage], conversations, seed=5, run_dir=run_dir, judge=GroundednessJudge.load())


def _source(stub: OpenAIStub, target: int = 6) -> SourceConfig:
    return SourceConfig(
        name="dd-grounded",
        kind="synthetic",
        options={
            "mode": "grounded",
            "engine": "data_designer",
            "target": target,
            "budget": 1.5,
            "generation": {
                "endpoint": "openai",
                "base_url": stub.base_url,
                "model": "fake-counsellor",
                "api_key_env": "TEST_DD_API_KEY",
                "concurrency": 2,
            },
        },
    )


def _generate(source: SourceConfig, run_dir: Path) -> list[Conversation | Rejection]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(read_source(source, Path("."), _context(run_dir)))


def test_data_designer_makes_the_requests_to_the_configured_endpoint_only(
    fake_model: OpenAIStub, outbound: list[object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_DD_API_KEY", "sk-test-secret")
    items = _generate(_source(fake_model), tmp_path)
    records = [i for i in items if isinstance(i, Conversation)]
    assert len(records) == 6, [i.message for i in items if isinstance(i, Rejection)]
    judge = GroundednessJudge.load()
    for record in records:
        assert record.category == "grounded" and record.meta["synthetic"]["engine"] == "data_designer"
        assert record.grounding[0].passage_id == "p_anxiety"
        assert judge.judge(record.turns[1].text, PASSAGE_TEXT, [record.turns[0].text]).passed
        assert "sk-test-secret" not in json.dumps(record.meta) + json.dumps(record.source.locator)
    assert {h.get("Authorization") for h in fake_model.headers} == {"Bearer sk-test-secret"}
    assert {r["model"] for r in fake_model.requests} == {"fake-counsellor"}
    assert outbound and all(a == ("127.0.0.1", _port(fake_model)) for a in outbound)
    workdir = tmp_path / "work" / "synthetic" / "dd-grounded"
    assert (workdir / "responses.jsonl").exists() and (workdir / "data_designer" / "artifacts").is_dir()
    assert "sk-test-secret" not in (workdir / "responses.jsonl").read_text()


def test_a_rerun_reads_the_shared_cache_and_requests_nothing(
    fake_model: OpenAIStub, outbound: list[object], tmp_path: Path
) -> None:
    first = [i.id for i in _generate(_source(fake_model), tmp_path) if isinstance(i, Conversation)]
    asked = len(fake_model.requests)
    second = [i.id for i in _generate(_source(fake_model), tmp_path) if isinstance(i, Conversation)]
    assert second == first and len(first) == 6 and len(fake_model.requests) == asked > 0
