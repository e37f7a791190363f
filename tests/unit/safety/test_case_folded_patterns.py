"""The fast case-folded regexes must find exactly what the IGNORECASE compilation finds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai.pipelines.orchestrator.ears_compliance_gate import _RUBRIC
from ai.safety.case_folded import CaseFoldedPattern, RuleSet, first_char_alternation, matched_text
from ai.safety.content_filter import RULES
from ai.safety.content_filter import TRIGGERS as CONTENT_TRIGGERS
from ai.safety.crisis_detection.corpora import read_diasafety
from ai.safety.crisis_detection.patterns import IDIOM_PATTERNS, PATTERNS, THIRD_PERSON_PATTERNS, PatternLayer


def _top_level_alternatives(regex: str) -> list[str]:
    """``regex`` split at the ``|`` that are outside groups, classes and escapes."""
    parts, depth, in_class, start, index = [], 0, False, 0, 0
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(regex[start:index])
            start = index + 1
        index += 1
    return [*parts, regex[start:]]


@pytest.mark.parametrize(
    "regex",
    [r for rules in RULES.values() for r in rules]
    + [p.regex for p in (*PATTERNS, *THIRD_PERSON_PATTERNS, *IDIOM_PATTERNS)],
)
def test_word_start_rule_sets_start_every_alternative_at_a_word_boundary(regex: str) -> None:
    assert all(part.startswith(r"\b") for part in _top_level_alternatives(regex)), regex


def test_upper_case_literals_are_refused() -> None:
    with pytest.raises(ValueError, match="lower case"):
        CaseFoldedPattern(r"\bHello\b")
    CaseFoldedPattern(r"(?P<name>\S+\W)")  # escapes and named groups are not literals


def test_ascii_and_other_text_match_like_ignorecase() -> None:
    pattern = CaseFoldedPattern(r"\bkill (?:myself|me)\b", word_start=True)
    for text in ("I will KILL Myself tonight", "Ich will KILL MYSELF – jetzt", "skill me", ""):
        fast = [(m.start(), m.end(), matched_text(text, m)) for m in pattern.finditer(text)]
        slow = [(m.start(), m.end(), m.group(0)) for m in re.finditer(r"\bkill (?:myself|me)\b", text, re.I)]
        assert fast == slow
    assert matched_text("I will KILL Myself", pattern.search("I will KILL Myself")) == "KILL Myself"
    assert pattern.search("nothing here") is None


def _real_texts(shared_data: Path) -> list[str]:
    texts = [str(row.get("response") or "") for row in read_diasafety(shared_data / "crisis", "val")]
    texts += [str(row.get("context") or "") for row in read_diasafety(shared_data / "crisis", "val")]
    with (shared_data / "conversations" / "esconv_hf_valid.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            texts += [turn["text"] for turn in json.loads(line)["dialog"]]
    return texts


def test_fast_path_finds_what_ignorecase_finds_on_real_text(shared_data: Path) -> None:
    texts = _real_texts(shared_data)
    layer = PatternLayer()
    compiled = [
        layer._combined,
        CONTENT_TRIGGERS,
        *(CaseFoldedPattern("|".join(rules), word_start=True) for rules in RULES.values()),
        *(CaseFoldedPattern("|".join(f"(?:{r})" for r in rules)) for rules in _RUBRIC.values()),
    ]
    hits = 0
    for pattern in compiled:
        for text in texts:
            fast = [(m.start(), m.end(), m.lastgroup) for m in pattern.fast.finditer(text.lower())]
            slow = [(m.start(), m.end(), m.lastgroup) for m in pattern.slow.finditer(text)]
            if text.isascii():
                assert fast == slow, text
            hits += len(slow)
    assert hits > 1000  # the comparison covered real matches, not only misses


def test_first_char_alternation_picks_the_same_alternative_as_the_flat_one() -> None:
    alternatives = ["better\\s+off", "be\\s+better", "bus", "burden", "die", r"\d\d*mg", "dying", "b"]
    grouped = re.compile(r"\b" + first_char_alternation(alternatives))
    flat = re.compile(r"\b(?:" + "|".join(alternatives) + ")")
    text = "you'd be better off; the burden of dying b 20mg be  better bus"
    assert [m.span() for m in grouped.finditer(text)] == [m.span() for m in flat.finditer(text)]
    assert len(list(grouped.finditer(text))) == 7
    with pytest.raises(ValueError, match="first character"):
        first_char_alternation(["a+b"])
    with pytest.raises(ValueError, match="first character"):
        first_char_alternation(["(?:x|y)"])


def test_grouped_triggers_match_where_the_flat_triggers_match(shared_data: Path) -> None:
    from ai.safety.content_filter import _TRIGGER_FRAGMENTS

    flat_content = re.compile(r"\b(?:" + "|".join(_TRIGGER_FRAGMENTS) + ")")
    texts = [t.lower() for t in _real_texts(shared_data)]
    assert [bool(CONTENT_TRIGGERS.fast.search(t)) for t in texts] == [
        bool(flat_content.search(t)) for t in texts
    ]
    assert sum(bool(flat_content.search(t)) for t in texts) > 100


def _rubric_rules() -> RuleSet:
    patterns: dict[str, CaseFoldedPattern | str] = {
        name: "|".join(f"(?:{r})" for r in rules) for name, rules in _RUBRIC.items()
    }
    patterns["content_trigger"] = CONTENT_TRIGGERS
    for code, rules in RULES.items():
        patterns[f"content:{code}"] = CaseFoldedPattern("|".join(rules), word_start=True)
    return RuleSet(patterns)


def test_rule_set_answers_every_rule_like_one_search_per_rule_on_real_text(shared_data: Path) -> None:
    rules = _rubric_rules()
    assert not rules.python_only  # every rubric and content rule runs in the one-pass set
    texts = _real_texts(shared_data)
    found = 0
    for text in texts:
        expected = rules.matching_one_by_one(text)
        assert rules.matching(text) == expected, text
        found += len(expected)
    assert found > 4000  # the comparison covered real matches, not only misses


@given(
    st.lists(
        st.sampled_from(
            [
                "it sounds like",
                "you feel",
                "so",
                "anxious",
                "don't worry",
                "what",
                "?",
                "try",
                "988",
                "you must",
                "hotline",
                "I'm sorry",
                "makes sense",
                "Why",
                "tell me",
                "ÉTÉ",
                "café",
                ".",
                "\n",
            ]
        )
        | st.text(max_size=8),
        max_size=25,
    )
)
def test_rule_set_agrees_with_one_search_per_rule_on_generated_text(words: list[str]) -> None:
    text = " ".join(words)
    assert _RULES.matching(text) == _RULES.matching_one_by_one(text)


_RULES = _rubric_rules()


def test_rule_set_falls_back_to_python_for_what_re2_cannot_run() -> None:
    rules = RuleSet({"lookahead": r"\bkill(?! time)\b", "plain": r"\bsad\b", "backref": r"\b(\w+) \1\b"})
    assert sorted(rules.python_only) == ["backref", "lookahead"]
    assert rules.matching("I could KILL for a coffee, so sad") == {"lookahead", "plain"}
    assert rules.matching("kill time, very very sad") == {"plain", "backref"}
    assert rules.matching("nothing to see") == set()
    # Text that is not ASCII, and text over the set's limit, go through Python's re for every rule.
    assert rules.matching("Tués, SAD, sad") == {"plain"}
    long = RuleSet({"plain": r"\bsad\b"}, max_set_text=10)
    assert long.matching("x" * 20 + " sad") == {"plain"}
    with pytest.raises(ValueError, match="lower case"):
        RuleSet({"upper": "Sad"})
