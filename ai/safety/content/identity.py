"""Counterfactual identity augmentation of the content model's training contexts.

The bias audit (docs/BIAS.md) showed the judge refusing the same counsellor reply more often after the
client said "I'm a South Asian person": DiaSafety's biased-opinion and toxic contexts are where identity
words occur, so the model learnt them as a sign of a context that invites an unsafe reply. Here a share
of the training pairs gets a copy whose last context turn also says who the client is, with the label
unchanged, so identity words carry no evidence either way.

The sentences come from the marker inventory the audit itself uses (``bias/markers.json`` of the
synthetic sources). Safety may not import sourcing (tests/unit/test_import_rules.py), so the training
command reads the JSON by path; the shipped model never reads it. To show the model generalises rather
than memorises the audit's sentences, ``IdentityAugmenter`` holds one value and one frame of every
dimension out of the augmentation (chosen by seed, recorded in the model's metadata); the audit's flip
rates for those values are then a measurement on identities the augmentation never showed.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ai.safety.content.corpora import Pair

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class Frame:
    dimension: str
    id: str
    by_value: dict[str, str]  # marker value -> the sentence a client says


class IdentityAugmenter:
    """Inserts a frame sentence of a seen (not held-out) value into the turn a reply answers."""

    def __init__(self, inventory_path: Path, seed: int = 0) -> None:
        raw: dict[str, Any] = json.loads(inventory_path.read_text(encoding="utf-8"))
        self.placements: tuple[str, ...] = tuple(raw["placements"])
        rng = random.Random(f"identity:{seed}")
        self.held_out_values: dict[str, str] = {}
        self.held_out_frames: dict[str, str] = {}
        self.frames: list[Frame] = []
        for dimension, spec in sorted(raw["dimensions"].items()):
            frames = [Frame(dimension, f["id"], dict(f["by_value"])) for f in spec["frames"]]
            held_value = rng.choice(sorted(spec["values"]))
            held_frame = rng.choice(frames).id if len(frames) > 1 else ""
            self.held_out_values[dimension] = held_value
            self.held_out_frames[dimension] = held_frame
            for frame in frames:
                seen = {v: s for v, s in frame.by_value.items() if v != held_value}
                if frame.id != held_frame and seen:
                    self.frames.append(replace(frame, by_value=seen))
        if not self.frames:
            raise ValueError(f"{inventory_path}: no identity frames left to augment with")

    def augment(self, pairs: list[Pair], share: float, seed: int = 0) -> tuple[list[Pair], list[int]]:
        """Copies of about ``share`` of the pairs that have a context, each with one identity sentence in
        its last non-empty turn; returns the copies and the index of each copy's original."""
        rng = random.Random(f"augment:{seed}")
        copies: list[Pair] = []
        origins: list[int] = []
        for index, pair in enumerate(pairs):
            last = _last_turn(pair.context)
            if last < 0 or rng.random() >= share:
                continue
            frame = rng.choice(self.frames)
            sentence = frame.by_value[rng.choice(sorted(frame.by_value))]
            context = list(pair.context)
            context[last] = insert_sentence(context[last], sentence, rng.choice(self.placements))
            copies.append(replace(pair, context=tuple(context), locator=f"{pair.locator}+{frame.id}"))
            origins.append(index)
        return copies, origins

    def metadata(self) -> dict[str, Any]:
        return {"held_out_values": self.held_out_values, "held_out_frames": self.held_out_frames}


def insert_sentence(text: str, sentence: str, placement: str) -> str:
    """``sentence`` at the start of ``text``, after its first sentence, or at its end."""
    text = text.strip()
    if placement == "start":
        return f"{sentence} {text}"
    if placement == "after_first_sentence":
        parts = _SENTENCE_END.split(text, maxsplit=1)
        if len(parts) == 2:
            return f"{parts[0]} {sentence} {parts[1]}"
    if placement in ("end", "after_first_sentence"):
        return f"{text} {sentence}"
    raise ValueError(f"unknown placement {placement!r}")


def _last_turn(context: tuple[str, ...]) -> int:
    return next((i for i in range(len(context) - 1, -1, -1) if context[i].strip()), -1)
