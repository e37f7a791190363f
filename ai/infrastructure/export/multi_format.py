"""Export a run's records in the formats training code reads, one file per split.

``write_formats(out_dir, records, formats, options)`` streams: ``records()`` is called once per format
and records are written as they come, so memory does not grow with the dataset. Every file is written
atomically and its bytes depend only on the records (in the order ``records()`` yields them) and the
options. Layout: ``out_dir/<format>/<split>.<ext>`` (``hf_dataset`` is a ``save_to_disk`` directory),
plus ``out_dir/export_summary.json`` with rows per split and the records each format could not use.

Formats and their rows are documented in docs/EXPORT.md.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from ai.core.atomic import atomic_directory, atomic_write_json, atomic_writer
from ai.core.records import (
    EXPORT_ROLE,
    SOURCE_DIALOGUE_ID,
    Conversation,
    LineageEntry,
    PassageRef,
    Provenance,
    Turn,
    encode,
    to_openai,
)

EXPORT_SUMMARY = "export_summary.json"
UNSPLIT = "unsplit"
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ExportError(ValueError):
    """An export cannot be written as asked; the message names the format or option."""


def write_formats(
    out_dir: Path,
    records: Callable[[], Iterator[Conversation]],
    formats: list[str],
    options: dict[str, Any] | None = None,
) -> dict[str, list[str]]:
    """Write each format under ``out_dir``; returns format -> files written (relative to ``out_dir``).

    ``options`` maps a format name to its options (``{"alpaca": {"pairs": "first"}}``); everything
    is validated before anything is written.
    """
    out_dir = Path(out_dir)
    exporters = [build_exporter(name, (options or {}).get(name)) for name in dict.fromkeys(formats)]
    unknown_options = sorted(set(options or {}) - set(FORMATS))
    if unknown_options:
        raise ExportError(f"export.options.{unknown_options[0]}: not a format; {_known_formats()}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {}
    summary: dict[str, Any] = {}
    for exporter in exporters:
        result = exporter.export(records(), out_dir)
        written[exporter.name] = result.files
        summary[exporter.name] = msgspec.to_builtins(result)
    atomic_write_json(out_dir / EXPORT_SUMMARY, summary)
    return written


def build_exporter(name: str, options: dict[str, Any] | None) -> Exporter:
    cls = FORMATS.get(name)
    if cls is None:
        raise ExportError(f"export.formats: unknown format {name!r}; {_known_formats()}")
    try:
        opts = msgspec.convert(options or {}, cls.Options, strict=False)
    except msgspec.ValidationError as exc:
        what, _, where = str(exc).partition(" - at `$")
        key = where.rstrip("`").lstrip(".")
        raise ExportError(f"export.options.{name}{'.' + key if key else ''}: {what}") from None
    return cls(opts)


def _known_formats() -> str:
    return f"known formats: {', '.join(FORMATS)}"


def dataset_records(dataset_dir: Path) -> Callable[[], Iterator[Conversation]]:
    """A ``records`` callable over a run's ``dataset/<split>.jsonl`` files (train, validation, test, unsplit).

    Lets the formats be written after the fact from a finished run or a ready package, without the
    run's work files: the OpenAI rows carry every field of the record (see ``from_openai``).
    """
    order = {name: rank for rank, name in enumerate(("train", "validation", "test", UNSPLIT))}
    paths = sorted(Path(dataset_dir).glob("*.jsonl"), key=lambda p: (order.get(p.stem, len(order)), p.stem))

    def records() -> Iterator[Conversation]:
        for path in paths:
            with open(path, "rb") as handle:
                for number, line in enumerate(handle, 1):
                    if line.strip():
                        yield from_openai(line, f"{path.name}:{number}")

    return records


class _OpenAIMessage(msgspec.Struct):
    role: str
    content: str


class _OpenAIMetadata(msgspec.Struct, omit_defaults=True):
    source: Provenance
    category: str = "therapeutic"
    language: str = ""
    split: str = ""
    source_id: str = ""
    group: str = ""
    tags: list[str] = msgspec.field(default_factory=list)
    scores: dict[str, float] = msgspec.field(default_factory=dict)
    grounding: list[PassageRef] = msgspec.field(default_factory=list)
    lineage: list[LineageEntry] = msgspec.field(default_factory=list)
    source_dialogue_id: str = ""  # to_openai lifts it out of meta
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class _OpenAIRow(msgspec.Struct):
    id: str
    messages: list[_OpenAIMessage]
    metadata: _OpenAIMetadata


_openai_row = msgspec.json.Decoder(_OpenAIRow)
_IMPORT_ROLE = {exported: role for role, exported in EXPORT_ROLE.items()}


def from_openai(line: bytes | str, where: str = "") -> Conversation:
    """The record an OpenAI-messages row (as ``to_openai`` writes it) came from."""
    try:
        row = _openai_row.decode(line)
    except msgspec.DecodeError as exc:
        raise ExportError(f"{where or 'row'}: not a dataset row ({exc})") from None
    meta = row.metadata
    if meta.source_dialogue_id:
        meta.meta[SOURCE_DIALOGUE_ID] = meta.source_dialogue_id
    return Conversation(
        id=row.id,
        turns=[Turn(_IMPORT_ROLE.get(m.role, m.role), m.content) for m in row.messages],
        source=meta.source,
        category=meta.category,
        language=meta.language,
        tags=meta.tags,
        grounding=meta.grounding,
        scores=meta.scores,
        split=meta.split,
        group=meta.group,
        source_id=meta.source_id,
        lineage=meta.lineage,
        meta=meta.meta,
    )


# -- exporters ---------------------------------------------------------------------------------------


class FormatOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Options a format takes from ``export.options.<format>``; none by default."""


