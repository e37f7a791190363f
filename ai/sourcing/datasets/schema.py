"""The shape every dataset format has: recognise a first row, convert a stream of rows to records."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from ai.core.records import Conversation
from ai.core.stage import Rejection
from ai.sourcing.datasets.build import MalformedRow, ReadContext, raw_text
from ai.sourcing.datasets.rows import LineDecoder, Row, ingest_rejection


class Schema(ABC):
    """A record layout (OpenAI messages, ShareGPT, ESConv, ...), independent of the file container."""

    name: ClassVar[str]
    # Shown in the unknown-format error: what a row of this format looks like.
    looks_like: ClassVar[str]

    @abstractmethod
    def convert(
        self, rows: Iterator[Row | Rejection], ctx: ReadContext
    ) -> Iterator[Conversation | Rejection]:
        """Records and rejections for a file's rows; rejections from the container pass through."""

    def line_decoder(self, ctx: ReadContext) -> LineDecoder | None:
        """A decoder that builds this format's records straight from JSON Lines text, if it has one."""
        return None


class Detectable(ABC):
    """A format that ``format: auto`` recognises from the first row of a file."""

    @classmethod
    @abstractmethod
    def matches(cls, data: dict[str, Any], options: dict[str, Any]) -> bool:
        """Whether a row (the first one of a file) has this format's shape."""


class RowSchema(Schema):
    """A format where each row holds whole conversations."""

    def convert(
        self, rows: Iterator[Row | Rejection], ctx: ReadContext
    ) -> Iterator[Conversation | Rejection]:
        for item in rows:
            if not isinstance(item, Row):
                yield item  # a container's Rejection, or a record the line decoder already built
                continue
            try:
                yield from self.from_row(item, ctx)
            except MalformedRow as exc:
                yield row_rejection(item, exc)

    @abstractmethod
    def from_row(self, row: Row, ctx: ReadContext) -> Iterable[Conversation | Rejection]:
        """The records (usually one) built from one row; a row of several answers may reject some."""


def row_rejection(row: Row, exc: MalformedRow) -> Rejection:
    return ingest_rejection(exc.reason, f"{row.locator}: {exc.message}", raw_text(row), row.locator)


def require(data: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str = "") -> Any:
    """``data[key]`` if present and of the right type, else a malformed-record error naming the key."""
    value = data.get(key)
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        got = "missing" if value is None else f"a {type(value).__name__}"
        raise MalformedRow("malformed_record", f"{what or repr(key)} must be a {names}, but is {got}")
    return value
