"""Is every factual claim a therapist makes backed by the passage it cites?

A therapist sentence *carries a claim* when it states something general about the world (research,
"people who ...", "X can lead to Y", numbers) rather than reflecting, validating or asking. Quoted text
is always a claim about the source. Each claim must map onto one sentence of the grounding passages:
the share of the claim's content words found in that sentence must reach the threshold. A claim that
only mirrors the client's own words is a reflection, so the client's turns count as support too.

The check knows nothing about how the reply was written, so it judges the offline composer and LLM
output (Data Designer) alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from ai.sourcing.synthetic.text import content_tokens, split_sentences

DEFAULT_THRESHOLD = 0.6

_QUOTED = re.compile(r"[\"“]([^\"”]{12,})[\"”]")
_CLAIM_CUES = re.compile(
    r"\b(?:research\w*|stud(?:y|ies|ied)|evidence|trials?|reviews?|found|shows?|showed|shown|suggests?|"
    r"associated|linked|correlat\w*|risks?|rates?|percent|common(?:ly)?|often|usually|typically|"
    r"tends? to|most people|many people|people who|according to|experts?|scientists?|"
    r"(?:can|may|will|does|do) (?:cause|lead|increase|reduce|improve|worsen|trigger|predict)|"
    r"causes?|increases?|reduces?|improves?|leads? to|is a (?:sign|symptom|form|type)|disorders?)\b"
    r"|\d",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    sentence: str
    text: str  # the part that must be supported (the quotation when there is one)
    support: float  # best share of its content words found in one passage (or client) sentence
    supported: bool


@dataclass
class GroundednessResult:
    claims: list[Claim] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.supported for c in self.claims)

    @property
    def unsupported(self) -> list[Claim]:
        return [c for c in self.claims if not c.supported]

    def explain(self) -> str:
        bad = self.unsupported
        if not bad:
            return f"{len(self.claims)} claim(s), all supported"
        worst = min(bad, key=lambda c: c.support)
        return (
            f"{len(bad)} of {len(self.claims)} factual claim(s) have no supporting passage sentence; "
            f"e.g. {worst.sentence[:160]!r} (best overlap {worst.support:.2f})"
        )


def claims_in(therapist_text: str) -> list[tuple[str, str]]:
    """(sentence, text to verify) for every sentence of a therapist turn that carries a factual claim."""
    found: list[tuple[str, str]] = []
    for sentence in split_sentences(therapist_text):
        quotes = _QUOTED.findall(sentence)
        if quotes:
            found.extend((sentence, q) for q in quotes)
        elif not sentence.rstrip().endswith("?") and _CLAIM_CUES.search(sentence):
            found.append((sentence, sentence))
    return found


def check_groundedness(
    therapist_turns: list[str],
    passage_texts: list[str],
    client_turns: list[str] = (),  # type: ignore[assignment]
    threshold: float = DEFAULT_THRESHOLD,
) -> GroundednessResult:
    """Check every claim of the therapist turns against the passages (and, for reflections, the client)."""
    passage_sentences = [tokens for text in passage_texts for tokens in sentence_tokens(text)]
    client_sentences = [content_tokens(s) for text in client_turns for s in split_sentences(text)]
    result = GroundednessResult()
    for turn in therapist_turns:
        for sentence, text in claims_in(turn):
            tokens = content_tokens(text)
            if not tokens:
                continue
            support = max(
                _best_containment(tokens, passage_sentences),
                _best_containment(tokens, client_sentences),
            )
            result.claims.append(Claim(sentence, text, round(support, 3), support >= threshold))
    return result


@lru_cache(maxsize=4096)
def sentence_tokens(text: str) -> tuple[frozenset[str], ...]:
    """Content words of each sentence of a passage (cached: one passage grounds many replies)."""
    return tuple(frozenset(content_tokens(s)) for s in split_sentences(text))


def _best_containment(tokens: set[str], candidates: list[set[str]] | list[frozenset[str]]) -> float:
    best = 0.0
    for candidate in candidates:
        if candidate:
            best = max(best, len(tokens & candidate) / len(tokens))
            if best >= 1.0:
                break
    return best
