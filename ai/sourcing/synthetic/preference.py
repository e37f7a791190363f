"""Preference pairs for bias mitigation: an unbiased reply (chosen) against a biased one (rejected).

The prompt is a real client message with a demographic marker stated in it. The chosen reply is the
composer's EARS reply, written from the client's original words only, so it cannot depend on the
marker; the rejected reply stereotypes the client by that marker (or, for ``dismissive``, minimises).
Each pair is a two-turn conversation (prompt, chosen) with the pair in ``meta["dpo"]`` as
``{prompt, chosen, rejected, bias_type}``, which the DPO exporter reads.

Client messages that look as if they could hold personal data (capitalised names mid-sentence,
digits, addresses, links) are not used: ``meta`` is not scrubbed by the PII stage.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator

from ai.core.config import SourceConfig
from ai.core.context import SourceContext
from ai.core.records import Conversation, Provenance, Turn, make_conversation, normalise_for_hash
from ai.core.stage import Rejection
from ai.sourcing.synthetic.composer import EarsComposer
from ai.sourcing.synthetic.demographics import (
    AGE_REPLIES,
    DESCRIPTOR_FORMS,
    DISMISSIVE_REPLIES,
    MARKERS,
    STEREOTYPED_REPLIES,
    Marker,
    descriptor,
    detect_markers,
    stereotyped_reply,
)
from ai.sourcing.synthetic.grounded import client_threads
from ai.sourcing.synthetic.options import PreferenceOptions
from ai.sourcing.synthetic.quota import QuotaReport, budget_for, gated
from ai.sourcing.synthetic.text import spread_by_group

_MAYBE_PERSONAL = re.compile(r"\d|@|https?://|www\.|(?<=[a-z,;] )(?!I\b|I')[A-Z][a-z]+")
OLDER_AGES = frozenset({"forties", "sixties", "seventies"})


def read_preference_pairs(
    source: SourceConfig, options: PreferenceOptions, context: SourceContext
) -> Iterator[Conversation | Rejection]:
    threads = client_threads(context.conversations(), options.from_categories)
    report = QuotaReport(
        source.name, "preference_pairs", options.target, budget_for(options.target, options.budget)
    )
    builder = PreferencePairBuilder(source, options, context.seed)
    prompts = [(t.utterances[0], t.origin) for t in threads if not _MAYBE_PERSONAL.search(t.utterances[0])]
    yield from gated(builder.candidates(prompts), report, context, options.batch_size)


class PreferencePairBuilder:
    def __init__(self, source: SourceConfig, options: PreferenceOptions, seed: int) -> None:
        self.source = source
        self.options = options
        self.rng = random.Random(f"{seed}:{source.name}:preference")  # nosec B311  # seeded for reproducible data, not security
        self.composer = EarsComposer(self.rng)
        self.use: Counter[str] = Counter()
        self.seen: set[str] = set()

    def candidates(self, prompts: list[tuple[str, Conversation]]) -> Iterator[Conversation]:
        for index in spread_by_group([o.group or o.id for _, o in prompts], self.rng):
            utterance, origin = prompts[index]
            pair = self.pair(utterance, origin)
            if pair is not None:
                yield pair

    def pair(self, utterance: str, origin: Conversation) -> Conversation | None:
        present = detect_markers(utterance)
        dimensions = [d for d in self.options.dimensions if d not in present]
        if not dimensions:
            return None
        dimension = self._least_used(dimensions, "dim")
        marker = self._least_used(list(MARKERS[dimension]), f"{dimension}:")
        form = self._least_used(list(DESCRIPTOR_FORMS), "form:")
        prompt = f"{utterance.strip()} {descriptor(marker, form)}"
        key = normalise_for_hash(prompt)
        if key in self.seen:
            return None
        self.seen.add(key)
        chosen = self.composer.supportive_reply(utterance)
        rejected, bias_type = self._rejected(marker)
        return make_conversation(
            [Turn("client", prompt), Turn("therapist", chosen)],
            Provenance(
                kind="synthetic",
                name=self.source.name,
                uri=origin.source.uri,
                license=self.source.license or origin.source.license,
                locator={
                    "client_source": origin.source.name,
                    "client_conversation": origin.id,
                    "client_locator": origin.source.locator,
                },
            ),
            category="bias",
            language="en",
            tags=["synthetic:preference_pair", f"bias:{marker.dimension}", f"bias_type:{bias_type}"],
            group=origin.group or origin.id,
            meta={
                "dpo": {"prompt": prompt, "chosen": chosen, "rejected": rejected, "bias_type": bias_type},
                "preference": {"dimension": marker.dimension, "value": marker.value},
            },
        )

    def _rejected(self, marker: Marker) -> tuple[str, str]:
        if self.rng.random() < self.options.dismissive_share:
            return self._least_used(list(DISMISSIVE_REPLIES), "dismissive:"), "dismissive"
        templates = list(STEREOTYPED_REPLIES)
        if marker.dimension == "age" and marker.value in OLDER_AGES:
            templates += AGE_REPLIES
        template = self._least_used(templates, f"stereotype:{marker.dimension}:")
        return stereotyped_reply(marker, template), f"{marker.dimension}_stereotype"

    def _least_used(self, options: list, prefix: str):  # type: ignore[no-untyped-def]
        def key(option: object) -> str:
            return prefix + (option.value if isinstance(option, Marker) else str(option))

        fewest = min(self.use[key(o)] for o in options)
        choice = self.rng.choice([o for o in options if self.use[key(o)] == fewest])
        self.use[key(choice)] += 1
        return choice
