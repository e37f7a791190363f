"""Counterfactual demographic variants: the same conversation, a different client, the same therapist.

For an original conversation, one dimension is chosen (balanced across the run) and several of its
marker values; each variant states one value in the client's first message, in the same phrasing and
at the same place across the set, and every therapist turn is left exactly as it was. A reply that is
right for one client is then, by construction, the reply for each of the others.

Split safety: every variant carries the original's ``group`` (the id of the original when it has none),
and the whole set shares ``meta["counterfactual"]["set"]``; variants are also near duplicates of their
original, which the dedup stage in cluster mode ties into one split.
Originals that already state a marker of the chosen dimension are not given a contradicting one.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

from ai.core.config import SourceConfig
from ai.core.context import SourceContext
from ai.core.records import Conversation, Provenance, Turn, content_hash, make_conversation
from ai.core.stage import Rejection
from ai.sourcing.synthetic.demographics import DESCRIPTOR_FORMS, MARKERS, Marker, descriptor, detect_markers
from ai.sourcing.synthetic.options import CounterfactualOptions
from ai.sourcing.synthetic.quota import QuotaReport, budget_for, gated
from ai.sourcing.synthetic.text import CLIENT_ROLES, client_texts, mentions_crisis, spread_by_group

MAX_ORIGINAL_CHARS = 6000


def read_counterfactual(
    source: SourceConfig, options: CounterfactualOptions, context: SourceContext
) -> Iterator[Conversation | Rejection]:
    originals = [c for c in context.conversations() if _usable_original(c, options.from_categories)]
    report = QuotaReport(
        source.name, "counterfactual", options.target, budget_for(options.target, options.budget)
    )
    builder = CounterfactualBuilder(source, options, context.seed)
    yield from gated(builder.candidates(originals), report, context, options.batch_size)


def _usable_original(conversation: Conversation, categories: list[str]) -> bool:
    if categories and conversation.category not in categories:
        return False
    text = " ".join(t.text for t in conversation.turns)
    return (
        any(t.role.strip().lower() in CLIENT_ROLES for t in conversation.turns)
        and len(text) <= MAX_ORIGINAL_CHARS
        and not mentions_crisis(text)
    )


class CounterfactualBuilder:
    def __init__(self, source: SourceConfig, options: CounterfactualOptions, seed: int) -> None:
        self.source = source
        self.options = options
        self.rng = random.Random(f"{seed}:{source.name}:counterfactual")  # nosec B311  # seeded for reproducible data, not security
        self.dimension_use: Counter[str] = Counter()
        self.value_use: Counter[str] = Counter()
        self.form_use: Counter[str] = Counter()

    def candidates(self, originals: list[Conversation]) -> Iterator[Conversation]:
        for index in spread_by_group([o.group or o.id for o in originals], self.rng):
            yield from self.variants(originals[index])

    def variants(self, original: Conversation) -> list[Conversation]:
        """One counterfactual set for ``original`` (empty when no dimension fits it)."""
        present = detect_markers(" ".join(client_texts(original)))
        dimensions = [d for d in self.options.dimensions if d not in present]
        if not dimensions:
            return []
        dimension = min(dimensions, key=lambda d: (self.dimension_use[d], self.rng.random()))
        markers = self._values(dimension)
        form = min(DESCRIPTOR_FORMS, key=lambda f: (self.form_use[f], self.rng.random()))
        self.form_use[form] += 1
        at_start = self.rng.random() < 0.5
        set_id = "cf_" + content_hash([original.id, dimension, form])
        variants = []
        for marker in markers:
            variants.append(
                self._variant(original, marker, form, at_start, set_id, [m.value for m in markers])
            )
            self.dimension_use[dimension] += 1
            self.value_use[f"{dimension}:{marker.value}"] += 1
        return variants

    def _values(self, dimension: str) -> list[Marker]:
        pool = list(MARKERS[dimension])
        self.rng.shuffle(pool)
        pool.sort(key=lambda m: self.value_use[f"{dimension}:{m.value}"])
        return pool[: min(self.options.variants_per_original, len(pool))]

    def _variant(
        self,
        original: Conversation,
        marker: Marker,
        form: str,
        at_start: bool,
        set_id: str,
        values: list[str],
    ) -> Conversation:
        sentence = descriptor(marker, form)
        turns: list[Turn] = []
        stated = False
        for turn in original.turns:
            if not stated and turn.role.strip().lower() in CLIENT_ROLES:
                text = turn.text.strip()
                text = f"{sentence} {text}" if at_start else f"{text.rstrip()} {sentence}"
                turns.append(Turn(turn.role, text))
                stated = True
            else:
                turns.append(turn)
        return make_conversation(
            turns,
            Provenance(
                kind="augmentation",
                name=self.source.name,
                uri=original.source.uri,
                license=self.source.license or original.source.license,
                locator={
                    "original_id": original.id,
                    "original_source": original.source.name,
                    "original_locator": original.source.locator,
                },
            ),
            category="bias",
            language=original.language or "en",
            tags=[*original.tags, "synthetic:counterfactual", f"bias:{marker.dimension}"],
            group=original.group or original.id,
            source_id=original.source_id,
            meta={
                "counterfactual": {
                    "set": set_id,
                    "original_id": original.id,
                    "original_group": original.group,
                    "dimension": marker.dimension,
                    "value": marker.value,
                    "set_values": values,
                    "descriptor": sentence,
                    "placement": "start" if at_start else "end",
                    "therapist_turns_changed": False,
                }
            },
        )
