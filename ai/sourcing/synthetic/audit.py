"""The bias audit of a finished dataset: demographic markers overall and per split, and counterfactual coverage.

``bias_audit(records)`` streams the exported records once and keeps only counters, so it runs on any
size of dataset. Markers are counted in client turns (they describe the client), one count per record
and marker value.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from ai.core.records import Conversation
from ai.sourcing.synthetic.demographics import detect_markers, marker_inventory
from ai.sourcing.synthetic.text import client_texts


def bias_audit(records: Iterable[Conversation]) -> dict[str, Any]:
    """Marker counts (dataset and per split), counterfactual coverage and preference-pair counts."""
    audit = _Audit()
    for record in records:
        audit.add(record)
    return audit.result()


class _Audit:
    def __init__(self) -> None:
        self.records = 0
        self.with_marker = 0
        self.markers: Counter[tuple[str, str]] = Counter()
        self.split_markers: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        self.split_records: Counter[str] = Counter()
        self.set_splits: dict[str, set[str]] = defaultdict(set)
        self.set_dimension: dict[str, str] = {}
        self.variant_values: Counter[tuple[str, str]] = Counter()
        self.originals: set[str] = set()
        self.variants = 0
        self.pairs: Counter[str] = Counter()
        self.pair_splits: Counter[str] = Counter()

    def add(self, record: Conversation) -> None:
        self.records += 1
        split = record.split or "unsplit"
        self.split_records[split] += 1
        found = detect_markers(" ".join(client_texts(record)))
        if found:
            self.with_marker += 1
        for dimension, values in found.items():
            for value in values:
                self.markers[(dimension, value)] += 1
                self.split_markers[split][(dimension, value)] += 1
        counterfactual = record.meta.get("counterfactual")
        if isinstance(counterfactual, dict):
            self.variants += 1
            set_id = str(counterfactual.get("set", ""))
            self.set_splits[set_id].add(split)
            self.set_dimension[set_id] = str(counterfactual.get("dimension", ""))
            self.originals.add(str(counterfactual.get("original_id", "")))
            self.variant_values[(self.set_dimension[set_id], str(counterfactual.get("value", "")))] += 1
        dpo = record.meta.get("dpo")
        if isinstance(dpo, dict):
            self.pairs[str(dpo.get("bias_type", ""))] += 1
            self.pair_splits[split] += 1

    def result(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "records_with_markers": self.with_marker,
            "markers": _nested(self.markers),
            "splits": {
                split: {"records": self.split_records[split], "markers": _nested(self.split_markers[split])}
                for split in sorted(self.split_records)
            },
            "counterfactual": self._coverage(),
            "preference_pairs": {
                "total": sum(self.pairs.values()),
                "by_bias_type": dict(sorted(self.pairs.items())),
                "by_split": dict(sorted(self.pair_splits.items())),
            },
        }

    def _coverage(self) -> dict[str, Any]:
        originals = self.records - self.variants - sum(self.pairs.values())
        covered_values = {key for key, n in self.variant_values.items() if n}
        inventory = marker_inventory()
        all_values = {(d, v) for d, dimension in inventory.dimensions.items() for v in dimension.values}
        spanning = sorted(s for s, splits in self.set_splits.items() if len(splits) > 1)
        by_dimension: Counter[str] = Counter()
        for (dimension, _), n in self.variant_values.items():
            by_dimension[dimension] += n
        return {
            "sets": len(self.set_splits),
            "variants": self.variants,
            "originals_covered": len(self.originals),
            "share_of_originals_covered": round(len(self.originals) / originals, 4) if originals > 0 else 0.0,
            "variants_by_dimension": dict(sorted(by_dimension.items())),
            "variants_by_value": _nested(self.variant_values),
            "marker_values_covered": len(covered_values & all_values),
            "marker_values_total": len(all_values),
            "dimensions_covered": sorted(d for d in by_dimension if d in inventory.dimensions),
            "intersections_covered": sorted(d for d in by_dimension if d not in inventory.dimensions),
            "sets_spanning_splits": len(spanning),
            "examples_spanning_splits": spanning[:10],
        }


def _nested(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (dimension, value), n in sorted(counts.items()):
        out.setdefault(dimension, {})[value] = n
    return out
