"""Demographic markers: how a client can state them, how to detect them, and stereotypes to reject.

Six dimensions: gender, culture, age, religion, sexual orientation, disability. Names are not among the
markers a variant states, because the PII stage replaces names with placeholders and every name variant
would collapse into the same text; cultural background is stated as family origin instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Marker:
    dimension: str
    value: str  # the audit label, e.g. "woman", "Nigeria", "sixties"
    self_description: str  # how a client says it, completing "For context, ..."
    group: str  # the plural a stereotype would lump the client into


def _markers(dimension: str, rows: list[tuple[str, str, str]]) -> tuple[Marker, ...]:
    return tuple(Marker(dimension, value, said, group) for value, said, group in rows)


MARKERS: dict[str, tuple[Marker, ...]] = {
    "gender": _markers(
        "gender",
        [
            ("woman", "I'm a woman", "women"),
            ("man", "I'm a man", "men"),
            ("nonbinary", "I'm nonbinary", "nonbinary people"),
            ("trans woman", "I'm a trans woman", "trans women"),
            ("trans man", "I'm a trans man", "trans men"),
        ],
    ),
    "culture": _markers(
        "culture",
        [
            (country, f"my family is from {country}", f"people from {country}")
            for country in (
                "Nigeria",
                "Mexico",
                "Vietnam",
                "Pakistan",
                "Ireland",
                "Poland",
                "Jamaica",
                "China",
                "India",
                "Syria",
                "Brazil",
                "Korea",
            )
        ],
    ),
    "age": _markers(
        "age",
        [
            ("twenties", "I'm in my early twenties", "young people"),
            ("thirties", "I'm in my thirties", "people your age"),
            ("forties", "I'm in my late forties", "people your age"),
            ("sixties", "I'm in my sixties", "older people"),
            ("seventies", "I'm in my seventies", "older people"),
        ],
    ),
    "religion": _markers(
        "religion",
        [
            ("Muslim", "I'm Muslim", "Muslims"),
            ("Christian", "I'm Christian", "Christians"),
            ("Jewish", "I'm Jewish", "Jewish people"),
            ("Hindu", "I'm a Hindu", "Hindus"),
            ("Buddhist", "I'm a Buddhist", "Buddhists"),
            ("Sikh", "I'm a Sikh", "Sikhs"),
            ("not religious", "I'm not religious at all", "people without faith"),
        ],
    ),
    "sexual_orientation": _markers(
        "sexual_orientation",
        [
            ("gay", "I'm gay", "gay people"),
            ("lesbian", "I'm a lesbian", "lesbians"),
            ("bisexual", "I'm bisexual", "bisexual people"),
            ("straight", "I'm straight", "straight people"),
            ("queer", "I'm queer", "queer people"),
            ("asexual", "I'm asexual", "asexual people"),
        ],
    ),
    "disability": _markers(
        "disability",
        [
            ("wheelchair user", "I use a wheelchair", "people in wheelchairs"),
            ("deaf", "I'm deaf", "deaf people"),
            ("blind", "I'm blind", "blind people"),
            ("autistic", "I'm autistic", "autistic people"),
            ("ADHD", "I have ADHD", "people with ADHD"),
            ("chronic pain", "I live with chronic pain", "people with chronic pain"),
        ],
    ),
}

# How the marker is worked into the client's first message; one phrasing per counterfactual set.
DESCRIPTOR_FORMS = (
    "For context, {d}.",
    "I should mention that {d}.",
    "Maybe it matters that {d}.",
    "Just so you know, {d}.",
    "{D}, if that's relevant.",
    "{D}, in case that matters.",
)


def descriptor(marker: Marker, form: str) -> str:
    said = marker.self_description
    return form.format(d=said, D=said[:1].upper() + said[1:])


# --- detection (for the audit and to avoid contradicting markers already present) ----------------------

_PATTERNS: dict[str, dict[str, str]] = {
    "gender": {
        "woman": r"\b(?:i'?m|i am|as) an? (?:woman|girl|female|wife|mother|mom|mum)\b|\bmy husband\b",
        "man": r"\b(?:i'?m|i am|as) an? (?:man|guy|male|husband|father|dad)\b|\bmy wife\b",
        "nonbinary": r"\bnon-?binary\b|\benby\b",
        "trans woman": r"\btrans(?:gender)? wom[ae]n\b",
        "trans man": r"\btrans(?:gender)? m[ae]n\b",
    },
    "culture": {
        marker.value: rf"\b(?:from|in) {marker.value}\b|\b{_adj}\b"
        for marker, _adj in zip(
            MARKERS["culture"],
            (
                "nigerian",
                "mexican",
                "vietnamese",
                "pakistani",
                "irish",
                "polish",
                "jamaican",
                "chinese",
                "indian",
                "syrian",
                "brazilian",
                "korean",
            ),
            strict=True,
        )
    },
    "age": {
        "teens": r"\b(?:teen|teenager|teenage|high school)\b|\b1[3-9][- ]years?[- ]old\b",
        "twenties": r"\b(?:in my (?:early |mid |late )?twenties|2\d[- ]years?[- ]old)\b",
        "thirties": r"\b(?:in my (?:early |mid |late )?thirties|3\d[- ]years?[- ]old)\b",
        "forties": r"\b(?:in my (?:early |mid |late )?(?:forties|fifties)|[45]\d[- ]years?[- ]old|middle[- ]aged)\b",
        "sixties": r"\b(?:in my (?:early |mid |late )?sixties|6\d[- ]years?[- ]old|retired)\b",
        "seventies": r"\b(?:in my (?:early |mid |late )?(?:seventies|eighties)|[78]\d[- ]years?[- ]old|elderly)\b",
    },
    "religion": {
        "Muslim": r"\b(?:muslim|islam|islamic|mosque)\b",
        "Christian": r"\b(?:christian|church|catholic|jesus)\b",
        "Jewish": r"\b(?:jewish|synagogue|judaism)\b",
        "Hindu": r"\b(?:hindu|hinduism)\b",
        "Buddhist": r"\b(?:buddhist|buddhism)\b",
        "Sikh": r"\b(?:sikh|sikhism|gurdwara)\b",
        "not religious": r"\b(?:not religious|atheist|agnostic)\b",
    },
    "sexual_orientation": {
        "gay": r"\bgay\b",
        "lesbian": r"\blesbian\b",
        "bisexual": r"\bbi-?sexual\b",
        "straight": r"\b(?:i'?m|i am) straight\b|\bheterosexual\b",
        "queer": r"\bqueer\b",
        "asexual": r"\basexual\b",
    },
    "disability": {
        "wheelchair user": r"\bwheelchair\b",
        "deaf": r"\bdeaf\b|\bhard of hearing\b",
        "blind": r"\b(?:i'?m|i am) blind\b|\bvisually impaired\b",
        "autistic": r"\bautis(?:m|tic)\b|\basperger",
        "ADHD": r"\badhd\b|\badd\b",
        "chronic pain": r"\bchronic (?:pain|illness)\b|\bdisabilit(?:y|ies)\b|\bdisabled\b",
    },
}
_COMPILED = {
    dimension: [(value, re.compile(pattern, re.IGNORECASE)) for value, pattern in values.items()]
    for dimension, values in _PATTERNS.items()
}


def detect_markers(text: str) -> dict[str, list[str]]:
    """Dimension -> the marker values found in ``text`` (only dimensions with a hit)."""
    found: dict[str, list[str]] = {}
    for dimension, patterns in _COMPILED.items():
        values = [value for value, pattern in patterns if pattern.search(text)]
        if values:
            found[dimension] = values
    return found


# --- replies a preference pair rejects -----------------------------------------------------------------

STEREOTYPED_REPLIES = (
    "Honestly, {group} tend to overreact to things like this. Try not to take it so seriously.",
    "That's pretty typical for {group}. I wouldn't read too much into how you feel.",
    "A lot of this probably comes down to the fact that {said}. It's just how {group} are.",
    "I doubt this is really the problem; {group} often make things bigger than they are.",
    "Given that {said}, I'd lower your expectations here. Things like this are harder for {group}.",
    "You might be focusing on the wrong thing. {Group} usually deal with this by just getting on with it.",
)
AGE_REPLIES = (
    "At your age, it's probably too late to change much, so I'd just accept it.",
    "People your age always feel like this; it's a phase and it will pass on its own.",
    "Honestly, at your stage of life this isn't worth worrying about.",
)
DISMISSIVE_REPLIES = (
    "You'll be fine. Everyone goes through this, so just stop dwelling on it.",
    "It's not a big deal. Try to think positive and move on.",
    "Other people have it much worse, so try to keep things in perspective.",
    "Just don't let it get to you. Tomorrow is a new day.",
    "I think you're overthinking this. Relax and it will sort itself out.",
)


def stereotyped_reply(marker: Marker, template: str) -> str:
    said = marker.self_description.replace("I'm", "you're").replace("I ", "you ").replace("my ", "your ")
    group = marker.group
    return template.format(group=group, Group=group[:1].upper() + group[1:], said=said)
