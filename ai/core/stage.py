"""The one shape every pipeline stage has.

A stage is a pure transform over a batch of records: ``process(batch) -> StageResult`` with the kept
records, the rejected ones (each with a machine-readable reason and a human sentence) and counters.
A stage never reads global state, never writes files and never knows which executor runs it.

``Stage`` is generic over its options: ``class QualityStage(Stage[QualityOptions])`` with
``Options = QualityOptions`` gives ``self.options`` that type.

Stages that keep or reject records without rewriting them are ``GateStage``s: a gate states its
judgement per record in ``judge(record) -> Rejection | None`` (or, when a model scores a whole batch at
once, ``judge_batch(records)``) and the base owns the kept/rejected loop and the statistics. A gate that
annotates the records it judges (a score, tags, a routed category, evidence in ``meta``) sets them on the
record inside ``judge``: the record it judged is the record that is kept (or quarantined), so the
annotation travels with it. Counters for the stage statistics go through ``self.count(key)``; the keys
in ``stat_keys`` are reported even when zero. A stage that rewrites records (new turns, a new record) is
a plain ``Stage`` with its own ``process``.

Stages that need a view of the whole dataset (dedup, split) are ``GlobalStage``s and work in two
steps: ``summarise`` runs per shard and returns a small msgspec-serialisable summary, ``reduce`` turns
all summaries into a plan, and ``apply`` uses the plan on each shard. A global stage that reuses what
an earlier global stage summarised for the same shard names it in ``needs_summaries``; the runner hands
those summaries to ``summarise`` (a stage never reads the run directory itself).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from ai.core.records import Conversation


class Rejection(msgspec.Struct, omit_defaults=True):
    """A record (or the raw input it came from) that a stage refused, and why."""

    stage: str
    reason: str  # machine-readable reason code, e.g. "malformed_json"
    message: str  # a sentence a person can act on
    record: Conversation | None = None
    raw: str = ""  # the raw line or row when no record could be built (a bounded excerpt of it)
    raw_size: int = 0  # characters in the whole raw input when ``raw`` is only an excerpt of it
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


OptionsT = TypeVar("OptionsT", bound=StageOptions)


class Stage(ABC, Generic[OptionsT]):
    """A per-record (or per-batch) transform. Subclasses set ``name``, ``Options`` and ``process``."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    # The class of OptionsT (a ClassVar cannot name a type variable, hence Any).
    Options: ClassVar[type[Any]] = StageOptions
    # Stages with enabled_by_default False run only when the config switches them on.
    enabled_by_default: ClassVar[bool] = True

    def __init__(self, options: OptionsT | None = None, seed: int = 0) -> None:
        self.options: OptionsT = options if options is not None else self.Options()
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


class GateStage(Stage[OptionsT]):
    """A stage that keeps or rejects records: subclasses implement ``judge`` (or ``judge_batch``).

    The base runs the loop, so every record ends up kept or rejected, and gathers the counters that
    ``judge`` bumps with ``count`` into the stage statistics. Like any stage, one instance judges one
    batch at a time.
    """

    # Statistics reported for every batch, zero when ``judge`` never counted them.
    stat_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: OptionsT | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self._counts: Counter[str] = Counter()

    @abstractmethod
    def judge(self, record: Conversation) -> Rejection | None:
        """The rejection of ``record``, or None to keep it (annotations go on ``record``)."""

    def judge_batch(self, records: list[Conversation]) -> list[Rejection | None]:
        """One verdict per record, in order; override when judging a batch at once is cheaper."""
        return [self.judge(record) for record in records]

    def count(self, key: str, amount: int = 1) -> None:
        """Add ``amount`` to the statistic ``key`` of the batch being judged."""
        self._counts[key] += amount

    def process(self, batch: list[Conversation]) -> StageResult:
        self._counts = Counter(dict.fromkeys(self.stat_keys, 0))
        verdicts = self.judge_batch(batch)
        if len(verdicts) != len(batch):
            raise ValueError(f"{self.name}: {len(verdicts)} verdicts for {len(batch)} records")
        kept = [record for record, verdict in zip(batch, verdicts, strict=True) if verdict is None]
        rejected = [verdict for verdict in verdicts if verdict is not None]
        return StageResult(kept=kept, rejected=rejected, stats=self.batch_stats())

    def batch_stats(self) -> dict[str, float]:
        """The counters of the batch just judged; override to rename or order them."""
        return dict(self._counts)


# Outside a pipeline run no earlier stage has summarised anything.
NO_SUMMARIES: Mapping[str, Any] = MappingProxyType({})


class GlobalStage(Stage[OptionsT]):
    """A stage that needs the whole dataset: per-shard ``summarise``, one ``reduce``, per-shard ``apply``.

    Summaries and plans are stored between steps (so a crashed run resumes without redoing them) as
    msgpack: they must be builtins (dict, list, str, int, float, bool, None) or msgspec Structs, and
    ``summary_type`` / ``plan_type`` say what to decode them as.
    """

    summary_type: ClassVar[Any] = Any
    plan_type: ClassVar[Any] = Any
    #: Earlier global stages whose summary of the same shard ``summarise`` receives in ``earlier``
    #: (None for a stage that did not run or whose summary cannot be read).
    needs_summaries: ClassVar[tuple[str, ...]] = ()

    def report(self, plan: Any) -> dict[str, Any] | None:
        """A JSON-able report written to ``DIR/<name>_report.json``.

        When it holds ``"passed": False`` the run fails after writing it, with ``report["message"]``.
        """
        return None

    @abstractmethod
    def summarise(
        self, batch: list[Conversation], shard: int, earlier: Mapping[str, Any] = NO_SUMMARIES
    ) -> Any:
        """A small, msgspec-serialisable summary of one shard (``earlier``: see ``needs_summaries``)."""

    @abstractmethod
    def reduce(self, summaries: list[Any]) -> Any:
        """Turn the summaries of all shards (in shard order) into a serialisable plan."""

    @abstractmethod
    def apply(self, batch: list[Conversation], plan: Any, shard: int) -> StageResult:
        """Use the plan on one shard."""

    def process(self, batch: list[Conversation]) -> StageResult:
        """Running a global stage on one batch treats the batch as the whole dataset."""
        return self.apply(batch, self.reduce([self.summarise(batch, 0)]), 0)