class ExportResult(msgspec.Struct):
    files: list[str]
    rows: dict[str, int]  # split -> rows written (a row is a turn in csv, an exchange in alpaca)
    records: dict[str, int]  # split -> records that produced at least one row
    skipped: dict[str, int]  # reason -> records this format has no row for


class Exporter(ABC):
    """One output format: how a record becomes rows, and how rows are written to a split's file."""

    name: ClassVar[str]
    extension: ClassVar[str]
    Options: ClassVar[type[FormatOptions]] = FormatOptions
    text_mode: ClassVar[bool] = False

    def __init__(self, options: FormatOptions) -> None:
        self.options = options

    @abstractmethod
    def rows(self, record: Conversation) -> list[Any]:
        """The rows for one record; an empty list means the record is skipped (see ``skip_reason``)."""

    def skip_reason(self, record: Conversation) -> str:
        return "no_rows"

    def open_sink(self, handle: IO[Any]) -> Sink:
        return JsonLinesSink(handle)

    def export(self, records: Iterable[Conversation], out_dir: Path) -> ExportResult:
        """Write one file per split, opening each split's file when its first row arrives."""
        files: dict[str, str] = {}
        sinks: dict[str, Sink] = {}
        tally = Tally()
        with ExitStack() as stack:
            for record in records:
                rows = self.rows(record)
                if not rows:
                    tally.skipped[self.skip_reason(record)] += 1
                    continue
                split = split_name(record)
                sink = sinks.get(split)
                if sink is None:
                    rel = f"{self.name}/{split}.{self.extension}"
                    mode, newline = ("w", "") if self.text_mode else ("wb", None)
                    handle = stack.enter_context(atomic_writer(out_dir / rel, mode, newline=newline))
                    sink = sinks[split] = self.open_sink(handle)
                    if isinstance(sink, BufferedTableSink):
                        stack.callback(sink.abandon)  # runs before its file is closed
                    files[split] = rel
                for row in rows:
                    sink.write(row)
                tally.count(split, len(rows))
            for sink in sinks.values():
                sink.finish()
        remove_stale_files(out_dir / self.name, set(files.values()), out_dir)
        return tally.result(sorted(files.values()))


def remove_stale_files(directory: Path, keep: set[str], out_dir: Path) -> None:
    """Drop a previous export's files for splits this export no longer has."""
    if directory.is_dir():
        for path in directory.iterdir():
            if path.is_file() and path.relative_to(out_dir).as_posix() not in keep:
                path.unlink()


