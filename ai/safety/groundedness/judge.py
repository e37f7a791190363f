"""Is every factual claim of a reply supported by the passage it cites?

A reply sentence *carries a claim* when it states something general about the world (research,
"people who ...", "X can lead to Y", numbers) rather than reflecting, validating or asking; quoted
text is always a claim about the source. Each claim is compared with every sentence (and every pair of
adjacent sentences) of the passage:

    support = w * lexical + (1 - w) * semantic

with *lexical* the share of the claim's content words found in that passage unit and *semantic* the
cosine of their LSA vectors (``features.LsaSpace``). A claim is supported when its best unit reaches
``threshold`` and does not flip its polarity (the claim negates what the unit affirms, or the other
way round, over shared words): "anxious feelings never fall on their own" is a contradiction of
"anxious feelings rise and then fall on their own", not a paraphrase. A claim that only mirrors what the
client said is a reflection, so the client's words count as support too.

The verdict's ``reason`` is ``ungrounded_claim`` when a claim is unsupported and ``passage_unused``
when the reply cites a passage but nothing in it comes from that passage. ``w`` and ``threshold`` are
fitted once on the labelled claims (``train.py``) and live in the model file; the judge knows nothing
of records, generators or configs.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ai.safety.groundedness.features import LsaSpace, content_words, negated, split_sentences

MODEL_DIR = Path(__file__).parent / "model"
MODEL_FILE = "groundedness.json"
VECTORS_FILE = "lsa.npz"

_QUOTED = re.compile(r"[\"“]([^\"”]{12,})[\"”]")
_CLAIM_CUES = re.compile(
    r"\b(?:research\w*|stud(?:y|ies|ied)|evidence|trials?|reviews?|found|shows?|showed|shown|suggests?|"
    r"associated|linked|correlat\w*|risks?|rates?|percent|common(?:ly)?|often|usually|typically|"
    r"tends? to|most people|many people|people who|according to|experts?|scientists?|always|never|"
    r"(?:can|may|will|does|do) (?:cause|lead|increase|reduce|improve|worsen|trigger|predict|help)|"
    r"causes?|increases?|reduces?|improves?|leads? to|is a (?:sign|symptom|form|type)|disorders?)\b"
    r"|\d",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ClaimSupport:
    sentence: str
    text: str  # what must be supported (the quotation when there is one)
    lexical: float
    semantic: float
    support: float
    contradicted: bool
    supported: bool
    evidence: str  # the passage (or client) unit that supports it best


@dataclass
class Verdict:
    claims: list[ClaimSupport] = field(default_factory=list)
    uses_passage: bool = False
    best_passage_support: float = 0.0

    @property
    def reason(self) -> str | None:
        if any(not c.supported for c in self.claims):
            return "ungrounded_claim"
        if not self.uses_passage:
            return "passage_unused"
        return None

    @property
    def passed(self) -> bool:
        return self.reason is None

    @property
    def weakest(self) -> float:
        return min((c.support for c in self.claims), default=1.0)

    def explain(self) -> str:
        bad = [c for c in self.claims if not c.supported]
        if bad:
            worst = min(bad, key=lambda c: c.support)
            why = "contradicts the passage" if worst.contradicted else f"best support {worst.support:.2f}"
            return (
                f"{len(bad)} of {len(self.claims)} factual claim(s) not supported by the cited passage; "
                f"e.g. {worst.sentence[:160]!r} ({why})"
            )
        if not self.uses_passage:
            return (
                "the reply cites a passage but uses nothing from it "
                f"(best sentence support {self.best_passage_support:.2f})"
            )
        return f"{len(self.claims)} claim(s), all supported; the reply uses the cited passage"


class GroundednessJudge:
    def __init__(self, space: LsaSpace, threshold: float, lexical_weight: float) -> None:
        self.space = space
        self.threshold = threshold
        self.lexical_weight = lexical_weight

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> GroundednessJudge:
        meta = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        with np.load(directory / VECTORS_FILE, allow_pickle=False) as arrays:
            space = LsaSpace(
                meta["vocabulary"], arrays["idf"], arrays["components"], frozenset(meta["stopwords"])
            )
        return cls(space, float(meta["threshold"]), float(meta["lexical_weight"]))

    def judge(self, reply: str, passage: str, client_turns: list[str] | tuple[str, ...] = ()) -> Verdict:
        """The verdict on one reply against the passage it cites (and what the client said)."""
        units = passage_units(passage)
        unit_vectors = self.space.embed(units) if units else np.zeros((0, 0), dtype=np.float32)
        client = [s for turn in client_turns for s in split_sentences(turn)]
        verdict = Verdict()
        for sentence in split_sentences(reply):
            best = self._best(sentence, units, unit_vectors)
            verdict.best_passage_support = max(verdict.best_passage_support, best.support)
            if best.supported:
                verdict.uses_passage = True
            for text in claim_texts(sentence):
                claim = self._best(text, units, unit_vectors, sentence)
                if not claim.supported and client:
                    mirrored = self._best(text, client, self.space.embed(client), sentence)
                    claim = mirrored if mirrored.supported else claim
                verdict.claims.append(claim)
        return verdict

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit LSA vectors of texts: their dot product is how related two texts are (0..1)."""
        return self.space.embed(texts)

    def claim_support(self, claim: str, passage: str) -> ClaimSupport:
        """How well one claim is supported by a passage (what the labelled evaluation scores)."""
        units = passage_units(passage)
        return self._best(claim, units, self.space.embed(units))

    def _best(self, text: str, units: list[str], vectors: np.ndarray, sentence: str = "") -> ClaimSupport:
        tokens = set(content_words(text, self.space.stopwords))
        empty = ClaimSupport(sentence or text, text, 0.0, 0.0, 0.0, False, False, "")
        if not tokens or not units:
            return empty
        semantic = vectors @ self.space.embed([text])[0]
        best = empty
        for unit, sem in zip(units, semantic, strict=True):
            unit_tokens = set(content_words(unit, self.space.stopwords))
            lexical = len(tokens & unit_tokens) / len(tokens)
            support = self.lexical_weight * lexical + (1 - self.lexical_weight) * max(float(sem), 0.0)
            if support > best.support:
                contradicted = lexical >= 0.3 and negated(text) != negated(unit)
                supported = support >= self.threshold and not contradicted
                best = ClaimSupport(
                    sentence or text, text, round(lexical, 3), round(float(sem), 3), round(support, 3),
                    contradicted, supported, unit,
                )  # fmt: skip
        return best


def claim_texts(sentence: str) -> list[str]:
    """What in one reply sentence must be supported: its quotations, else the sentence if it states a fact."""
    quotes = _QUOTED.findall(sentence)
    if quotes:
        return quotes
    if not sentence.rstrip().endswith("?") and _CLAIM_CUES.search(sentence):
        return [sentence]
    return []


def passage_units(passage: str) -> list[str]:
    """Sentences of a passage and each pair of adjacent sentences (a claim may join two)."""
    sentences = split_sentences(passage)
    return sentences + [f"{a} {b}" for a, b in itertools.pairwise(sentences)]
