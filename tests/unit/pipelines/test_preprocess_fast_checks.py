"""The cheap pre-checks of normalize and pii decide exactly what the regexes they stand in for decide."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.pipelines.orchestrator import pii
from ai.pipelines.orchestrator import unified_preprocessing_pipeline as pre

PIECES = [
    *"aZ .,'-*_`#\\]()[",
    *("](", "---", "\t", "\n", "\r", "\x0b", "\x1c", "\x1f", "\x00", "\x7f", "\x85", "\x9f", "\xa0"),
    *("\u2028", "\u3000", "\u200b", "é", "Ann", "Lee", "O'Neil", "9", "_x", "Zoë", "DeShawn", "Ł", " van "),
]
TRICKY = st.lists(st.sampled_from(PIECES), max_size=25).map("".join)
MARKDOWN_HINT = re.compile(r"[*_`#\\]|\]\(|---")
# A name starts after no letter, digit, apostrophe or hyphen (so "O'Neil" is never cut to "O'[NAME]").
CAPITALISED_WITH_WORD_BOUNDARY = re.compile(rf"(?<![\w'’-])(?P<name>{pii._NAME_TOKEN})")


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
    def spans(pattern: re.Pattern[str]) -> list[tuple[int, int]]:
        return [m.span("name") for m in pattern.finditer(text)]

    assert spans(pii._CAPITALISED) == spans(CAPITALISED_WITH_WORD_BOUNDARY)


def test_normalise_text_still_cleans_what_the_checks_let_through() -> None:
    assert pre.normalise_text("a\x00b  c ") == ("ab c", ["control_removed", "whitespace"])
    assert pre.normalise_text("**bold** and\tok")[0] == "bold and ok"
    assert pre.normalise_text("plain tidy text") == ("plain tidy text", [])


ASCII_FOREIGN = [
    "Ik heb het gevoel dat ik niet meer kan slapen en het is zo moeilijk voor mij om te praten met mijn familie",
    "Saya merasa sangat sedih dan tidak bisa tidur di malam hari karena saya selalu memikirkan masalah ini",
    "Io non riesco a dormire la notte e mi sento sempre molto stanco e triste quando sono a casa con i miei",
    "No puedo dormir por las noches y me siento muy triste cuando estoy en casa con mi familia y mis amigos",
    "Ich kann nachts nicht schlafen und ich bin so traurig wenn ich an die Arbeit denke, was soll ich tun",
    "Hindi ako makatulog sa gabi at palagi akong malungkot kapag naiisip ko ang mga problema ko sa trabaho",
    "Je ne peux pas dormir la nuit et je suis si triste quand je pense a mon travail et a ma famille",
    "Eu nao consigo dormir a noite e me sinto muito triste quando penso no meu trabalho e na minha familia",
]
ENGLISH_TEXTS = [
    "I have been feeling so anxious about work and I can't sleep at night, it's all I think about.",
    "It sounds like the pressure at work is keeping your mind busy when you want to rest.",
]


def test_plainly_english_takes_english_prose_and_nothing_else() -> None:
    assert all(pre.plainly_english(text) for text in ENGLISH_TEXTS)
    assert not any(pre.plainly_english(text) for text in ASCII_FOREIGN)
    assert not pre.plainly_english("I feel sad")  # too short to be sure
    assert not pre.plainly_english("I have been feeling so anxious about work and I can’t sleep at night.")


def _conversation(client: str, therapist: str) -> Conversation:
    turns = [Turn("client", client), Turn("therapist", therapist)]
    return make_conversation(turns, Provenance(kind="dataset", name="t"))


def test_language_shortcut_gives_what_fasttext_gives() -> None:
    records = [_conversation(a, b) for a in ENGLISH_TEXTS + ASCII_FOREIGN[:3] for b in ENGLISH_TEXTS]
    fast = pre.LanguageStage().process(records)
    slow = pre.LanguageStage(pre.LanguageStage.Options(english_shortcut=False)).process(records)
    assert [r.id for r in fast.kept] == [r.id for r in slow.kept]
    assert [r.message for r in fast.rejected] == [r.message for r in slow.rejected]
    assert len(fast.kept) == 4 and len(fast.rejected) == 6


def test_language_shortcut_only_when_english_is_allowed() -> None:
    stage = pre.LanguageStage(pre.LanguageStage.Options(languages=["es"]))
    (rejection,) = stage.process([_conversation(*ENGLISH_TEXTS)]).rejected
    assert "'en'" in rejection.message and "allowed: es" in rejection.message
