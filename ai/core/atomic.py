"""All-or-nothing file and directory writes, used by checkpoints, run outputs and exports.

Write a temp file next to the target, fsync it, rename it over the target, fsync the directory. A
killed process leaves either the complete previous file or the complete new one, never half of one
(and at worst a stray ``.NAME.tmp-PID``, which resume removes).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path, mode: str = "wb", newline: str | None = None) -> Iterator[IO[Any]]:
    """Write ``path`` all-or-nothing: a temp file that is fsynced and renamed into place on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The thread id too: caches are written from several threads of one process at once.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    encoding = None if "b" in mode else "utf-8"
    handle = open(tmp, mode, encoding=encoding, newline=newline)  # noqa: SIM115 - closed in both branches
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        _rename_into_place(tmp, path)
    except BaseException:
        # Closing flushes the buffer, which fails again on a full disk: the temp file must go regardless.
        with contextlib.suppress(OSError):
            handle.close()
        tmp.unlink(missing_ok=True)
        raise


def commit_file(finished: Path, path: Path) -> None:
    """Move a file written elsewhere (a download's ``.part``) over ``path``, durably: fsync, rename."""
    with open(finished, "rb") as handle:
        os.fsync(handle.fileno())
    _rename_into_place(finished, path)


def append_lines_durably(path: Path, lines: Iterable[str]) -> None:
    """Append text lines and fsync: a resumable log survives a kill with every batch it acknowledged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _rename_into_place(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_writer(path) as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Build a directory in a temp sibling, then swap it in place of ``path`` once it is complete.

    Every file is fsynced before the swap. The swap is two renames (old out, new in); a crash between
    them leaves the complete new tree under the temp name and no half-written ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        _fsync_tree(tmp)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            with open(Path(directory) / name, "rb") as handle:
                os.fsync(handle.fileno())
        fsync_dir(Path(directory))
