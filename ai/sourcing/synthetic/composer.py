"""The supportive reply on the *chosen* side of the bias preference pairs, in the EARS shape.

A reply reflects a clause the client actually wrote (pronouns turned around), names the feeling,
acknowledges without minimising, and ends on a collaborative, autonomy-respecting next step or an open
question. It states no fact and cites nothing: grounded conversations are written by a language model
(``grounded.py``) and judged against their passage; this composer never produces a ``grounded`` record.

Variety: each slot (opening, feeling, acknowledgement, closing) draws from a pool of phrasings
through a ``VarietyTracker``, which always picks among the least-used phrasings, so no phrasing exceeds
about ``1 / len(pool)`` of the output; ``repetition_report`` measures what was actually produced.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable

from ai.sourcing.synthetic.text import named_feeling, reflect_clause, reflectable_clauses, split_sentences

OPENINGS = (
    "It sounds like {r}.",
    "What I'm hearing is that {r}.",
    "So {r}.",
    "You're telling me that {r}.",
    "If I've understood you, {r}.",
    "From what you've shared, {r}.",
    "It seems {r}.",
    "Let me make sure I follow: {r}.",
    "I'm hearing that {r}.",
    "Thank you for putting this into words: {r}.",
    "I want to reflect back what you said: {r}.",
    "It comes through that {r}.",
    "You've described how {r}.",
    "Let me say back what I heard: {r}.",
)
# When the client wrote nothing that can be mirrored clause by clause.
OPENINGS_WITHOUT_CLAUSE = (
    "Thank you for telling me about this.",
    "I'm glad you're talking about this with me.",
    "Thank you for trusting me with this.",
    "I appreciate you sharing this with me.",
    "It means something that you're putting this into words.",
    "Thank you for being so open about what's going on.",
)
FEELING_LINES = (
    "That sounds {f}.",
    "I can hear how {f} this is for you.",
    "No wonder this feels so {f}.",
    "That must feel {f}.",
    "Living with something this {f} takes a toll.",
    "I imagine that has been really {f}.",
    "It's {f}, and you've been carrying it.",
)
FEELING_LINES_UNNAMED = (
    "That sounds like a lot to carry.",
    "That sounds really hard.",
    "I can hear how much this weighs on you.",
    "That's a heavy thing to hold.",
    "It sounds like this has been taking a lot out of you.",
)
ACKNOWLEDGEMENTS = (
    "It makes sense that you'd feel this way.",
    "Your reaction is understandable given everything going on.",
    "What you're feeling is valid.",
    "It takes courage to talk about this.",
    "You're not wrong to take this seriously.",
    "I'm glad you brought this up.",
    "Anyone in your position would find this hard.",
    "There's nothing wrong with feeling this way.",
    "Your feelings here deserve attention.",
    "It's okay that this has been hard.",
)
NEXT_STEPS = (
    "If you're open to it, we could look together at one small step for this week. What would feel manageable to you?",
    "Would you like to explore together what a first small change could look like?",
    "It's your call, but we could try noticing when this comes up over the next few days and talk it through. How does that sound?",
    "Maybe we could pick one moment this week to try something a little different, at your own pace. What might that be?",
    "Would it feel right to start by writing down when this comes up, so we can look at it together?",
    "We could take this one step at a time. What's one thing you'd like to be different by next week?",
    "If it feels okay, we could think together about who or what supports you right now. Where would you like to start?",
    "What do you think would be a small, doable first step for you?",
    "We don't have to solve it all at once. Which part would you like to work on together first?",
    "How would you feel about trying one small experiment this week and seeing what you notice?",
    "Would you be willing to explore what has helped you, even a little, in the past?",
    "You get to decide the pace here. What feels like a reasonable next step to you?",
)


class VarietyTracker:
    """Chooses phrasings so that none dominates: always one of the least-used so far (seeded tie-break)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: dict[str, Counter[str]] = {}

    def choose(self, slot: str, pool: tuple[str, ...]) -> str:
        counts = self.used.setdefault(slot, Counter())
        fewest = min(counts[p] for p in pool)
        choice = self.rng.choice([p for p in pool if counts[p] == fewest])
        counts[choice] += 1
        return choice


class EarsComposer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.variety = VarietyTracker(rng)

    def supportive_reply(self, client_text: str) -> str:
        """Reflect, name the feeling, acknowledge, and offer a collaborative next step."""
        return _join(
            self._reflection(client_text),
            self._feeling(client_text),
            self.variety.choose("acknowledge", ACKNOWLEDGEMENTS),
            self.variety.choose("next_step", NEXT_STEPS),
        )

    def _reflection(self, client_text: str) -> str:
        clauses = reflectable_clauses(client_text)
        if not clauses:
            return self.variety.choose("opening_plain", OPENINGS_WITHOUT_CLAUSE)
        clause = reflect_clause(self.rng.choice(clauses[:3]))
        opening = self.variety.choose("opening", OPENINGS)
        return opening.format(r=clause)

    def _feeling(self, client_text: str) -> str:
        feeling = named_feeling(client_text)
        if feeling:
            return self.variety.choose("feeling", FEELING_LINES).format(f=feeling)
        return self.variety.choose("feeling_unnamed", FEELING_LINES_UNNAMED)


def _join(*sentences: str) -> str:
    return " ".join(s.strip() for s in sentences if s.strip())


# --- measuring repetition ----------------------------------------------------------------------------


def repetition_report(therapist_turns: Iterable[str], stem_words: int = 3) -> dict[str, float]:
    """How often the first and last sentences of therapist turns repeat across the output.

    ``*_repeat_rate``: share of turns whose sentence already appeared earlier (exact, case-insensitive).
    ``*_max_share``: share of the single most frequent opening/closing sentence.
    ``*_stem_max_share``: share of the most frequent opening/closing stem (its first ``stem_words`` words).
    """
    openings: Counter[str] = Counter()
    closings: Counter[str] = Counter()
    opening_stems: Counter[str] = Counter()
    closing_stems: Counter[str] = Counter()
    turns = 0
    for text in therapist_turns:
        sentences = split_sentences(text)
        if not sentences:
            continue
        turns += 1
        first, last = sentences[0].lower(), sentences[-1].lower()
        openings[first] += 1
        closings[last] += 1
        opening_stems[" ".join(first.split()[:stem_words])] += 1
        closing_stems[" ".join(last.split()[:stem_words])] += 1
    if not turns:
        return {"turns": 0.0}
    return {
        "turns": float(turns),
        "opening_repeat_rate": round((turns - len(openings)) / turns, 4),
        "closing_repeat_rate": round((turns - len(closings)) / turns, 4),
        "opening_max_share": round(max(openings.values()) / turns, 4),
        "closing_max_share": round(max(closings.values()) / turns, 4),
        "opening_stem_max_share": round(max(opening_stems.values()) / turns, 4),
        "closing_stem_max_share": round(max(closing_stems.values()) / turns, 4),
    }