class Tally:
    def __init__(self) -> None:
        self.rows: Counter[str] = Counter()
        self.records: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()

    def count(self, split: str, n_rows: int) -> None:
        self.rows[split] += n_rows
        self.records[split] += 1

    def result(self, files: list[str]) -> ExportResult:
        return ExportResult(
            files=files,
            rows=dict(sorted(self.rows.items())),
            records=dict(sorted(self.records.items())),
            skipped=dict(sorted(self.skipped.items())),
        )


def split_name(record: Conversation) -> str:
    split = record.split or UNSPLIT
    if not _SPLIT_NAME.match(split):
        raise ExportError(f"record {record.id}: split {split!r} cannot be used as a file name")
    return split


def common_fields(record: Conversation) -> dict[str, str]:
    """Flat, always-present fields, so every row of a file has the same columns for table readers."""
    return {
        "id": record.id,
        "category": record.category,
        "language": record.language,
        "source": record.source.name,
        "license": record.source.license,
    }


def export_role(role: str) -> str:
    return EXPORT_ROLE.get(role, role)


class OneRowPerRecord(Exporter):
    def rows(self, record: Conversation) -> list[Any]:
        return [self.row(record)]

    @abstractmethod
    def row(self, record: Conversation) -> Any:
        """The record's one row."""


class OpenAIJsonl(OneRowPerRecord):
    """``{"id", "messages": [{"role", "content"}], "metadata"}``: the run's own dataset format."""

    name = "openai_jsonl"
    extension = "jsonl"

    def row(self, record: Conversation) -> Any:
        return to_openai(record)


SHAREGPT_ROLE = {"client": "human", "therapist": "gpt", "system": "system"}


class ShareGpt(OneRowPerRecord):
    name = "sharegpt"
    extension = "jsonl"

    def row(self, record: Conversation) -> Any:
        turns = [{"from": SHAREGPT_ROLE.get(t.role, t.role), "value": t.text} for t in record.turns]
        return {**common_fields(record), "conversations": turns}


class AlpacaOptions(FormatOptions):
    # "all": one row per client turn directly followed by a therapist turn; "first": only the first.
    pairs: Literal["all", "first"] = "all"


class Alpaca(Exporter):
    """Single-turn instruction rows: ``instruction`` (client), ``input`` (""), ``output`` (therapist)."""

    name = "alpaca"
    extension = "jsonl"
    Options = AlpacaOptions

    def rows(self, record: Conversation) -> list[Any]:
        system = "\n\n".join(t.text for t in record.turns if t.role == "system")
        rows = []
        for index, (turn, reply) in enumerate(zip(record.turns, record.turns[1:], strict=False)):
            if turn.role == "client" and reply.role == "therapist":
                rows.append(
                    {
                        **common_fields(record),
                        "id": f"{record.id}-{index}",
                        "conversation_id": record.id,
                        "turn_index": index,
                        "system": system,
                        "instruction": turn.text,
                        "input": "",
                        "output": reply.text,
                    }
                )
        assert isinstance(self.options, AlpacaOptions)  # nosec B101  # type narrowing; options are built for this class
        return rows[:1] if self.options.pairs == "first" else rows

    def skip_reason(self, record: Conversation) -> str:
        return "no_client_therapist_exchange"


class ChatMl(OneRowPerRecord):
    """``{"id", "text", ...}`` with the conversation rendered in ChatML; see docs/EXPORT.md for why JSONL."""

    name = "chatml"
    extension = "jsonl"

    def row(self, record: Conversation) -> Any:
        return {**common_fields(record), "text": render_chatml(record)}


def render_chatml(record: Conversation) -> str:
    return "\n".join(f"<|im_start|>{export_role(t.role)}\n{t.text}<|im_end|>" for t in record.turns)


class Dpo(Exporter):
    """Preference pairs in TRL's conversational format from records carrying ``meta["dpo"]``."""

    name = "dpo"
    extension = "jsonl"

    def rows(self, record: Conversation) -> list[Any]:
        pair = preference_pair(record)
        if pair is None:
            return []
        chosen, rejected = pair
        turns = record.turns
        if turns and turns[-1].role == "therapist":
            turns = turns[:-1]  # the stored conversation ends with the chosen reply
        info = record.meta["dpo"]
        return [
            {
                **common_fields(record),
                "prompt": [{"role": export_role(t.role), "content": t.text} for t in turns],
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "bias_type": str(info.get("bias_type", "")),
            }
        ]

    def skip_reason(self, record: Conversation) -> str:
        if "dpo" not in record.meta:
            return "not_a_preference_pair"
        if not any(t.role in ("client", "system") for t in record.turns):
            return "preference_pair_without_prompt"
        return "invalid_preference_pair"


