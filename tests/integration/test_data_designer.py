"""NeMo Data Designer end to end against an OpenAI-compatible server on 127.0.0.1 started here.

The server answers chat completions the way a cooperative model would (a client message, then an
EARS reply that quotes the requested sentence). A guard on ``socket.connect`` records every outbound
connection during the test, so the test proves that nothing but this server was contacted.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

pytest.importorskip("data_designer")

from ai.core.config import SourceConfig
from ai.core.records import Conversation, Passage, Provenance
from ai.core.stage import Rejection
from ai.sourcing.synthetic import MaterialContext, read_source
from ai.sourcing.synthetic.groundedness import check_groundedness

PASSAGE_TEXT = (
    "Anxiety often grows when we avoid the situations that frighten us, because avoidance teaches the mind "
    "that the danger was real. Gradual exposure helps people learn that anxious feelings rise and then fall "
    "on their own. Self-compassion makes it easier to face stress without harsh self-criticism and shame. "
    "Loneliness and low mood tend to feed each other, so small steps toward connection support recovery "
    "from depression."
)
QUOTE_IN_PROMPT = re.compile(r'inside double quotes: "(?P<quote>[^"]+)"')


class FakeModel(BaseHTTPRequestHandler):
    """The two prompts of the Data Designer pipeline, answered plausibly; everything is counted."""

    requests: ClassVar[list[dict]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        with self.lock:
            FakeModel.requests.append(
                {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
            )
        content = body["messages"][-1]["content"]
        prompt = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
        quote = QUOTE_IN_PROMPT.search(prompt)
        if quote:
            text = (
                "I can hear how anxious and worn down you feel. It makes sense that this has been hard. "
                "It sounds like you keep avoiding the meetings that scare you. "
                f'One idea from a talk I like: "{quote.group("quote")}" '
                "Would you be open to choosing one small step together for this week?"
            )
        else:
            text = (
                "I have been avoiding every meeting at work because I feel anxious and I'm scared of "
                "saying something wrong. I feel exhausted and ashamed of how stuck I am."
            )
        payload = {
            "id": f"chatcmpl-{len(FakeModel.requests)}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body.get("model", "fake"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": 60, "total_tokens": 110},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake_model() -> Iterator[int]:
    FakeModel.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch, fake_model: int) -> list[object]:
    """Every address a socket tried to connect to; anything but the fake model is refused."""
    attempts: list[object] = []
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def allowed(address: object) -> bool:
        attempts.append(address)
        return isinstance(address, tuple) and address[:2] == ("127.0.0.1", fake_model)

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


def _context(run_dir: Path) -> MaterialContext:
    passage = Passage(
        id="p_anxiety",
        text=PASSAGE_TEXT,
        title="Facing Anxiety",
        source=Provenance(kind="transcript", name="talks", uri="file://talk.vtt", locator={"start": 0.0}),
    )
    return MaterialContext([passage], [], seed=5, run_dir=run_dir)


def _source(port: int, target: int = 20) -> SourceConfig:
    return SourceConfig(
        name="dd-grounded",
        kind="synthetic",
        options={
            "mode": "grounded",
            "target": target,
            "budget": 1.0,
            "data_designer": {
                "base_url": f"http://127.0.0.1:{port}/v1",
                "model": "fake-counsellor",
                "api_key_env": "TEST_DD_API_KEY",
                "buffer_size": 20,
                "max_parallel_requests": 2,
            },
        },
    )


def _generate(source: SourceConfig, run_dir: Path) -> list[Conversation | Rejection]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(read_source(source, Path("."), _context(run_dir)))


def test_data_designer_generates_20_grounded_rows_talking_only_to_the_local_endpoint(
    fake_model: int, outbound: list[object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_DD_API_KEY", "sk-test-secret")
    items = _generate(_source(fake_model), tmp_path)

    records = [i for i in items if isinstance(i, Conversation)]
    assert len(records) == 20, [i.message for i in items if isinstance(i, Rejection)]
    for record in records:
        assert record.category == "grounded"
        assert record.source.locator["engine"] == "data_designer"
        assert record.grounding[0].passage_id == "p_anxiety"
        assert f'"{record.grounding[0].quote}"' in record.turns[1].text
        assert check_groundedness([record.turns[1].text], [PASSAGE_TEXT], [record.turns[0].text]).passed
        assert set(record.meta["synthetic"]["persona"]) <= {"age", "sex", "occupation"}
        assert "sk-test-secret" not in json.dumps(record.meta)
    # One client message and one therapist reply per row; nothing else (no health check, no telemetry).
    assert len(FakeModel.requests) == 40
    assert {r["path"] for r in FakeModel.requests} == {"/v1/chat/completions"}
    assert {r["body"]["model"] for r in FakeModel.requests} == {"fake-counsellor"}
    assert {r["auth"] for r in FakeModel.requests} == {"Bearer sk-test-secret"}
    assert outbound and all(a == ("127.0.0.1", fake_model) for a in outbound)
    # Data Designer's home and artifacts stay inside the run directory.
    workdir = tmp_path / "work" / "synthetic" / "dd-grounded"
    assert (workdir / "rows.jsonl").exists() and (workdir / "artifacts").is_dir()
    assert "sk-test-secret" not in (workdir / "rows.jsonl").read_text()


def test_a_rerun_reuses_generated_rows_and_requests_nothing(
    fake_model: int, outbound: list[object], tmp_path: Path
) -> None:
    first = [i.id for i in _generate(_source(fake_model), tmp_path) if isinstance(i, Conversation)]
    requests_after_first = len(FakeModel.requests)
    second = [i.id for i in _generate(_source(fake_model), tmp_path) if isinstance(i, Conversation)]
    assert second == first and len(first) == 20
    assert len(FakeModel.requests) == requests_after_first == 40
