"""A canned OpenAI-compatible chat server on 127.0.0.1, for error paths and for fast generator tests.

``OpenAIStub(answer)`` serves ``POST /v1/chat/completions`` and ``GET /v1/models``; ``answer(body)``
returns the reply text, or ``(status, raw_body)`` to simulate failures. Every request is recorded.
``grounded_answer`` plays a cooperative model for the grounded prompt: it reflects the client and
restates the first sentence of the passage excerpt, so the groundedness judge accepts it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[dict[str, Any]], "str | tuple[int, str]"]
_EXCERPT = re.compile(r'A passage from (?P<attribution>.+?):\n"""(?P<excerpt>.+?)"""', re.DOTALL)
_CLIENT = re.compile(r'A client wrote:\n"""(?P<client>.+?)"""', re.DOTALL)


def grounded_answer(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    # Some clients (Data Designer) send the content as a list of typed parts.
    prompt = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
    # The real request comes last, after any worked examples (Data Designer sends them in one prompt).
    excerpt = next(reversed(list(_EXCERPT.finditer(prompt))), None)
    client = next(reversed(list(_CLIENT.finditer(prompt))), None)
    if not excerpt or not client:
        return "I hear you. What would you like to talk about?"
    first = re.split(r"(?<=[.!?])\s+", excerpt.group("excerpt").strip())[0]
    return (
        "I can hear how heavy this has been for you. "
        f'Something from {excerpt.group("attribution")} may help: "{first}" '
        "What would you like to try first?"
    )


class OpenAIStub:
    def __init__(self, answer: Answer = grounded_answer, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests the stub was answering at once
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._send(200, json.dumps({"object": "list", "data": [{"id": "stub"}]}))

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with stub._lock:
                    stub.requests.append(body)
                    stub.headers.append(dict(self.headers))
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    if stub.delay:
                        threading.Event().wait(stub.delay)
                    answer = stub.answer(body)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1
                if isinstance(answer, tuple):
                    self._send(*answer)
                    return
                self._send(200, json.dumps(_completion(body, answer)))

            def _send(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1700000000,
        "model": body.get("model", "stub"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": len(text.split()), "total_tokens": 100},
    }
