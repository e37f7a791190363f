"""Run a function over tasks on this machine: inline for one worker, else a process pool.

The pool uses the forkserver start method: workers start from a small clean server process that has
already imported the modules we preload, so starting them is cheap and they inherit no threads or
open files from the orchestrator (fork after threads is unsafe; spawn re-imports everything).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the orchestrator: it cancels what has not started and lets the shards in
    progress finish, so no worker dies mid-task (which breaks the pool and prints a traceback each)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int = 0, preload: list[str] | None = None) -> None:
        self.workers = workers if workers > 0 else default_workers()
        self._preload = preload or []
        self._pool: ProcessPoolExecutor | None = None

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """Yield ``fn(task)`` for every task as each finishes; the first failure is raised."""
        tasks = list(tasks)
        if self.workers == 1 or len(tasks) <= 1:
            for task in tasks:
                yield fn(task)
            return
        pool = self._ensure_pool()
        pending: set[Future[Any]] = {pool.submit(fn, task) for task in tasks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(self._preload)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=ignore_interrupts
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
