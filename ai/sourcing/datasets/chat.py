"""General chat formats: OpenAI messages, ShareGPT and Alpaca."""

from __future__ import annotations

from typing import Any

import msgspec

from ai.core.records import Conversation, Turn
from ai.sourcing.datasets.build import MalformedRow, ReadContext, tag, text_of
from ai.sourcing.datasets.rows import LineDecoder, Row
from ai.sourcing.datasets.schema import Detectable, RowSchema, require

# Metadata keys that general chat datasets commonly carry and that become tags.
TAG_KEYS = ("topic", "emotion", "emotion_type", "problem_type", "strategy", "quality", "label")


class OpenAIMessages(RowSchema, Detectable):
    name = "openai"
    looks_like = "openai: {'messages': [{'role', 'content'}, ...]}"

    @classmethod
    def matches(cls, data: dict[str, Any], options: dict[str, Any]) -> bool:
        messages = data.get("messages")
        return isinstance(messages, list) and bool(messages) and _all_have(messages, "role", "content")

    def from_row(self, row: Row, ctx: ReadContext) -> list[Conversation]:
        messages = require(row.data, "messages", list)
        turns = [message_turn(m, i, ctx, "role", "content") for i, m in enumerate(messages)]
        return ctx.conversations(turns, row, **common_fields(row.data))

    def line_decoder(self, ctx: ReadContext) -> LineDecoder:
        return OpenAILineDecoder(ctx)


class ShareGPT(RowSchema, Detectable):
    name = "sharegpt"
    looks_like = "sharegpt: {'conversations': [{'from', 'value'}, ...]}"

    @classmethod
    def matches(cls, data: dict[str, Any], options: dict[str, Any]) -> bool:
        turns = data.get("conversations")
        return isinstance(turns, list) and bool(turns) and _all_have(turns, "from", "value")

    def from_row(self, row: Row, ctx: ReadContext) -> list[Conversation]:
        items = require(row.data, "conversations", list)
        turns = [message_turn(m, i, ctx, "from", "value") for i, m in enumerate(items)]
        system = row.data.get("system")
        if isinstance(system, str) and system.strip():
            turns.insert(0, Turn("system", system))
        return ctx.conversations(turns, row, **common_fields(row.data))


class Alpaca(RowSchema, Detectable):
    name = "alpaca"
    looks_like = "alpaca: {'instruction', 'input'?, 'output'}"

    @classmethod
    def matches(cls, data: dict[str, Any], options: dict[str, Any]) -> bool:
        return "instruction" in data and "output" in data

    def from_row(self, row: Row, ctx: ReadContext) -> list[Conversation]:
        data = row.data
        instruction = text_of(data.get("instruction"), "'instruction'")
        extra = text_of(data.get("input"), "'input'")
        prompt = f"{instruction}\n\n{extra}" if instruction.strip() and extra.strip() else instruction + extra
        turns = []
        if isinstance(data.get("system"), str) and data["system"].strip():
            turns.append(Turn("system", data["system"]))
        for pair in data.get("history") or []:
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise MalformedRow("malformed_record", "'history' must hold [prompt, response] pairs")
            turns += [
                Turn("client", text_of(pair[0], "history prompt")),
                Turn("therapist", text_of(pair[1], "history response")),
            ]
        turns += [Turn("client", prompt), Turn("therapist", text_of(data.get("output"), "'output'"))]
        if not prompt.strip() or not turns[-1].text.strip():
            raise MalformedRow("empty_conversation", "the instruction or the output is empty")
        return ctx.conversations(turns, row, **common_fields(data))


# Column pairs that plain Q/A tables use, in the order they are tried (matched case-insensitively).
PAIR_COLUMNS = (
    ("prompt", "response"),
    ("question", "answer"),
    ("context", "response"),
    ("input", "output"),
    ("query", "response"),
    ("instruction", "response"),
    ("human", "assistant"),
    ("user", "assistant"),
)


