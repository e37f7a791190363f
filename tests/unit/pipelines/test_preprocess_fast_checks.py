"""The cheap pre-checks of normalize and pii decide exactly what the regexes they stand in for decide."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ai.pipelines.orchestrator import pii
from ai.pipelines.orchestrator import unified_preprocessing_pipeline as pre

PIECES = [
    *"aZ .,'-*_`#\\]()[",
    *("](", "---", "\t", "\n", "\r", "\x0b", "\x1c", "\x1f", "\x00", "\x7f", "\x85", "\x9f", "\xa0"),
    *("\u2028", "\u3000", "\u200b", "é", "Ann", "Lee", "O'Neil", "9", "_x"),
]
TRICKY = st.lists(st.sampled_from(PIECES), max_size=25).map("".join)
MARKDOWN_HINT = re.compile(r"[*_`#\\]|\]\(|---")
CAPITALISED_WITH_WORD_BOUNDARY = re.compile(
    rf"\b(?P<name>{pii._NAME_TOKEN})(?=(?P<surname>\s+{pii._NAME_TOKEN})?)"
)


@settings(max_examples=500, deadline=None)
@given(TRICKY)
def test_markdown_precheck_matches_the_hint_regex(text: str) -> None:
    assert pre._may_hold_markdown(text) == (MARKDOWN_HINT.search(text) is not None)


@settings(max_examples=500, deadline=None)
@given(TRICKY)
def test_printable_text_has_no_control_characters_to_remove(text: str) -> None:
    if pre._printable_apart_from_tab_and_newline(text):
        assert pre._CONTROL.search(text) is None


@settings(max_examples=500, deadline=None)
@given(TRICKY)
def test_ascii_tidiness_matches_the_untidy_regex(text: str) -> None:
    if text.isascii():
        assert pre._tidy_ascii(text) == (pre._UNTIDY.search(text) is None)
    else:
        assert not pre._tidy_ascii(text)


@settings(max_examples=500, deadline=None)
@given(TRICKY)
def test_capitalised_word_pattern_matches_the_word_boundary_form(text: str) -> None:
    def spans(pattern: re.Pattern[str]) -> list[tuple[tuple[int, int], str | None]]:
        return [(m.span("name"), m.group("surname")) for m in pattern.finditer(text)]

    assert spans(pii._CAPITALISED) == spans(CAPITALISED_WITH_WORD_BOUNDARY)


def test_normalise_text_still_cleans_what_the_checks_let_through() -> None:
    assert pre.normalise_text("a\x00b  c ") == ("ab c", ["control_removed", "whitespace"])
    assert pre.normalise_text("**bold** and\tok")[0] == "bold and ok"
    assert pre.normalise_text("plain tidy text") == ("plain tidy text", [])
