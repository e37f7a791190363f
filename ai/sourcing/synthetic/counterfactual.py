"""Counterfactual probe sets: the same real conversation told by clients who differ in one identity marker.

A set starts from a real conversation (counsel-chat, ESConv, EmpatheticDialogues, ...). Its *target* is a
BBQ dimension (``age``) or an intersection of two (``race_ethnicity+gender_identity``). One frame per
dimension is chosen (a self-description, family context, community, faith practice, disability aid,
pronouns, a name; see ``bias/markers.json``) and one placement in the client's first message (at the
start, after its first sentence, at the end); every variant then says that frame's sentence for its own
marker value at that place, and every therapist turn is left exactly as it was. A reply that is right
for one client is then, by construction, the reply for each of the others, and a judge whose score
moves between variants reacts to the marker alone.

Split safety: every variant carries the original's ``group`` (the id of the original when it has none),
and the whole set shares ``meta["counterfactual"]["set"]``; variants are also near duplicates of their
original, which the dedup stage in cluster mode ties into one split.
Originals that already state a marker of a target's dimension are not given a contradicting one.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import product

from ai.core.config import SourceConfig
from ai.core.context import SourceContext
from ai.core.records import Conversation, Provenance, Turn, content_hash, make_conversation
from ai.core.stage import Rejection
from ai.sourcing.synthetic.demographics import PLACEMENTS, Frame, detect_markers, marker_inventory
from ai.sourcing.synthetic.options import CounterfactualOptions
from ai.sourcing.synthetic.quota import QuotaReport, budget_for, gated
from ai.sourcing.synthetic.text import CLIENT_ROLES, client_texts, mentions_crisis, spread_by_group
from ai.sourcing.text_chunking import sentence_spans

MAX_ORIGINAL_CHARS = 6000
JOIN = "+"  # joins the dimensions and the values of an intersection: "age+disability", "seventies+deaf"

Target = tuple[str, ...]  # one dimension, or two for an intersection


def read_counterfactual(
    source: SourceConfig, options: CounterfactualOptions, context: SourceContext
) -> Iterator[Conversation | Rejection]:
    originals = [c for c in context.conversations() if usable_original(c, options.from_categories)]
    report = QuotaReport(
        source.name, "counterfactual", options.target, budget_for(options.target, options.budget)
    )
    builder = ProbeBuilder(
        targets(options.dimensions, options.intersections),
        options.variants_per_original,
        frozenset(options.exclude_kinds),
        f"{context.seed}:{source.name}",
    )
    provenance = _provenance_for(source)
    candidates = (v for s in builder.balanced_sets(originals) for v in s.variants(provenance))
    yield from gated(candidates, report, context, options.batch_size)


def usable_original(conversation: Conversation, categories: Iterable[str] = ()) -> bool:
    """A conversation a probe set can start from: has client words, is not huge, and is not crisis talk."""
    categories = list(categories)
    if categories and conversation.category not in categories:
        return False
    text = " ".join(t.text for t in conversation.turns)
    return (
        any(t.role.strip().lower() in CLIENT_ROLES for t in conversation.turns)
        and len(text) <= MAX_ORIGINAL_CHARS
        and not mentions_crisis(text)
    )


def targets(dimensions: Iterable[str], intersections: bool = True) -> list[Target]:
    """Every single dimension asked for, then the inventory's intersections of two of them."""
    inventory = marker_inventory()
    chosen = list(dimensions)
    out: list[Target] = [(d,) for d in chosen]
    if intersections:
        out += [pair for pair in inventory.intersections if set(pair) <= set(chosen)]
    return out


def target_name(target: Target) -> str:
    return JOIN.join(target)


@dataclass(frozen=True)
class ProbeSet:
    """An original and the marker choices of its variants (one (frame, value) per dimension of the target)."""

    original: Conversation
    target: Target
    frames: tuple[Frame, ...]
    choices: tuple[tuple[str, ...], ...]  # per variant: one value per dimension, in target order
    placement: str

    @property
    def id(self) -> str:
        return "cf_" + content_hash(
            [self.original.id, *self.target, *(f.id for f in self.frames), self.placement]
        )

    def variants(self, provenance: Provenance | None = None) -> list[Conversation]:
        labels = [JOIN.join(values) for values in self.choices]
        return [self._variant(values, labels, provenance) for values in self.choices]

    def sentence(self, values: tuple[str, ...]) -> str:
        return " ".join(frame.sentences[value] for frame, value in zip(self.frames, values, strict=True))

    def _variant(
        self, values: tuple[str, ...], labels: list[str], provenance: Provenance | None
    ) -> Conversation:
        original = self.original
        sentence = self.sentence(values)
        turns: list[Turn] = []
        stated = False
        for turn in original.turns:
            if not stated and turn.role.strip().lower() in CLIENT_ROLES:
                turns.append(Turn(turn.role, insert_sentence(turn.text, sentence, self.placement)))
                stated = True
            else:
                turns.append(turn)
        source = provenance or original.source
        return make_conversation(
            turns,
            Provenance(
                kind="augmentation",
                name=source.name,
                uri=original.source.uri,
                license=original.source.license or source.license,
                locator={
                    "original_id": original.id,
                    "original_source": original.source.name,
                    "original_locator": original.source.locator,
                },
            ),
            category="bias",
            language=original.language or "en",
            tags=[*original.tags, "synthetic:counterfactual", *(f"bias:{d}" for d in self.target)],
            group=original.group or original.id,
            source_id=original.source_id,
            meta={"counterfactual": self._meta(values, labels, sentence)},
        )

    def _meta(self, values: tuple[str, ...], labels: list[str], sentence: str) -> dict[str, object]:
        return {
            "set": self.id,
            "original_id": self.original.id,
            "original_group": self.original.group,
            "original_source": self.original.source.name,
            "dimension": target_name(self.target),
            "dimensions": list(self.target),
            "value": JOIN.join(values),
            "values": dict(zip(self.target, values, strict=True)),
            "set_values": labels,
            "intersection": len(self.target) > 1,
            "frames": [f.id for f in self.frames],
            "how": [f.kind for f in self.frames],
            "placement": self.placement,
            "inserted": sentence,
            "therapist_turns_changed": False,
        }


