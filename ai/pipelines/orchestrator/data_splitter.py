"""The group-aware, stratified train/validation/test splitter (``split``) and its statistical validation.

A ``GlobalStage``: ``summarise`` collects what the assignment needs per record (group, near-duplicate
cluster, category, crisis flag, source, turn count, length and a MinHash signature), ``reduce`` builds
the groups, assigns whole groups to splits and validates the result, ``apply`` writes ``record.split``.

Groups: records sharing ``record.group`` (one dialog, document, video or book), records sharing a
near-duplicate cluster (``meta["dup_cluster"]`` from ``dedup``) and records that are near duplicates of
each other (re-detected here, so leakage is caught even when dedup was off or kept clusters) are merged
into one group, which never spans two splits. A record without a group is its own group.

Assignment: groups are taken stratum by stratum (category x crisis flag x source), largest first and
then in a seeded order, and each goes to the split furthest below its target both inside its stratum
and overall. That keeps every stratum near 70/15/15 and the totals within about a record of the targets
unless single groups are too large for it.

Validation (written to ``split_report.json``; a failed check fails the run): split sizes against the
targets, chi-square homogeneity of category, crisis flag and source across splits, two-sample KS tests of
turn count and length (validation and test each against train), and a leakage check that re-derives the
groups and near-duplicate pairs and verifies none of them spans two splits.

The chi-square and KS tests count each group once (its most common category, crisis flag and source,
its mean turn count and length). Whole groups are what the splitter assigns, so they are the independent
units: counting the 8-turn windows of one dialog as separate observations would multiply the evidence
by the window count and fail honest splits of windowed data, while a real skew (one source's groups all
in test) shows up just as clearly among groups.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ai.core.records import Conversation
from ai.core.stage import NO_SUMMARIES, GlobalStage, StageOptions, StageResult
from ai.pipelines.orchestrator.dedup import signatures_reusing, similar_pairs

__all__ = [
    "SPLITS",
    "SplitColumns",
    "SplitPlan",
    "SplitStage",
    "assign_groups",
    "components",
    "validate_assignment",
]

SPLITS = ("train", "validation", "test")
# A chi-square permutation test stops once this many shuffles reached the observed statistic.
_ENOUGH_EXCEEDANCES = 20


class SplitSummary(msgspec.Struct):
    shard: int
    ids: list[str]
    groups: list[str]  # record.group, or "" when the record is its own group
    clusters: list[str]  # meta["dup_cluster"] or ""
    categories: list[str]
    crisis: list[bool]
    sources: list[str]
    turns: list[int]
    lengths: list[int]  # characters in all turns
    signatures: bytes = b""


class SplitPlan(msgspec.Struct):
    # shard -> one character per record: "0" train, "1" validation, "2" test (index into SPLITS)
    assignments: dict[int, str]
    report: dict[str, Any]


class SplitOptions(StageOptions, kw_only=True):
    train: float = 0.70
    validation: float = 0.15
    test: float = 0.15
    # A record is a crisis record when scores["crisis"] reaches this, it is tagged "crisis" (the crisis
    # stage does that) or its category is crisis_support.
    crisis_threshold: float = 0.5
    group_near_duplicates: bool = True
    near_threshold: float = 0.6
    shingle_size: int = 3
    num_perm: int = 128
    bands: int = 25
    # Largest allowed |actual - target| share per split, unless the largest group alone exceeds it.
    max_size_deviation: float = 0.01
    # Homogeneity (chi-square) and distribution (KS) tests fail below this p-value; 0 turns them off.
    min_p_value: float = 0.001
    # Chi-square cells: values expected fewer times than this in some split are pooled into "(other)".
    min_expected: float = 5.0
    # KS tests need at least this many groups in each compared split.
    min_ks_samples: int = 20
    # Shuffles of the groups' splits behind each chi-square p-value; the smallest p it can give is
    # 1 / (permutations + 1), which must stay below min_p_value for a skew to fail.
    permutations: int = 1999

    def __post_init__(self) -> None:
        ratios = (self.train, self.validation, self.test)
        if min(ratios) < 0 or abs(sum(ratios) - 1.0) > 1e-6:
            raise ValueError(f"train/validation/test must be >= 0 and add up to 1, got {ratios}")
        if self.min_p_value > 0 and 1 / (self.permutations + 1) >= self.min_p_value:
            raise ValueError(
                f"permutations ({self.permutations}) must exceed 1/min_p_value - 1 "
                f"({1 / self.min_p_value - 1:.0f}), or no chi-square test could ever fail"
            )
        if not 0 < self.bands <= self.num_perm:
            raise ValueError(f"bands ({self.bands}) must be between 1 and num_perm ({self.num_perm})")


class SplitStage(GlobalStage[SplitOptions]):
    name = "split"
    version = "1"
    summary_type: ClassVar[Any] = SplitSummary
    plan_type: ClassVar[Any] = SplitPlan
    Options = SplitOptions
    needs_summaries = ("dedup",)

    def summarise(
        self, batch: list[Conversation], shard: int, earlier: Mapping[str, Any] = NO_SUMMARIES
    ) -> SplitSummary:
        opts = self.options
        signatures = b""
        if opts.group_near_duplicates:
            # Dedup already made these signatures for this shard, in its own summary: reuse its rows.
            stored = earlier.get("dedup")
            signatures = signatures_reusing(
                batch, opts.num_perm, self.seed, opts.shingle_size, stored
            ).tobytes()
        return SplitSummary(
            shard=shard,
            ids=[r.id for r in batch],
            groups=[r.group for r in batch],
            clusters=[str(r.meta.get("dup_cluster", "")) for r in batch],
            categories=[r.category for r in batch],
            crisis=[self._is_crisis(r) for r in batch],
            sources=[r.source.name for r in batch],
            turns=[len(r.turns) for r in batch],
            lengths=[sum(len(t.text) for t in r.turns) for r in batch],
            signatures=signatures,
        )

    def reduce(self, summaries: list[SplitSummary]) -> SplitPlan:
        opts = self.options
        columns = SplitColumns.from_summaries(summaries, opts.num_perm if opts.group_near_duplicates else 0)
        near_pairs = columns.near_duplicate_pairs(opts) if opts.group_near_duplicates else []
        assignment = assign_groups(columns, near_pairs, self._ratios(), self.seed)
        report = validate_assignment(columns, assignment, near_pairs, opts, self.seed)
        codes = "".join(map(str, assignment))
        assignments: dict[int, str] = {}
        if columns.ids:
            starts = np.flatnonzero(np.r_[True, np.diff(columns.shard) != 0]).tolist()
            for start, end in zip(starts, [*starts[1:], len(codes)], strict=True):
                assignments[columns.shard[start]] = codes[start:end]
        return SplitPlan(assignments=assignments, report=report)

    def apply(self, batch: list[Conversation], plan: SplitPlan, shard: int) -> StageResult:
        codes = plan.assignments.get(shard, "")
        if len(codes) != len(batch):
            raise ValueError(
                f"split plan does not match shard {shard}: it assigns {len(codes)} records, the shard has "
                f"{len(batch)} (the shard changed after summarise)"
            )
        kept = [msgspec.structs.replace(r, split=SPLITS[int(c)]) for r, c in zip(batch, codes, strict=True)]
        counts = Counter(codes)
        return StageResult(
            kept=kept, stats={name: float(counts.get(str(i), 0)) for i, name in enumerate(SPLITS)}
        )

    def report(self, plan: SplitPlan) -> dict[str, Any]:
        return plan.report

    def _ratios(self) -> tuple[float, float, float]:
        opts = self.options
        return (opts.train, opts.validation, opts.test)

    def _is_crisis(self, record: Conversation) -> bool:
        opts = self.options
        return (
            record.category == "crisis_support"
            or "crisis" in record.tags
            or record.scores.get("crisis", 0.0) >= opts.crisis_threshold
        )


class SplitColumns:
    """The summaries of all shards as flat columns; a row is a record in shard order."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.groups: list[str] = []
        self.clusters: list[str] = []
        self.categories: list[str] = []
        self.crisis: list[bool] = []
        self.sources: list[str] = []
        self.turns: list[int] = []
        self.lengths: list[int] = []
        self.shard: list[int] = []
        self.signatures = np.zeros((0, 0), dtype=np.uint32)

    @classmethod
    def from_summaries(cls, summaries: list[SplitSummary], num_perm: int) -> SplitColumns:
        columns = cls()
        blobs = []
        for summary in sorted(summaries, key=lambda s: s.shard):
            for field in ("ids", "groups", "clusters", "categories", "crisis", "sources", "turns", "lengths"):
                getattr(columns, field).extend(getattr(summary, field))
            columns.shard += [summary.shard] * len(summary.ids)
            blobs.append(summary.signatures)
        n = len(columns.ids)
        if num_perm:
            columns.signatures = np.frombuffer(b"".join(blobs), dtype=np.uint32).reshape(n, num_perm)
        return columns

    def key_columns(self) -> list[tuple[str, np.ndarray]]:
        """Per kind of tie, a key index per row (-1: none): the group (or the record's own id), the cluster."""
        groups = [f"g:{g}" if g else f"id:{i}" for g, i in zip(self.groups, self.ids, strict=True)]
        columns = [("group", _index(groups))]
        if any(self.clusters):
            columns.append(("cluster", _index(self.clusters, empty=-1)))
        return columns

    def strata(self) -> np.ndarray:
        """A stratum index per row; strata are numbered in sorted order of (category, crisis, source)."""
        keys = [
            f"{c}\x1f{'crisis' if k else 'no_crisis'}\x1f{s}"
            for c, k, s in zip(self.categories, self.crisis, self.sources, strict=True)
        ]
        return _index(keys)

    def near_duplicate_pairs(self, opts: Any) -> list[tuple[int, int, float]]:
        if len(self.ids) < 2 or self.signatures.shape[1] == 0:
            return []
        # Ranked by id, so crowded LSH buckets pick the same comparisons however the input was sharded.
        rank = np.empty(len(self.ids), dtype=np.int64)
        rank[np.argsort(np.array(self.ids), kind="stable")] = np.arange(len(self.ids))
        return similar_pairs(self.signatures, rank, opts.near_threshold, opts.bands)


