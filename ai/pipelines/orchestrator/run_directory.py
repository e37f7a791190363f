"""Claiming a run directory safely: never one that overlaps an input, one run at a time, and
``--overwrite`` only ever removes what a previous run wrote."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from ai.core.config import PipelineConfig
from ai.core.paths import glob_root, overlaps

RUN_FILE = "run.json"
LOCK_FILE = ".run.lock"
# Source kinds whose paths are not files on this machine.
_NOT_FILES = ("synthetic",)
_REMOTE_PREFIXES = ("hf://", "s3://", "http://", "https://")


class RunDirectoryError(RuntimeError):
    """The run directory cannot be used; the message says why and what to do."""


def check_clear_of_inputs(run_dir: Path, config: PipelineConfig) -> None:
    """Refuse a run directory that is, contains, or is inside one of the config's input paths."""
    for source in config.sources:
        if not source.enabled or source.kind in _NOT_FILES:
            continue
        for pattern in source.paths():
            if not pattern or pattern.startswith(_REMOTE_PREFIXES):
                continue
            root = config.resolve_path(glob_root(pattern))
            if overlaps(run_dir, root):
                raise RunDirectoryError(
                    f"output {run_dir} overlaps the input {root} of source {source.name!r} (it is, contains "
                    "or is inside it); choose an output directory outside every input"
                )


def check_reusable(run_dir: Path, overwrite: bool) -> None:
    """A new run may only go into a missing or empty directory, or over a previous run with --overwrite."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunDirectoryError(f"output {run_dir} exists and is not a directory")
    if (run_dir / RUN_FILE).is_file():
        if not overwrite:
            raise RunDirectoryError(
                f"{run_dir} already holds a run. Continue it with `dataset-pipeline resume {run_dir}`, "
                "or pass --overwrite to start again."
            )
        return
    if any(entry.name != LOCK_FILE for entry in run_dir.iterdir()):
        raise RunDirectoryError(
            f"output {run_dir} is not empty and holds no run ({RUN_FILE} is missing); --overwrite only "
            "replaces a previous run, so choose a new or empty directory"
        )


def clear_previous_run(run_dir: Path) -> None:
    """Remove a previous run's files, keeping the lock this process holds on the directory."""
    if not (run_dir / RUN_FILE).is_file():
        return
    for entry in run_dir.iterdir():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on the run directory for the life of the command.

    The kernel drops a ``flock`` when its process dies, so a killed run never leaves a stale lock; the
    pid and host written into the file are there for the message the second command prints.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirectoryError(
                f"{run_dir} is in use by another command ({_holder(path)}); wait for it to finish, "
                "or choose another output directory"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {int(info['pid'])} on host {str(info['host'])[:100]}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
