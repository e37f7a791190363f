"""PII scrubbing: detectors, consistent placeholders, kept crisis lines, the labelled set, the stage."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from ai.core.records import Provenance, Turn, make_conversation
from ai.pipelines.orchestrator.pii import PiiScrubber, evaluate, evaluate_file, scores_table
from ai.pipelines.orchestrator.unified_preprocessing_pipeline import PiiStage

CASES = Path(__file__).resolve().parents[2] / "fixtures" / "pii_cases.jsonl"


def scrub(text: str) -> str:
    return PiiScrubber().scrub([text]).texts[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at jo.smith+x@gmail.com today", "mail me at [EMAIL_1] today"),
        ("call (415) 555-0132 now", "call [PHONE_1] now"),
        ("ring +44 20 7946 0958 please", "ring [PHONE_1] please"),
        ("my cell is 555-867-5309", "my cell is [PHONE_1]"),
        ("see https://www.reddit.com/user/abc123.", "see [URL_1]."),
        ("my blog janesmithwrites.com is private", "my blog [URL_1] is private"),
        ("from 203.0.113.45 again", "from [IP_1] again"),
        ("he used 2001:db8:85a3::8a2e:370:7334", "he used [IP_1]"),
        ("card 4111 1111 1111 1111 stolen", "card [CARD_1] stolen"),
        ("SSN 123-45-6789 leaked", "SSN [SSN_1] leaked"),
        ("I live at 42 Maple Street, Springfield, IL 62704.", "I live at [ADDRESS_1]."),
        ("postcode SW1A 1AA", "postcode [ADDRESS_1]"),
        ("My name is Jessica and I'm tired", "My name is [NAME_1] and I'm tired"),
        ("Hi Sarah, thanks for writing", "Hi [NAME_1], thanks for writing"),
        ("My husband Kevin shouts", "My husband [NAME_1] shouts"),
        ("I saw Dr. Nguyen today", "I saw Dr. [NAME_1] today"),
        ("That sounds hard, Keisha.", "That sounds hard, [NAME_1]."),
        ("I'm Nadia, nice to meet you", "I'm [NAME_1], nice to meet you"),
        ("my name is thomas", "my name is [NAME_1]"),
        ("Yesterday Jennifer Walsh called", "Yesterday [NAME_1] called"),
    ],
)
def test_each_kind_of_pii_gets_a_typed_placeholder(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "If you are in danger call 988 or text HOME to 741741.",
        "Samaritans are free on 116 123, day or night.",
        "Call the Lifeline at 1-800-273-8255 or 911.",
        "Chat at https://988lifeline.org/chat or www.samaritans.org.",
        "I slept 4 hours and it was 12.05.2020 at 3:30.",
        "I owe 15,000 dollars and scored 18 on the PHQ-9.",
        "Reference 4111 1111 1111 1112 fails the Luhn check.",
        "I walked 3 blocks down the road.",
        "I hope things get better. Will it stop? In May I lost my job.",
        "I'm Tired and I'm American. Hi everyone, thanks so much.",
        "The Trevor Project helped me.",
        "I am studying Node.js, e.g. for work.",
        "Focus on why you are meeting with the counselor.In the first session we talk.",
        "Call the Childhelp hotline 1-800-422-4453 or the Texas line 800-989-6884.",
        "Freephone 0808 800 5000 any time.",
    ],
)
def test_crisis_lines_and_ordinary_text_are_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_placeholders_are_consistent_within_a_conversation() -> None:
    result = PiiScrubber().scrub(
        [
            "I'm Priya. My boyfriend Tom and I fight. Email priya@x.org or tom@y.org.",
            "Priya, what happens when Tom shouts? You can also email me at priya@x.org.",
        ]
    )
    assert result.texts == [
        "I'm [NAME_1]. My boyfriend [NAME_2] and I fight. Email [EMAIL_1] or [EMAIL_2].",
        "[NAME_1], what happens when [NAME_2] shouts? You can also email me at [EMAIL_1].",
    ]
    assert result.counts == {"NAME": 4, "EMAIL": 3}


def test_phone_numbers_match_in_any_format_within_a_conversation() -> None:
    result = PiiScrubber().scrub(["call 555-867-5309", "or 555.867.5309 or 555 234 1111"])
    assert result.texts == ["call [PHONE_1]", "or [PHONE_1] or [PHONE_2]"]


def test_toll_free_numbers_can_be_scrubbed_too() -> None:
    scrubber = PiiScrubber(keep_toll_free=False)
    assert scrubber.scrub(["call 1-800-422-4453"]).texts == ["call [PHONE_1]"]


def test_types_can_be_limited_and_keep_lists_configured() -> None:
    scrubber = PiiScrubber(
        keep_numbers=["555-867-5309"], keep_domains=["example.org"], types=["PHONE", "URL"]
    )
    text = "Sarah: call 555-867-5309 or 555-867-0000, see example.org/help and other.com"
    assert (
        scrubber.scrub([text]).texts[0]
        == "Sarah: call 555-867-5309 or [PHONE_1], see example.org/help and [URL_1]"
    )
    with pytest.raises(ValueError, match="unknown PII types"):
        PiiScrubber(types=["PASSPORT"])


def test_labelled_set_precision_and_recall() -> None:
    cases = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    assert len(cases) >= 200
    assert sum(not c["entities"] for c in cases) >= 50  # enough negatives to measure precision
    result = evaluate(cases)
    # Measured 1.00 / 0.95 (docs/PREPROCESSING.md); these floors catch regressions.
    assert result["overall"]["precision"] >= 0.97
    assert result["overall"]["recall"] >= 0.92
    for kind in ("EMAIL", "PHONE", "CARD", "SSN", "IP", "URL"):
        assert result["by_type"][kind]["recall"] >= 0.95, kind


def test_evaluate_file_and_scores_table(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        json.dumps({"text": "mail a@b.org", "entities": [{"type": "EMAIL", "text": "a@b.org"}]}) + "\n\n"
    )
    table = scores_table(evaluate_file(cases))
    assert "| EMAIL | 1 | 1 | 0 | 0 | 1.000 | 1.000 |" in table
    assert table.splitlines()[-1] == "| all | 1 | 1 | 0 | 0 | 1.000 | 1.000 |"


def test_evaluate_counts_false_positives_and_misses() -> None:
    cases = [
        {"text": "call 555-867-5309", "entities": [{"type": "PHONE", "text": "555-867-5309"}]},
        {"text": "nothing here", "entities": [{"type": "NAME", "text": "Zed"}]},
        {"text": "Hi Sarah, ok", "entities": []},
    ]
    result = evaluate(cases)
    assert result["overall"] == {"precision": 0.5, "recall": 0.5, "tp": 1, "fp": 1, "fn": 1}
    assert {e["kind"] for e in result["errors"]} == {"missed", "false_positive"}


def test_pii_stage_scrubs_turns_and_records_counts() -> None:
    record = make_conversation(
        [
            Turn("client", "My name is Jessica, call me on 07700 900123."),
            Turn("therapist", "Thanks, Jessica."),
        ],
        Provenance(kind="dataset", name="unit"),
    )
    clean = make_conversation(
        [Turn("client", "I feel low."), Turn("therapist", "Tell me more.")],
        Provenance(kind="dataset", name="unit"),
    )
    result = PiiStage().process([record, clean])
    assert [t.text for t in result.kept[0].turns] == [
        "My name is [NAME_1], call me on [PHONE_1].",
        "Thanks, [NAME_1].",
    ]
    assert result.kept[0].meta["pii_redacted"] == {"NAME": 2, "PHONE": 1}
    assert result.kept[0].id == record.id
    assert result.kept[1] is clean
    assert result.stats == {"pii_name": 2.0, "pii_phone": 1.0, "records_with_pii": 1.0}


def test_pii_stage_scrubs_the_preference_pair_the_dpo_export_reads() -> None:
    # The DPO exporter writes meta["dpo"]'s chosen and rejected replies; a name the model made up in
    # them must get the same placeholder as in the turns, not leave in clear.
    chosen = "Your son, Kai, sounds like he matters a lot to you. What happened?"
    rejected = "Your son, Kai, will grow out of it. People like you are usually resilient."
    record = make_conversation(
        [Turn("client", "My son has been so angry lately."), Turn("therapist", chosen)],
        Provenance(kind="synthetic", name="unit"),
        meta={"dpo": {"chosen": chosen, "rejected": rejected, "bias_type": "resilience"}},
    )
    kept = PiiStage().process([record]).kept[0]
    assert kept.turns[1].text == "Your son, [NAME_1], sounds like he matters a lot to you. What happened?"
    assert kept.meta["dpo"]["chosen"] == kept.turns[1].text
    assert kept.meta["dpo"]["rejected"].startswith("Your son, [NAME_1], will grow out of it.")
    assert kept.meta["dpo"]["bias_type"] == "resilience"
    assert "Kai" not in json.dumps(kept.meta)


def test_pii_stage_options_are_validated() -> None:
    stage = PiiStage(msgspec.convert({"types": ["EMAIL"]}, PiiStage.Options))
    record = make_conversation(
        [Turn("client", "I'm Sarah, a@b.com"), Turn("therapist", "ok")], Provenance(kind="dataset", name="u")
    )
    assert stage.process([record]).kept[0].turns[0].text == "I'm Sarah, [EMAIL_1]"
    with pytest.raises(msgspec.ValidationError, match="unknown PII types"):
        msgspec.convert({"types": ["EMAIL", "DNA"]}, PiiStage.Options)


# Issue 21, PII: each kind of item that survived the previous scrubber, in new wordings.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I was born on March 14th, 1987 in Ohio.", "I was born on [DOB_1] in Ohio."),
        ("DOB: 03/14/1987, allergies none", "DOB: [DOB_1], allergies none"),
        ("my birthday is the 5th of June and I hate it", "my birthday is the [DOB_1] and I hate it"),
        ("d.o.b. 1990-07-02", "d.o.b. [DOB_1]"),
        ("Geboren? No, I was born 2/9/01 in Texas", "Geboren? No, I was born [DOB_1] in Texas"),
    ],
)
def test_dates_of_birth_are_scrubbed(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "On March 3rd my dad died and nothing has been the same.",
        "Since June 2019 I have not slept through the night.",
        "I gave birth eight months ago and still feel numb.",
        "My birthday is next week and I dread it.",
    ],
)
def test_event_dates_and_birth_words_without_a_date_are_kept(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "he made a fake account, @sadboi_1999, to mock me",
            "he made a fake account, [HANDLE_1], to mock me",
        ),
        ("I post as u/quiet_owl_77 on the forum", "I post as [HANDLE_1] on the forum"),
        ("my insta is jen.lee_92 if you want", "my insta is [HANDLE_1] if you want"),
        ("add me on snap: xo.mara", "add me on snap: [HANDLE_1]"),
        ("follow @samaritans for daily tips, not @ 5pm", "follow @samaritans for daily tips, not @ 5pm"),
    ],
)
def test_social_handles_are_scrubbed(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_handle_words_without_a_handle_are_kept() -> None:
    text = "I can't handle it. My insta is private and my snap is a mess."
    assert scrub(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my MRN is 00482913 at the clinic", "my MRN is [MRN_1] at the clinic"),
        ("medical record number: 4829-113", "medical record number: [MRN_1]"),
        ("NHS number 943 476 5919 please", "NHS number [MRN_1] please"),
        ("driver's license number D412-7793-0021", "driver's license number [ID_1]"),
        ("my licence is MORGA753116SM9IJ", "my licence is [ID_1]"),
        ("passport no. 531902287 expired", "passport no. [ID_1] expired"),
    ],
)
def test_record_and_licence_numbers_are_scrubbed(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write jane dot doe at gmail dot com", "write [EMAIL_1]"),
        ("it's j.doe [at] proton [dot] me", "it's [EMAIL_1]"),
        ("try sam_k(at)outlook(dot)com", "try [EMAIL_1]"),
        ("or tsmith1984 at hotmail.com", "or [EMAIL_1]"),
        ("mail o'brien.k@example.ie now", "mail [EMAIL_1] now"),
    ],
)
def test_obfuscated_and_unusual_emails_are_scrubbed_whole(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_looking_at_a_site_is_not_an_email() -> None:
    assert scrub("I looked at it dot by dot and it made no sense.") == (
        "I looked at it dot by dot and it made no sense."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my SSN is 078051120", "my SSN is [SSN_1]"),
        ("social security number 078.05.1120", "social security number [SSN_1]"),
        ("it's 219099999 on the form", "it's [SSN_1] on the form"),
    ],
)
def test_ssns_without_separators_are_scrubbed(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_amounts_and_invalid_ssn_areas_are_kept() -> None:
    text = "I owe 15,000,000 won, code 900123456 and 000123456 are not SSNs."
    assert scrub(text) == text


def test_spelled_out_phone_numbers_are_scrubbed_and_counting_is_kept() -> None:
    result = PiiScrubber().scrub(
        [
            "call five five five, eight six seven, five three oh nine",
            "or 555-867-5309. Count five, four, three, two, one and breathe.",
        ]
    )
    assert result.texts == [
        "call [PHONE_1]",
        "or [PHONE_1]. Count five, four, three, two, one and breathe.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm DeShawn Williams-Carter.", "I'm [NAME_1]."),
        ("MacKenzie and LaMarcus left.", "[NAME_1] and [NAME_2] left."),
        ('"Mr. O\'Brien" is my old teacher', '"Mr. [NAME_1]" is my old teacher'),
        (
            "Zoë, José and Renée came; Łukasz and Åsa did not.",
            "[NAME_1], [NAME_2] and [NAME_3] came; [NAME_4] and [NAME_5] did not.",
        ),
        ("my boss Mr. Van der Berg yelled", "my boss Mr. [NAME_1] yelled"),
        ("I'm Nguyễn Thị Hoa.", "I'm [NAME_1]."),
    ],
)
def test_names_with_inner_capitals_apostrophes_hyphens_and_accents_go_whole(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I talked to sarah after group", "I talked to [NAME_1] after group"),
        ("me and jake went out", "me and [NAME_1] went out"),
        ("tamika said she hates me", "[NAME_1] said she hates me"),
        ("my roommate, brittany, never cleans", "my roommate, [NAME_1], never cleans"),
        ("i saw dr. patel today", "i saw dr. [NAME_1] today"),
        ("its me again, tomasz", "its me again, [NAME_1]"),
    ],
)
def test_lower_case_names_in_name_context(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "i will talk to my mom, i hope it goes well",
        "ignorance is bliss, and I am a multitasking queen",
        "Dr. appointment was cancelled again, my nan says it's fine",
        "Will it stop? Hope is hard. May was bad. Grace is rare. Even Per my doctor.",
        "I work at McDonald's and watch YouTube on my iPhone.",
    ],
)
def test_words_that_are_also_names_are_kept(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I live at Rue de Rivoli 25 now", "I live at [ADDRESS_1] now"),
        ("Calle Mayor 14, 28013 Madrid", "[ADDRESS_1]"),
        ("we moved to Kastanienallee 12 last year", "we moved to [ADDRESS_1] last year"),
        ("25 rue de la Paix", "[ADDRESS_1]"),
        ("she lives at 88 north park drive", "she lives at [ADDRESS_1]"),
    ],
)
def test_street_addresses_in_other_orders(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_distances_and_recipes_are_not_addresses() -> None:
    text = "I walked 3 blocks down the road. Place 2 cups of flour in a 2 lane road bowl."
    assert scrub(text) == text


def test_hints_work_on_text_that_is_not_ascii() -> None:
    assert (
        scrub("I’m Zoë — born 4/5/1999, my MRN’s 55-204-718")
        == "I’m [NAME_1] — born [DOB_1], my MRN’s [MRN_1]"
    )


@pytest.mark.parametrize(
    ("source_id", "expected"),
    [
        ("user-jessica.moreno@gmail.com", "[EMAIL]"),
        ("patient_ssn_078-05-1120", "patient_ssn_[SSN]"),
        ("client_sarah_02", "client_[NAME]_02"),
        ("conv-000123", "conv-000123"),
        ("12345#3", "12345#3"),
        ("c_f3ada91e", "c_f3ada91e"),
        ("", ""),
    ],
)
def test_source_ids_lose_their_pii(source_id: str, expected: str) -> None:
    assert PiiScrubber().scrub_identifier(source_id) == expected


def test_pii_stage_scrubs_source_id_the_same_way_on_every_run() -> None:
    record = make_conversation(
        [Turn("client", "I feel low."), Turn("therapist", "Tell me more.")],
        Provenance(kind="dataset", name="unit"),
        source_id="user-jessica.moreno@gmail.com",
    )
    clean = make_conversation(
        [Turn("client", "I feel low today."), Turn("therapist", "Tell me more.")],
        Provenance(kind="dataset", name="unit"),
        source_id="row-17",
    )
    first, second = PiiStage().process([record, clean]), PiiStage().process([record, clean])
    assert [r.source_id for r in first.kept] == ["[EMAIL]", "row-17"]
    assert msgspec.json.encode(first.kept) == msgspec.json.encode(second.kept)
    assert first.kept[0].id == record.id
    assert first.stats["source_ids_scrubbed"] == 1.0