def assign_groups(
    columns: SplitColumns, near_pairs: list[tuple[int, int, float]], ratios: tuple[float, ...], seed: int
) -> list[int]:
    """The split index of every row; rows of one group always share it."""
    labels = components(columns, near_pairs)
    strata = columns.strata()
    by_stratum: dict[int, list[tuple[int, str, Any]]] = {}
    singles, groups = _members(labels)
    for row in singles.tolist():
        by_stratum.setdefault(int(strata[row]), []).append((1, _seeded(columns.ids[row], seed), row))
    for members in groups:
        key = min(columns.ids[r] for r in members)
        # The group's most common stratum, the lowest-numbered one on ties.
        stratum = int(np.argmax(np.bincount(strata[members])))
        by_stratum.setdefault(stratum, []).append((len(members), _seeded(key, seed), members))
    open_splits = [i for i, r in enumerate(ratios) if r > 0]
    assignment = np.zeros(len(columns.ids), dtype=np.int64)
    overall = [0.0] * len(ratios)
    for stratum in sorted(by_stratum):
        inside = [0.0] * len(ratios)
        inside_total = 0.0
        for size, _, members in sorted(by_stratum[stratum], key=lambda g: (-g[0], g[1])):
            total = sum(overall)
            # How far each split would be below its share, inside the stratum and overall.
            choice = max(
                open_splits,
                key=lambda i: (
                    ratios[i] * (inside_total + size) - inside[i] + ratios[i] * (total + size) - overall[i]
                ),
            )
            inside[choice] += size
            inside_total += size
            overall[choice] += size
            assignment[members] = choice
    return assignment.tolist()


