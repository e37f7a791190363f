"""Writing extracted records as JSONL and summarising what was quarantined, shared by the book and
transcript extraction behind `dataset-pipeline source books|youtube` and the standalone scripts."""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from ai.core.records import Conversation, Passage, encode
from ai.core.stage import Rejection


@dataclass
class ExtractionSummary:
    passages: int = 0
    conversations: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> count
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first message

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def render(self) -> str:
        lines = [
            f"wrote {self.passages} passages"
            + (f" and {self.conversations} conversations" if self.conversations else "")
            + f"; quarantined {self.rejected_total}"
        ]
        for reason, count in sorted(self.rejected.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"  {reason:<24} {count:>6}  e.g. {self.examples[reason]}")
        return "\n".join(lines)


def write_records(
    records: Iterable[Passage | Conversation | Rejection],
    out: Path,
    conversations_out: Path | None = None,
    quarantine_out: Path | None = None,
) -> ExtractionSummary:
    """Passages to ``out`` (one JSON object a line); conversations and rejections to their own files."""
    summary = ExtractionSummary()
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        out.open("wb") as passages_file,
        _optional(conversations_out) as conversations_file,
        _optional(quarantine_out) as quarantine_file,
    ):
        for record in records:
            if isinstance(record, Passage):
                passages_file.write(encode(record) + b"\n")
                summary.passages += 1
            elif isinstance(record, Conversation):
                if conversations_file is not None:
                    conversations_file.write(encode(record) + b"\n")
                    summary.conversations += 1
            else:
                summary.rejected[record.reason] += 1
                summary.examples.setdefault(record.reason, record.message)
                if quarantine_file is not None:
                    quarantine_file.write(encode(record) + b"\n")
    return summary


def print_summary(summary: ExtractionSummary, stream: TextIO | None = None) -> None:
    print(summary.render(), file=stream or sys.stderr)


def _optional(path: Path | None) -> contextlib.AbstractContextManager[BinaryIO | None]:
    if path is None:
        return contextlib.nullcontext()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("wb")
