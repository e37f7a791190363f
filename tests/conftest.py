"""Fixtures shared by the whole suite: the real public data in ../shared/data and PostgreSQL."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# Before any test module imports datasets/huggingface_hub: they read these once, at import time, and
# without them a test of the offline error path would try to reach the Hub.
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("NEMO_TELEMETRY_ENABLED", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _required(var: str) -> bool:
    return os.environ.get(var, "") not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: skipped when absent, a failure when REQUIRE_SHARED_DATA=1."""
    if not (SHARED_DATA / "INDEX.md").is_file():
        message = f"shared data not found at {SHARED_DATA}"
        if _required("REQUIRE_SHARED_DATA"):
            pytest.fail(message + " (REQUIRE_SHARED_DATA=1)")
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A SQLAlchemy URL for the PostgreSQL server on 127.0.0.1:5432 (database ``test``)."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            pass
    except OSError as exc:
        message = f"PostgreSQL is not reachable on 127.0.0.1:5432 ({exc})"
        if _required("REQUIRE_POSTGRES"):
            pytest.fail(message + " (REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the default SQLite catalog and caches of every test out of the developer's workspace."""
    home = tmp_path_factory.mktemp("workspace")
    monkeypatch.setenv("DATASET_PIPELINE_HOME", str(home))
    monkeypatch.setenv("NEMO_TELEMETRY_ENABLED", "false")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
