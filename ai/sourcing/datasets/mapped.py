"""Any table or JSONL file, read through a column mapping given in ``options.columns``.

Three layouts are possible, chosen by which columns are mapped:

- ``prompt`` + ``response`` (and optionally ``system``): one exchange per row;
- ``messages``: a column holding a list of ``{role, content}`` (or ``{from, value}``), or its JSON text;
- ``conversation`` + ``role`` + ``text`` (and optionally ``order``): one utterance per row, rows of one
  conversation next to each other (as transcripts are stored), grouped into one dialog;
- ``text`` alone (optionally ``role``): one single-turn record per row, e.g. a forum post (client turn).

In every layout ``id``, ``group``, ``tags`` (a list of columns whose values become ``column:value``) and
``meta`` (a list of columns copied into ``record.meta``) may be mapped too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ai.core.records import Conversation, Turn
from ai.core.stage import Rejection
from ai.sourcing.datasets.build import MalformedRow, ReadContext, tag, text_of
from ai.sourcing.datasets.chat import message_turn
from ai.sourcing.datasets.errors import DatasetError
from ai.sourcing.datasets.rows import Row
from ai.sourcing.datasets.schema import RowSchema, Schema, row_rejection

COLUMN_KEYS = (
    "prompt",
    "response",
    "system",
    "messages",
    "conversation",
    "role",
    "text",
    "order",
    "id",
    "group",
    "tags",
    "meta",
)


@dataclass(frozen=True)
class ColumnMap:
    prompt: str = ""
    response: str = ""
    system: str = ""
    messages: str = ""
    conversation: str = ""
    role: str = ""
    text: str = ""
    order: str = ""
    id: str = ""
    group: str = ""
    tags: tuple[str, ...] = ()
    meta: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ColumnMap:
        columns = options.get("columns")
        if not isinstance(columns, dict):
            raise DatasetError("options.columns must be a mapping, e.g. {prompt: question, response: answer}")
        unknown = sorted(set(columns) - set(COLUMN_KEYS))
        if unknown:
            raise DatasetError(f"options.columns: unknown key(s) {unknown}; known: {', '.join(COLUMN_KEYS)}")
        values = {k: (tuple(_as_list(v)) if k in ("tags", "meta") else str(v)) for k, v in columns.items()}
        mapping = cls(**values)
        if mapping.layout() == "":
            raise DatasetError(
                "options.columns must map prompt+response, messages, conversation+role+text, or text"
            )
        return mapping

    def layout(self) -> str:
        if self.messages:
            return "messages"
        if self.conversation and self.role and self.text:
            return "utterances"
        if self.prompt and self.response:
            return "pairs"
        if self.text:
            return "posts"
        return ""

    def tags_of(self, data: dict[str, Any]) -> list[str | None]:
        return [tag(column, data.get(column)) for column in self.tags]

    def meta_of(self, data: dict[str, Any]) -> dict[str, Any]:
        return {column: data[column] for column in self.meta if data.get(column) not in (None, "")}


def mapped_schema(options: dict[str, Any]) -> Schema:
    mapping = ColumnMap.from_options(options)
    if mapping.layout() == "utterances":
        return UtteranceRows(mapping)
    return MappedRows(mapping)


class MappedRows(RowSchema):
    name = "mapped"
    looks_like = (
        "mapped: any rows, given options.columns (prompt+response, messages, conversation+role+text, or text)"
    )

    def __init__(self, mapping: ColumnMap) -> None:
        self.mapping = mapping

    def from_row(self, row: Row, ctx: ReadContext) -> list[Conversation]:
        data, m = row.data, self.mapping
        missing = [c for c in (m.messages, m.prompt, m.response, m.text) if c and c not in data]
        if missing:
            raise MalformedRow("malformed_record", f"mapped column(s) {missing} not in the row")
        if m.messages:
            turns = self._message_turns(data[m.messages], ctx)
        elif m.text:
            role = ctx.role(data.get(m.role)) if m.role else "client"
            turns = [Turn(role, text_of(data.get(m.text), repr(m.text)))]
        else:
            turns = [
                Turn("client", text_of(data[m.prompt], repr(m.prompt))),
                Turn("therapist", text_of(data[m.response], repr(m.response))),
            ]
            if not (turns[0].text.strip() and turns[1].text.strip()):
                raise MalformedRow("empty_conversation", "the prompt or the response is empty")
            if m.system and isinstance(data.get(m.system), str) and data[m.system].strip():
                turns.insert(0, Turn("system", data[m.system]))
        return ctx.conversations(
            turns,
            row,
            source_id=data.get(m.id, "") if m.id else "",
            group=_group(ctx, data.get(m.group)) if m.group else "",
            tags=m.tags_of(data),
            meta=m.meta_of(data),
        )

    @staticmethod
    def _message_turns(value: Any, ctx: ReadContext) -> list[Turn]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise MalformedRow(
                    "malformed_json", f"the messages column is not valid JSON ({exc})"
                ) from None
        if not isinstance(value, list):
            raise MalformedRow(
                "malformed_record", f"the messages column must be a list, got {type(value).__name__}"
            )
        return [message_turn(m, i, ctx, "role", "content") for i, m in enumerate(value)]


@dataclass
class _Dialog:
    key: Any
    first: Row
    utterances: list[tuple[Any, Turn]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)


class UtteranceRows(Schema):
    """One utterance per row, grouped into dialogs by a conversation column.

    Rows of one conversation must be next to each other (they are in transcript dumps); only one dialog
    is held in memory. Utterances are ordered by the ``order`` column, and a repeated order value (the
    same utterance annotated by several people) is kept once.
    """

    name = "utterances"
    looks_like = "utterances: one utterance per row, given options.columns conversation+role+text"
    # Added to every record's provenance locator (e.g. that the file's labels are automatic).
    locator_extra: ClassVar[dict[str, str]] = {}

    def __init__(self, mapping: ColumnMap) -> None:
        self.mapping = mapping

    def convert(
        self, rows: Iterator[Row | Rejection], ctx: ReadContext
    ) -> Iterator[Conversation | Rejection]:
        dialog: _Dialog | None = None
        for item in rows:
            if isinstance(item, Rejection):
                yield item
                continue
            key = item.data.get(self.mapping.conversation)
            if dialog is not None and key != dialog.key:
                yield from self._finish(dialog, ctx)
                dialog = None
            try:
                utterance = self.utterance(item, ctx)
            except MalformedRow as exc:
                yield row_rejection(item, exc)
                continue
            if dialog is None:
                dialog = _Dialog(key, item)
            if utterance is not None:
                dialog.utterances.append(utterance)
            dialog.rows.append(item)
        if dialog is not None:
            yield from self._finish(dialog, ctx)

    def utterance(self, row: Row, ctx: ReadContext) -> tuple[Any, Turn] | None:
        """(order key, turn) of a row; None for a row that describes the dialog rather than a turn."""
        m, data = self.mapping, row.data
        if data.get(m.conversation) in (None, ""):
            raise MalformedRow("malformed_record", f"the conversation column {m.conversation!r} is empty")
        order = _order_key(data.get(m.order)) if m.order else row.index
        return order, Turn(ctx.role(data.get(m.role)), text_of(data.get(m.text), repr(m.text)))

    def _finish(self, dialog: _Dialog, ctx: ReadContext) -> Iterator[Conversation | Rejection]:
        turns = self.dialog_turns(dialog.utterances)
        try:
            yield from ctx.conversations(
                turns,
                dialog.first,
                source_id=dialog.key,
                group=self.dialog_group(dialog.key, dialog.rows, ctx),
                tags=self.dialog_tags(dialog.rows),
                meta=self.dialog_meta(dialog.rows),
                locator={"rows": len(dialog.rows), "utterances": len(turns), **self.locator_extra},
            )
        except MalformedRow as exc:
            yield row_rejection(dialog.first, exc)

    def dialog_turns(self, utterances: list[tuple[Any, Turn]]) -> list[Turn]:
        """Turns in order; a repeated order value (one utterance, several annotators) is kept once."""
        unique: dict[Any, Turn] = {}
        for order, turn in utterances:
            unique.setdefault(order, turn)
        return [unique[k] for k in sorted(unique)]

    def dialog_group(self, key: Any, rows: list[Row], ctx: ReadContext) -> str:
        return _group(ctx, key)

    def dialog_meta(self, rows: list[Row]) -> dict[str, Any]:
        return self.mapping.meta_of(rows[0].data)

    def dialog_tags(self, rows: list[Row]) -> list[str | None]:
        return [t for row in rows for t in self.mapping.tags_of(row.data)]


def _group(ctx: ReadContext, key: Any) -> str:
    return f"{ctx.source.name}:{key}" if key not in (None, "") else ""


def _order_key(value: Any) -> tuple[int, Any]:
    """Numeric order when the column is numeric (CSV gives strings: "10" sorts after "9")."""
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise DatasetError(f"options.columns: expected a column name or a list of them, got {value!r}")
