"""Case-insensitive regexes that run several times faster on the common (ASCII) text.

Python's ``re`` with ``IGNORECASE`` folds the case of every character it compares and cannot use its
literal fast paths, so the safety rule sets cost far more per character than they need to. A
``CaseFoldedPattern`` runs the same rules case-sensitively on the lower-cased text when the text is
ASCII (lower-casing then keeps every position, and ASCII case folding is exactly lower-casing); other
text goes through the ``IGNORECASE`` compilation, so results never differ. Match positions refer to
the original text either way; callers slice the original text for the matched words.

Rule sets whose every alternative starts at a word boundary (``word_start=True``) are compiled as
``\\b(?:...)``, so the engine gives up at once at the many positions inside words instead of trying
each alternative there.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping

import re2

_ESCAPE = re.compile(r"\\.|\(\?P[<=]")  # escapes (\S, \W, ...) and named groups are not literals
_UPPER = re.compile(r"[A-Z]")


class CaseFoldedPattern:
    """One case-insensitive regex with a fast path for ASCII text."""

    def __init__(self, source: str, word_start: bool = False) -> None:
        if _UPPER.search(_ESCAPE.sub("", source)):
            raise ValueError("a case-folded pattern must be written in lower case (it runs on lowered text)")
        self.source = rf"\b(?:{source})" if word_start else source
        self.slow = re.compile(source, re.IGNORECASE)
        self.fast = re.compile(self.source)

    def search(self, text: str, start: int = 0, end: int = sys.maxsize) -> re.Match[str] | None:
        if text.isascii():
            return self.fast.search(text.lower(), start, end)
        return self.slow.search(text, start, end)

    def finditer(self, text: str, start: int = 0, end: int = sys.maxsize) -> Iterator[re.Match[str]]:
        if text.isascii():
            return self.fast.finditer(text.lower(), start, end)
        return self.slow.finditer(text, start, end)

    def finditer_lowered(
        self, text: str, lowered: str, start: int = 0, end: int = sys.maxsize
    ) -> Iterator[re.Match[str]]:
        """``finditer`` for a caller that has already lower-cased ``text`` (``lowered``)."""
        if text.isascii():
            return self.fast.finditer(lowered, start, end)
        return self.slow.finditer(text, start, end)


class RuleSet:
    """Named case-folded patterns, and which of them match a text, found in one pass.

    The safety and EARS rubrics ask a dozen yes/no questions of every reply ("is there an open
    question?", "any minimising?"). Asked one by one with Python's backtracking ``re`` that is a dozen
    scans; ``matching`` asks them all in a single scan with an RE2 set (a DFA: linear time, no
    backtracking), about 30x less time on real replies. Whether a regular pattern matches *somewhere*
    does not depend on the engine, so the answer is the one Python's ``re`` gives; callers then run the
    Python pattern (``self.patterns[name]``) only for the names that matched, to get the same first
    match as before for their evidence. Text that is not ASCII or longer than ``max_set_text``, and any
    pattern RE2 cannot compile (look-arounds, back-references), go through Python's ``re``.
    """

    def __init__(self, patterns: Mapping[str, CaseFoldedPattern | str], max_set_text: int = 20_000) -> None:
        self.patterns = {
            name: p if isinstance(p, CaseFoldedPattern) else CaseFoldedPattern(p)
            for name, p in patterns.items()
        }
        self.max_set_text = max_set_text
        options = re2.Options()
        options.max_mem = 64 << 20
        options.log_errors = False
        self._set = re2.Set.SearchSet(options)
        self._set_names: list[str] = []
        self.python_only: list[str] = []
        for name, pattern in self.patterns.items():
            try:
                self._set.Add(pattern.source)
                self._set_names.append(name)
            except re2.error:
                self.python_only.append(name)
        self._set.Compile()

    def matching(self, text: str) -> set[str]:
        """The names of the patterns that match somewhere in ``text``."""
        if text.isascii() and len(text) <= self.max_set_text:
            found = {self._set_names[i] for i in self._set.Match(text.lower()) or ()}
            found.update(name for name in self.python_only if self.patterns[name].search(text))
            return found
        return self.matching_one_by_one(text)

    def matching_one_by_one(self, text: str) -> set[str]:
        """One Python ``re`` search per pattern: the fallback, and what ``matching`` always returns."""
        return {name for name, pattern in self.patterns.items() if pattern.search(text)}


def matched_text(text: str, match: re.Match[str]) -> str:
    """The words of ``text`` a match covers, in their original case."""
    return text[match.start() : match.end()]


def first_char_alternation(alternatives: list[str]) -> str:
    """``(?:a1|a2|...)`` regrouped by first character: ``(?:b(?:urden|ully)|d(?:ie|ose))``.

    Python's engine skips an alternative cheaply only when it starts with a plain character, so a long
    flat alternation costs one attempt per alternative at every position; grouped, a position costs
    one test per distinct first character. Order within each group is kept, so the alternative that
    wins at a position is the one that won before. Each alternative must start with a lower-case
    letter, a digit or ``\\d``, not followed by a quantifier.
    """
    groups: dict[str, list[str]] = {}
    for alternative in alternatives:
        head = alternative[:2] if alternative.startswith("\\d") else alternative[:1]
        rest = alternative[len(head) :]
        if not (head == "\\d" or head.isdigit() or "a" <= head <= "z") or rest[:1] in ("?", "*", "+", "{"):
            raise ValueError(f"cannot group {alternative!r} by its first character")
        groups.setdefault(head, []).append(rest)
    return "(?:" + "|".join(f"{head}(?:{'|'.join(rests)})" for head, rests in groups.items()) + ")"
