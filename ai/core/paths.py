"""How two paths relate on disk, decided on resolved paths so ``..`` and symlinks cannot hide an overlap."""

from __future__ import annotations

import glob
import os
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