def preference_pair(record: Conversation) -> tuple[str, str] | None:
    """``(chosen, rejected)`` when the record holds a usable pair with a prompt, else None."""
    info = record.meta.get("dpo")
    if not isinstance(info, dict):
        return None
    chosen, rejected = info.get("chosen"), info.get("rejected")
    if not (isinstance(chosen, str) and isinstance(rejected, str) and chosen.strip() and rejected.strip()):
        return None
    if chosen.strip() == rejected.strip():
        return None
    if not any(t.role in ("client", "system") for t in record.turns):
        return None
    return chosen, rejected


class CsvTurns(Exporter):
    """One row per turn, with the conversation id and the turn's index."""

    name = "csv"
    extension = "csv"
    text_mode = True
    columns: ClassVar[tuple[str, ...]] = (
        "conversation_id",
        "turn_index",
        "role",
        "content",
        "category",
        "language",
        "split",
        "source",
        "license",
    )

    def rows(self, record: Conversation) -> list[Any]:
        split = record.split or UNSPLIT
        return [
            (
                record.id,
                index,
                export_role(turn.role),
                turn.text,
                record.category,
                record.language,
                split,
                record.source.name,
                record.source.license,
            )
            for index, turn in enumerate(record.turns)
        ]

    def skip_reason(self, record: Conversation) -> str:
        return "no_turns"

    def open_sink(self, handle: IO[Any]) -> Sink:
        return CsvSink(handle, self.columns)


class ParquetOptions(FormatOptions):
    row_group_size: int = 10_000

    def __post_init__(self) -> None:
        if self.row_group_size < 1:
            raise ValueError("row_group_size must be at least 1")


TABLE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("category", pa.string()),
        ("language", pa.string()),
        ("split", pa.string()),
        ("group", pa.string()),
        ("source_id", pa.string()),
        ("source_kind", pa.string()),
        ("source_name", pa.string()),
        ("source_uri", pa.string()),
        ("license", pa.string()),
        ("tags", pa.list_(pa.string())),
        # Open-ended parts (locator, scores, grounding, lineage, meta) as one JSON text: their keys
        # vary between records and a fixed columnar schema cannot hold them losslessly.
        ("metadata", pa.string()),
    ]
)


def table_row(record: Conversation) -> dict[str, Any]:
    metadata = {
        "locator": record.source.locator,
        "scores": record.scores,
        "grounding": msgspec.to_builtins(record.grounding),
        "lineage": [[e.stage, e.version, e.config_hash] for e in record.lineage],
        "meta": record.meta,
    }
    return {
        "id": record.id,
        "messages": [{"role": export_role(t.role), "content": t.text} for t in record.turns],
        "category": record.category,
        "language": record.language,
        "split": record.split or UNSPLIT,
        "group": record.group,
        "source_id": record.source_id,
        "source_kind": record.source.kind,
        "source_name": record.source.name,
        "source_uri": record.source.uri,
        "license": record.source.license,
        "tags": list(record.tags),
        "metadata": encode(metadata).decode(),
    }


class ParquetTable(OneRowPerRecord):
    """Nested turns: ``messages`` is a list of ``{role, content}`` structs."""

    name = "parquet"
    extension = "parquet"
    Options = ParquetOptions

    def row(self, record: Conversation) -> Any:
        return table_row(record)

    def open_sink(self, handle: IO[Any]) -> Sink:
        assert isinstance(self.options, ParquetOptions)  # nosec B101  # type narrowing; options are built for this class
        return ParquetSink(handle, self.options.row_group_size)


