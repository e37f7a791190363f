"""The per-record preprocessing stages: normalize, roles, language."""

from __future__ import annotations

import pickle

import msgspec
import pytest

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.pipelines.orchestrator.unified_preprocessing_pipeline import (
    LanguageStage,
    NormalizeStage,
    RolesStage,
    normalise_text,
)

SOURCE = Provenance(kind="dataset", name="unit", locator={"file_line": "data.jsonl:3"})


def conv(*turns: tuple[str, str], **fields: object) -> Conversation:
    return make_conversation([Turn(role, text) for role, text in turns], SOURCE, **fields)


# --- normalize -------------------------------------------------------------------------------------------


def test_normalise_text_repairs_mojibake_only_where_text_looks_broken() -> None:
    broken = "I feel like it’s my fault".encode().decode("cp1252")
    assert "â€" in broken
    fixed, fixes = normalise_text(broken)
    assert fixed == "I feel like it's my fault" or fixed == "I feel like it’s my fault"
    assert "mojibake_fixed" in fixes
    # Correct accented text is left alone.
    assert normalise_text("Café au lait, naïve résumé")[0] == "Café au lait, naïve résumé"


def test_normalise_text_applies_nfc_and_drops_invisible_and_control_characters() -> None:
    decomposed = "cafe\u0301\u200b and\x07 more\x00"
    text, fixes = normalise_text(decomposed)
    assert text == "café and more"
    assert "control_removed" in fixes


def test_normalise_text_strips_html_and_decodes_entities() -> None:
    text, fixes = normalise_text(
        "<p>I can&#39;t sleep</p><br/>It&nbsp;hurts <b>a lot</b> &amp; more<!-- x -->"
    )
    assert text == "I can't sleep\n\nIt hurts a lot & more"
    assert "html_stripped" in fixes
    # A lone "<" or "&" in ordinary prose is not markup.
    assert normalise_text("I was < 5 years old & scared")[0] == "I was < 5 years old & scared"


def test_normalise_text_strips_markdown_artefacts() -> None:
    text, _ = normalise_text(
        "## Feeling low\n**Really** tired, _very_ sad.\n---\nSee [this](https://x.org) \\*now\\*"
    )
    assert text == "Feeling low\nReally tired, very sad.\n\nSee this (https://x.org) *now*"


def test_normalise_text_tidies_whitespace() -> None:
    text, fixes = normalise_text("  one\t\ttwo  \r\n\r\n\r\n\r\nthree \n four  ")
    assert text == "one two\n\nthree\nfour"
    assert fixes == ["whitespace"]
    assert normalise_text("already clean.") == ("already clean.", [])


def test_normalize_stage_keeps_every_record_and_counts_fixes() -> None:
    batch = [
        conv(("user", "<b>hi</b>  there"), ("assistant", "hello")),
        conv(("user", "plain"), ("gpt", "text")),
    ]
    result = NormalizeStage().process(batch)
    assert len(result.kept) == 2 and not result.rejected
    assert result.kept[0].turns[0].text == "hi there"
    assert result.kept[0].id == batch[0].id  # ids stay those given at ingest
    assert result.stats["turns_html_stripped"] == 1.0
    assert result.kept[1] == batch[1]


def test_normalize_options_switch_steps_off() -> None:
    stage = NormalizeStage(NormalizeStage.Options(strip_html=False, strip_markdown=False))
    out = stage.process([conv(("user", "<b>**hi**</b>"), ("assistant", "ok"))]).kept[0]
    assert out.turns[0].text == "<b>**hi**</b>"


# --- roles -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "therapist"),
    [
        ("user", "assistant"),
        ("Human", "GPT"),
        ("usr", "sys"),
        ("usr", "counselor"),
        ("seeker", "supporter"),
        ("client", "therapist"),
    ],
)
def test_roles_map_spellings_onto_client_and_therapist(client: str, therapist: str) -> None:
    result = RolesStage().process([conv((client, "I feel low."), (therapist, "I hear you."))])
    assert [t.role for t in result.kept[0].turns] == ["client", "therapist"]


def test_roles_merge_consecutive_same_role_turns_and_keep_system() -> None:
    record = conv(("system", "Be kind."), ("user", "One."), ("human", "Two."), ("assistant", "Three."))
    result = RolesStage().process([record])
    assert result.kept[0].turns == [
        Turn("system", "Be kind."),
        Turn("client", "One.\nTwo."),
        Turn("therapist", "Three."),
    ]
    assert result.stats["turns_merged"] == 1.0


