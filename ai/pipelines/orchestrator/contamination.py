"""The split-aware contamination check (``contamination``): no near duplicate crosses train/validation/test.

A ``GlobalStage`` that runs after ``split``. Dedup and the splitter join conversations at an estimated
word 3-shingle Jaccard of 0.6, which catches edits of ~3% of words per turn; paraphrase, re-transcription
and heavier edits (10-20% of words) leave pairs at 0.3-0.6 that would sit in different splits. This stage
looks again, looser, at pairs whose members are in different splits:

- candidates: LSH over the same 128-slot MinHash signatures dedup made (reused from dedup's summary), cut
  into more, narrower bands (42 bands of 3 slots: a pair at similarity 0.4 becomes a candidate with
  probability 0.94, at 0.5 with 0.996);
- confirmation: the signature estimate of the Jaccard similarity over all slots reaches ``threshold``, or
  the two conversations share at least ``client_turn_share`` of their substantive client turns (turns of
  ``min_turn_words`` words or more, compared case- and punctuation-blind), which catches reordered or
  re-cut dialogues whose shingles moved.

Action (``action``): "move" (default) puts every connected set of confirmed pairs (together with the rest of
each member's ``record.group``, which must never be split) into one split: the split that already holds
most of its records, ties going to train. That moves the fewest records, so the 70/15/15 shares move by at
most the number of moved records (reported as shares before and after). "report" leaves the split alone
and the stage's gate fails while cross-split pairs remain. ``contamination_report.json`` lists the pairs
with an excerpt of both texts, the similarity and the action taken.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import msgspec
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ai.core.records import Conversation
from ai.core.stage import NO_SUMMARIES, GlobalStage, StageOptions, StageResult
from ai.pipelines.orchestrator.dedup import shingle_words, signatures_reusing, similar_pairs

__all__ = [
    "ContaminationOptions",
    "ContaminationPlan",
    "ContaminationStage",
    "ContaminationSummary",
    "confirmed_pairs",
    "summary_table",
]

SPLITS = ("train", "validation", "test")
# Characters of each text kept for the report (the report shows pairs, not whole conversations).
EXCERPT_CHARS = 280


class ContaminationSummary(msgspec.Struct):
    shard: int
    ids: list[str]
    splits: list[str]
    groups: list[str]  # record.group, or "" when the record is its own group
    client_turns: list[list[int]]  # 63-bit hashes of each substantive client turn
    excerpts: list[str]
    signatures: bytes = b""


class ContaminationPair(msgspec.Struct):
    first_id: str
    second_id: str
    first_split: str
    second_split: str
    similarity: float  # estimated word-shingle Jaccard
    client_turn_share: float
    action: str  # moved | reported
    first_text: str = ""
    second_text: str = ""
    split_after: str = ""  # the split both now share (action "moved")


class ContaminationPlan(msgspec.Struct):
    moves: dict[int, dict[int, str]]  # shard -> record index -> new split
    pairs: list[ContaminationPair]
    records: int
    remaining: int  # confirmed pairs still across splits after the action (template pairs aside)
    templated: int  # pairs left across splits inside a component larger than max_component
    moved: int
    shares_before: dict[str, float]
    shares_after: dict[str, float]
    settings: dict[str, Any]


class ContaminationOptions(StageOptions, kw_only=True):
    # Estimated Jaccard of word 3-shingles at or above which a cross-split pair is contamination. Editing
    # 10% of the words of each turn leaves ~0.5 (20%: ~0.3); distinct conversations on one topic stay
    # below ~0.1 (docs/PREPROCESSING.md, benchmarks/bench_contamination.py).
    threshold: float = 0.3
    # Pairs sharing this share of their substantive client turns are contamination whatever the shingles say.
    client_turn_share: float = 0.5
    min_turn_words: int = 5
    # Candidate pairs below ``threshold`` but at or above this similarity are checked for shared client turns.
    candidate_floor: float = 0.2
    # Must match dedup's signatures (num_perm, shingle_size, seed) for its rows to be reused.
    num_perm: int = 128
    shingle_size: int = 3
    bands: int = 42
    action: Literal["move", "report"] = "move"
    # A component of more records than this is shared template text (synthetic or boilerplate data joins
    # everything at a loose similarity), not one conversation copied: it is left in place and its pairs are
    # listed as "template" (they do not fail the gate; the report counts them).
    max_component: int = 50
    # ... and so is one joining more distinct dialogues (groups) than this share of all records (at least
    # two): in a small dataset a few dozen boilerplate records would otherwise all be pulled into one split.
    max_component_share: float = 0.05
    report_pairs: int = 50  # pairs listed (with texts) in contamination_report.json

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if not 0.0 < self.client_turn_share <= 1.0:
            raise ValueError(f"client_turn_share must be in (0, 1], got {self.client_turn_share}")
        if not 0.0 < self.max_component_share <= 1.0:
            raise ValueError(f"max_component_share must be in (0, 1], got {self.max_component_share}")
        if not 0 < self.bands <= self.num_perm:
            raise ValueError(f"bands ({self.bands}) must be between 1 and num_perm ({self.num_perm})")


class ContaminationStage(GlobalStage[ContaminationOptions]):
    name = "contamination"
    version = "1"
    summary_type: ClassVar[Any] = ContaminationSummary
    plan_type: ClassVar[Any] = ContaminationPlan
    Options = ContaminationOptions
    needs_summaries = ("dedup",)

    def summarise(
        self, batch: list[Conversation], shard: int, earlier: Mapping[str, Any] = NO_SUMMARIES
    ) -> ContaminationSummary:
        opts = self.options
        # Dedup made these signatures for the records of this shard that survived: reuse its rows.
        signatures = signatures_reusing(
            batch, opts.num_perm, self.seed, opts.shingle_size, earlier.get("dedup")
        )
        return ContaminationSummary(
            shard=shard,
            ids=[r.id for r in batch],
            splits=[r.split for r in batch],
            groups=[r.group for r in batch],
            client_turns=[client_turn_hashes(r, opts.min_turn_words) for r in batch],
            excerpts=[excerpt(r) for r in batch],
            signatures=signatures.tobytes(),
        )

    def reduce(self, summaries: list[ContaminationSummary]) -> ContaminationPlan:
        opts = self.options
        table = summary_table(summaries, opts.num_perm)
        confirmed = confirmed_pairs(table, opts)
        after = list(table.splits)
        crowded: set[int] = set()
        if opts.action == "move" and confirmed:
            max_groups = max(2, int(opts.max_component_share * len(table.ids)))
            after, crowded = _merged_splits(table, confirmed, opts.max_component, max_groups)
        moves: dict[int, dict[int, str]] = {}
        for row, (before, now) in enumerate(zip(table.splits, after, strict=True)):
            if before != now:
                moves.setdefault(table.shard[row], {})[table.index[row]] = now
        pairs = [
            ContaminationPair(
                first_id=table.ids[a],
                second_id=table.ids[b],
                first_split=table.splits[a],
                second_split=table.splits[b],
                similarity=round(similarity, 4),
                client_turn_share=round(share, 4),
                action="moved" if after[a] == after[b] else "template" if a in crowded else "reported",
                first_text=table.excerpts[a],
                second_text=table.excerpts[b],
                split_after=after[a] if after[a] == after[b] else "",
            )
            for a, b, similarity, share in confirmed
        ]
        return ContaminationPlan(
            moves=moves,
            pairs=pairs,
            records=len(table.ids),
            remaining=sum(p.action == "reported" for p in pairs),
            templated=sum(p.action == "template" for p in pairs),
            moved=sum(len(m) for m in moves.values()),
            shares_before=_shares(table.splits),
            shares_after=_shares(after),
            settings=msgspec.to_builtins(opts),
        )

    def apply(self, batch: list[Conversation], plan: ContaminationPlan, shard: int) -> StageResult:
        moves = plan.moves.get(shard, {})
        if moves and max(moves) >= len(batch):
            raise ValueError(
                f"contamination plan does not match shard {shard}: it moves record {max(moves)}, the shard "
                f"has {len(batch)} (the shard changed after summarise)"
            )
        kept = [
            msgspec.structs.replace(record, split=moves[index]) if index in moves else record
            for index, record in enumerate(batch)
        ]
        return StageResult(kept=kept, stats={"moved": float(len(moves))})

    def report(self, plan: ContaminationPlan) -> dict[str, Any]:
        passed = plan.remaining == 0
        message = (
            ""
            if passed
            else f"{plan.remaining} near-duplicate pairs remain across splits (similarity >= "
            f"{plan.settings['threshold']} or shared client turns >= {plan.settings['client_turn_share']}); "
            "set contamination.action to 'move' or remove them"
        )
        if plan.templated:
            message = (message + "; " if message else "") + (
                f"{plan.templated} pairs lie in components larger than max_component "
                f"({plan.settings['max_component']} records): shared template text, left in place"
            )
        limit = int(plan.settings.get("report_pairs", 50))
        return {
            "passed": passed,
            "message": message,
            "records": plan.records,
            "pairs": len(plan.pairs),
            "moved_records": plan.moved,
            "remaining_pairs": plan.remaining,
            "template_pairs": plan.templated,
            "shares_before": plan.shares_before,
            "shares_after": plan.shares_after,
            "settings": plan.settings,
            "examples": [msgspec.to_builtins(p) for p in plan.pairs[:limit]],
        }


def client_turn_hashes(record: Conversation, min_words: int) -> list[int]:
    """Hashes of the client turns of ``min_words`` words or more, blind to case and punctuation."""
    hashes = []
    for turn in record.turns:
        if turn.role != "client":
            continue
        words = shingle_words(turn.text)
        if len(words) >= min_words:
            digest = hashlib.blake2b(" ".join(words).encode("utf-8", "surrogatepass"), digest_size=8).digest()
            hashes.append(int.from_bytes(digest, "little") >> 1)  # 63 bits: fits msgpack's signed ints
    return hashes


def excerpt(record: Conversation) -> str:
    text = " | ".join(f"{t.role}: {t.text}" for t in record.turns if t.role != "system")
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def confirmed_pairs(
    table: _Table, opts: ContaminationOptions, cross_split_only: bool = True
) -> list[tuple[int, int, float, float]]:
    """``(a, b, similarity, client turn share)`` of rows (in different splits) that are contamination.

    ``cross_split_only=False`` returns every confirmed pair, which is what measuring false positives needs.
    """
    if len(table.ids) < 2:
        return []
    rank = np.empty(len(table.ids), dtype=np.int64)
    rank[np.argsort(np.array(table.ids), kind="stable")] = np.arange(len(table.ids))
    # Candidates below the threshold are kept (down to a floor) so shared client turns can confirm them.
    floor = min(opts.threshold, opts.candidate_floor)
    found = []
    for a, b, similarity in similar_pairs(table.signatures, rank, floor, opts.bands):
        if cross_split_only and table.splits[a] == table.splits[b]:
            continue
        share = _shared_turns(table.client_turns[a], table.client_turns[b])
        if similarity >= opts.threshold or share >= opts.client_turn_share:
            found.append((min(a, b), max(a, b), similarity, share))
    return sorted(found, key=lambda p: (-p[2], table.ids[p[0]], table.ids[p[1]]))


def summary_table(summaries: list[ContaminationSummary], num_perm: int) -> _Table:
    """All summaries as one table of rows, in shard order."""
    return _Table(sorted(summaries, key=lambda s: s.shard), num_perm)


def _shared_turns(first: list[int], second: list[int]) -> float:
    """Shared turns over the turns of the shorter conversation (0 when either has none)."""
    if not first or not second:
        return 0.0
    return len(set(first) & set(second)) / min(len(set(first)), len(set(second)))


def _merged_splits(
    table: _Table, pairs: list[tuple[int, int, float, float]], max_component: int, max_groups: int
) -> tuple[list[str], set[int]]:
    """Each row's split after putting every component (pairs plus record groups) of at most
    ``max_component`` records and ``max_groups`` groups into one split, and the rows of the larger
    components (left in place)."""
    n = len(table.ids)
    groups = [g or f"\x00{i}" for i, g in enumerate(table.groups)]
    first_of: dict[str, int] = {}
    heads = np.array([first_of.setdefault(g, i) for i, g in enumerate(groups)], dtype=np.int64)
    rows = np.r_[np.arange(n), [a for a, *_ in pairs]]
    cols = np.r_[heads, [b for _, b, *_ in pairs]]
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    touched = {int(labels[a]) for a, *_ in pairs}
    members: dict[int, list[int]] = {}
    for row in np.flatnonzero(np.isin(labels, list(touched))).tolist():
        members.setdefault(int(labels[row]), []).append(row)
    after = list(table.splits)
    crowded: set[int] = set()
    for rows_of in members.values():
        if len(rows_of) > max_component or len({groups[r] for r in rows_of}) > max_groups:
            crowded.update(rows_of)
            continue
        counts = Counter(table.splits[r] for r in rows_of)
        # The split already holding most of the component; ties go to train, then validation.
        target = max(counts, key=lambda s: (counts[s], -_split_order(s)))
        for row in rows_of:
            after[row] = target
    return after, crowded


def _split_order(split: str) -> int:
    return SPLITS.index(split) if split in SPLITS else len(SPLITS)


def _shares(splits: list[str]) -> dict[str, float]:
    counts = Counter(splits)
    total = max(1, len(splits))
    return {name: round(counts.get(name, 0) / total, 6) for name in SPLITS}


class _Table:
    """All shards' summaries as flat columns; row numbers are positions in shard order."""

    def __init__(self, summaries: list[ContaminationSummary], num_perm: int) -> None:
        self.ids: list[str] = []
        self.splits: list[str] = []
        self.groups: list[str] = []
        self.client_turns: list[list[int]] = []
        self.excerpts: list[str] = []
        self.shard: list[int] = []
        self.index: list[int] = []
        blobs = []
        for summary in summaries:
            self.ids += summary.ids
            self.splits += summary.splits
            self.groups += summary.groups
            self.client_turns += summary.client_turns
            self.excerpts += summary.excerpts
            self.shard += [summary.shard] * len(summary.ids)
            self.index += range(len(summary.ids))
            blobs.append(summary.signatures)
        self.signatures = np.frombuffer(b"".join(blobs), dtype=np.uint32).reshape(len(self.ids), num_perm)
