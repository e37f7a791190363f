"""Reading a configured source: expand its paths, pick each file's container and format, stream records."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zstandard

from ai.core.config import SourceConfig
from ai.core.records import Conversation
from ai.core.stage import Rejection
from ai.sourcing.datasets.build import ReadContext
from ai.sourcing.datasets.chat import Alpaca, OpenAIMessages, QAPairs, ShareGPT
from ai.sourcing.datasets.counselling import AnnoMI, CounselChat, EsconvHF, EsconvOriginal, PsyQA
from ai.sourcing.datasets.errors import DatasetError, UnknownFormatError
from ai.sourcing.datasets.files import (
    data_extension,
    dataset_input_problem,
    expand_paths,
    is_hf_dataset_dir,
    open_binary,
    pattern_root,
)
from ai.sourcing.datasets.mapped import MappedRows, UtteranceRows, mapped_schema
from ai.sourcing.datasets.peer_support import EmpatheticDialogues, MICounselChat
from ai.sourcing.datasets.rows import (
    CONTAINERS,
    JsonLines,
    Row,
    Utf8Guard,
    ingest_rejection,
    iter_csv,
    iter_hf_disk,
    iter_hf_hub,
    iter_json,
    iter_parquet,
    row_limit,
)
from ai.sourcing.datasets.schema import Detectable, Schema

# Tried in this order on the first row of a file; specific shapes before general ones.
DETECTABLE: tuple[type[Schema | Detectable], ...] = (
    CounselChat,
    EsconvHF,
    EsconvOriginal,
    PsyQA,
    AnnoMI,
    EmpatheticDialogues,
    MICounselChat,
    OpenAIMessages,
    ShareGPT,
    Alpaca,
    QAPairs,
)
FORMATS: tuple[str, ...] = (*(s.name for s in DETECTABLE), MappedRows.name, UtteranceRows.name)
OPTIONS = frozenset(
    {
        "columns",
        "roles",
        "tags",
        "language",
        "max_turns",
        "stride",
        "on_invalid_utf8",
        "encoding",
        "delimiter",
        "container",
        "config",
        "split",
        "revision",
        "batch_size",
        "follow_symlinks",
        "max_row_chars",
    }
)
_EXTENSION_CONTAINER = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_HUB_PREFIX = "hf://"


def read_source(source: SourceConfig, base_dir: Path) -> Iterator[Conversation | Rejection]:
    """Stream every record of a dataset source; malformed input comes out as ingest Rejections."""
    check_source(source)
    ctx = ReadContext.for_source(source)
    for pattern in source.paths():
        if pattern.startswith(_HUB_PREFIX):
            rows = iter_hf_hub(pattern.removeprefix(_HUB_PREFIX), source.options)
            yield from _convert(rows, source, ctx, pattern, explicit=True)
            continue
        root = pattern_root(pattern, Path(base_dir))
        follow_links = bool(source.options.get("follow_symlinks", False))
        for path, explicit in expand_paths([pattern], Path(base_dir)):
            problem = dataset_input_problem(path, root, explicit, follow_links)
            if problem is not None:
                yield ingest_rejection(*problem, "", str(path))
                continue
            yield from read_file(path, source, ctx, explicit=explicit)


def read_file(
    path: Path, source: SourceConfig, ctx: ReadContext | None = None, explicit: bool = True
) -> Iterator[Conversation | Rejection]:
    """Stream one file (or Hugging Face dataset directory) of a source."""
    ctx = ctx or ReadContext.for_source(source)
    display = str(path)
    try:
        container = container_of(path, source)
    except UnknownFormatError as exc:
        if explicit:
            raise
        yield ingest_rejection("unknown_format", str(exc), "", display)
        return
    rows = open_rows(path, display, container, source.options)
    yield from _convert(rows, source, ctx, display, explicit)


def detect_format(path: Path, source: SourceConfig) -> tuple[str, str]:
    """(container, record format) that ``read_file`` would use; format is "" for a file with no rows.

    Raises UnknownFormatError like a read of an explicitly named file would.
    """
    container = container_of(path, source)
    rows = open_rows(path, str(path), container, source.options)
    try:
        first = next((item for item in rows if isinstance(item, Row)), None)
    finally:
        rows.close()  # type: ignore[attr-defined]
    return container, schema_for(first, source, str(path)).name if first is not None else ""


def check_source(source: SourceConfig) -> None:
    known = set(FORMATS) | set(CONTAINERS) | {"auto", "huggingface"}
    if source.format not in known:
        raise UnknownFormatError(
            f"source {source.name}: unknown format {source.format!r}; use auto or one of {', '.join(sorted(known - {'auto'}))}"
        )
    unknown = sorted(set(source.options) - OPTIONS)
    if unknown:
        raise DatasetError(
            f"source {source.name}: unknown option(s) {unknown}; known: {', '.join(sorted(OPTIONS))}"
        )


def container_of(path: Path, source: SourceConfig) -> str:
    """The file container: named in config, else from the extension, else sniffed from the first bytes."""
    named = source.options.get("container") or (source.format if source.format in CONTAINERS else "")
    if source.format == "huggingface":
        named = "hf"
    if named:
        if named not in CONTAINERS:
            raise DatasetError(f"options.container must be one of {', '.join(CONTAINERS)}, got {named!r}")
        return named
    if is_hf_dataset_dir(path):
        return "hf"
    by_extension = _EXTENSION_CONTAINER.get(data_extension(path))
    return by_extension or sniff_container(path)


def sniff_container(path: Path) -> str:
    try:
        with open_binary(path) as stream:
            head = stream.read(4096)
    except (OSError, EOFError) as exc:
        raise UnknownFormatError(f"{path}: cannot read the file to detect its format ({exc})") from exc
    if head.startswith(b"PAR1"):
        return "parquet"
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first in (b"[", b"{"):
        return "json"
    raise UnknownFormatError(
        f"{path}: unknown format; tried containers by extension ({', '.join(sorted(_EXTENSION_CONTAINER))}), "
        "Parquet magic bytes and JSON; set format or options.container"
    )


def open_rows(path: Path, display: str, container: str, options: dict[str, Any]) -> Iterator[Row | Rejection]:
    encoding = str(options.get("encoding", "utf-8"))
    # JSON Lines rows are independent records: quarantine a damaged one. Table rows are more often
    # free text with a stray byte (scraped posts), so they are repaired and the file is warned about.
    default_policy = "quarantine" if container in ("jsonl", "json") else "replace"
    guard = Utf8Guard(display, str(options.get("on_invalid_utf8", default_policy)))
    limit = row_limit(options)
    if container == "jsonl":
        return JsonLines(path, display, guard, encoding, limit)  # type: ignore[return-value]
    if container == "json":
        return iter_json(path, display, guard, encoding, limit)
    if container in ("csv", "tsv"):
        delimiter = str(options.get("delimiter", "\t" if container == "tsv" else ","))
        return iter_csv(path, display, guard, delimiter, encoding, limit)
    if container == "parquet":
        return iter_parquet(path, display, int(options.get("batch_size", 1024)))
    return iter_hf_disk(path, display)


def _convert(
    rows: Iterator[Row | Rejection], source: SourceConfig, ctx: ReadContext, display: str, explicit: bool
) -> Iterator[Conversation | Rejection]:
    source_rows = rows
    rows = _guard_stream(rows, display)
    leading: list[Rejection] = []
    first: Row | None = None
    for item in rows:
        if isinstance(item, Row):
            first = item
            break
        leading.append(item)
    yield from leading
    if first is None:
        return
    try:
        schema = schema_for(first, source, display)
    except UnknownFormatError as exc:
        if explicit:
            raise
        yield ingest_rejection("unknown_format", str(exc), "", display)
        return
    if isinstance(source_rows, JsonLines):
        source_rows.decode_with(schema.line_decoder(ctx))
    yield from schema.convert(itertools.chain([first], rows), ctx)


def schema_for(first: Row, source: SourceConfig, display: str) -> Schema:
    """The record format named in config, or the first one whose shape matches the first row."""
    if source.format in (MappedRows.name, UtteranceRows.name) or "columns" in source.options:
        return mapped_schema(source.options)
    for schema in DETECTABLE:
        if source.format == schema.name or (
            source.format not in FORMATS and schema.matches(first.data, source.options)
        ):
            return schema()
    tried = "; ".join(s.looks_like for s in DETECTABLE)
    names = list(map(str, first.data))
    fields = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    raise UnknownFormatError(
        f"{display}: unknown format (first row has fields: {fields}). Tried: {tried}; "
        f"{MappedRows.looks_like}. Set the source's format, or options.columns."
    )


def _guard_stream(rows: Iterator[Row | Rejection], display: str) -> Iterator[Row | Rejection]:
    """A file that breaks mid-way (truncated gzip, corrupt zstd, I/O error) ends in one Rejection."""
    count = 0
    try:
        for item in rows:
            count += 1
            yield item
    except (OSError, EOFError, ValueError, zstandard.ZstdError) as exc:
        if isinstance(exc, DatasetError):
            raise
        yield ingest_rejection(
            "unreadable_file",
            f"{display}: reading stopped after {count} row(s): {type(exc).__name__}: {exc}",
            "",
            display,
        )