class HfDataset(OneRowPerRecord):
    """A ``datasets.DatasetDict`` of the splits, written with ``save_to_disk`` (``load_from_disk`` reads it).

    Rows are those of the parquet format. Records are streamed once into per-split Arrow stream files;
    each split's Dataset is a memory-mapped view of its file (nothing is held in memory) with a
    fingerprint that is a hash of its rows, so the saved bytes (``state.json`` included) are the same
    for the same records.
    """

    name = "hf_dataset"
    extension = ""
    Options = ParquetOptions

    def row(self, record: Conversation) -> Any:
        return table_row(record)

    def export(self, records: Iterable[Conversation], out_dir: Path) -> ExportResult:
        import datasets
        from datasets.table import MemoryMappedTable

        tally = Tally()
        target = out_dir / self.name
        with tempfile.TemporaryDirectory(prefix="hf-export-", dir=out_dir) as tmp:
            staged = self._stage(records, Path(tmp), tally)
            if not staged:
                shutil.rmtree(target, ignore_errors=True)
                return tally.result([])
            info = datasets.DatasetInfo(features=datasets.Features.from_arrow_schema(TABLE_SCHEMA))
            progress = datasets.is_progress_bar_enabled()
            datasets.disable_progress_bars()
            try:
                splits = {
                    split: datasets.Dataset(
                        MemoryMappedTable.from_file(str(path)),
                        info=info.copy(),
                        split=datasets.NamedSplit(split),
                        fingerprint=digest,
                    )
                    for split, (path, digest) in sorted(staged.items())
                }
                with atomic_directory(target) as building:
                    datasets.DatasetDict(splits).save_to_disk(str(building))
                del splits  # release the memory maps before the staging files are removed
            finally:
                if progress:
                    datasets.enable_progress_bars()
        files = sorted(p.relative_to(out_dir).as_posix() for p in target.rglob("*") if p.is_file())
        return tally.result(files)

    def _stage(self, records: Iterable[Conversation], tmp: Path, tally: Tally) -> dict[str, tuple[Path, str]]:
        assert isinstance(self.options, ParquetOptions)  # nosec B101  # type narrowing; options are built for this class
        sinks: dict[str, ArrowStreamSink] = {}
        digests: dict[str, Any] = {}
        paths: dict[str, Path] = {}
        with ExitStack() as stack:
            for record in records:
                split = split_name(record)
                if split not in sinks:
                    paths[split] = tmp / f"{split}.arrow"
                    handle = stack.enter_context(open(paths[split], "wb"))
                    sinks[split] = ArrowStreamSink(handle, self.options.row_group_size)
                    stack.callback(sinks[split].abandon)
                    digests[split] = hashlib.sha256(b"hf_dataset\x1e" + split.encode())
                row = self.row(record)
                sinks[split].write(row)
                digests[split].update(encode(row) + b"\n")
                tally.count(split, 1)
            for sink in sinks.values():
                sink.finish()
        return {split: (paths[split], digests[split].hexdigest()[:32]) for split in sinks}


JSONLD_CONTEXT: dict[str, Any] = {
    "@vocab": "https://schema.org/",
    # Turns are an ordered list: @list keeps their order through JSON-LD expansion (a plain JSON
    # array would expand to an unordered set); each Message also states its position.
    "hasPart": {"@container": "@list"},
}


class JsonLdOptions(FormatOptions):
    id_prefix: str = "urn:dataset-pipeline:conversation:"


class JsonLd(OneRowPerRecord):
    """One JSON-LD document per split: ``{"@context", "@graph": [Conversation, ...]}`` (schema.org)."""

    name = "jsonld"
    extension = "jsonld"
    Options = JsonLdOptions

    def row(self, record: Conversation) -> Any:
        assert isinstance(self.options, JsonLdOptions)  # nosec B101  # type narrowing; options are built for this class
        return jsonld_conversation(record, self.options.id_prefix)

    def open_sink(self, handle: IO[Any]) -> Sink:
        return JsonLdSink(handle)


