"""Books (PDF and EPUB) as passages for grounded generation.

``read_source`` is the pipeline entry for ``kind: books`` sources; ``extract_books`` is the same over
plain paths, used by the standalone CLI. Every file yields passages or a Rejection naming the file
(and page or chapter) and the reason; nothing raises for a bad file.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from ai.core.config import ConfigError, SourceConfig
from ai.core.paths import is_inside
from ai.core.records import Passage
from ai.core.stage import Rejection
from ai.sourcing.books.extract import STAGE, BookFile, extract_book
from ai.sourcing.books.model import BookOptions
from ai.sourcing.extraction_output import ExtractionSummary, write_records

__all__ = [
    "BookFile",
    "BookOptions",
    "book_options",
    "extract_book",
    "extract_books",
    "extract_books_to_jsonl",
    "find_book_files",
    "read_source",
]


def read_source(source: SourceConfig, base_dir: Path) -> Iterator[Passage | Rejection]:
    options = book_options(source.options, source.name)
    roots = [_resolve(path, base_dir) for path in source.paths() if path]
    yield from extract_books(roots, options, source.name, source.license)


def book_options(raw: dict[str, Any], source_name: str = "books") -> BookOptions:
    try:
        return msgspec.convert(raw, BookOptions, strict=False)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"sources[{source_name}].options: {exc}") from None


def extract_books(
    roots: Iterable[Path], options: BookOptions, source_name: str = "books", license: str = ""
) -> Iterator[Passage | Rejection]:
    for root in roots:
        files = find_book_files(root, options.extensions)
        if not files:
            yield Rejection(
                stage=STAGE,
                reason="path_not_found",
                message=f"{root}: no {'/'.join(options.extensions)} files found there",
                locator=str(root),
            )
        for path, display in files:
            extraction = extract_book(BookFile(path, display, source_name, license), options)
            yield from extraction.passages
            yield from extraction.rejections


def find_book_files(root: Path, extensions: Iterable[str]) -> list[tuple[Path, str]]:
    """(path, name relative to the root) of the book files under ``root``, sorted for determinism.

    A file named directly is always returned; inside directories only the configured extensions are
    (case-insensitively), so licence texts and READMEs next to the books are not read as books.
    """
    wanted = {ext.lower() for ext in extensions}
    if any(ch in str(root) for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(str(root), recursive=True))
        return [(p, p.name) for p in matches if p.is_file() and p.suffix.lower() in wanted]
    if root.is_file():
        return [(root, root.name)]
    if not root.is_dir():
        return []
    # A symlink leading out of the directory (say, to a secrets file) is not followed.
    found = (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in wanted and is_inside(p, root))
    return [(p, p.relative_to(root).as_posix()) for p in sorted(found)]


def _resolve(path: str, base_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path(base_dir) / candidate


def extract_books_to_jsonl(
    inputs: list[Path],
    out: Path,
    options: BookOptions | None = None,
    quarantine_out: Path | None = None,
    source_name: str = "books",
    license: str = "",
) -> ExtractionSummary:
    """Passages of every book under ``inputs`` into ``out``; returns the counts (nothing is printed)."""
    records = extract_books(inputs, options or BookOptions(), source_name, license)
    return write_records(records, out, quarantine_out=quarantine_out)
