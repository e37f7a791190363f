"""The pattern layer: categories, levels, and the context that discounts a hit."""

from __future__ import annotations

import pytest

from ai.safety.crisis_detection.patterns import PatternLayer, has_trigger, may_hit

LAYER = PatternLayer()


def counted(text: str) -> list[tuple[str, str]]:
    return [(h.category, h.level) for h in LAYER.scan_one(text) if h.counts]


def discounts(text: str) -> set[str]:
    return {h.discount for h in LAYER.scan_one(text) if not h.counts}


@pytest.mark.parametrize(
    ("text", "category", "level"),
    [
        ("I want to kill myself", "ideation", "ideation"),
        ("i dont want to live anymore", "ideation", "ideation"),
        ("Everyone would be better off without me", "ideation", "ideation"),
        ("I'm going to kill myself tonight", "plan_or_intent", "behavior_or_plan"),
        ("I've been stockpiling my pills", "means", "behavior_or_plan"),
        ("I started cutting myself again", "self_harm", "behavior_or_plan"),
        ("Last year I tried to kill myself", "past_attempt", "attempt"),
        ("This is my final goodbye", "farewell", "behavior_or_plan"),
        ("I feel completely hopeless", "hopelessness", "indicator"),
        ("I want to hurt him so badly", "harm_to_others", "behavior_or_plan"),
        ("My husband hits me when he drinks", "abuse_or_danger", "indicator"),
    ],
)
def test_categories_and_levels(text: str, category: str, level: str) -> None:
    assert (category, level) in counted(text)


@pytest.mark.parametrize(
    ("text", "discount"),
    [
        ("I would never kill myself", "negated"),
        ("i don t want to die", "negated"),
        ("My friend told me she wants to die", "third_person"),
        ("He said he wants to kill himself", "third_person"),
        ("What should I do if someone says they want to die?", "hypothetical"),
        ('The song goes "I want to die" over and over', "quoted"),
        ("In the movie the character wants to kill himself", "third_person"),
    ],
)
def test_context_discounts_hits(text: str, discount: str) -> None:
    assert counted(text) == [] or all(c == "hopelessness" for c, _ in counted(text))
    assert discount in discounts(text)


def test_negation_does_not_cross_a_conjunction() -> None:
    assert ("ideation", "ideation") in counted("I'm not okay and I want to die")


def test_cannot_stop_thinking_is_not_a_negation() -> None:
    assert counted("I can't stop thinking about killing myself")


def test_later_sentence_still_counts_after_a_negated_one() -> None:
    hits = LAYER.scan_one("I would never hurt anyone. But I want to die.")
    assert any(h.counts and h.category == "ideation" for h in hits)


def test_spans_point_into_the_original_text() -> None:
    text = "Honestly... I WANT TO DIE."
    (hit,) = LAYER.scan_one(text)
    assert text[hit.start : hit.end] == hit.text == "WANT TO DIE"


def test_plain_texts_have_no_trigger_and_no_hits() -> None:
    text = "We talked about my new job and the move to another city."
    assert not has_trigger(text)
    assert LAYER.scan([text]) == [[]]


def test_scan_with_and_without_candidates_agree() -> None:
    texts = ["I want to die", "lunch was fine", "he hits me", "what's the point of anything"]
    assert LAYER.scan(texts) == [LAYER.scan_one(t) if has_trigger(t) else [] for t in texts]
    assert LAYER.scan(texts, candidates=[0]) == [LAYER.scan_one(texts[0]), [], [], []]


def test_every_pattern_hit_is_selected_by_the_trigger_prefilter(shared_data) -> None:
    """The pre-filter must never hide a hit: compare on real crisis texts."""
    import csv

    path = shared_data / "crisis" / "laxmimerit_twitter-suicidal_data.csv"
    with path.open(encoding="utf-8", errors="replace") as handle:
        texts = [row["tweet"] for row in csv.DictReader(handle)][:3000]
    missed = [t for t in texts if LAYER.scan_one(t) and not has_trigger(t)]
    assert missed == []
    assert [t for t in texts if LAYER.scan_one(t) and not may_hit(t)] == []
    assert not may_hit("I took the bus to work and it was busy") and may_hit("time to catch the bus")


def test_windowed_scan_finds_what_a_full_scan_finds(shared_data) -> None:
    """scan_one only looks around trigger words; it must agree with scanning every character."""
    import csv

    texts = []
    for name, column in (
        ("sdcnl_testing-set.csv", "selftext"),
        ("laxmimerit_twitter-suicidal_data.csv", "tweet"),
    ):
        with (shared_data / "crisis" / name).open(encoding="utf-8", errors="replace") as handle:
            texts += [row[column] for row in csv.DictReader(handle)][:1500]
    assert [LAYER.scan_one(t) for t in texts] == [LAYER.scan_full(t) for t in texts]


def test_unicode_that_changes_length_when_lowered_falls_back_to_a_full_scan() -> None:
    text = "İstanbul was hard. I want to die."
    assert LAYER.scan_one(text) == LAYER.scan_full(text) != []


# The floor audit (issue 16): each of these was a counted hit, or a flag, on text with no risk to the writer.
@pytest.mark.parametrize(
    ("text", "discount"),
    [
        ("I wanted to die of embarrassment when I tripped on stage", "idiom"),
        ("I'm so embarrassed I want to die of shame", "idiom"),
        ("I was killing myself at the gym this week", "idiom"),
        ("If you are thinking about suicide, please call a crisis line", "second_person"),
        ("When you want to die, please text 988 and talk to someone", "second_person"),
        ("I used to want to kill myself, but therapy helped and now I'm doing well", "recovered"),
        ("Years ago I was suicidal. I'm in a much better place now.", "recovered"),
        ("♪ I don't want to live forever ♪", "hypothetical"),
        ("the lyrics 'I want to end it all' hit hard", "hypothetical"),
    ],
)
def test_audited_floor_hits_are_discounted(text: str, discount: str) -> None:
    assert counted(text) == []
    assert discount in discounts(text)


@pytest.mark.parametrize(
    "text",
    [
        "this homework is killing me",
        "I could just die of embarrassment",
        "I'm dead tired after the night shift",
        "Please don't hurt yourself, you deserve to live",
        "my feet are killing me",
        "I'd kill for a coffee right now",
    ],
)
def test_idioms_and_support_without_a_pattern_hit(text: str) -> None:
    assert counted(text) == []


@pytest.mark.parametrize(
    "text",
    [
        # A recent attempt followed by "I'm okay" is not a recovery story.
        "I tried to kill myself last night. I am okay physically but scared",
        # A distant past attempt without any word that it is over still counts (a risk factor).
        "Two years ago I tried to kill myself and woke up in hospital.",
        # Recovery claimed, then new ideation in a later sentence.
        "I used to be suicidal and got better. But now I want to die again.",
        # The writer's own statement after supporting someone else.
        "You deserve to live. I don't though, I want to kill myself.",
    ],
)
def test_discounts_do_not_hide_the_writers_own_risk(text: str) -> None:
    assert counted(text) != []
