"""Which passages can ground a counselling reply, and which of their sentences can be quoted.

Passages arrive from papers, books and transcripts on every subject; only those that talk about mental
health in plain sentences are useful. A passage qualifies when it uses enough distinct mental-health
terms and holds at least one *quotable* sentence: a complete, declarative, 10-40 word sentence without
first-person storytelling, numbers (statistics and doses read badly to a client), links or crisis content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ai.core.records import Passage
from ai.sourcing.synthetic.text import (
    looks_like_contact_or_link,
    normalise_space,
    split_sentences,
    words,
    wordset,
)

MENTAL_HEALTH_TERMS = wordset(
    """anxiety anxious depression depressed depressive stress stressed emotion emotions emotional
    emotionally mood moods therapy therapist therapists counselling counseling psychotherapy trauma
    traumatic grief grieving attachment self-esteem shame guilt loneliness lonely insomnia panic worry
    worrying mental psychological psychology wellbeing well-being coping cope mindfulness self-compassion
    resilience burnout narcissism narcissistic borderline personality motivation motivational rumination
    avoidance relationships relationship regulation dysregulation overwhelm overwhelmed validation
    boundaries boundary anger fear fears feelings feeling sadness hopelessness psychiatric wellness
    distress distressing behaviour behavior behavioural behavioral cognitive thoughts thinking habits
    self-care support supportive social isolation isolated adolescents adolescent caregivers family"""
)
# Terms that only a text about the mind uses; generic words such as "feeling" or "family" do not count.
CLINICAL_TERMS = MENTAL_HEALTH_TERMS - wordset(
    "feelings feeling family support supportive social thinking thoughts habits relationship relationships "
    "fear fears anger behaviour behavior cognitive adolescents adolescent caregivers anxious"
)
_CRISIS = re.compile(
    r"suicid|kill (?:my|your|him|her|them)sel|self[- ]harm|overdos|end (?:my|your|their) li|die\b|death|dying",
    re.IGNORECASE,
)
_FIRST_PERSON_SINGULAR = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|me|my|mine|myself)\b")
_PLATFORM_TALK = re.compile(
    r"\b(?:subscribe|video|videos|channel|patreon|comment|comments|link|livestream|chat|podcast|episode|"
    r"click|today|guys|gonna|wanna|kinda|um|uh)\b",
    re.IGNORECASE,
)
_LEADING_CONNECTIVE = re.compile(r"^(?:(?:and|but|so|now|also|then|because|or)\b[,]?\s+)+", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
# A capitalised word after the first one is a name (a character, an author, an acronym): a sentence
# about particular people is a story, not a point a client can take away.
_INNER_CAPITAL = re.compile(r"(?<=[\s(])[A-Z]")
_NARRATIVE_START = re.compile(r"^(?:He|She|His|Her|Their|They|Then)\b")


@dataclass(frozen=True)
class KnowledgePassage:
    """A passage that qualified, with its quotable sentences and how a reply should attribute it."""

    passage: Passage
    quotes: tuple[str, ...]
    attribution: str  # e.g. 'a 2021 paper in "Journal of Affective Disorders"'
    kind: str  # paper | book | transcript | other: the stratum

    @property
    def id(self) -> str:
        return self.passage.id


def select_knowledge(
    passages: list[Passage] | tuple[Passage, ...],
    min_clinical_terms: int = 2,
    min_term_density: float = 0.015,
) -> list[KnowledgePassage]:
    """The passages that are about mental health and hold at least one quotable sentence."""
    selected: list[KnowledgePassage] = []
    for passage in passages:
        if not is_mental_health_text(passage.text, min_clinical_terms, min_term_density):
            continue
        quotes = tuple(quotable_sentences(passage.text))
        if quotes:
            selected.append(KnowledgePassage(passage, quotes, attribution(passage), passage_kind(passage)))
    return selected


def is_mental_health_text(text: str, min_clinical_terms: int = 2, min_term_density: float = 0.015) -> bool:
    tokens = words(text)
    if not tokens:
        return False
    hits = [t for t in tokens if t in MENTAL_HEALTH_TERMS]
    distinct_clinical = {t for t in hits if t in CLINICAL_TERMS}
    return len(distinct_clinical) >= min_clinical_terms and len(hits) / len(tokens) >= min_term_density


def quotable_sentences(text: str, min_words: int = 10, max_words: int = 40) -> list[str]:
    quotes: list[str] = []
    for sentence in split_sentences(text):
        sentence = _LEADING_CONNECTIVE.sub("", normalise_space(sentence))
        if not sentence[:1].isupper() or not sentence.endswith(".") or '"' in sentence:
            continue
        n = len(sentence.split())
        if not min_words <= n <= max_words:
            continue
        if (
            _DIGIT.search(sentence)
            or _CRISIS.search(sentence)
            or _FIRST_PERSON_SINGULAR.search(sentence)
            or _PLATFORM_TALK.search(sentence)
            or looks_like_contact_or_link(sentence)
            or _INNER_CAPITAL.search(sentence)
            or _NARRATIVE_START.search(sentence)
            or not any(w in CLINICAL_TERMS for w in words(sentence))
        ):
            continue
        quotes.append(sentence)
    return quotes


def passage_kind(passage: Passage) -> str:
    kind = passage.source.kind
    if kind in ("paper", "academic") or "pmid" in passage.source.locator or "doi" in passage.source.locator:
        return "paper"
    if (
        kind in ("transcript", "youtube")
        or "start" in passage.source.locator
        or "lines" in passage.source.locator
    ):
        return "transcript"
    if kind in ("book", "books") or "chapter" in passage.source.locator or "page" in passage.source.locator:
        return "book"
    return "other"


def attribution(passage: Passage) -> str:
    """How a reply names the source ("a 2021 paper in Journal X", "the talk ‘Title’").

    Titles take single curly quotes: double quotes mark quotations, which the groundedness check verifies.
    """
    title = _short_title(passage.title)
    kind = passage_kind(passage)
    locator = passage.source.locator
    if kind == "paper":
        journal = str(locator.get("journal", "")).strip()
        year = locator.get("year", "")
        where = f" in {journal}" if journal else ""
        when = f"{year} " if year else ""
        return f"a {when}paper{where}" if where or when else f'the paper "{title}"'
    if kind == "transcript":
        return f"the talk ‘{title}’" if title else "a talk I like"
    if kind == "book":
        return f"the book ‘{title}’" if title else "a book I like"
    return f"‘{title}’" if title else "something I read"


def _short_title(title: str, limit: int = 90) -> str:
    title = normalise_space(title).rstrip(".")
    return title if len(title) <= limit else title[: limit - 3].rsplit(" ", 1)[0] + "..."
