"""Turning parsed rows into Conversations: roles, provenance, tags, groups and windowing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ai.core.config import SourceConfig
from ai.core.records import (
    SOURCE_DIALOGUE_ID,
    Conversation,
    Provenance,
    Turn,
    conversation_id,
    make_conversation,
)
from ai.sourcing.datasets.errors import DatasetError
from ai.sourcing.datasets.rows import Row

CLIENT_ROLES = frozenset(
    {"user", "human", "usr", "seeker", "client", "patient", "speaker", "prompter", "questioner", "asker"}
)
THERAPIST_ROLES = frozenset(
    {
        "assistant",
        "gpt",
        "bot",
        "chatgpt",
        "model",
        "ai",
        "counselor",
        "counsellor",
        "therapist",
        "supporter",
        "sys",
        "listener",
        "doctor",
        "psychologist",
        "helper",
        "responder",
        "answerer",
    }
)
SYSTEM_ROLES = frozenset({"system", "instruction"})
# Values that mean "no label" in the annotated datasets.
_EMPTY_LABELS = frozenset({"", "n/a", "na", "nan", "none", "null", "other", "others"})
_WS = re.compile(r"\s+")


class MalformedRow(Exception):
    """A row that parsed but does not hold a usable conversation; becomes an ingest Rejection."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def map_role(raw: str, overrides: dict[str, str] | None = None) -> str:
    """client / therapist / system for the spellings we know; otherwise the raw spelling, trimmed."""
    key = raw.strip().lower()
    if overrides and key in overrides:
        return overrides[key]
    if key in CLIENT_ROLES:
        return "client"
    if key in THERAPIST_ROLES:
        return "therapist"
    if key in SYSTEM_ROLES:
        return "system"
    return raw.strip()


def tag(key: str, value: Any) -> str | None:
    """``key:value`` with the value trimmed and lower-cased; None for empty or "n/a" labels."""
    if value is None or isinstance(value, bool):
        return None
    text = _WS.sub(" ", str(value)).strip().lower()
    if text in _EMPTY_LABELS:
        return None
    return f"{key}:{text}"