def jsonld_conversation(record: Conversation, id_prefix: str) -> dict[str, Any]:
    source: dict[str, Any] = {"@type": "CreativeWork", "name": record.source.name}
    if record.source.uri:
        source["url"] = record.source.uri
    if record.source.license:
        source["license"] = record.source.license
    properties = [
        {"@type": "PropertyValue", "name": "split", "value": record.split or UNSPLIT},
        {"@type": "PropertyValue", "name": "source_kind", "value": record.source.kind},
    ]
    node: dict[str, Any] = {
        "@id": id_prefix + record.id,
        "@type": "Conversation",
        "identifier": record.id,
        "genre": record.category,
        "isBasedOn": source,
        "additionalProperty": properties,
        "hasPart": [
            {
                "@type": "Message",
                "position": index,
                "text": turn.text,
                "sender": {"@type": "Role", "roleName": export_role(turn.role)},
            }
            for index, turn in enumerate(record.turns)
        ],
    }
    if record.language:
        node["inLanguage"] = record.language
    if record.source.license:
        node["license"] = record.source.license
    if record.tags:
        node["keywords"] = list(record.tags)
    return node


# -- sinks: how rows become the bytes of one split's file ---------------------------------------------


class Sink(ABC):
    def __init__(self, handle: IO[Any]) -> None:
        self.handle = handle

    @abstractmethod
    def write(self, row: Any) -> None:
        """Append one row."""

    def finish(self) -> None:
        """Write whatever closes the file's content (footers, buffered rows)."""
        self.handle.flush()


class JsonLinesSink(Sink):
    def write(self, row: Any) -> None:
        self.handle.write(encode(row) + b"\n")


class CsvSink(Sink):
    def __init__(self, handle: IO[Any], columns: tuple[str, ...]) -> None:
        super().__init__(handle)
        # Quote every field: turn texts hold commas, quotes and newlines.
        self.writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL)
        self.writer.writerow(columns)

    def write(self, row: Any) -> None:
        self.writer.writerow(row)


class BufferedTableSink(Sink):
    """Buffers rows and writes them as one Arrow batch every ``batch_rows`` rows: memory stays bounded."""

    def __init__(self, handle: IO[Any], batch_rows: int) -> None:
        super().__init__(handle)
        self.batch_rows = batch_rows
        self.buffer: list[dict[str, Any]] = []
        self.closed = False

    def write(self, row: Any) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= self.batch_rows:
            self.flush_batch()

    def flush_batch(self) -> None:
        if self.buffer:
            self.write_batch(pa.RecordBatch.from_pylist(self.buffer, schema=TABLE_SCHEMA))
            self.buffer = []

    def finish(self) -> None:
        self.flush_batch()
        self.close_writer()
        self.closed = True

    def abandon(self) -> None:
        """After a failure: close the Arrow writer while its file is still open (the file is discarded)."""
        if not self.closed:
            self.closed = True
            self.buffer = []
            with contextlib.suppress(Exception):
                self.close_writer()

    @abstractmethod
    def write_batch(self, batch: pa.RecordBatch) -> None:
        """Write one batch of rows."""

    @abstractmethod
    def close_writer(self) -> None:
        """Write the format's footer."""


class ParquetSink(BufferedTableSink):
    def __init__(self, handle: IO[Any], row_group_size: int) -> None:
        super().__init__(handle, row_group_size)
        self.writer = pq.ParquetWriter(handle, TABLE_SCHEMA, compression="zstd")

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(batch, row_group_size=self.batch_rows)

    def close_writer(self) -> None:
        self.writer.close()


class ArrowStreamSink(BufferedTableSink):
    """Arrow IPC stream batches: the file format ``datasets`` memory-maps."""

    def __init__(self, handle: IO[Any], batch_rows: int) -> None:
        super().__init__(handle, batch_rows)
        self.writer = pa.ipc.new_stream(handle, TABLE_SCHEMA)

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(batch)

    def close_writer(self) -> None:
        self.writer.close()


class JsonLdSink(Sink):
    def __init__(self, handle: IO[Any]) -> None:
        super().__init__(handle)
        context = json.dumps(JSONLD_CONTEXT, sort_keys=True)
        self.handle.write(f'{{"@context": {context},\n"@graph": [\n'.encode())
        self.first = True

    def write(self, row: Any) -> None:
        self.handle.write((b"" if self.first else b",\n") + encode(row))
        self.first = False

    def finish(self) -> None:
        self.handle.write(b"\n]}\n")


FORMATS: dict[str, type[Exporter]] = {
    cls.name: cls
    for cls in (OpenAIJsonl, ShareGpt, Alpaca, ChatMl, ParquetTable, CsvTurns, JsonLd, HfDataset, Dpo)
}