def validate_assignment(
    columns: SplitColumns,
    assignment: list[int],
    near_pairs: list[tuple[int, int, float]],
    opts: Any,
    seed: int = 0,
) -> dict[str, Any]:
    """The split report: sizes, homogeneity and distribution tests, leakage; ``passed`` and ``message``."""
    ratios = (opts.train, opts.validation, opts.test)
    labels = np.array(assignment, dtype=np.int64)
    failures: list[str] = []
    component = components(columns, near_pairs)
    largest = int(np.bincount(component).max()) if columns.ids else 0
    sizes = _size_check(labels, ratios, largest, opts, failures)
    groups = GroupValues(component, labels)
    tests = [
        _chi_square(name, values, groups, ratios, opts, failures, seed)
        for name, values in (
            ("category", columns.categories),
            ("crisis", ["crisis" if c else "no_crisis" for c in columns.crisis]),
            ("source", columns.sources),
        )
    ]
    for name, values in (("turns", columns.turns), ("length", columns.lengths)):
        tests.extend(_ks_tests(name, groups.mean(values), groups.split, ratios, opts, failures))
    leakage = _leakage_check(columns, assignment, near_pairs, failures)
    report: dict[str, Any] = {
        "passed": not failures,
        "records": len(columns.ids),
        "groups": groups.count,
        "test_unit": "group",
        "sizes": sizes,
        "tests": tests,
        "leakage": leakage,
        "thresholds": {
            "max_size_deviation": opts.max_size_deviation,
            "min_p_value": opts.min_p_value,
            "near_threshold": opts.near_threshold,
        },
    }
    if failures:
        report["message"] = "; ".join(failures)
    return report