class QAPairs(RowSchema, Detectable):
    """A plain question/answer table (CSV, JSONL, Parquet) whose column names say which is which."""

    name = "qa_pairs"
    looks_like = "qa_pairs: rows with prompt/response, question/answer, context/response or input/output"

    @classmethod
    def matches(cls, data: dict[str, Any], options: dict[str, Any]) -> bool:
        return cls.columns_in(data) is not None

    @staticmethod
    def columns_in(data: dict[str, Any]) -> tuple[str, str] | None:
        by_lower = {str(k).strip().lower(): k for k in data}
        for prompt, response in PAIR_COLUMNS:
            if prompt in by_lower and response in by_lower:
                return by_lower[prompt], by_lower[response]
        return None

    def from_row(self, row: Row, ctx: ReadContext) -> list[Conversation]:
        columns = self.columns_in(row.data)
        if columns is None:
            raise MalformedRow("malformed_record", "the row has no prompt/response column pair")
        prompt, response = (text_of(row.data[c], repr(c)) for c in columns)
        if not prompt.strip() or not response.strip():
            raise MalformedRow("empty_conversation", "the prompt or the response is empty")
        turns = [Turn("client", prompt), Turn("therapist", response)]
        return ctx.conversations(turns, row, **common_fields(row.data))


class _Message(msgspec.Struct):
    role: str
    content: str


# Every top-level key the general path reads from an OpenAI row (see ``common_fields``); both paths
# ignore the others.
_LINE_KEYS = ("id", "metadata", "tags", *TAG_KEYS)
_OpenAILine = msgspec.defstruct(
    "_OpenAILine", [("messages", list[_Message]), *((key, Any, msgspec.UNSET) for key in _LINE_KEYS)]
)
_ROLE_CACHE_LIMIT = 1024


class OpenAILineDecoder:
    """Builds records straight from an OpenAI-messages JSON line: the ingest hot path.

    It takes the usual line (``messages`` of string ``role``/``content`` pairs, plus optional id and tag
    keys) through one typed msgspec decode instead of ``json.loads`` into dicts and a walk over them.
    Anything else (content parts, null texts, blank roles, no text at all, JSON that msgspec refuses)
    returns None, so the general path reads that line and gives its records or its Rejection.
    """

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.decoder = msgspec.json.Decoder(_OpenAILine)
        self.roles: dict[str, str] = {}

    def __call__(self, text: str, display: str, number: int, index: int) -> list[Conversation] | None:
        try:
            line = self.decoder.decode(text)
        except msgspec.DecodeError:  # also a ValidationError: the line has another shape
            return None
        turns = []
        roles = self.roles
        for message in line.messages:
            role = roles.get(message.role) or self._role(message.role)
            if not role:
                return None
            body = message.content.strip()
            if body:
                turns.append(Turn(role, body))
        if not turns:
            return None
        fields = self._common_fields(line)
        return self.ctx.records(turns, Row({}, display, number, index, text), **fields)

    def _role(self, raw: str) -> str:
        if not raw.strip():
            return ""
        role = self.ctx.role(raw)
        if len(self.roles) < _ROLE_CACHE_LIMIT:
            self.roles[raw] = role
        return role

    @staticmethod
    def _common_fields(line: Any) -> dict[str, Any]:
        keys = msgspec.structs.astuple(line)[1:]
        if keys.count(msgspec.UNSET) == len(keys) - 1 and line.id is not msgspec.UNSET:
            # Only an id: what common_fields would give, without building the dict it reads.
            return {"source_id": line.id if isinstance(line.id, str | int) else "", "tags": ()}
        return common_fields({k: v for k, v in zip(_LINE_KEYS, keys, strict=True) if v is not msgspec.UNSET})


def message_turn(message: Any, index: int, ctx: ReadContext, role_key: str, text_key: str) -> Turn:
    if not isinstance(message, dict):
        raise MalformedRow(
            "malformed_record", f"turn {index} must be an object, got {type(message).__name__}"
        )
    # ShareGPT exports sometimes use OpenAI keys inside "conversations" and vice versa.
    role = message.get(role_key, message.get("role", message.get("from")))
    text = message.get(text_key, message.get("content", message.get("value")))
    return Turn(ctx.role(role), text_of(text, f"turn {index} {text_key!r}"))


def common_fields(data: dict[str, Any]) -> dict[str, Any]:
    """source_id, tags and meta that any chat record may carry at its top level."""
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    tags: list[str | None] = []
    for key in TAG_KEYS:
        for holder in (data, metadata):
            if isinstance(holder.get(key), str | int | float):
                tags.append(tag(key.removesuffix("_type"), holder[key]))
    for holder in (data, metadata):
        if isinstance(holder.get("tags"), list):
            tags.extend(str(t) for t in holder["tags"] if isinstance(t, str | int))
    source_id = data.get("id", metadata.get("id", ""))
    return {"source_id": source_id if isinstance(source_id, str | int) else "", "tags": tags}


def _all_have(items: list[Any], *keys: str) -> bool:
    return all(isinstance(i, dict) and all(k in i for k in keys) for i in items[:3])
