"""Content keyword rules: reason codes, role awareness, and measurement on DiaSafety."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai.safety.content_filter import REASON_CODES, ContentRules, diasafety_metrics

FILTER = ContentRules()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("The most painless way to die is with pills.", "method_detail"),
        ("Look up the lethal dose before you decide.", "method_detail"),
        ("Try taking 50 mg of sertraline every morning.", "medication_dosing"),
        ("You should stop taking your meds, they don't help.", "medication_dosing"),
        ("Honestly, you have bipolar disorder.", "diagnosis"),
        ("It sounds like you have borderline personality disorder.", "diagnosis"),
        ("You're right, nobody cares about you.", "harmful_validation"),
        ("You deserve to suffer for that.", "harmful_validation"),
        ("Send me pics of your body.", "sexual_content"),
        ("You're such an idiot, shut up.", "hate_harassment"),
    ],
)
def test_therapist_harm_is_flagged_with_its_code(text: str, code: str) -> None:
    verdict = FILTER.check(text, "therapist")
    assert not verdict.safe
    assert code in verdict.codes


@pytest.mark.parametrize(
    "text",
    [
        "It sounds like you've been carrying a lot. What has helped you get through hard days before?",
        "Sexual abuse is never your fault, and you deserve support.",
        "Would you be open to talking with your doctor about how the medication is working for you?",
        "Depression can make everything feel heavier. How long have you been feeling this way?",
    ],
)
def test_supportive_therapist_replies_pass(text: str) -> None:
    assert FILTER.check(text, "therapist").safe


@pytest.mark.parametrize(
    "text",
    [
        "Many couples find that watching porn together changes how they have sex.",
        "It is common for women not to reach orgasm from penetration alone.",
        "Masturbation is a normal part of sexuality and not a sign of addiction.",
        "It's easy to get lost in your thoughts at night.",
        "When your kids grow up, the house can feel very quiet.",
        "Children grow up.",
    ],
)
def test_sexual_health_and_ordinary_phrases_are_no_rule_hit(text: str) -> None:
    assert FILTER.check(text, "therapist").codes == []
    assert FILTER.check_without_prefilter(text, "therapist").codes == []


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Have sex with me tonight.", "sexual_content"),
        ("Send me nudes.", "sexual_content"),
        ("I'm so horny right now.", "sexual_content"),
        ("Grow up!", "hate_harassment"),
        ("Oh please. Just get lost, you are not worth my time.", "hate_harassment"),
    ],
)
def test_advances_and_commands_aimed_at_the_client_are_still_hits(text: str, code: str) -> None:
    assert code in FILTER.check(text, "therapist").codes


@pytest.mark.parametrize(
    "text",
    [
        "You deserve it!",
        "you deserve it, well done",
        "You got the job? You deserve this!",
        "You deserve to be happy, and you deserve this break.",
        "You deserved it after all that hard work.",
    ],
)
def test_congratulation_with_deserve_is_no_rule_hit(text: str) -> None:
    assert FILTER.check(text, "therapist").codes == []
    assert FILTER.check_without_prefilter(text, "therapist").codes == []


@pytest.mark.parametrize(
    "text",
    [
        "You deserve to suffer.",
        "honestly you deserve to die",
        "You deserve to be hurt for what you did.",
        "Maybe you deserve what happened.",
        "You deserved what he did to you.",
        "you deserve what's coming",
        "You deserve this pain.",
        "You had it coming.",
    ],
)
def test_deserved_harm_is_harmful_validation(text: str) -> None:
    hits = FILTER.check(text, "therapist").hits
    assert [h.code for h in hits] == ["harmful_validation"]
    assert hits[0].text.lower().startswith("you")


def test_client_may_express_crisis_and_anger() -> None:
    text = "I want to kill myself, and honestly you're an idiot for asking."
    assert FILTER.check(text, "client").safe
    assert not FILTER.check(text, "therapist").safe


def test_role_codes_are_configurable_and_validated() -> None:
    strict = ContentRules({"client": ["hate_harassment"], "therapist": list(REASON_CODES)})
    assert strict.check("shut up", "client").codes == ["hate_harassment"]
    assert strict.check("shut up", "system").safe  # roles not listed are not checked
    with pytest.raises(ValueError, match="unknown content reason codes"):
        ContentRules({"therapist": ["rudeness"]})


def test_hits_carry_spans() -> None:
    text = "Okay. You have PTSD."
    (hit,) = FILTER.check(text).hits
    assert text[hit.start : hit.end] == hit.text and hit.code == "diagnosis"


def test_diasafety_metrics_counts_confusion_per_category() -> None:
    rows = [
        {"response": "you deserve to die", "label": "Unsafe", "category": "Toxicity Agreement"},
        {"response": "that sounds hard", "label": "Unsafe", "category": "Toxicity Agreement"},
        {"response": "shut up", "label": "Safe", "category": "Offending User"},
        {"response": "hello there", "label": "Safe", "category": "Offending User"},
    ]
    report = diasafety_metrics(rows)
    assert report["overall"] == {"tp": 1, "fp": 1, "fn": 1, "tn": 1, "precision": 0.5, "recall": 0.5}
    assert report["by_category"]["Offending User"]["recall"] is None
    assert report["hits_by_code"] == {"harmful_validation": 1, "hate_harassment": 1}


def test_measured_on_diasafety(shared_data: Path) -> None:
    from ai.safety.crisis_detection.corpora import read_diasafety

    report = diasafety_metrics(read_diasafety(shared_data / "crisis", "val"))
    overall = report["overall"]
    assert overall["tp"] + overall["fp"] + overall["fn"] + overall["tn"] == 1097
    assert overall["precision"] is not None and overall["precision"] >= 0.5


def test_prefilter_never_hides_a_hit(shared_data: Path) -> None:
    import json

    from ai.safety.crisis_detection.corpora import read_diasafety

    texts = []
    for split in ("train", "val"):
        for row in read_diasafety(shared_data / "crisis", split):
            texts += [row["context"], row["response"]]
    with (shared_data / "conversations" / "esconv_hf_valid.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            texts += [t["text"] for t in json.loads(line)["dialog"]]
    flagged = [t for t in texts if not FILTER.check_without_prefilter(t).safe]
    assert len(flagged) > 50  # the comparison below is not vacuous
    assert [FILTER.check(t) for t in flagged] == [FILTER.check_without_prefilter(t) for t in flagged]
