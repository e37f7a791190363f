"""Run one file's extraction in a forked child that can be killed.

A deadline checked between pages cannot stop pypdf when it loops inside a single malicious page, and
a thread cannot be killed at all. A forked child can: the parent waits on a pipe with a timeout and
kills the child when the time is up. ``os.fork`` is used directly (not multiprocessing) because it
also works inside daemonic pool workers, which multiprocessing forbids to have children.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

_CHUNK = 1 << 16
_CHILD_FAILED = 70  # exit status of a child whose work raised before it could answer


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    status: str  # ok | timeout | crashed
    payload: bytes = b""
    detail: str = ""


def fork_available() -> bool:
    return hasattr(os, "fork")


def run_in_child(work: Callable[[], bytes], timeout: float, max_memory_mb: int = 0) -> ChildOutcome:
    """Run ``work`` in a forked child; return its bytes, or why there are none."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which coverage does not follow
        os.close(read_end)
        _child_main(work, write_end, max_memory_mb)
    os.close(write_end)
    try:
        payload, finished = _read_until(read_end, time.monotonic() + timeout)
    finally:
        os.close(read_end)
    if not finished:
        _kill(pid)
        return ChildOutcome("timeout", detail=f"no result within {timeout:g} s; the extractor was killed")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return ChildOutcome("crashed", detail=f"the extractor died with signal {os.WTERMSIG(status)}")
    if os.WEXITSTATUS(status) != 0:
        return ChildOutcome(
            "crashed", detail=f"the extractor failed with exit status {os.WEXITSTATUS(status)}"
        )
    return ChildOutcome("ok", payload=payload)


def _child_main(work: Callable[[], bytes], write_end: int, max_memory_mb: int) -> None:  # pragma: no cover
    code = _CHILD_FAILED
    try:
        _limit_memory(max_memory_mb)
        data = work()
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view) :]
        code = 0
    finally:
        os._exit(code)


def _read_until(fd: int, deadline: float) -> tuple[bytes, bool]:
    """All bytes until EOF, and whether EOF came before the deadline."""
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b"".join(chunks), False
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _limit_memory(max_memory_mb: int) -> None:  # pragma: no cover - child only
    """Cap the child's address space at what it has now plus ``max_memory_mb``: a bomb hits MemoryError."""
    if max_memory_mb <= 0:
        return
    import resource

    # Without /proc (macOS) the current size is unknown and the cap is skipped rather than guessed.
    with contextlib.suppress(ValueError, OSError):
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = current + max_memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
