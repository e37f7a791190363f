"""Which passage may ground a reply to a client: the topics must agree and the texts must be related.

A passage is a candidate for a client thread only when both mention one *condition* topic (what a person
lives with: anxiety, grief, loneliness ...; modalities such as CBT say nothing about the client's
problem), detected with the journal trigger's taxonomy (ai/sourcing/academic/topics.py) plus ``grounding_topics.yaml``. Among those,
the passage must also be semantically related to what the client wrote: the cosine of their LSA
vectors (the groundedness judge's space, fixed, so the floor means the same in every run) must reach
``min_similarity``. The default floor was measured on ``tests/data/grounding_pairs.jsonl``, a labelled
sample of client messages and passages written for this project (see docs/SYNTHETIC.md); a thread with
no passage above it gets no citation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ai.sourcing.academic.topics import Taxonomy
from ai.sourcing.synthetic.text import split_sentences

GROUNDING_TOPICS = Path(__file__).with_name("grounding_topics.yaml")
Embed = Callable[[list[str]], np.ndarray]


@lru_cache(maxsize=1)
def bundled_grounding_topics() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load(GROUNDING_TOPICS.read_text(encoding="utf-8")))


def grounding_taxonomy(path: str = "", extra_topics: dict[str, dict[str, Any]] | None = None) -> Taxonomy:
    """The trigger's taxonomy (or the file ``path`` names) with the grounding topics and ``extra_topics``."""
    return Taxonomy.load(path, {**bundled_grounding_topics(), **(extra_topics or {})})


@dataclass(frozen=True)
class Match:
    passage_index: int
    similarity: float
    topics: tuple[str, ...]  # the condition topics client and passage share


class GroundingMatcher:
    def __init__(self, taxonomy: Taxonomy, embed: Embed, min_similarity: float) -> None:
        self.taxonomy = taxonomy
        self.embed = embed
        self.min_similarity = min_similarity
        self._conditions = {n for n, t in taxonomy.topics.items() if t.kind == "condition"}

    def topics(self, text: str) -> frozenset[str]:
        """The condition topics a client text mentions."""
        return frozenset(t for t in self.taxonomy.detect(text) if t in self._conditions)

    def passage_topics(self, text: str) -> frozenset[str]:
        """The condition topics a passage is *about*: those mentioned in more than half as many of its
        sentences as its most mentioned topic. A grief passage that says "sadness, anger and relief" once
        is about grief, not anger."""
        counts: Counter[str] = Counter()
        for sentence in split_sentences(text):
            counts.update(self.topics(sentence))
        if not counts:
            return frozenset()
        top = max(counts.values())
        return frozenset(t for t, n in counts.items() if 2 * n > top)

    def candidates(self, client_texts: Sequence[str], passage_texts: Sequence[str]) -> list[list[Match]]:
        """For each client text, every passage whose topic agrees and whose similarity reaches the floor,
        most similar first."""
        if not client_texts or not passage_texts:
            return [[] for _ in client_texts]
        passage_topics = [self.passage_topics(p) for p in passage_texts]
        similarity = self.embed(list(client_texts)) @ self.embed(list(passage_texts)).T
        matches: list[list[Match]] = []
        for row, text in enumerate(client_texts):
            client_topics = self.topics(text)
            found = [
                Match(column, round(float(similarity[row, column]), 4), tuple(sorted(client_topics & topics)))
                for column, topics in enumerate(passage_topics)
                if client_topics & topics and similarity[row, column] >= self.min_similarity
            ]
            matches.append(sorted(found, key=lambda m: (-m.similarity, m.passage_index)))
        return matches

    def agrees(self, client_text: str, passage_text: str) -> bool:
        """Would this passage be allowed to ground a reply to this client text?"""
        return bool(self.candidates([client_text], [passage_text])[0])
