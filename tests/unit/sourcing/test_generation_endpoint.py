"""ChatEndpoint against a canned loopback server: cache, retries, timeouts, budget, order, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from openai_stub import OpenAIStub

from ai.sourcing.generation import (
    ChatEndpoint,
    ChatRequest,
    Completion,
    EndpointError,
    EndpointOptions,
    parse_endpoint_options,
)
from ai.sourcing.generation.cache import ResponseCache, request_key

HELLO = [{"role": "user", "content": "hello"}]


def _endpoint(stub: OpenAIStub, workdir: Path | None = None, **options: object) -> ChatEndpoint:
    defaults: dict[str, object] = {"backoff_seconds": 0.0, "max_retries": 2, "timeout_seconds": 5.0}
    opts = EndpointOptions(
        endpoint="openai", base_url=stub.base_url, model="stub-model", **{**defaults, **options}
    )  # type: ignore[arg-type]
    return ChatEndpoint.from_options(opts, workdir)


def test_an_answer_is_cached_on_disk_and_a_new_endpoint_serves_it_without_a_request(tmp_path: Path) -> None:
    with OpenAIStub(lambda body: f"echo {body['messages'][-1]['content']} seed {body['seed']}") as stub:
        with _endpoint(stub, tmp_path) as endpoint:
            first = endpoint.complete(HELLO, seed=3)
        with _endpoint(stub, tmp_path) as again:
            second = again.complete(HELLO, seed=3)
            other_seed = again.complete(HELLO, seed=4)
    assert isinstance(first, Completion) and not first.cached
    assert (
        isinstance(second, Completion) and second.cached and second.text == first.text == "echo hello seed 3"
    )
    assert isinstance(other_seed, Completion) and not other_seed.cached
    assert len(stub.requests) == 2 and again.stats.cache_hits == 1 and again.stats.requests == 1
    assert stub.requests[0]["model"] == "stub-model" and stub.requests[0]["max_tokens"] == 200


def test_the_cache_key_covers_prompt_model_params_and_seed() -> None:
    base = request_key(HELLO, "m", {"temperature": 0.7}, 1)
    assert base == request_key(HELLO, "m", {"temperature": 0.7}, 1)
    assert base != request_key([{"role": "user", "content": "hi"}], "m", {"temperature": 0.7}, 1)
    assert base != request_key(HELLO, "other", {"temperature": 0.7}, 1)
    assert base != request_key(HELLO, "m", {"temperature": 0.9}, 1)
    assert base != request_key(HELLO, "m", {"temperature": 0.7}, 2)


def test_a_torn_last_cache_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "responses.jsonl"
    cache = ResponseCache(path)
    cache.put("k1", {"text": "a", "prompt_tokens": 1, "completion_tokens": 1, "finish": "stop"})
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"key": "k2", "text": "half')
    reloaded = ResponseCache(path)
    assert len(reloaded) == 1 and reloaded.get("k1")["text"] == "a"  # type: ignore[index]


def test_429_and_5xx_are_retried_then_succeed() -> None:
    calls = iter([(429, "slow down"), (503, "busy"), "fine"])
    with OpenAIStub(lambda body: next(calls)) as stub, _endpoint(stub) as endpoint:
        answer = endpoint.complete(HELLO)
    assert isinstance(answer, Completion) and answer.text == "fine"
    assert endpoint.stats.requests == 3 and endpoint.stats.retries == 2


def test_a_client_error_is_not_retried_and_returns_its_reason() -> None:
    with OpenAIStub(lambda body: (400, "bad request")) as stub, _endpoint(stub) as endpoint:
        answer = endpoint.complete(HELLO)
    assert isinstance(answer, EndpointError) and answer.reason == "endpoint_http_400"
    assert len(stub.requests) == 1 and endpoint.stats.by_reason == {"endpoint_http_400": 1}


def test_malformed_json_is_retried_then_reported() -> None:
    with OpenAIStub(lambda body: (200, "{not json")) as stub, _endpoint(stub, max_retries=1) as endpoint:
        answer = endpoint.complete(HELLO)
    assert isinstance(answer, EndpointError) and answer.reason == "malformed_response"
    assert len(stub.requests) == 2


def test_a_slow_endpoint_times_out_with_a_reason() -> None:
    with OpenAIStub(delay=1.5) as stub, _endpoint(stub, timeout_seconds=0.3, max_retries=0) as endpoint:
        answer = endpoint.complete(HELLO)
    assert isinstance(answer, EndpointError) and answer.reason == "endpoint_timeout"


def test_an_unreachable_endpoint_is_reported_not_raised() -> None:
    with OpenAIStub() as stub:
        url = stub.base_url
    options = EndpointOptions(endpoint="openai", base_url=url, model="m", max_retries=1, backoff_seconds=0.0)
    with ChatEndpoint.from_options(options) as endpoint:
        answer = endpoint.complete(HELLO)
    assert isinstance(answer, EndpointError) and answer.reason == "endpoint_unreachable"


def test_the_token_budget_stops_new_requests_but_cached_answers_are_still_served(tmp_path: Path) -> None:
    with (
        OpenAIStub(lambda body: "one two three") as stub,
        _endpoint(stub, tmp_path, token_budget=50) as endpoint,
    ):
        first = endpoint.complete(HELLO, seed=1)  # 100 prompt tokens: the budget is spent after this one
        refused = endpoint.complete(HELLO, seed=2)
        cached = endpoint.complete(HELLO, seed=1)
    assert isinstance(first, Completion) and isinstance(cached, Completion) and cached.cached
    assert isinstance(refused, EndpointError) and refused.reason == "token_budget_spent"
    assert len(stub.requests) == 1


def test_complete_many_returns_answers_in_request_order_with_requests_in_parallel() -> None:
    requests = [ChatRequest([{"role": "user", "content": f"m{i}"}], seed=i) for i in range(8)]
    with (
        OpenAIStub(lambda body: body["messages"][-1]["content"].upper(), delay=0.2) as stub,
        _endpoint(stub, concurrency=4) as endpoint,
    ):
        answers = endpoint.complete_many(requests)
    assert [a.text for a in answers if isinstance(a, Completion)] == [f"M{i}" for i in range(8)]
    assert 2 <= stub.max_in_flight <= 4


def test_the_api_key_is_read_from_the_named_environment_variable_and_never_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STUB_KEY", "sk-secret-123")
    with OpenAIStub(lambda body: "ok") as stub, _endpoint(stub, tmp_path, api_key_env="STUB_KEY") as endpoint:
        endpoint.complete(HELLO)
        provenance = endpoint.provenance()
    assert stub.headers[0]["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret-123" not in json.dumps(provenance)
    assert "sk-secret-123" not in (tmp_path / "responses.jsonl").read_text()
    assert provenance == {
        "endpoint": "openai",
        "model": "stub-model",
        "sampling": {"temperature": 0.7, "top_p": 0.9, "max_tokens": 200},
        "base_url": stub.base_url,
    }


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"endpoint": "openai"}, "needs base_url and model"),
        ({"concurrency": 0}, "concurrency must be >= 1"),
        ({"timeout_seconds": 0}, "timeout_seconds must be > 0"),
        ({"token_budget": -1}, "must be >= 0"),
        ({"endpoint": "ollama"}, "Invalid enum value 'ollama'"),
        ({"frequency_penalty": 3}, "within -2..2"),
    ],
)
def test_bad_endpoint_options_say_what_is_wrong(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises((ValueError, msgspec.ValidationError), match=fragment):
        parse_endpoint_options(raw)


def test_repetition_penalties_are_sent_only_when_set_so_existing_cache_keys_stay_valid() -> None:
    assert "frequency_penalty" not in EndpointOptions().sampling()
    with OpenAIStub(lambda body: json.dumps(body.get("frequency_penalty"))) as stub:
        endpoint = _endpoint(stub, frequency_penalty=0.4)
        answer = endpoint.complete(HELLO)
    assert isinstance(answer, Completion) and answer.text == "0.4"
    assert endpoint.provenance()["sampling"]["frequency_penalty"] == 0.4
