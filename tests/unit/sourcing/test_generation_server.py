"""The local server's lifecycle: a port from the OS, health before use, stopped however the run ends.

A stand-in child process (``python -m http.server`` serving ``v1/models``) plays the llama.cpp server,
so the lifecycle is tested without building llama.cpp; the real server runs in
tests/integration/test_generation_local.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from ai.sourcing.generation import ChatEndpoint, EndpointOptions, LocalLlamaServer, ServerError
from ai.sourcing.generation import server as server_module


class StandInServer(LocalLlamaServer):
    def __init__(self, root: Path, **kwargs: object) -> None:
        model = root / "model.gguf"
        model.write_bytes(b"GGUF stand-in")
        (root / "v1").mkdir(exist_ok=True)
        (root / "v1" / "models").write_text('{"data": []}')
        super().__init__(model, "stand-in", **kwargs)  # type: ignore[arg-type]
        self.root = root

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "http.server",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(self.root),
        ]


@pytest.fixture(autouse=True)
def _llama_cpp_present(monkeypatch: pytest.MonkeyPatch) -> None:
    real = server_module.importlib.util.find_spec
    monkeypatch.setattr(
        server_module.importlib.util,
        "find_spec",
        lambda name: real("json") if name == "llama_cpp" else real(name),
    )


def test_start_waits_for_health_and_stop_ends_the_process(tmp_path: Path) -> None:
    server = StandInServer(tmp_path, log_path=tmp_path / "server.log")
    with server:
        assert server.running and server.port > 0
        assert httpx.get(f"{server.base_url}/models").status_code == 200
        process = server.process
    assert not server.running and process is not None and process.poll() is not None
    assert server.starts == 1 and (tmp_path / "server.log").exists()


def test_an_exception_inside_the_block_still_stops_the_server(tmp_path: Path) -> None:
    server = StandInServer(tmp_path)
    with pytest.raises(KeyboardInterrupt), server:
        raise KeyboardInterrupt
    assert not server.running


def test_the_atexit_hook_stops_servers_still_running(tmp_path: Path) -> None:
    server = StandInServer(tmp_path)
    server.start()
    process = server.process
    server_module._stop_all()
    assert process is not None and process.poll() is not None and not server.running


def test_a_server_that_exits_while_starting_is_a_clear_error(tmp_path: Path) -> None:
    class Crashing(StandInServer):
        def _command(self) -> list[str]:
            return [sys.executable, "-c", "raise SystemExit(3)"]

    with pytest.raises(ServerError, match="exited with code 3 while starting"):
        Crashing(tmp_path).start()


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="model file not found"):
        LocalLlamaServer(tmp_path / "missing.gguf", "m").start()


def test_a_fully_cached_local_endpoint_never_starts_a_server(tmp_path: Path) -> None:
    options = EndpointOptions(endpoint="local", model_path=str(tmp_path / "missing.gguf"))
    endpoint = ChatEndpoint.from_options(options, tmp_path)
    from ai.sourcing.generation.endpoint import Completion

    endpoint.store([{"role": "user", "content": "hi"}], 1, Completion("hello", 3, 1, "stop", False))
    with endpoint:
        answer = endpoint.complete([{"role": "user", "content": "hi"}], seed=1)
    assert isinstance(answer, Completion) and answer.cached and answer.text == "hello"
    assert endpoint.stats.server_starts == 0 and not endpoint.server_running


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_server_started_from_a_short_lived_thread_outlives_that_thread(tmp_path: Path) -> None:
    # The endpoint starts the server from whichever thread first misses the cache, often a worker of
    # the pool complete_many shuts down after each batch; PR_SET_PDEATHSIG follows the forking thread,
    # so a server forked there was killed with the pool (a new server every 4 requests).
    import threading
    import time

    server = StandInServer(tmp_path)
    worker = threading.Thread(target=server.start)
    worker.start()
    worker.join()
    try:
        time.sleep(0.5)
        assert server.running
        assert httpx.get(f"{server.base_url}/models", timeout=5).status_code == 200
    finally:
        server.stop()
    assert not server.running
