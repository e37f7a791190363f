"""How two paths relate on disk, decided on resolved paths so ``..`` and symlinks cannot hide an overlap."""

from __future__ import annotations

import glob
import os
import stat
from pathlib import Path


def resolved(path: Path | str) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def is_inside(path: Path | str, directory: Path | str) -> bool:
    """True when ``path`` is ``directory`` itself or anywhere below it."""
    return resolved(path).is_relative_to(resolved(directory))


def overlaps(a: Path | str, b: Path | str) -> bool:
    """True when one path is, contains, or is inside the other."""
    return is_inside(a, b) or is_inside(b, a)


def glob_root(pattern: str) -> str:
    """The fixed directory part of a glob (``data/*/x.jsonl`` -> ``data``); a plain path is itself."""
    parts = Path(pattern).parts
    first_magic = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    return str(Path(*parts[:first_magic])) if first_magic else "."


def input_problem(
    path: Path, root: Path, explicit: bool, follow_links: bool, accept_dir: bool = False
) -> tuple[str, str] | None:
    """Why an input found under ``root`` must not be read, as ``(reason, message)``; None when it may be.

    Only regular files are read: a FIFO or device would block or never end. A file reached through a
    symlink that leads out of the input root (say, to a secrets file) is not followed unless the source
    allows it; a file the user named explicitly is theirs to name.
    """
    if not explicit and not follow_links and not is_inside(path, root):
        return (
            "symlink_outside_input",
            f"{path}: a symlink leading outside {root} was not followed (set options.follow_symlinks: true "
            "to allow it)",
        )
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return "unreadable_file", f"{path}: cannot read the file ({exc.strerror or exc})"
    if stat.S_ISREG(mode) or (accept_dir and stat.S_ISDIR(mode)):
        return None
    return "not_a_regular_file", _not_regular(path, mode)


def not_regular_message(path: Path) -> str:
    """Empty when ``path`` is a regular file (or missing: opening it reports that); else why it is refused."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return ""
    return "" if stat.S_ISREG(mode) else _not_regular(path, mode)


def _not_regular(path: Path, mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
    )
    kind = next((name for test, name in kinds if test(mode)), "a special file")
    return f"{path}: not a regular file ({kind}); only regular files are read"
