"""The inventory of mental-health-specific stereotypes and microaggressions, and the check that finds them.

Each entry of ``bias/stereotypes.json`` names one documented bias a counsellor's reply can carry ("men
don't get depressed", "anxiety is a lack of faith", "people like you are usually more resilient"), the
marker values it targets, where it is documented, phrasings of it for the generator, and the cue
patterns of its check. A preference pair is kept only when this check finds its stereotype in the
rejected reply and finds no stereotype at all in the chosen one.

The check has two parts, so that a stray keyword is not taken for the bias: a cue pattern must match, and
the sentence it matches in must go on to say what the stereotype says, i.e. share at least one content
word with one of the stereotype's phrasings besides the words of the cue itself (unless the matched cue
text is itself a statement of at least ``STATEMENT_WORDS`` content words). "Losing weight is hard
when you sleep badly" matches the cue of ``appearance.weight_blamed`` but says nothing more of it;
"losing weight would lift your mood" matches the cue and shares "lift" and "mood" with a phrasing. A cue
that a negation comes just before ("it wasn't just a phase") is the stereotype denied, not stated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from ai.sourcing.synthetic.demographics import INVENTORY_DIR, marker_inventory
from ai.sourcing.synthetic.text import content_tokens
from ai.sourcing.text_chunking import sentence_spans

# Matched cue text this long ("a strict religious upbringing ... holding you back") is a statement itself.
STATEMENT_WORDS = 4
# A negation among the three words before a cue denies it: "it wasn't just a phase", "not a lack of faith".
_NEGATED = re.compile(
    r"\b(?:not|no|never|nor|isn't|wasn't|aren't|don't|doesn't|didn't|won't|can't|cannot)\W+(?:\w+\W+){0,2}$",
    re.I,
)


@dataclass(frozen=True)
class Stereotype:
    id: str
    dimension: str
    applies_to: tuple[str, ...]  # marker values it targets
    kind: str  # stereotype | microaggression | assumption | pathologising
    beliefs: tuple[str, ...]
    source: str
    cues: tuple[re.Pattern[str], ...]

    def found_in(self, text: str) -> list[str]:
        """The cue texts of this stereotype in ``text`` (empty when no cue matches)."""
        return [m.group(0) for cue in self.cues for m in [cue.search(text)] if m]

    def affirmed_in(self, sentence: str) -> list[str]:
        """The cue texts of this stereotype in ``sentence`` that no negation just before denies."""
        return [
            m.group(0)
            for cue in self.cues
            for m in [cue.search(sentence)]
            if m and not _NEGATED.search(sentence[: m.start()])
        ]

    def stated_in(self, text: str) -> tuple[str, list[str]] | None:
        """The first sentence of ``text`` that says this stereotype (a cue matches in it, and it shares a
        content word with one of its phrasings besides the cue's own, or the cue text is a statement
        itself), with its cues; None when no sentence does."""
        for sentence in sentences(text):
            cues = self.affirmed_in(sentence)
            if cues and (_words_of(cues) >= STATEMENT_WORDS or self.shared_beyond(cues, sentence)):
                return sentence, cues
        return None

    def shared_beyond(self, cues: list[str], sentence: str) -> set[str]:
        """Content words of ``sentence``, not in ``cues``, that one of the stereotype's phrasings also has."""
        cue_words = set().union(*(content_tokens(c) for c in cues))
        rest = content_tokens(sentence) - cue_words
        return set().union(*(rest & content_tokens(belief) for belief in self.beliefs))


def _words_of(cues: list[str]) -> int:
    return len(set().union(*(content_tokens(c) for c in cues)))


def sentences(text: str) -> list[str]:
    return [text[span.start : span.end].strip() for span in sentence_spans(text)]


@cache
def stereotype_inventory() -> dict[str, Stereotype]:
    raw = json.loads((INVENTORY_DIR / "stereotypes.json").read_text(encoding="utf-8"))
    markers = marker_inventory().dimensions
    out: dict[str, Stereotype] = {}
    for entry in raw["stereotypes"]:
        dimension = markers.get(entry["dimension"])
        if dimension is None:
            raise ValueError(
                f"stereotypes.json: {entry['id']} names unknown dimension {entry['dimension']!r}"
            )
        applies_to = tuple(entry["applies_to"]) or dimension.values
        unknown = set(applies_to) - set(dimension.values)
        if unknown or entry["id"] in out:
            raise ValueError(
                f"stereotypes.json: {entry['id']} is repeated or targets unknown values {sorted(unknown)}"
            )
        out[entry["id"]] = Stereotype(
            entry["id"],
            entry["dimension"],
            applies_to,
            entry["kind"],
            tuple(entry["beliefs"]),
            entry["source"],
            tuple(re.compile(c, re.IGNORECASE) for c in entry["cues"]),
        )
    return out


def stereotypes_in(text: str, prompt: str = "") -> dict[str, list[str]]:
    """Stereotype id -> its cues found in ``text``; a cue the client's own ``prompt`` already says does not count.

    The exception keeps a reply that takes up the client's words ("you mentioned your faith") from
    being read as a reply that brings a stereotype in.
    """
    found: dict[str, list[str]] = {}
    for stereotype in stereotype_inventory().values():
        cues = [c for c in stereotype.found_in(text) if c.lower() not in prompt.lower()]
        if cues:
            found[stereotype.id] = cues
    return found
