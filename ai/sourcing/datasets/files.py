"""Finding input files and opening them as streams: directories, globs, ``.gz`` and ``.zst``."""

from __future__ import annotations

import glob
import gzip
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import zstandard

from ai.core.paths import glob_root, input_problem, not_regular_message
from ai.sourcing.datasets.errors import DatasetError, NotRegularFileError

COMPRESSIONS = (".gz", ".zst")
# File extensions a directory scan picks up; READMEs, licences and notes next to the data are skipped.
DATA_EXTENSIONS = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq")
HF_MARKERS = ("dataset_info.json", "dataset_dict.json", "state.json")


def expand_paths(patterns: list[str], base_dir: Path) -> Iterator[tuple[Path, bool]]:
    """Every input file (or Hugging Face dataset directory) named by the source's paths, in sorted order.

    Yields ``(path, explicit)``: explicit is True when the user named the file itself, False when it came
    from a directory scan or a glob (an unrecognised member is then quarantined instead of raising).
    """
    for pattern in patterns:
        if not pattern:
            raise DatasetError("source has no path")
        resolved = Path(os.path.normpath(Path(base_dir) / os.path.expanduser(pattern)))
        if glob.has_magic(str(resolved)):
            matches = sorted(Path(p) for p in glob.glob(str(resolved), recursive=True))
            # Not only regular files: a pipe or a dangling link must reach the reader to be quarantined.
            files = [p for p in matches if not p.is_dir() or is_hf_dataset_dir(p)]
            if not files:
                raise DatasetError(f"{pattern}: the glob matched no files (resolved to {resolved})")
            yield from ((p, False) for p in files)
        elif is_hf_dataset_dir(resolved):
            yield resolved, True
        elif resolved.is_dir():
            yield from ((p, False) for p in scan_directory(resolved))
        elif resolved.exists():
            yield resolved, True
        else:
            raise DatasetError(f"{pattern}: no such file or directory (resolved to {resolved})")


def pattern_root(pattern: str, base_dir: Path) -> Path:
    """The directory a source's path confines its scan to: the path itself, or a glob's fixed part."""
    return Path(os.path.normpath(Path(base_dir) / os.path.expanduser(glob_root(pattern))))


def scan_directory(directory: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        root_path = Path(root)
        hf_dirs = [d for d in dirs if is_hf_dataset_dir(root_path / d)]
        found.extend(root_path / d for d in hf_dirs)
        dirs[:] = sorted(d for d in dirs if d not in hf_dirs and not d.startswith("."))
        found.extend(root_path / f for f in files if data_extension(f) in DATA_EXTENSIONS)
    return sorted(found)


def is_hf_dataset_dir(path: Path) -> bool:
    return path.is_dir() and any((path / marker).is_file() for marker in HF_MARKERS)


def compression(path: Path | str) -> str:
    name = str(path).lower()
    return next((ext for ext in COMPRESSIONS if name.endswith(ext)), "")


def data_extension(path: Path | str) -> str:
    """The extension that says what is inside, under any compression suffix: ``a.jsonl.gz`` -> ``.jsonl``."""
    name = str(path).lower()
    suffix = compression(name)
    if suffix:
        name = name[: -len(suffix)]
    return os.path.splitext(name)[1]


def open_binary(path: Path) -> IO[bytes]:
    """A binary stream of the file's decompressed content, read incrementally."""
    require_regular_file(path)
    kind = compression(path)
    if kind == ".gz":
        return gzip.open(path, "rb")
    if kind == ".zst":
        raw = path.open("rb")
        reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
        return io.BufferedReader(reader)  # type: ignore[arg-type]
    return path.open("rb")


def require_regular_file(path: Path) -> None:
    """Refuse a named pipe (opening one with no writer blocks forever), socket or device before opening."""
    message = not_regular_message(path)
    if message:
        raise NotRegularFileError(message)


def dataset_input_problem(
    path: Path, root: Path, explicit: bool, follow_links: bool
) -> tuple[str, str] | None:
    """``input_problem`` for dataset sources, where a Hugging Face dataset directory is a valid input."""
    return input_problem(path, root, explicit, follow_links, accept_dir=is_hf_dataset_dir(path))


def open_text(path: Path, encoding: str = "utf-8") -> IO[str]:
    """A text stream that never fails on bad bytes.

    Invalid UTF-8 bytes become lone surrogates (``surrogateescape``), which valid text never contains,
    so each row can later be quarantined or repaired on its own (see ``text.py``).
    """
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # also drops a byte-order mark at the start
    return io.TextIOWrapper(open_binary(path), encoding=encoding, errors="surrogateescape", newline="")
