"""Containers: turn a file (JSONL, JSON, CSV/TSV, Parquet, Hugging Face dataset) into a stream of rows.

Every container streams: memory stays bounded by the largest single row, not by the file. A row that
cannot be parsed becomes a :class:`Rejection` (stage ``ingest``) with the file, line and the raw text,
and reading goes on with the next row.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ai.core.stage import Rejection
from ai.sourcing.datasets.errors import DatasetError, InvalidUtf8Warning
from ai.sourcing.datasets.files import open_text

CONTAINERS = ("jsonl", "json", "csv", "tsv", "parquet", "hf")
UTF8_POLICIES = ("quarantine", "replace")
# Rejections keep an excerpt of the raw input for the quarantine, never unbounded amounts of it.
MAX_RAW_CHARS = 20_000
# A longer line (JSON Lines) or row (CSV) is refused before it is parsed: one hostile row must not take
# gigabytes of memory. Sources can raise it with options.max_row_chars.
MAX_ROW_CHARS = 16_000_000

_SURROGATE = re.compile("[\udc80-\udcff]")
_ANY_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(slots=True)
class Row:
    """One input row with where it came from."""

    data: dict[str, Any]
    file: str
    line: int  # 1-based first line of the row; 0 for containers without lines (Parquet, HF)
    index: int  # 0-based position among the file's rows, rejected rows included
    raw: str = ""
    part: str = ""  # HF split name, when the container has several

    @property
    def locator(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}"
        part = f"[{self.part}]" if self.part else ""
        return f"{self.file}{part}#row={self.index}"


def ingest_rejection(
    reason: str, message: str, raw: str = "", locator: str = "", raw_size: int = 0
) -> Rejection:
    """An ingest Rejection holding at most ``MAX_RAW_CHARS`` of the raw input and, when cut, its full size."""
    size = max(raw_size, len(raw))
    return Rejection(
        stage="ingest",
        reason=reason,
        message=message,
        raw=raw[:MAX_RAW_CHARS],
        locator=locator,
        raw_size=size if size > MAX_RAW_CHARS else 0,
    )


@dataclass(slots=True, frozen=True)
class OversizedLine:
    """A line longer than the row limit: only its start is kept, and how long it was."""

    excerpt: str
    chars: int


class OversizedRowError(ValueError):
    """Raised into the CSV reader when a physical line is over the row limit."""

    def __init__(self, line: OversizedLine) -> None:
        super().__init__(f"a line of {line.chars:,} characters")
        self.line = line


def bounded_lines(stream: IO[str], limit: int) -> Iterator[str | OversizedLine]:
    """The stream's lines, except that a line over ``limit`` characters comes as an ``OversizedLine``.

    The long line is consumed in 1 MiB pieces, so memory stays bounded by the limit, not by the line.
    """
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith("\n"):
            yield line
            continue
        excerpt, total = line[:MAX_RAW_CHARS], len(line)
        while not line.endswith("\n"):
            line = stream.readline(1 << 20)
            if not line:
                break
            total += len(line)
        yield OversizedLine(excerpt, total - line.endswith("\n"))


def oversized_rejection(line: OversizedLine, locator: str, limit: int) -> Rejection:
    return ingest_rejection(
        "row_too_large",
        f"{locator}: the row has {line.chars:,} characters, over the limit of {limit:,} (raise the "
        "source's options.max_row_chars to read it); the quarantine keeps its start",
        line.excerpt,
        locator,
        raw_size=line.chars,
    )


def row_limit(options: dict[str, Any]) -> int:
    limit = options.get("max_row_chars", MAX_ROW_CHARS)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise DatasetError(f"options.max_row_chars must be a positive whole number, got {limit!r}")
    return limit


class Utf8Guard:
    """Applies the ``on_invalid_utf8`` policy to text decoded with ``surrogateescape``.

    ``quarantine``: a row holding invalid bytes becomes a Rejection (reason ``invalid_utf8``).
    ``replace``: the bytes become U+FFFD and one :class:`InvalidUtf8Warning` names the file at the end.
    """

    def __init__(self, file: str, policy: str) -> None:
        if policy not in UTF8_POLICIES:
            raise DatasetError(f"on_invalid_utf8 must be one of {', '.join(UTF8_POLICIES)}, got {policy!r}")
        self.file = file
        self.policy = policy
        self.replaced_rows = 0
        self.first_locator = ""

    @staticmethod
    def is_invalid(text: str) -> bool:
        return not text.isascii() and _SURROGATE.search(text) is not None

    def repair(self, text: str, locator: str) -> str:
        """The text with invalid bytes replaced; counts the row for the end-of-file warning."""
        self.note(locator)
        return repair_utf8(text)

    def note(self, locator: str) -> None:
        self.replaced_rows += 1
        self.first_locator = self.first_locator or locator

    def rejection(self, raw: str, locator: str) -> Rejection:
        return ingest_rejection(
            "invalid_utf8",
            f"{locator}: the row holds bytes that are not valid UTF-8 (set on_invalid_utf8: replace "
            "to keep it with U+FFFD, or set the source's encoding)",
            repair_utf8(raw),
            locator,
        )

    def checked(self, value: Any, raw: str, locator: str) -> Any:
        """A parsed JSON value, or its Rejection if a ``\\ud800``-style escape left an unpaired surrogate.

        Such strings parse but cannot be encoded, so they would break every later write; the policy
        treats them like undecodable bytes (``replace`` turns each into U+FFFD).
        """
        if _SURROGATE_ESCAPE.search(raw) is None or not _holds_unpaired_surrogate(value):
            return value
        if self.policy == "quarantine":
            return ingest_rejection(
                "invalid_utf8",
                f"{locator}: the row holds an escaped unpaired surrogate (\\ud800-\\udfff), which is not "
                "valid Unicode (set on_invalid_utf8: replace to keep it with U+FFFD)",
                raw,
                locator,
            )
        self.note(locator)
        return _replace_surrogates(value)

    def finish(self) -> None:
        if self.replaced_rows:
            warnings.warn(InvalidUtf8Warning(self.file, self.replaced_rows, self.first_locator), stacklevel=2)


def repair_utf8(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _holds_unpaired_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _ANY_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


# --- JSON Lines ----------------------------------------------------------------------------------


# Decodes one whole line into finished records, or returns None to leave the line to the general path.
LineDecoder = Callable[[str, str, int, int], "list[Any] | None"]


class JsonLines:
    """The rows of a JSON Lines file, read lazily.

    Once the file's record format is known, that format may take over whole lines (``decode_with``):
    a typed decoder that builds records straight from the line text skips the generic parse into
    dicts, which dominates ingest time. Lines it declines go through the general path unchanged, and
    the records it builds are passed through by the schema's ``convert``.
    """

    def __init__(
        self, path: Path, display: str, guard: Utf8Guard, encoding: str = "utf-8", limit: int = MAX_ROW_CHARS
    ) -> None:
        self.display = display
        self.decoder: LineDecoder | None = None
        self.limit = limit
        self._items = self._read(path, guard, encoding)

    def __iter__(self) -> Iterator[Any]:
        return self._items

    def decode_with(self, decoder: LineDecoder | None) -> None:
        self.decoder = decoder

    def close(self) -> None:
        self._items.close()

    def _read(self, path: Path, guard: Utf8Guard, encoding: str) -> Iterator[Any]:
        display = self.display
        with open_text(path, encoding) as stream:
            index = -1  # position among the file's non-blank lines, rejected ones included
            for number, line in enumerate(bounded_lines(stream, self.limit), start=1):
                if isinstance(line, OversizedLine):
                    index += 1
                    yield oversized_rejection(line, f"{display}:{number}", self.limit)
                    continue
                text = line.rstrip("\r\n")
                if not text or text.isspace():
                    continue
                index += 1
                if not text.isascii() and guard.is_invalid(text):
                    locator = f"{display}:{number}"
                    if guard.policy == "quarantine":
                        yield guard.rejection(text, locator)
                        continue
                    text = guard.repair(text, locator)
                elif self.decoder is not None:
                    records = self.decoder(text, display, number, index)
                    if records is not None:
                        yield from records
                        continue
                yield parse_json_line(text, display, number, index, guard)
        guard.finish()


def parse_json_line(text: str, display: str, number: int, index: int, guard: Utf8Guard) -> Row | Rejection:
    """One JSON Lines row, or the Rejection saying why the line is not a JSON object."""
    locator = f"{display}:{number}"
    try:
        value = guard.checked(json.loads(text), text, locator)
    except ValueError as exc:
        return ingest_rejection("malformed_json", f"{locator}: not valid JSON ({exc})", text, locator)
    except RecursionError:
        return too_deep_rejection(text, locator)
    if isinstance(value, Rejection):
        return value
    if not isinstance(value, dict):
        return ingest_rejection(
            "malformed_record",
            f"{locator}: expected a JSON object per line, got {type(value).__name__}",
            text,
            locator,
        )
    return Row(value, display, number, index, text)


def too_deep_rejection(raw: str, locator: str) -> Rejection:
    return ingest_rejection(
        "malformed_json", f"{locator}: JSON nested too deeply to be a conversation record", raw, locator
    )


# --- JSON documents ------------------------------------------------------------------------------


def iter_json(
    path: Path, display: str, guard: Utf8Guard, encoding: str = "utf-8", limit: int = MAX_ROW_CHARS
) -> Iterator[Row | Rejection]:
    """A ``.json`` file: a top-level array (streamed element by element), JSON Lines, or one object."""
    shape = json_document_shape(path, encoding)
    if shape == "jsonl":
        yield from JsonLines(path, display, guard, encoding, limit)
    elif shape == "array":
        yield from iter_json_array(path, display, guard, encoding)
    else:
        yield from iter_json_object(path, display, guard, encoding)


def json_document_shape(path: Path, encoding: str = "utf-8") -> str:
    """``array`` (starts with ``[``), ``jsonl`` (first line is a whole object) or ``object``."""
    with open_text(path, encoding) as stream:
        first_line = ""
        for line in stream:
            if line.strip():
                first_line = line.strip()
                break
    if first_line.startswith("["):
        return "array"
    try:
        return "jsonl" if isinstance(json.loads(first_line), dict) else "object"
    except (ValueError, RecursionError):
        return "object"


def iter_json_object(path: Path, display: str, guard: Utf8Guard, encoding: str) -> Iterator[Row | Rejection]:
    # A single JSON document has no row boundaries to stream by; the format forces a whole-file read.
    with open_text(path, encoding) as stream:
        text = stream.read()
    locator = f"{display}:1"
    if guard.is_invalid(text):
        if guard.policy == "quarantine":
            yield guard.rejection(text, locator)
            return
        text = guard.repair(text, locator)
    try:
        value = guard.checked(json.loads(text), text, locator)
    except ValueError as exc:
        yield ingest_rejection("malformed_json", f"{display}: not valid JSON ({exc})", text, locator)
        return
    except RecursionError:
        yield too_deep_rejection(text, locator)
        return
    if isinstance(value, Rejection):
        yield value
    elif isinstance(value, dict):
        yield Row(value, display, 1, 0, text)
    else:
        yield ingest_rejection(
            "malformed_record",
            f"{display}: expected a JSON object or array, got {type(value).__name__}",
            text,
            locator,
        )
    guard.finish()


def iter_json_array(path: Path, display: str, guard: Utf8Guard, encoding: str) -> Iterator[Row | Rejection]:
    with open_text(path, encoding) as stream:
        index = -1  # position among the array's elements
        for item in JsonArrayStream(stream, display).elements():
            if isinstance(item, Rejection):
                yield item
                continue
            index += 1
            line, raw, value = item
            locator = f"{display}:{line}"
            if guard.is_invalid(raw):
                if guard.policy == "quarantine":
                    yield guard.rejection(raw, locator)
                    continue
                raw = guard.repair(raw, locator)
                value = json.loads(raw)
            value = guard.checked(value, raw, locator)
            if isinstance(value, Rejection):
                yield value
            elif isinstance(value, dict):
                yield Row(value, display, line, index, raw)
            else:
                yield ingest_rejection(
                    "malformed_record",
                    f"{locator}: expected each array element to be an object, got {type(value).__name__}",
                    raw,
                    locator,
                )
    guard.finish()


class JsonArrayStream:
    """Yields the elements of a top-level JSON array one at a time, reading the text in chunks.

    The buffer only ever holds the element being parsed (it grows geometrically while an element is
    incomplete, so parsing stays linear in its size).
    """

    CHUNK = 1 << 16
    _WS = re.compile(r"[ \t\r\n]*")

    def __init__(self, stream: IO[str], display: str) -> None:
        self.stream = stream
        self.display = display
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False
        self.decoder = json.JSONDecoder()

    def elements(self) -> Iterator[tuple[int, str, Any] | Rejection]:
        self._skip_ws()
        if self._peek() != "[":
            yield self._broken("expected a JSON array")
            return
        self.pos += 1
        self._skip_ws()
        if self._peek() == "]":
            return
        while True:
            self._skip_ws()
            parsed = self._parse_value()
            if parsed is None:
                yield self._broken("not valid JSON")
                return
            yield parsed
            self._skip_ws()
            separator = self._peek()
            self.pos += 1
            if separator == "]":
                return
            if separator != ",":
                yield self._broken(
                    f"expected ',' or ']' between array elements, got {separator or 'end of file'!r}"
                )
                return

    def _parse_value(self) -> tuple[int, str, Any] | None:
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except RecursionError:
                return None  # nested too deeply to be a record: the rest of the file is quarantined
            except json.JSONDecodeError:
                if self.eof:
                    return None
                self._fill()
                continue
            # A number at the very end of the buffer may continue in the next chunk.
            if end == len(self.buf) and not self.eof:
                self._fill()
                continue
            raw = self.buf[self.pos : end]
            line = self.line
            self.line += raw.count("\n")
            self.pos = end
            return line, raw, value

    def _broken(self, what: str) -> Rejection:
        """The rest of the file cannot be split into elements: quarantine it as one piece and stop."""
        locator = f"{self.display}:{self.line}"
        rest = self.buf[self.pos : self.pos + MAX_RAW_CHARS]
        return ingest_rejection(
            "malformed_json", f"{locator}: {what}; the rest of the file was not read", rest, locator
        )

    def _fill(self) -> None:
        chunk = self.stream.read(max(self.CHUNK, len(self.buf) - self.pos))
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        self.eof = not chunk

    def _peek(self) -> str:
        if self.pos >= len(self.buf) and not self.eof:
            self._fill()
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def _skip_ws(self) -> None:
        while True:
            end = self._WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            self.line += self.buf.count("\n", self.pos, end)
            self.pos = end
            if self.pos < len(self.buf) or self.eof:
                return
            self._fill()


# --- CSV / TSV -----------------------------------------------------------------------------------


def iter_csv(
    path: Path,
    display: str,
    guard: Utf8Guard,
    delimiter: str = ",",
    encoding: str = "utf-8",
    limit: int = MAX_ROW_CHARS,
) -> Iterator[Row | Rejection]:
    # Long answers and transcripts exceed the csv module's 128 KiB default field limit; the row limit
    # replaces it, checked on each physical line before the csv module sees it.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1, limit))
    with open_text(path, encoding) as stream:
        physical: list[str] = []
        reader = csv.reader(_Recording(bounded_lines(stream, limit), physical, limit), delimiter=delimiter)
        header = _read_header(reader, guard)
        if header is None:
            return
        physical.clear()
        index = -1  # position among the file's data rows, rejected ones included
        start = reader.line_num + 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except OversizedRowError as exc:
                index += 1
                physical.clear()
                yield oversized_rejection(exc.line, f"{display}:{start}", limit)
                start = reader.line_num + 1
                continue
            except csv.Error as exc:
                index += 1
                yield _csv_rejection(f"not valid CSV ({exc})", physical, display, start)
                start = reader.line_num + 1
                continue
            raw, line = "".join(physical), start
            physical.clear()
            start = reader.line_num + 1
            if not fields:
                continue  # a blank line holds no row
            index += 1
            locator = f"{display}:{line}"
            if any(guard.is_invalid(f) for f in fields):
                if guard.policy == "quarantine":
                    yield guard.rejection(raw, locator)
                    continue
                guard.note(locator)
                fields = [repair_utf8(f) for f in fields]
            if len(fields) != len(header):
                yield _csv_rejection(
                    f"expected {len(header)} fields as in the header, got {len(fields)}", [raw], display, line
                )
                continue
            yield Row(dict(zip(header, fields, strict=True)), display, line, index, raw)
    guard.finish()


def _read_header(reader: Iterator[list[str]], guard: Utf8Guard) -> list[str] | None:
    try:
        header = next(reader)
    except StopIteration:
        return None
    return [repair_utf8(name) if guard.is_invalid(name) else name for name in header]


class _Recording:
    """Pass lines to the csv reader while keeping the physical lines of the current row for quarantine.

    A row is refused as soon as its lines pass the limit, by raising into the csv reader. This is a
    class, not a generator, because a generator that raises is finished; this one goes on with the
    next line, and the csv module resets its own state for the next row.
    """

    def __init__(self, lines: Iterable[str | OversizedLine], sink: list[str], limit: int) -> None:
        self.lines = iter(lines)
        self.sink = sink
        self.limit = limit
        self.held = 0

    def __iter__(self) -> _Recording:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        if not self.sink:
            self.held = 0
        if isinstance(line, OversizedLine):
            self.sink.clear()
            raise OversizedRowError(line)
        self.held += len(line)
        if self.held > self.limit:
            excerpt = "".join(self.sink)[:MAX_RAW_CHARS]
            self.sink.clear()
            raise OversizedRowError(OversizedLine(excerpt, self.held))
        self.sink.append(line)
        return line


def _csv_rejection(what: str, physical: list[str], display: str, line: int) -> Rejection:
    raw = "".join(physical)
    physical.clear()
    locator = f"{display}:{line}"
    return ingest_rejection("malformed_csv", f"{locator}: {what}", raw, locator)


# --- Parquet and Hugging Face datasets -----------------------------------------------------------


def iter_parquet(path: Path, display: str, batch_size: int = 1024) -> Iterator[Row | Rejection]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        yield ingest_rejection(
            "unreadable_file", f"{display}: not a readable Parquet file ({exc})", "", display
        )
        return
    index = 0
    for batch in parquet.iter_batches(batch_size=batch_size):
        for record in batch.to_pylist():
            yield Row(record, display, 0, index)
            index += 1


def iter_hf_disk(path: Path, display: str) -> Iterator[Row | Rejection]:
    """A dataset saved with ``save_to_disk`` (memory-mapped Arrow, so iterating does not load it)."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises FileNotFoundError, ValueError or Arrow errors
        raise DatasetError(f"{display}: cannot load the Hugging Face dataset ({exc})") from exc
    yield from iter_hf_dataset(loaded, display)


def iter_hf_hub(name: str, options: dict[str, Any]) -> Iterator[Row | Rejection]:
    """``load_dataset`` in streaming mode, so a large hub dataset is never held in memory."""
    import datasets

    try:
        loaded = datasets.load_dataset(
            name,
            options.get("config"),
            split=options.get("split"),
            revision=options.get("revision"),  # a commit sha pins exactly what is read
            streaming=True,
        )
    except Exception as exc:  # offline, unknown dataset, gated dataset ...
        raise DatasetError(f"hf://{name}: load_dataset failed ({type(exc).__name__}: {exc})") from exc
    yield from iter_hf_dataset(loaded, f"hf://{name}")


def iter_hf_dataset(loaded: Any, display: str) -> Iterator[Row]:
    parts = sorted(loaded.items()) if hasattr(loaded, "keys") else [("", loaded)]
    for part, dataset in parts:
        for index, record in enumerate(dataset):
            yield Row(dict(record), display, 0, index, part=part)