def text_of(value: Any, what: str) -> str:
    """A turn text: strings as they are, OpenAI content parts joined; anything else is malformed."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        return "\n".join(str(p.get("text", "")) for p in value if p.get("type", "text") == "text")
    raise MalformedRow("malformed_record", f"{what} must be a string, got {type(value).__name__}")


@dataclass(frozen=True)
class Windowing:
    """Split long dialogs into training samples of at most ``max_turns`` turns, ``stride`` apart.

    Windows start at a client turn and end on a therapist turn where the dialog allows, so each sample
    reads as a client opening and a therapist reply.
    """

    max_turns: int = 0  # 0: no windowing
    stride: int = 0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Windowing:
        max_turns = int(options.get("max_turns", 0) or 0)
        stride = int(options.get("stride", 0) or max_turns)
        if max_turns < 0 or (max_turns and max_turns < 2):
            raise DatasetError(f"options.max_turns must be 0 (off) or at least 2, got {max_turns}")
        if max_turns and not stride >= 1:
            raise DatasetError(f"options.stride must be at least 1, got {stride}")
        return cls(max_turns, stride)

    def spans(self, turns: list[Turn]) -> list[tuple[int, int]]:
        n = len(turns)
        if not self.max_turns or n <= self.max_turns:
            return [(0, n)]
        clients = [i for i, t in enumerate(turns) if t.role == "client"]
        start = clients[0] if clients else 0
        spans: list[tuple[int, int]] = []
        while True:
            end = self._end_on_therapist(turns, start, min(start + self.max_turns, n))
            spans.append((start, end))
            if start + self.max_turns >= n:
                return spans
            start = self._next_start(clients, start + self.stride) if clients else start + self.stride
            if start >= n or start <= spans[-1][0]:
                return spans

    @staticmethod
    def _end_on_therapist(turns: list[Turn], start: int, end: int) -> int:
        for stop in range(end, start + 1, -1):
            if turns[stop - 1].role == "therapist":
                return stop
        return end

    @staticmethod
    def _next_start(clients: list[int], at_least: int) -> int:
        return next((i for i in clients if i >= at_least), 1 << 62)


@dataclass
class ReadContext:
    """Per-source settings every format uses to build records."""

    source: SourceConfig
    role_overrides: dict[str, str] = field(default_factory=dict)
    static_tags: list[str] = field(default_factory=list)
    windowing: Windowing = field(default_factory=Windowing)
    language: str = ""

    @classmethod
    def for_source(cls, source: SourceConfig) -> ReadContext:
        options = source.options
        roles = options.get("roles", {}) or {}
        if not isinstance(roles, dict):
            raise DatasetError(f"source {source.name}: options.roles must be a mapping of raw role -> role")
        return cls(
            source=source,
            role_overrides={str(k).strip().lower(): str(v) for k, v in roles.items()},
            static_tags=[str(t) for t in options.get("tags", []) or []],
            windowing=Windowing.from_options(options),
            language=str(options.get("language", "") or ""),
        )

    def role(self, raw: Any) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise MalformedRow("malformed_record", f"a turn has no usable role ({raw!r})")
        return map_role(raw, self.role_overrides)

    def conversations(
        self,
        turns: Iterable[Turn],
        row: Row,
        *,
        source_id: Any = "",
        group: str = "",
        tags: Iterable[str | None] = (),
        meta: dict[str, Any] | None = None,
        locator: dict[str, Any] | None = None,
        language: str = "",
    ) -> list[Conversation]:
        """The records for one dialog: one, or one per window, all sharing the dialog's group."""
        kept = [Turn(t.role, t.text.strip()) for t in turns if t.text and t.text.strip()]
        if not kept:
            raise MalformedRow("empty_conversation", "the conversation has no turn with text")
        return self.records(
            kept,
            row,
            source_id=source_id,
            group=group,
            tags=tags,
            meta=meta,
            locator=locator,
            language=language,
        )

    def records(
        self,
        kept: list[Turn],
        row: Row,
        *,
        source_id: Any = "",
        group: str = "",
        tags: Iterable[str | None] = (),
        meta: dict[str, Any] | None = None,
        locator: dict[str, Any] | None = None,
        language: str = "",
    ) -> list[Conversation]:
        """``conversations`` for turns already stripped, none of them empty, at least one."""
        spans = self.windowing.spans(kept)
        # The whole dialog's content hash: shared by its windows, the same in every run and for the same
        # dialog in two scrapes, so counting distinct values counts real dialogs, not training samples.
        dialogue_id = conversation_id(kept) if len(spans) > 1 else ""
        if not group and len(spans) > 1:
            group = dialogue_id
        all_tags = sorted({t for t in [*tags, *self.static_tags] if t})
        base_locator = {"file_line": row.locator, "row": row.index, **(locator or {})}
        if row.part:
            base_locator["split"] = row.part
        records = []
        for number, (start, end) in enumerate(spans):
            window_locator = base_locator
            if len(spans) > 1:
                window_locator = {**base_locator, "window": number, "turn_start": start, "turn_end": end}
            records.append(
                make_conversation(
                    kept[start:end],
                    self.provenance(row, window_locator),
                    category=self.source.category,
                    language=language or self.language,
                    tags=list(all_tags),  # records are mutable: windows must not share lists
                    group=group,
                    source_id=str(source_id) if source_id not in (None, "") else "",
                    meta={**meta, SOURCE_DIALOGUE_ID: dialogue_id}
                    if meta
                    else {SOURCE_DIALOGUE_ID: dialogue_id},
                )
            )
        if not dialogue_id:
            # An unwindowed dialog is one record whose id is that same hash, so reuse it.
            records[0].meta[SOURCE_DIALOGUE_ID] = records[0].id
        if not group:
            records[0].group = records[0].id
        return records

    def provenance(self, row: Row, locator: dict[str, Any]) -> Provenance:
        return Provenance(
            kind="dataset", name=self.source.name, uri=row.file, license=self.source.license, locator=locator
        )


def raw_text(row: Row) -> str:
    """The row as the quarantine should show it."""
    if row.raw:
        return row.raw
    return json.dumps(row.data, ensure_ascii=False, default=str)
