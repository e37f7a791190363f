"""Conversation-level deduplication: exact (content hash) and near-duplicate (MinHash LSH), as ``dedup``.

It is a ``GlobalStage``: ``summarise`` hashes each shard (a content hash and a MinHash signature of word
shingles per record), ``reduce`` finds duplicates over all shards and decides what to keep, ``apply``
rejects the duplicates shard by shard, naming the record that was kept.

Keep policy (deterministic and independent of input order): records are ranked by
(id, source name, source id, locator); within a set of exact duplicates the best-ranked one is kept, and
near duplicates are resolved greedily in rank order: a record is dropped when it is similar to a record
already kept, so a dropped record is always directly similar to the one its rejection names.

Near-duplicate candidates come from LSH banding of the signatures (bands of ``num_perm // bands`` slots);
every candidate pair is verified by its estimated Jaccard similarity, so the banding only decides recall.
With 128 slots in 25 bands of 5, pairs at similarity 0.7 become candidates with probability 0.99 (0.8:
0.99999), while distinct conversations on one topic (similarity ~0.2) rarely do (0.008).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import msgspec
import numpy as np
import rensa

from ai.core.records import Conversation, content_hash, normalised_turns
from ai.core.stage import NO_SUMMARIES, GlobalStage, Rejection, StageOptions, StageResult

__all__ = [
    "DedupDecision",
    "DedupPlan",
    "DedupStage",
    "DedupSummary",
    "keep_rank_key",
    "minhash_signatures",
    "shingle_words",
    "signatures_reusing",
    "similar_pairs",
]


class DedupSummary(msgspec.Struct):
    shard: int
    ids: list[str]
    keys: list[str]  # keep-rank keys, see keep_rank_key
    sources: list[str]
    exact: list[str]  # content hashes of the normalised turns
    signatures: bytes = b""  # uint32 matrix, len(ids) x num_perm, row-major; empty when near dedup is off
    # What the signatures were made with (num_perm, seed, shingle_size) and an 8-byte digest of each
    # record's shingled text, so a later stage (the splitter) can reuse a row instead of redoing it.
    minhash: tuple[int, int, int] = (0, 0, 0)
    digests: bytes = b""


class DedupDecision(msgspec.Struct, array_like=True):
    index: int  # position of the record in its shard
    record_id: str
    reason: str  # exact_duplicate | near_duplicate | near_duplicate_kept (cluster mode)
    kept_id: str
    kept_source: str
    similarity: float


class DedupPlan(msgspec.Struct):
    decisions: dict[int, list[DedupDecision]]
    records: int
    exact_duplicates: int
    near_duplicates: int
    near_clusters: int
    settings: dict[str, Any]
    # Ids of kept records that head a near-duplicate cluster (cluster mode only).
    cluster_heads: list[str] = msgspec.field(default_factory=list)


class DedupOptions(StageOptions, kw_only=True):
    exact: bool = True
    near: bool = True
    # Estimated Jaccard similarity of word 3-shingles at or above which two conversations are near
    # duplicates. Editing ~3% of the words of every turn leaves similarity ~0.8 (5th percentile ~0.7);
    # distinct conversations on one topic stay below ~0.55 (see docs/PREPROCESSING.md).
    threshold: float = 0.6
    shingle_size: int = 3
    num_perm: int = 128
    # LSH bands of num_perm // bands slots each (25 x 5 of 128): pairs at similarity 0.7 become
    # candidates with probability 0.99 (0.8: 0.99999), same-topic pairs at 0.2 with probability 0.008.
    bands: int = 25
    # "reject" drops near duplicates; "cluster" keeps them and marks meta["dup_cluster"] so that the
    # splitter keeps each cluster inside one split.
    near_action: Literal["reject", "cluster"] = "reject"
    # Records sharing one LSH bucket are compared with this many members ranked just before them and
    # this many best-ranked members, which bounds the work on heavily templated data.
    bucket_neighbours: int = 4

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if not 0 < self.bands <= self.num_perm:
            raise ValueError(f"bands ({self.bands}) must be between 1 and num_perm ({self.num_perm})")
        if self.shingle_size < 1:
            raise ValueError("shingle_size must be at least 1")


class DedupStage(GlobalStage[DedupOptions]):
    name = "dedup"
    version = "1"
    summary_type: ClassVar[Any] = DedupSummary
    plan_type: ClassVar[Any] = DedupPlan
    Options = DedupOptions

    def summarise(
        self, batch: list[Conversation], shard: int, earlier: Mapping[str, Any] = NO_SUMMARIES
    ) -> DedupSummary:
        opts = self.options
        signatures, digests, minhash = b"", b"", (0, 0, 0)
        if opts.near:
            signatures = minhash_signatures(batch, opts.num_perm, self.seed, opts.shingle_size).tobytes()
            digests, minhash = shingle_digests(batch), (opts.num_perm, self.seed, opts.shingle_size)
        return DedupSummary(
            shard=shard,
            ids=[r.id for r in batch],
            keys=[keep_rank_key(r) for r in batch],
            sources=[r.source.name for r in batch],
            exact=[exact_hash(r) for r in batch],
            signatures=signatures,
            minhash=minhash,
            digests=digests,
        )

    def reduce(self, summaries: list[DedupSummary]) -> DedupPlan:
        opts = self.options
        table = _Table(summaries, opts.num_perm if opts.near else 0)
        dropped: dict[int, tuple[str, int, float]] = {}  # row -> (reason, kept row, similarity)
        representatives = list(table.order)
        if opts.exact:
            representatives = _exact_duplicates(table, dropped)
        clusters = 0
        if opts.near and len(representatives) > 1:
            clusters = _near_duplicates(table, representatives, dropped, opts)
        decisions: dict[int, list[DedupDecision]] = {}
        for row, (reason, kept, similarity) in sorted(dropped.items()):
            decisions.setdefault(table.shard[row], []).append(
                DedupDecision(
                    index=table.index[row],
                    record_id=table.ids[row],
                    reason=reason,
                    kept_id=table.ids[kept],
                    kept_source=table.sources[kept],
                    similarity=round(similarity, 4),
                )
            )
        reasons = [reason for reason, _, _ in dropped.values()]
        heads = sorted(
            {table.ids[kept] for reason, kept, _ in dropped.values() if reason == "near_duplicate_kept"}
        )
        return DedupPlan(
            decisions=decisions,
            records=len(table.ids),
            exact_duplicates=reasons.count("exact_duplicate"),
            near_duplicates=reasons.count("near_duplicate") + reasons.count("near_duplicate_kept"),
            near_clusters=clusters,
            settings=msgspec.to_builtins(opts),
            cluster_heads=heads,
        )

    def apply(self, batch: list[Conversation], plan: DedupPlan, shard: int) -> StageResult:
        kept: list[Conversation] = []
        rejected: list[Rejection] = []
        decisions = {d.index: d for d in plan.decisions.get(shard, [])}
        for index, record in enumerate(batch):
            decision = decisions.get(index)
            if decision is not None and decision.record_id != record.id:
                raise ValueError(
                    f"dedup plan does not match shard {shard}: record {index} is {record.id}, "
                    f"the plan expected {decision.record_id} (the shard changed after summarise)"
                )
            if decision is None:
                kept.append(record)
            elif decision.reason == "exact_duplicate":
                rejected.append(
                    self.reject(
                        record,
                        "exact_duplicate",
                        f"exact duplicate of {decision.kept_id} (kept, from source {decision.kept_source!r})",
                    )
                )
            elif decision.reason == "near_duplicate":
                rejected.append(
                    self.reject(
                        record,
                        "near_duplicate",
                        f"near duplicate of {decision.kept_id} (kept, from source {decision.kept_source!r}; "
                        f"estimated similarity {decision.similarity:.2f})",
                    )
                )
            else:
                kept.append(_with_cluster(record, decision.kept_id))
        if plan.cluster_heads:
            heads = set(plan.cluster_heads)
            kept = [
                _with_cluster(r, r.id) if r.id in heads and "dup_cluster" not in r.meta else r for r in kept
            ]
        stats = {
            "exact_duplicates": float(sum(r.reason == "exact_duplicate" for r in rejected)),
            "near_duplicates": float(sum(r.reason == "near_duplicate" for r in rejected)),
        }
        return StageResult(kept=kept, rejected=rejected, stats=stats)

    def report(self, plan: DedupPlan) -> dict[str, Any]:
        examples = [
            {"record_id": d.record_id, "kept_id": d.kept_id, "reason": d.reason, "similarity": d.similarity}
            for shard in sorted(plan.decisions)
            for d in plan.decisions[shard]
        ][:50]
        return {
            "passed": True,
            "records": plan.records,
            "exact_duplicates": plan.exact_duplicates,
            "near_duplicates": plan.near_duplicates,
            "near_clusters": plan.near_clusters,
            "kept": plan.records - plan.exact_duplicates - _rejected_near(plan),
            "settings": plan.settings,
            "examples": examples,
        }


def keep_rank_key(record: Conversation) -> str:
    """The key that orders records for the keep policy: content id first, then where it came from."""
    locator = msgspec.json.encode(record.source.locator, order="sorted").decode()
    return "\x1f".join((record.id, record.source.name, record.source_id, locator))


def exact_hash(record: Conversation) -> str:
    return content_hash(normalised_turns(record.turns), length=24)


# Punctuation becomes a word break (str.translate and split are several times faster than a regex).
_PUNCTUATION = str.maketrans(dict.fromkeys("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~‘’“”–—…«»¿¡", " "))


def shingles(record: Conversation, size: int) -> list[str]:
    """Word n-grams of the client and therapist text, case-folded and without punctuation."""
    words = shingle_words(_shingled_text(record))
    if len(words) <= size:
        # Too short for one shingle: the whole text is the only token; an empty text gets its id, so it
        # matches nothing but itself.
        return [" ".join(words) or record.id]
    if size == 1:
        return words
    # map(" ".join, ...) over zipped tuples is ~20% faster than formatting each shingle in Python.
    return list(map(" ".join, zip(*(words[i:] for i in range(size)), strict=False)))


def shingle_words(text: str) -> list[str]:
    """The words shingles are made of: case-folded, punctuation as a word break."""
    # Lower-casing is casefolding for ASCII, and has a fast path for it.
    return (text.lower() if text.isascii() else text.casefold()).translate(_PUNCTUATION).split()


def _shingled_text(record: Conversation) -> str:
    return " ".join(t.text for t in record.turns if t.role != "system")


def shingle_digests(batch: Sequence[Conversation]) -> bytes:
    """8 bytes per record: a digest of the text its shingles are made of (see ``shingles``)."""
    return b"".join(
        hashlib.blake2b(_shingled_text(r).encode("utf-8", "surrogatepass"), digest_size=8).digest()
        for r in batch
    )


def signatures_reusing(
    batch: Sequence[Conversation],
    num_perm: int,
    seed: int,
    shingle_size: int,
    stored: DedupSummary | None,
) -> np.ndarray:
    """``minhash_signatures(batch, ...)``, taking each row from ``stored`` when that summary holds the
    same record (same id and same shingled text) made with the same parameters. A signature depends
    only on those, so the result is the one computing every row would give; only misses are computed.
    """
    if stored is None or stored.minhash != (num_perm, seed, shingle_size) or not stored.digests:
        return minhash_signatures(batch, num_perm, seed, shingle_size)
    matrix = np.frombuffer(stored.signatures, dtype=np.uint32).reshape(len(stored.ids), num_perm)
    row_of = {(record_id, stored.digests[8 * i : 8 * i + 8]): i for i, record_id in enumerate(stored.ids)}
    mine = shingle_digests(batch)
    rows = [row_of.get((r.id, mine[8 * i : 8 * i + 8]), -1) for i, r in enumerate(batch)]
    out = np.empty((len(batch), num_perm), dtype=np.uint32)
    found = [i for i, row in enumerate(rows) if row >= 0]
    missing = [i for i, row in enumerate(rows) if row < 0]
    if found:
        out[found] = matrix[[rows[i] for i in found]]
    if missing:
        out[missing] = minhash_signatures([batch[i] for i in missing], num_perm, seed, shingle_size)
    return out


def minhash_signatures(
    batch: Sequence[Conversation], num_perm: int, seed: int, shingle_size: int
) -> np.ndarray:
    """A ``len(batch) x num_perm`` uint32 matrix of R-MinHash signatures (rensa) of word shingles."""
    if not batch:
        return np.zeros((0, num_perm), dtype=np.uint32)
    matrix = rensa.RMinHash.digest_matrix_from_token_sets(
        [shingles(r, shingle_size) for r in batch], num_perm, seed
    )
    return np.asarray(matrix.to_rows(), dtype=np.uint32)


def similar_pairs(
    signatures: np.ndarray, rank: np.ndarray, threshold: float, bands: int, bucket_neighbours: int = 4
) -> list[tuple[int, int, float]]:
    """Verified near-duplicate pairs ``(a, b, similarity)`` among the rows of ``signatures``.

    ``rank`` orders the rows (lower is better) and decides which members of a crowded LSH bucket are
    compared, see ``_candidate_pairs``.
    """
    if len(signatures) < 2:
        return []
    candidates = _candidate_pairs(signatures, rank, bands, bucket_neighbours)
    found: list[tuple[int, int, float]] = []
    num_perm = signatures.shape[1]
    # A first look at 32 slots drops most candidates cheaply; a pair at the threshold fails it with
    # probability ~0.1% (it needs 25 points fewer matches than expected, about 3 standard deviations).
    quick_slots = min(32, num_perm)
    quick_floor = int(quick_slots * max(0.0, threshold - 0.25))
    for start in range(0, len(candidates), 100_000):
        chunk = candidates[start : start + 100_000]
        head = signatures[:, :quick_slots]
        quick = np.count_nonzero(head[chunk[:, 0]] == head[chunk[:, 1]], axis=1) >= quick_floor
        chunk = chunk[quick]
        similarity = np.count_nonzero(signatures[chunk[:, 0]] == signatures[chunk[:, 1]], axis=1) / num_perm
        hits = similarity >= threshold
        found += zip(chunk[hits, 0].tolist(), chunk[hits, 1].tolist(), similarity[hits].tolist(), strict=True)
    return found


def _candidate_pairs(signatures: np.ndarray, rank: np.ndarray, bands: int, neighbours: int) -> np.ndarray:
    """Unique row pairs that share an LSH band, as an ``m x 2`` array.

    Within one band bucket (rows sorted by rank) each row is paired with the ``neighbours`` rows ranked
    just before it and with the ``neighbours`` best-ranked rows of the bucket, which are the ones the keep
    policy keeps. That bounds the work on templated data, where buckets grow to thousands of rows, at no
    cost for ordinary buckets of a few rows.
    """
    n, num_perm = signatures.shape
    rows_per_band = num_perm // bands
    multipliers = np.random.default_rng(0x5EED).integers(1, 2**62, size=rows_per_band, dtype=np.uint64)
    multipliers |= np.uint64(1)
    positions = np.arange(n)
    codes = []
    for band in range(bands):
        block = signatures[:, band * rows_per_band : (band + 1) * rows_per_band].astype(np.uint64)
        keys = (block * multipliers).sum(axis=1, dtype=np.uint64)
        order = np.lexsort((rank, keys))
        sorted_keys = keys[order]
        run_start = np.maximum.accumulate(
            np.where(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]], positions, 0)
        )
        depth = positions - run_start  # how many better-ranked rows share this row's bucket
        members = np.flatnonzero(depth > 0)
        for offset in range(1, neighbours + 1):
            members = members[depth[members] >= offset]
            if members.size == 0:
                break
            codes.append(_pair_codes(order[members - offset], order[members], n))
        for head in range(neighbours):
            members = members[depth[members] > neighbours + head]
            if members.size == 0:
                break
            codes.append(_pair_codes(order[run_start[members] + head], order[members], n))
    if not codes:
        return np.zeros((0, 2), dtype=np.int64)
    # Sort-based unique: several times faster than np.unique's hashing on tens of millions of codes.
    merged = np.concatenate(codes)
    merged.sort()
    unique = merged[np.r_[True, merged[1:] != merged[:-1]]]
    return np.stack([unique // n, unique % n], axis=1)


def _pair_codes(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)


class _Table:
    """All shards' summaries as flat columns; row numbers are positions in shard order."""

    def __init__(self, summaries: list[DedupSummary], num_perm: int) -> None:
        self.ids: list[str] = []
        self.sources: list[str] = []
        self.exact: list[str] = []
        keys: list[str] = []
        self.shard: list[int] = []
        self.index: list[int] = []
        blobs = []
        for summary in summaries:
            self.ids += summary.ids
            self.sources += summary.sources
            self.exact += summary.exact
            keys += summary.keys
            self.shard += [summary.shard] * len(summary.ids)
            self.index += range(len(summary.ids))
            blobs.append(summary.signatures)
        n = len(self.ids)
        self.order = sorted(range(n), key=lambda row: (keys[row], self.shard[row], self.index[row]))
        self.rank = np.empty(n, dtype=np.int64)
        self.rank[self.order] = np.arange(n)
        self.signatures = (
            np.frombuffer(b"".join(blobs), dtype=np.uint32).reshape(n, num_perm)
            if num_perm
            else np.zeros((n, 0), dtype=np.uint32)
        )


