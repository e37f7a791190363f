"""Request spacing shared by every online source (academic APIs, YouTube): one limiter, thread-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Keeps at least ``1 / rate`` seconds between the starts of consecutive requests."""

    def __init__(
        self,
        requests_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError(f"requests_per_second must be positive, got {requests_per_second}")
        self.interval = 1.0 / requests_per_second
        self._clock = clock
        self._sleep = sleep
        self._next_slot = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until the next request may start; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            delay = max(0.0, self._next_slot - now)
            self._next_slot = max(now, self._next_slot) + self.interval
        if delay:
            self._sleep(delay)
        return delay

    @classmethod
    def per_second(cls, requests_per_second: float) -> RateLimiter:
        """A limiter for a configured rate, where 0 (or less) means no spacing at all."""
        return cls(requests_per_second if requests_per_second > 0 else float("inf"))
