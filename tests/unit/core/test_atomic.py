"""The one atomic writer every cache, checkpoint, download and generation log goes through."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ai.core.atomic import append_lines_durably, atomic_write_bytes, atomic_writer, commit_file


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "a.body"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.body"]


def test_threads_writing_one_key_never_share_a_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "same.body"
    payloads = [bytes([n]) * 50_000 for n in range(8)]
    threads = [threading.Thread(target=atomic_write_bytes, args=(target, p)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert target.read_bytes() in payloads
    assert [p.name for p in tmp_path.iterdir()] == ["same.body"]


def test_commit_file_moves_a_finished_part_over_the_target(tmp_path: Path) -> None:
    part, target = tmp_path / "f.part", tmp_path / "f"
    target.write_bytes(b"stale")
    part.write_bytes(b"verified")
    commit_file(part, target)
    assert target.read_bytes() == b"verified" and not part.exists()


def test_append_lines_durably_keeps_earlier_batches(tmp_path: Path) -> None:
    log = tmp_path / "work" / "rows.jsonl"
    append_lines_durably(log, ['{"a": 1}'])
    append_lines_durably(log, ['{"b": 2}', '{"c": 3}'])
    assert log.read_text(encoding="utf-8").splitlines() == ['{"a": 1}', '{"b": 2}', '{"c": 3}']
