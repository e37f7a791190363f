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


class ManifestNameError(ValueError):
    """A file name in a manifest that must not be written to disk or shown."""


MAX_NAME_CHARS = 255  # per path component: what common filesystems accept
MAX_PATH_CHARS = 1024
# Characters that would be markup in a report or a shell, and the Windows separator.
_FORBIDDEN_CHARS = frozenset("<>\"'&`\\")
# Names our own writers use for files in progress; a manifest never lists a finished file under them.
_IN_PROGRESS_SUFFIXES = (".part",)


def check_manifest_name(name: object) -> str:
    """``name`` if it is a safe relative file path for a package; else one clear ManifestNameError.

    Manifests can come from a remote store, so their names are untrusted: they must be printable,
    free of markup characters, relative, inside the package, of sane length, and not a temp name.
    """
    if not isinstance(name, str) or not name:
        raise ManifestNameError(f"manifest lists an empty or non-text file name ({_shown(name)})")
    problem = _name_problem(name)
    if problem:
        raise ManifestNameError(f"manifest lists {_shown(name)}, which {problem}")
    return name


def _name_problem(name: str) -> str:
    if len(name) > MAX_PATH_CHARS:
        return f"is longer than {MAX_PATH_CHARS} characters"
    if not name.isprintable():
        return "holds control or non-printable characters"
    if _FORBIDDEN_CHARS.intersection(name):
        return "holds a markup character (one of < > \" ' & ` \\)"
    parts = name.split("/")
    if name.startswith("/") or ".." in parts:
        return "points outside the directory the manifest describes"
    if any(part in ("", ".") for part in parts):
        return "holds an empty or '.' path component"
    if any(len(part) > MAX_NAME_CHARS for part in parts):
        return f"has a path component longer than {MAX_NAME_CHARS} characters"
    if name.endswith(_IN_PROGRESS_SUFFIXES) or parts[-1].startswith("."):
        return "is a temporary or hidden file name"
    return ""


def _shown(name: object) -> str:
    """The name as it can be printed safely: repr (so control characters show escaped), clipped."""
    text = repr(name)
    return text if len(text) <= 80 else text[:60] + f"...' ({len(str(name))} characters)"
