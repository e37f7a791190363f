"""The one shape every pipeline stage has.

A stage is a pure transform over a batch of records: ``process(batch) -> StageResult`` with the kept
records, the rejected ones (each with a machine-readable reason and a human sentence) and counters.
A stage never reads global state, never writes files and never knows which executor runs it.

Stages that need a view of the whole dataset (dedup, split) are ``GlobalStage``s and work in two
steps: ``summarise`` runs per shard and returns a small msgspec-serialisable summary, ``reduce`` turns
all summaries into a plan, and ``apply`` uses the plan on each shard.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from ai.core.records import Conversation


class Rejection(msgspec.Struct, omit_defaults=True):
    """A record (or the raw input it came from) that a stage refused, and why."""

    stage: str
    reason: str  # machine-readable reason code, e.g. "malformed_json"
    message: str  # a sentence a person can act on
    record: Conversation | None = None
    raw: str = ""  # the raw line or row when no record could be built
    locator: str = ""  # "file:line" (or file:page, ...) when the input came from a file
    record_id: str = ""


class StageResult(msgspec.Struct):
    kept: list[Conversation]
    rejected: list[Rejection] = msgspec.field(default_factory=list)
    stats: dict[str, float] = msgspec.field(default_factory=dict)

    def rejected_by_reason(self) -> dict[str, int]:
        return dict(Counter(r.reason for r in self.rejected))


class StageOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for each stage's options; subclasses add fields with defaults."""

    enabled: bool = True


class Stage(ABC):
    """A per-record (or per-batch) transform. Subclasses set ``name``, ``Options`` and ``process``."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    Options: ClassVar[type[StageOptions]] = StageOptions
    # Stages with enabled_by_default False run only when the config switches them on.
    enabled_by_default: ClassVar[bool] = True

    def __init__(self, options: StageOptions | None = None, seed: int = 0) -> None:
        self.options = options if options is not None else self.Options()
        self.seed = seed

    @abstractmethod
    def process(self, batch: list[Conversation]) -> StageResult:
        """Transform one batch; every input record ends up kept or rejected."""

    def reject(self, record: Conversation, reason: str, message: str) -> Rejection:
        return Rejection(
            stage=self.name,
            reason=reason,
            message=message,
            record=record,
            record_id=record.id,
            locator=str(record.source.locator.get("file_line", "")),
        )


class GlobalStage(Stage):
    """A stage that needs the whole dataset: per-shard ``summarise``, one ``reduce``, per-shard ``apply``.

    Summaries and plans are stored between steps (so a crashed run resumes without redoing them) as
    msgpack: they must be builtins (dict, list, str, int, float, bool, None) or msgspec Structs, and
    ``summary_type`` / ``plan_type`` say what to decode them as.
    """

    summary_type: ClassVar[Any] = Any
    plan_type: ClassVar[Any] = Any
    #: The run directory while a pipeline run summarises a shard (the shard runner sets it; None
    #: outside a run): a stage may reuse what an earlier stage stored for the same shard.
    run_dir: Path | None = None

    def report(self, plan: Any) -> dict[str, Any] | None:
        """A JSON-able report written to ``DIR/<name>_report.json``.

        When it holds ``"passed": False`` the run fails after writing it, with ``report["message"]``.
        """
        return None

    @abstractmethod
    def summarise(self, batch: list[Conversation], shard: int) -> Any:
        """A small, msgspec-serialisable summary of one shard."""

    @abstractmethod
    def reduce(self, summaries: list[Any]) -> Any:
        """Turn the summaries of all shards (in shard order) into a serialisable plan."""

    @abstractmethod
    def apply(self, batch: list[Conversation], plan: Any, shard: int) -> StageResult:
        """Use the plan on one shard."""

    def process(self, batch: list[Conversation]) -> StageResult:
        """Running a global stage on one batch treats the batch as the whole dataset."""
        return self.apply(batch, self.reduce([self.summarise(batch, 0)]), 0)