def _exact_duplicates(table: _Table, dropped: dict[int, tuple[str, int, float]]) -> list[int]:
    """Drops all but the best-ranked record of each content hash; returns the survivors in rank order."""
    first: dict[str, int] = {}
    survivors = []
    for row in table.order:
        kept = first.setdefault(table.exact[row], row)
        if kept == row:
            survivors.append(row)
        else:
            dropped[row] = ("exact_duplicate", kept, 1.0)
    return survivors


def _near_duplicates(
    table: _Table, rows: list[int], dropped: dict[int, tuple[str, int, float]], opts: Any
) -> int:
    """Greedy in rank order: a row similar to an already kept row is dropped (or clustered with it)."""
    subset = np.array(rows, dtype=np.int64)
    pairs = similar_pairs(
        table.signatures[subset], table.rank[subset], opts.threshold, opts.bands, opts.bucket_neighbours
    )
    neighbours: dict[int, list[tuple[int, float]]] = {}
    for a, b, similarity in pairs:
        better, worse = (a, b) if table.rank[subset[a]] < table.rank[subset[b]] else (b, a)
        neighbours.setdefault(int(subset[worse]), []).append((int(subset[better]), similarity))
    reason = "near_duplicate" if opts.near_action == "reject" else "near_duplicate_kept"
    heads: set[int] = set()
    for row in rows:  # rank order
        kept = [
            (sim, -table.rank[other], other) for other, sim in neighbours.get(row, []) if other not in dropped
        ]
        if kept:
            similarity, _, head = max(kept)
            dropped[row] = (reason, head, similarity)
            heads.add(head)
    return len(heads)


def _with_cluster(record: Conversation, cluster: str) -> Conversation:
    return msgspec.structs.replace(record, meta={**record.meta, "dup_cluster": cluster})


def _rejected_near(plan: DedupPlan) -> int:
    return sum(d.reason == "near_duplicate" for decisions in plan.decisions.values() for d in decisions)