class GroupValues:
    """Per split group (connected component): its split, counts of a variable, or a mean of one."""

    def __init__(self, component: np.ndarray, labels: np.ndarray) -> None:
        self.component = component
        self.count = int(component.max()) + 1 if len(component) else 0
        self.sizes = np.bincount(component, minlength=self.count)
        self.split = self._mode_codes(labels, len(SPLITS))

    def counts(self, codes: np.ndarray, width: int) -> np.ndarray:
        """(groups x width) counts of each code among every group's records."""
        cells = np.bincount(self.component * width + codes, minlength=self.count * width)
        return cells.reshape(self.count, width)

    def mean(self, values: list[int]) -> np.ndarray:
        if not self.count:
            return np.zeros(0)
        totals = np.bincount(self.component, weights=np.asarray(values, dtype=float), minlength=self.count)
        return totals / self.sizes

    def _mode_codes(self, codes: np.ndarray, width: int) -> np.ndarray:
        """Each group's most common code (a group's records share their split unless it leaks)."""
        if not self.count:
            return np.zeros(0, dtype=np.int64)
        return self.counts(codes, width).argmax(axis=1)


def components(columns: SplitColumns, near_pairs: list[tuple[int, int, float]]) -> np.ndarray:
    """A component label per row: rows joined by a shared group or cluster key or a near-duplicate pair."""
    n = len(columns.ids)
    sources, targets = [np.arange(0)], [np.arange(0)]
    offset = n
    for _, keys in columns.key_columns():
        rows = np.flatnonzero(keys >= 0)
        sources.append(rows)
        targets.append(keys[rows] + offset)
        offset += int(keys.max()) + 1 if len(keys) else 0
    if near_pairs:
        pairs = np.array([(a, b) for a, b, _ in near_pairs], dtype=np.int64)
        sources.append(pairs[:, 0])
        targets.append(pairs[:, 1])
    rows, cols = np.concatenate(sources), np.concatenate(targets)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(offset, offset))
    _, labels = connected_components(graph, directed=False)
    return labels[:n]


