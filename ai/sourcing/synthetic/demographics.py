"""Identity markers of the nine BBQ dimensions: how a client mentions them, and how to find them in text.

The inventory lives in ``bias/markers.json`` (sources per dimension there and in docs/BIAS.md). A *frame*
is one way of mentioning a dimension (a self-description, a family context, a faith practice, a
disability aid, a name, ...) written once per marker value, so that the variants of a counterfactual
set say the same sentence with only the marker changed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

INVENTORY_DIR = Path(__file__).with_name("bias")
PLACEMENTS = ("start", "after_first_sentence", "end")


@dataclass(frozen=True)
class Frame:
    id: str
    dimension: str
    kind: str  # self_description, family_context, community, faith_practice, disability_aid, name, ...
    sentences: dict[str, str]  # marker value -> the sentence stating it

    @property
    def values(self) -> list[str]:
        return list(self.sentences)


@dataclass(frozen=True)
class Dimension:
    name: str
    bbq_category: str
    sources: tuple[str, ...]
    values: tuple[str, ...]
    frames: tuple[Frame, ...]


@dataclass(frozen=True)
class MarkerInventory:
    dimensions: dict[str, Dimension]
    intersections: tuple[tuple[str, str], ...]
    patterns: dict[str, list[tuple[str, re.Pattern[str]]]]  # dimension -> (value, compiled pattern)

    def frames(self, dimension: str, exclude_kinds: frozenset[str] = frozenset()) -> list[Frame]:
        return [f for f in self.dimensions[dimension].frames if f.kind not in exclude_kinds]


@cache
def marker_inventory() -> MarkerInventory:
    raw = json.loads((INVENTORY_DIR / "markers.json").read_text(encoding="utf-8"))
    dimensions = {name: _dimension(name, spec) for name, spec in raw["dimensions"].items()}
    intersections = tuple((a, b) for a, b in raw["intersections"])
    unknown = {d for pair in intersections for d in pair} - set(dimensions)
    if unknown:
        raise ValueError(f"markers.json: intersections name unknown dimensions {sorted(unknown)}")
    patterns = {
        name: [(value, re.compile(pattern, re.IGNORECASE)) for value, pattern in spec["values"].items()]
        for name, spec in raw["dimensions"].items()
    }
    return MarkerInventory(dimensions, intersections, patterns)


def _dimension(name: str, spec: dict) -> Dimension:  # type: ignore[type-arg]
    values = tuple(spec["values"])
    frames = tuple(Frame(f["id"], name, f["kind"], dict(f["by_value"])) for f in spec["frames"])
    for frame in frames:
        stray = set(frame.sentences) - set(values)
        if stray or len(frame.sentences) < 2:
            raise ValueError(
                f"markers.json: frame {frame.id} needs >= 2 known values (unknown: {sorted(stray)})"
            )
    return Dimension(name, spec["bbq_category"], tuple(spec["sources"]), values, frames)


def dimensions() -> tuple[str, ...]:
    return tuple(marker_inventory().dimensions)


def detect_markers(text: str) -> dict[str, list[str]]:
    """Dimension -> the marker values found in ``text`` (only dimensions with a hit)."""
    found: dict[str, list[str]] = {}
    for dimension, patterns in marker_inventory().patterns.items():
        values = [value for value, pattern in patterns if pattern.search(text)]
        if values:
            found[dimension] = values
    return found
