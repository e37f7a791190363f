"""The inventory of mental-health-specific stereotypes and microaggressions, and the check that finds them.

Each entry of ``bias/stereotypes.json`` names one documented bias a counsellor's reply can carry ("men
don't get depressed", "anxiety is a lack of faith", "people like you are usually more resilient"), the
marker values it targets, where it is documented, phrasings of it for the generator, and the cue
patterns of its check. A preference pair is kept only when this check finds its stereotype in the
rejected reply and finds no stereotype at all in the chosen one.

The check has two parts, so that a stray keyword is not taken for the bias: a cue pattern must match, and
the sentence it matches in must say what the stereotype says, i.e. share at least ``MIN_BELIEF_SIMILARITY``
of its content words with one of the stereotype's phrasings (Dice coefficient over stemmed content words).
"Losing weight is hard when you sleep badly" matches the cue of ``appearance.weight_blamed`` but not its
statement; "your weight is probably what keeps your mood low" matches both.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from ai.sourcing.synthetic.demographics import INVENTORY_DIR, marker_inventory
from ai.sourcing.synthetic.text import content_tokens
from ai.sourcing.text_chunking import sentence_spans

# Share of content words a sentence must have in common with one phrasing of a stereotype to count as
# saying it (on top of a cue). Set from the inventory's own phrasings against the responsive replies of
# the unit tests, not tuned on generated text.
MIN_BELIEF_SIMILARITY = 0.2


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

    def stated_in(self, text: str) -> tuple[str, list[str]] | None:
        """The first sentence of ``text`` that says this stereotype (a cue matches in it and it shares
        enough content words with one of its phrasings), with its cues; None when no sentence does."""
        for sentence in sentences(text):
            cues = self.found_in(sentence)
            if cues and self.similarity(sentence) >= MIN_BELIEF_SIMILARITY:
                return sentence, cues
        return None

    def similarity(self, sentence: str) -> float:
        """Largest Dice coefficient between the sentence's content words and one phrasing's."""
        said = content_tokens(sentence)
        return max(_dice(said, content_tokens(belief)) for belief in self.beliefs)


def sentences(text: str) -> list[str]:
    return [text[span.start : span.end].strip() for span in sentence_spans(text)]


def _dice(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / max(1, len(a) + len(b))


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
