"""Responses by request key, so a resumed or repeated run never asks the endpoint twice.

The key is a hash of everything that determines a completion: the messages, the model, the sampling
parameters and the seed. Entries are appended as JSON lines and fsynced one by one, so a run killed
mid-way keeps every answer it paid for; a torn last line (the kill landed mid-write) is ignored.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from ai.core.atomic import append_lines_durably


def request_key(messages: list[dict[str, str]], model: str, params: dict[str, Any], seed: int) -> str:
    material = json.dumps(
        {"messages": messages, "model": model, "params": params, "seed": seed},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if path is not None and path.is_file():
            self._load(path)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._entries.get(key)

    def put(self, key: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries[key] = entry
            if self.path is not None:
                line = json.dumps({"key": key, **entry}, sort_keys=True, ensure_ascii=False)
                append_lines_durably(self.path, [line])

    def _load(self, path: Path) -> None:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                self._entries[entry.pop("key")] = entry
