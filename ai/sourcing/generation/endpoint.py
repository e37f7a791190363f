"""``ChatEndpoint``: chat completions from an OpenAI-compatible endpoint, cached, retried, budgeted.

    endpoint = ChatEndpoint.from_options(options, workdir=run_dir / "work" / "generation")
    with endpoint:                                   # starts the local server only when first needed
        reply = endpoint.complete([{"role": "user", "content": "..."}], seed=7)
        replies = endpoint.complete_many([ChatRequest(messages, seed=i) for i in range(8)])
    endpoint.provenance()                            # model name + file hash, endpoint kind, params

- **Cache.** Each answer is stored under a hash of (messages, model, sampling params, seed), in
  ``workdir/responses.jsonl``; asking again returns the stored answer without a request, so a resumed
  run makes no request it already made and reads byte-identical text.
- **Lazy local server.** With ``endpoint: local`` the llama.cpp server starts on the first cache
  miss, so a fully cached run never starts it; it stops when the ``with`` block ends, however it ends.
- **Retries.** Timeouts, connection errors, 429 and 5xx responses, and bodies that are not a chat
  completion are retried with exponential backoff (honouring ``Retry-After``); a request that still
  fails returns an ``EndpointError`` with a reason, never an exception that loses the batch.
- **Token budget.** Once the run has spent ``token_budget`` prompt + completion tokens, further
  requests are refused with reason ``token_budget_spent`` (answers already cached are still served).
- **Concurrency.** ``complete_many`` keeps ``concurrency`` requests in flight and returns answers in
  request order, so output never depends on which request finished first.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ai.sourcing.generation.cache import ResponseCache, request_key
from ai.sourcing.generation.options import EndpointOptions
from ai.sourcing.generation.server import LocalLlamaServer, bundled_model_path, file_sha256

Messages = list[dict[str, str]]
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ChatRequest:
    messages: Messages
    seed: int = 0


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    cached: bool  # served from the response cache, no request made


@dataclass(frozen=True)
class EndpointError:
    """A request that failed for good; ``reason`` is machine-readable, ``message`` says what happened."""

    reason: str  # endpoint_timeout | endpoint_unreachable | endpoint_http_<status> | malformed_response | token_budget_spent
    message: str


@dataclass
class EndpointStats:
    requests: int = 0  # HTTP requests sent, retries included
    completions: int = 0  # answers received from the endpoint
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0  # wall time spent waiting for the endpoint
    server_starts: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatEndpoint:
    def __init__(self, options: EndpointOptions, cache: ResponseCache, workdir: Path | None = None) -> None:
        self.options = options
        self.cache = cache
        self.workdir = workdir
        self.stats = EndpointStats()
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._server: LocalLlamaServer | None = None
        self._http: httpx.Client | None = None
        self._model_path: Path | None = None

    @classmethod
    def from_options(cls, options: EndpointOptions, workdir: Path | None = None) -> ChatEndpoint:
        """An endpoint whose answers are cached in ``workdir/responses.jsonl`` (in memory only without one)."""
        cache = ResponseCache(workdir / "responses.jsonl" if workdir is not None else None)
        return cls(options, cache, workdir)

    def __enter__(self) -> ChatEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the local server (if this endpoint started one) and close connections."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._server is not None:
            self._server.stop()

    @property
    def server_running(self) -> bool:
        return self._server is not None and self._server.running

    # --- asking ------------------------------------------------------------------------------------

    def complete(self, messages: Messages, seed: int = 0, **params: Any) -> Completion | EndpointError:
        """One chat completion; ``params`` override the configured sampling parameters."""
        cached = self.cached(messages, seed, **params)
        if cached is not None:
            return cached
        if self.options.token_budget and self.stats.tokens >= self.options.token_budget:
            return self.failed(
                "token_budget_spent",
                f"the run's token budget ({self.options.token_budget:,} tokens) is spent",
            )
        sampling = {**self.options.sampling(), **params}
        result = self._request(messages, seed, sampling)
        if isinstance(result, Completion):
            self.store(messages, seed, result, **params)
        return result

    def cached(self, messages: Messages, seed: int = 0, **params: Any) -> Completion | None:
        """The stored answer to this exact request (counted as a cache hit), or None."""
        entry = self.cache.get(self._key(messages, seed, params))
        if entry is None:
            return None
        with self._lock:
            self.stats.cache_hits += 1
        return Completion(
            entry["text"], entry["prompt_tokens"], entry["completion_tokens"], entry["finish"], True
        )

    def store(self, messages: Messages, seed: int, completion: Completion, **params: Any) -> None:
        """Keep an answer obtained for this request (also by another client, such as Data Designer)."""
        self.cache.put(
            self._key(messages, seed, params),
            {
                "text": completion.text,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "finish": completion.finish_reason,
            },
        )

    def _key(self, messages: Messages, seed: int, params: dict[str, Any]) -> str:
        return request_key(messages, self.options.model_name, {**self.options.sampling(), **params}, seed)

    def complete_many(self, requests: list[ChatRequest], **params: Any) -> list[Completion | EndpointError]:
        """Answers in request order, ``concurrency`` requests in flight at a time."""
        if len(requests) <= 1 or self.options.concurrency == 1:
            return [self.complete(r.messages, r.seed, **params) for r in requests]
        pool = ThreadPoolExecutor(max_workers=self.options.concurrency)
        try:
            answers = list(pool.map(lambda r: self.complete(r.messages, r.seed, **params), requests))
        except BaseException:
            # Ctrl-C or a failure: do not wait for requests in flight (a slow model takes minutes);
            # closing the endpoint stops the local server and the waiting threads end with an error.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return answers

    # --- what produced the text ---------------------------------------------------------------------

    def provenance(self) -> dict[str, Any]:
        """Model name (and file hash for a local model), endpoint kind and sampling parameters."""
        info: dict[str, Any] = {
            "endpoint": self.options.endpoint,
            "model": self.options.model_name,
            "sampling": self.options.sampling(),
        }
        if self.options.endpoint == "local":
            path = self._local_model_path()
            info["model_file"] = path.name
            info["model_sha256"] = file_sha256(path)
        else:
            info["base_url"] = self.options.base_url
        return info

    # --- helpers -------------------------------------------------------------------------------------

    def _request(self, messages: Messages, seed: int, sampling: dict[str, Any]) -> Completion | EndpointError:
        base_url = self.base_url()
        body = {"model": self.options.model_name, "messages": messages, "seed": seed, **sampling}
        delay = self.options.backoff_seconds
        failure = EndpointError("endpoint_unreachable", "no attempt made")
        for attempt in range(self.options.max_retries + 1):
            if attempt:
                with self._lock:
                    self.stats.retries += 1
                time.sleep(delay)
                delay *= 2
            outcome, retry_after = self._attempt(base_url, body)
            if isinstance(outcome, Completion):
                return outcome
            failure = outcome
            if retry_after is None:
                break
            delay = max(delay, retry_after)
        return self.failed(failure.reason, failure.message)

    def _attempt(
        self, base_url: str, body: dict[str, Any]
    ) -> tuple[Completion | EndpointError, float | None]:
        """One HTTP request: the completion, or the error and how long to wait before retrying
        (None: do not retry)."""
        started = time.monotonic()
        with self._lock:
            self.stats.requests += 1
        try:
            response = self._client().post(f"{base_url}/chat/completions", json=body, headers=self._headers())
        except httpx.TimeoutException:
            return EndpointError("endpoint_timeout", f"no answer within {self.options.timeout_seconds}s"), 0.0
        except httpx.TransportError as exc:
            return EndpointError("endpoint_unreachable", f"{type(exc).__name__} at {base_url}"), 0.0
        finally:
            with self._lock:
                self.stats.seconds += time.monotonic() - started
        if response.status_code != 200:
            error = EndpointError(
                f"endpoint_http_{response.status_code}",
                f"HTTP {response.status_code} from {base_url}: {response.text[:200]}",
            )
            return error, (_retry_after(response) if response.status_code in RETRY_STATUS else None)
        completion = _parse_completion(response)
        if isinstance(completion, EndpointError):
            return completion, 0.0
        with self._lock:
            self.stats.completions += 1
            self.stats.prompt_tokens += completion.prompt_tokens
            self.stats.completion_tokens += completion.completion_tokens
        return completion, None

    def failed(self, reason: str, message: str) -> EndpointError:
        """Count a request that failed for good and return its error."""
        with self._lock:
            self.stats.failures += 1
            self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + 1
        return EndpointError(reason, message)

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.options.timeout_seconds)
        return self._http

    def _headers(self) -> dict[str, str]:
        # Read per request so a rotated key is picked up; never stored on the object.
        key = os.environ.get(self.options.api_key_env, "") if self.options.api_key_env else ""
        return {"Authorization": f"Bearer {key}"} if key else {}

    def base_url(self) -> str:
        """The endpoint's URL (``.../v1``); for ``local`` this starts the server if it is not running."""
        if self.options.endpoint != "local":
            return self.options.base_url.rstrip("/")
        with self._start_lock:
            if self._server is None:
                log = self.workdir / "llama_server.log" if self.workdir is not None else None
                self._server = LocalLlamaServer(
                    self._local_model_path(),
                    self.options.model_name,
                    n_ctx=self.options.n_ctx,
                    n_threads=self.options.n_threads,
                    startup_timeout=self.options.startup_timeout_seconds,
                    log_path=log,
                )
            if not self._server.running:
                self._server.start()
                self.stats.server_starts += 1
            return self._server.base_url

    def _local_model_path(self) -> Path:
        if self._model_path is None:
            self._model_path = (
                Path(self.options.model_path).expanduser()
                if self.options.model_path
                else bundled_model_path()
            )
        return self._model_path


def _parse_completion(response: httpx.Response) -> Completion | EndpointError:
    try:
        body = response.json()
        choice = body["choices"][0]
        text = choice["message"]["content"]
        if not isinstance(text, str):
            raise TypeError("content is not text")
        usage = body.get("usage") or {}
        return Completion(
            text=text.strip(),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=str(choice.get("finish_reason") or ""),
            cached=False,
        )
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return EndpointError("malformed_response", f"not a chat completion ({exc}): {response.text[:200]!r}")


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(60.0, max(0.0, float(response.headers.get("Retry-After", "0"))))
    except ValueError:
        return 0.0
