"""HTTP plumbing shared by the PubMed and Semantic Scholar clients.

``HttpTransport`` spaces requests to the service's rate limit, retries 429 and 5xx answers and network
failures with exponential backoff (honouring ``Retry-After``), and turns every other failure into an
``ApiError`` whose message never contains a secret (API keys are removed from the URLs it quotes).
``ResponseCache`` keeps validated response bodies on disk so a rerun costs no requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx

from ai.core.atomic import atomic_write_bytes
from ai.sourcing.rate_limit import RateLimiter

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
Params = Mapping[str, Any]
# Every client's settings carry these, and HttpTransport takes them by the same names.
RETRY_FIELDS = ("max_retries", "backoff_seconds", "timeout_seconds")
__all__ = [
    "ApiClient",
    "ApiError",
    "HttpTransport",
    "RateLimiter",
    "ResponseCache",
    "default_cache_dir",
    "retry_settings",
]


class ApiError(RuntimeError):
    """A request that failed for good; the message names the service, the request and the cause."""

    def __init__(self, message: str, status: int = 0, reason: str = "api_error") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class ResponseCache:
    """Response bodies on disk, one file per request key, written atomically."""

    def __init__(self, directory: Path, max_age_seconds: float = 7 * 24 * 3600) -> None:
        self.directory = directory
        self.max_age_seconds = max_age_seconds
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(service: str, endpoint: str, params: Params) -> str:
        material = json.dumps([service, endpoint, sorted((k, str(v)) for k, v in params.items())])
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def get(self, key: str, max_age_seconds: float | None = None) -> bytes | None:
        path = self._path(key)
        max_age = self.max_age_seconds if max_age_seconds is None else max_age_seconds
        try:
            if time.time() - path.stat().st_mtime > max_age:
                self.misses += 1
                return None
            data = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put(self, key: str, data: bytes) -> None:
        atomic_write_bytes(self._path(key), data)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.body"


def default_cache_dir() -> Path:
    home = os.environ.get("DATASET_PIPELINE_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "dataset-pipeline"
    return base / "cache" / "academic"


class HttpTransport:
    """GET requests to one service, rate limited and retried; ``secret_params`` never appear in errors."""

    def __init__(
        self,
        service: str,
        base_url: str,
        requests_per_second: float,
        *,
        max_retries: int = 4,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        timeout_seconds: float = 30.0,
        headers: Mapping[str, str] | None = None,
        secret_params: frozenset[str] = frozenset(),
        sleep: Callable[[float], None] = time.sleep,
        client: httpx.Client | None = None,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.limiter = RateLimiter(requests_per_second, sleep=sleep)
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.secret_params = secret_params
        self._sleep = sleep
        self._client = client or httpx.Client(timeout=timeout_seconds, headers=dict(headers or {}))
        self.requests = 0
        self.retries = 0

    def close(self) -> None:
        self._client.close()

    def get(self, endpoint: str, params: Params) -> bytes:
        url = f"{self.base_url}/{endpoint.lstrip('/')}"
        described = self.describe(endpoint, params)
        attempt = 0
        while True:
            self.limiter.wait()
            self.requests += 1
            try:
                response = self._client.get(url, params=dict(params))
            except httpx.HTTPError as exc:
                if attempt == self.max_retries:
                    raise ApiError(
                        f"{self.service}: {described} failed after {attempt + 1} attempts: "
                        f"{type(exc).__name__}",
                        reason="network_error",
                    ) from None
                self._back_off(attempt, None)
                attempt += 1
                continue
            if response.status_code == 200:
                return response.content
            if response.status_code in RETRYABLE_STATUS and attempt < self.max_retries:
                self._back_off(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            raise ApiError(
                f"{self.service}: {described} answered HTTP {response.status_code}"
                f"{self._explain(response)}"
                + (f" after {attempt + 1} attempts" if response.status_code in RETRYABLE_STATUS else ""),
                status=response.status_code,
                reason=_status_reason(response.status_code),
            )

    def describe(self, endpoint: str, params: Params) -> str:
        """The request as it may be shown to a person: secret parameters left out."""
        shown = {k: v for k, v in params.items() if k not in self.secret_params}
        return f"GET {self.base_url}/{endpoint.lstrip('/')}?{urlencode(shown)}"

    def _back_off(self, attempt: int, retry_after: str | None) -> None:
        self.retries += 1
        delay = max(self.backoff_seconds * (2**attempt), _retry_after_seconds(retry_after))
        self._sleep(min(delay, self.max_backoff_seconds))

    @staticmethod
    def _explain(response: httpx.Response) -> str:
        """The service's own error sentence, if it sent one in JSON; never the whole body."""
        try:
            body = response.json()
        except ValueError:
            return ""
        if isinstance(body, dict):
            for key in ("error", "message", "ERROR"):
                if isinstance(body.get(key), str):
                    return f": {body[key][:300]}"
        return ""


class ApiClient:
    """What the PubMed and Semantic Scholar clients share: their settings, the response cache and one
    retrying transport, built from the settings unless a test hands one in."""

    service: ClassVar[str]
    secret_params: ClassVar[frozenset[str]] = frozenset()  # query parameters never shown in messages

    def __init__(
        self, settings: Any, cache: ResponseCache | None = None, transport: HttpTransport | None = None
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.transport = transport or HttpTransport(
            self.service,
            settings.base_url,
            self.requests_per_second(settings),
            headers=self.headers(settings),
            secret_params=self.secret_params,
            **retry_settings(settings),
        )

    def requests_per_second(self, settings: Any) -> float:
        return settings.requests_per_second

    def headers(self, settings: Any) -> dict[str, str]:
        return {}

    def close(self) -> None:
        self.transport.close()


def retry_settings(settings: object) -> dict[str, Any]:
    """The retry and timeout fields of a client's settings (or of ``AcademicOptions``) by name."""
    return {name: getattr(settings, name) for name in RETRY_FIELDS}


def _retry_after_seconds(value: str | None) -> float:
    """Seconds from a numeric ``Retry-After``; an HTTP-date form falls back to the exponential delay."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _status_reason(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status == 404:
        return "not_found"
    return "server_error" if status >= 500 else "http_error"