def insert_sentence(text: str, sentence: str, placement: str) -> str:
    """``text`` with ``sentence`` at the start, after its first sentence, or at the end."""
    text = text.strip()
    if placement == "start" or not text:
        return f"{sentence} {text}".strip()
    spans = sentence_spans(text)
    if placement == "after_first_sentence" and len(spans) > 1:
        cut = spans[0].end
        return f"{text[:cut]} {sentence} {text[cut:].lstrip()}"
    ending = "" if text[-1] in ".!?…\"')" else "."
    return f"{text}{ending} {sentence}"


class ProbeBuilder:
    """Chooses frames, values and placements so that every target, frame and value is used evenly."""

    def __init__(
        self,
        targets: list[Target],
        variants_per_set: int = 3,
        exclude_kinds: frozenset[str] = frozenset(),
        seed: str | int = 42,
    ) -> None:
        if not targets:
            raise ValueError("a probe builder needs at least one target dimension")
        self.targets = targets
        self.variants_per_set = variants_per_set
        self.exclude_kinds = exclude_kinds
        self.rng = random.Random(f"{seed}:counterfactual")  # nosec B311  # seeded for reproducible data, not security
        self.use: Counter[str] = Counter()

    def balanced_sets(self, originals: list[Conversation]) -> Iterator[ProbeSet]:
        """One set per original, the least-used target that fits it, originals spread across groups."""
        for index in spread_by_group([o.group or o.id for o in originals], self.rng):
            original = originals[index]
            fitting = self._fitting(original)
            if fitting:
                target = min(fitting, key=lambda t: (self.use[target_name(t)], self.rng.random()))
                self.use[target_name(target)] += 1
                probe = self.probe_set(original, target)
                if probe is not None:
                    yield probe

    def every_target(self, original: Conversation) -> list[ProbeSet]:
        """One set per target that fits ``original`` (what the judge audit scores)."""
        sets = (self.probe_set(original, t) for t in self._fitting(original))
        return [s for s in sets if s is not None]

    def probe_set(self, original: Conversation, target: Target) -> ProbeSet | None:
        frames = tuple(self._frame(d) for d in target)
        if any(f is None for f in frames):
            return None
        chosen = tuple(f for f in frames if f is not None)
        placement = min(PLACEMENTS, key=lambda p: (self.use[f"placement:{p}"], self.rng.random()))
        self.use[f"placement:{placement}"] += 1
        return ProbeSet(original, target, chosen, self._choices(chosen), placement)

    def _fitting(self, original: Conversation) -> list[Target]:
        present = detect_markers(" ".join(client_texts(original)))
        return [t for t in self.targets if not any(d in present for d in t)]

    def _frame(self, dimension: str) -> Frame | None:
        frames = marker_inventory().frames(dimension, self.exclude_kinds)
        if not frames:
            return None
        frame = min(frames, key=lambda f: (self.use[f"frame:{f.id}"], self.rng.random()))
        self.use[f"frame:{frame.id}"] += 1
        return frame

    def _choices(self, frames: tuple[Frame, ...]) -> tuple[tuple[str, ...], ...]:
        combos = list(product(*(f.values for f in frames)))
        self.rng.shuffle(combos)
        key = JOIN.join(f.id for f in frames)
        combos.sort(key=lambda c: self.use[f"{key}:{JOIN.join(c)}"])
        chosen = combos[: max(2, self.variants_per_set)]
        for combo in chosen:
            self.use[f"{key}:{JOIN.join(combo)}"] += 1
        return tuple(chosen)


def _provenance_for(source: SourceConfig) -> Provenance:
    return Provenance(kind="augmentation", name=source.name, license=source.license or "")