def _members(labels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rows that are their own component, and the rows of each larger component (first row order)."""
    if not len(labels):
        return np.zeros(0, dtype=np.int64), []
    sizes = np.bincount(labels)
    singles = np.flatnonzero(sizes[labels] == 1)
    grouped = np.flatnonzero(sizes[labels] > 1)
    order = grouped[np.argsort(labels[grouped], kind="stable")]
    groups = np.split(order, np.flatnonzero(np.diff(labels[order])) + 1) if len(order) else []
    groups.sort(key=lambda rows: rows[0])
    return singles, groups


def _index(values: list[str], empty: int | None = None) -> np.ndarray:
    """Dense integer codes of strings, numbered in sorted order; ``empty`` codes the empty string."""
    uniques, codes = np.unique(np.array(values, dtype=object), return_inverse=True)
    if empty is not None and len(uniques) and uniques[0] == "":
        codes = np.where(codes == 0, empty, codes - 1)
    return codes.astype(np.int64)


def _seeded(key: str, seed: int) -> str:
    return hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).hexdigest()


def _size_check(
    labels: np.ndarray, ratios: tuple[float, ...], largest: int, opts: Any, failures: list[str]
) -> dict[str, Any]:
    n = len(labels)
    counts = np.bincount(labels, minlength=len(SPLITS)) if n else np.zeros(len(SPLITS), dtype=int)
    shares = counts / n if n else np.zeros(len(SPLITS))
    deviation = float(np.max(np.abs(shares - np.array(ratios)))) if n else 0.0
    allowed = max(opts.max_size_deviation, largest / n if n else 0.0)
    if n and deviation > allowed + 1e-12:
        failures.append(
            f"split sizes deviate from the targets by {deviation:.2%} (allowed {allowed:.2%}): "
            + ", ".join(
                f"{name} {share:.2%} vs {r:.0%}"
                for name, share, r in zip(SPLITS, shares, ratios, strict=True)
            )
        )
    return {
        "counts": {name: int(c) for name, c in zip(SPLITS, counts, strict=True)},
        "shares": {name: round(float(s), 5) for name, s in zip(SPLITS, shares, strict=True)},
        "targets": dict(zip(SPLITS, ratios, strict=True)),
        "max_deviation": round(deviation, 5),
        "allowed_deviation": round(allowed, 5),
        "largest_group": largest,
    }


def _chi_square(
    name: str,
    values: list[str],
    groups: GroupValues,
    ratios: tuple[float, ...],
    opts: Any,
    failures: list[str],
    seed: int,
) -> dict[str, Any]:
    """Homogeneity of ``values`` across the splits with a positive target, by permuting whole groups.

    The statistic is the usual chi-square of the record table (the splitter balances records, so that is
    what should look homogeneous); its p-value is the share of random re-assignments of whole groups to
    the splits (group split labels shuffled, up to ``opts.permutations`` times) whose statistic is at
    least as large. Records of one group move together, so a dialog cut into many windows weighs as one
    draw, not as many independent ones.
    """
    result: dict[str, Any] = {"test": "chi_square", "variable": name, "unit": "group permutation"}
    splits = [i for i, r in enumerate(ratios) if r > 0]
    totals = Counter(values)
    smallest_share = min(ratios[i] for i in splits)
    # A value must be expected at least min_expected times in the smallest split to keep its own column.
    common = sorted(v for v, c in totals.items() if c * smallest_share >= opts.min_expected)
    columns = {v: i for i, v in enumerate(common)}
    codes = np.array([columns.get(v, len(common)) for v in values], dtype=np.int64)
    per_group = groups.counts(codes, len(common) + 1)
    used = per_group.sum(axis=0) > 0
    per_group = per_group[:, used]
    in_splits = np.isin(groups.split, splits)
    per_group, group_split = per_group[in_splits], groups.split[in_splits]
    observed = _split_tables(group_split[None, :], per_group, splits)[0]
    if per_group.shape[1] < 2 or (observed.sum(axis=1) == 0).any() or len(splits) < 2:
        result.update(skipped=True, reason="fewer than two values or an empty split")
        return result
    statistic = float(_chi_square_statistics(observed[None])[0])
    p_value, drawn = _permutation_p_value(statistic, group_split, per_group, splits, opts.permutations, seed)
    passed = bool(p_value >= opts.min_p_value)
    dof = (len(splits) - 1) * (per_group.shape[1] - 1)
    result.update(statistic=round(statistic, 4), p_value=float(p_value), dof=int(dof), passed=passed)
    result.update(categories=int(per_group.shape[1]), groups=len(group_split))
    result["permutations"] = drawn
    if not passed:
        failures.append(
            f"{name} is not homogeneous across splits (chi-square over {len(group_split):,} groups, "
            f"permutation p={p_value:.2g})"
        )
    return result


def _permutation_p_value(
    statistic: float, group_split: np.ndarray, per_group: np.ndarray, splits: list[int], limit: int, seed: int
) -> tuple[float, int]:
    """(p-value, shuffles drawn): shuffles of the groups' split labels with a chi-square >= ``statistic``.

    Sequential Monte Carlo (Besag & Clifford 1991): drawing stops at the ``_ENOUGH_EXCEEDANCES``-th
    shuffle that reaches the statistic, with p = that count / shuffles drawn, so a balanced split costs a
    few dozen shuffles; a skewed one draws all ``limit`` and gets (exceedances + 1) / (limit + 1).
    """
    rng = np.random.default_rng(seed)
    exceed = done = 0
    chunk = 64
    largest_chunk = max(64, 4_000_000 // max(1, len(group_split)))  # bounds a chunk at ~32 MB
    while done < limit:
        size = min(chunk, limit - done)
        shuffled = rng.permuted(np.broadcast_to(group_split, (size, len(group_split))), axis=1)
        stats = _chi_square_statistics(_split_tables(shuffled, per_group, splits))
        hits = np.flatnonzero(stats >= statistic * (1 - 1e-9))
        if exceed + len(hits) >= _ENOUGH_EXCEEDANCES:
            drawn = done + int(hits[_ENOUGH_EXCEEDANCES - exceed - 1]) + 1
            return _ENOUGH_EXCEEDANCES / drawn, drawn
        exceed += len(hits)
        done += size
        chunk = min(chunk * 2, largest_chunk)
    return (exceed + 1) / (limit + 1), limit


def _split_tables(labels: np.ndarray, per_group: np.ndarray, splits: list[int]) -> np.ndarray:
    """(shuffles x splits x values) record tables from per-shuffle group labels and per-group counts."""
    weights = per_group.astype(np.float64)
    return np.stack([(labels == s).astype(np.float64) @ weights for s in splits], axis=1)


def _chi_square_statistics(tables: np.ndarray) -> np.ndarray:
    """Pearson's chi-square of each table in a (n x rows x columns) stack; empty rows add nothing."""
    total = tables.sum(axis=(1, 2), keepdims=True)
    expected = tables.sum(axis=2, keepdims=True) * tables.sum(axis=1, keepdims=True) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        cells = np.where(expected > 0, (tables - expected) ** 2 / expected, 0.0)
    return cells.sum(axis=(1, 2))


def _ks_tests(
    name: str,
    values: np.ndarray,
    labels: np.ndarray,
    ratios: tuple[float, ...],
    opts: Any,
    failures: list[str],
) -> list[dict[str, Any]]:
    train = values[labels == 0]
    results = []
    for index in (1, 2):
        if ratios[index] <= 0:
            continue
        other = values[labels == index]
        result: dict[str, Any] = {"test": "ks", "variable": name, "compare": f"train vs {SPLITS[index]}"}
        if min(len(train), len(other)) < opts.min_ks_samples:
            result.update(skipped=True, reason=f"fewer than {opts.min_ks_samples} groups in a split")
        else:
            from scipy import stats as scipy_stats

            statistic, p_value = scipy_stats.ks_2samp(train, other)
            passed = bool(p_value >= opts.min_p_value)
            result.update(statistic=round(float(statistic), 5), p_value=float(p_value), passed=passed)
            if not passed:
                failures.append(
                    f"{name} distribution of {SPLITS[index]} differs from train (KS p={p_value:.2g})"
                )
        results.append(result)
    return results


def _leakage_check(
    columns: SplitColumns,
    assignment: list[int],
    near_pairs: list[tuple[int, int, float]],
    failures: list[str],
) -> dict[str, Any]:
    """Re-derives groups, dedup clusters and near-duplicate pairs and checks none spans two splits."""
    splits = np.array(assignment, dtype=np.int64)
    checked = 0
    leaking: list[str] = []
    for kind, keys in columns.key_columns():
        rows = np.flatnonzero(keys >= 0)
        if not rows.size:
            continue
        pairs = np.unique(keys[rows] * len(SPLITS) + splits[rows])
        key_of_pair = pairs // len(SPLITS)
        checked += len(np.unique(key_of_pair))
        bad = np.unique(key_of_pair[np.r_[False, key_of_pair[1:] == key_of_pair[:-1]]])
        names = columns.groups if kind == "group" else columns.clusters
        first_row = {int(k): int(r) for k, r in zip(keys[rows][::-1], rows[::-1], strict=True)}
        leaking += [f"{kind} {names[first_row[int(k)]] or columns.ids[first_row[int(k)]]}" for k in bad]
    leaking_pairs = [
        (columns.ids[a], columns.ids[b], round(s, 3))
        for a, b, s in near_pairs
        if assignment[a] != assignment[b]
    ]
    if leaking:
        failures.append(f"{len(leaking)} groups span several splits (e.g. {leaking[0]})")
    if leaking_pairs:
        failures.append(
            f"{len(leaking_pairs)} near-duplicate pairs span several splits "
            f"(e.g. {leaking_pairs[0][0]} and {leaking_pairs[0][1]})"
        )
    return {
        "groups_checked": checked,
        "near_duplicate_pairs_checked": len(near_pairs),
        "leaking_groups": len(leaking),
        "leaking_near_duplicate_pairs": len(leaking_pairs),
        "examples": {"groups": leaking[:10], "near_duplicate_pairs": leaking_pairs[:10]},
    }