def test_roles_custom_map_extends_the_table() -> None:
    stage = RolesStage(msgspec.convert({"role_map": {"Patient_A": "client"}}, RolesStage.Options))
    assert stage.process([conv(("patient_a", "hi"), ("bot", "hello"))]).kept[0].turns[0].role == "client"
    with pytest.raises(msgspec.ValidationError, match="role_map values"):
        msgspec.convert({"role_map": {"x": "doctor"}}, RolesStage.Options)


@pytest.mark.parametrize(
    ("turns", "reason"),
    [
        ((("user", "hi"), ("narrator", "hello")), "unknown_role"),
        ((("user", "hi"), ("assistant", "   ")), "empty_turn"),
        ((("assistant", "hello"), ("gpt", "anyone?")), "no_client_turn"),
        ((("user", "hello"), ("human", "anyone?")), "no_therapist_turn"),
        ((), "no_client_turn"),
    ],
)
def test_roles_reject_unusable_conversations(turns: tuple[tuple[str, str], ...], reason: str) -> None:
    result = RolesStage().process([conv(*turns)])
    assert not result.kept
    (rejection,) = result.rejected
    assert rejection.reason == reason and rejection.stage == "roles" and rejection.message
    assert rejection.locator == "data.jsonl:3"


def test_roles_reject_absurd_lengths() -> None:
    options = RolesStage.Options(max_turns=4, max_turn_chars=50, max_total_chars=80, min_turns=3)
    stage = RolesStage(options)
    many = conv(*[("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(6)])
    long_turn = conv(("user", "x" * 51), ("assistant", "ok"), ("user", "ok"))
    long_total = conv(("user", "y" * 45), ("assistant", "z" * 45), ("user", "ok"))
    short = conv(("user", "hi"), ("assistant", "hello"))
    result = stage.process([many, long_turn, long_total, short])
    assert [r.reason for r in result.rejected] == [
        "too_many_turns",
        "turn_too_long",
        "conversation_too_long",
        "too_few_turns",
    ]
    assert "the limit is 4" in result.rejected[0].message


# --- language --------------------------------------------------------------------------------------------


ENGLISH = ("I have been feeling very anxious about work and I cannot sleep at night.", "user")
ENGLISH_REPLY = ("It sounds like the pressure at work is keeping your mind busy at night.", "assistant")


def test_language_keeps_english_and_sets_the_language_field() -> None:
    record = conv((ENGLISH[1], ENGLISH[0]), (ENGLISH_REPLY[1], ENGLISH_REPLY[0]))
    result = LanguageStage().process([record])
    assert result.kept[0].language == "en"
    assert result.stats == {"lang_en": 1.0}


def test_language_rejects_other_languages_naming_the_detected_one() -> None:
    german = conv(
        ("client", "Ich fühle mich seit Wochen sehr traurig und kann nachts nicht schlafen."),
        ("therapist", "Das klingt sehr schwer. Was hilft Ihnen normalerweise in solchen Momenten?"),
    )
    result = LanguageStage().process([german])
    (rejection,) = result.rejected
    assert rejection.reason == "language_not_allowed"
    assert "'de'" in rejection.message and "allowed: en" in rejection.message


def test_language_checks_client_and_therapist_separately() -> None:
    mixed = conv(
        ("client", ENGLISH[0]),
        ("therapist", "Parece que estás cargando con mucho peso tú solo, ¿qué te ayuda normalmente?"),
    )
    (rejection,) = LanguageStage().process([mixed]).rejected
    assert rejection.message.startswith("therapist text detected as 'es'")


def test_language_allows_configured_languages() -> None:
    spanish = conv(
        ("client", "Me siento muy ansioso cuando tengo que hablar con otras personas en el trabajo."),
        ("therapist", "Parece que estás cargando con mucho peso tú solo, ¿qué te ayuda normalmente?"),
    )
    stage = LanguageStage(LanguageStage.Options(languages=["en", "es"]))
    assert stage.process([spanish]).kept[0].language == "es"


def test_language_judges_short_turns_together() -> None:
    record = conv(
        ("user", "hi"), ("assistant", "Hello, how are you feeling today? Tell me what is on your mind.")
    )
    result = LanguageStage().process([record])
    assert result.kept and result.kept[0].language == "en"


def test_language_stage_survives_pickling_for_worker_processes() -> None:
    stage = LanguageStage()
    stage.process([conv(("user", ENGLISH[0]), ("assistant", ENGLISH_REPLY[0]))])
    clone = pickle.loads(pickle.dumps(stage))
    assert clone.process([conv(("user", ENGLISH[0]), ("assistant", ENGLISH_REPLY[0]))]).kept


def test_language_options_need_a_language() -> None:
    with pytest.raises(msgspec.ValidationError, match="at least one language"):
        msgspec.convert({"languages": []}, LanguageStage.Options)
