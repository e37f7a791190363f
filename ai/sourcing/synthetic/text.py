"""Small text helpers shared by the composer, the groundedness check and the bias tools.

Everything here is a compiled regex or a dictionary lookup: the composer calls these functions for
every candidate, and candidates number in the tens of thousands per run.
"""

from __future__ import annotations

import random
import re

from ai.core.records import Conversation
from ai.sourcing.text_chunking import sentence_spans

CLIENT_ROLES = frozenset({"client", "user", "usr", "seeker", "human", "patient", "speaker"})
THERAPIST_ROLES = frozenset({"therapist", "assistant", "sys", "supporter", "counselor", "gpt", "listener"})


def wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WORD = re.compile(r"[a-z][a-z'’]*")
_URLISH = re.compile(r"https?://|www\.|@|\.com\b", re.IGNORECASE)
_SPACE = re.compile(r"\s+")

# Function words and conversational filler: they carry no topic and make overlaps look larger than they are.
STOPWORDS = wordset(
    """a about above after again against all also am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't
    down during each even every few for from further get gets getting go going got had hadn't has hasn't
    have haven't having he he'd he'll he's her here hers herself him himself his how i i'd i'll i'm i've if
    in into is isn't it it's its itself just let's like lot lots me more most much must my myself no nor
    not now of off on once one only or other ought our ours ourselves out over own really same she she'd
    she'll she's should shouldn't so some something such than that that's the their theirs them themselves
    then there there's these they they'd they'll they're they've thing things this those through to too
    um uh under until up us very was wasn't we we'd we'll we're we've were weren't what what's when where
    which while who whom why will with won't would wouldn't yeah yes you you'd you'll you're you've your
    yours yourself yourselves okay ok maybe still well way know think
    say said hear heard sound sounds seem seems follow understood shared telling describe described
    reflect mention mentioned words back make sure put putting comes through let"""
)


# Crisis talk is left out of generated material: a reply to it needs a collaborative safety step, which
# the composer does not write, and such conversations belong to the crisis routing, not to these sets.
CRISIS_WORDS = (
    "suicid", "kill myself", "killing myself", "end my life", "self harm", "self-harm", "cutting myself",
    "overdose", "want to die", "wanna die", "better off dead", "hurt myself", "no reason to live",
    # passive ideation, as clients write it (one got past the list above: "I can't even bring myself
    # to care if I live or die anymore")
    "live or die", "don't want to live", "dont want to live", "not want to live", "wish i was dead",
    "wish i were dead", "end it all", "take my own life", "not worth living", "be here anymore",
    "don't want to wake up", "dont want to wake up", "not want to wake up",
)  # fmt: skip


def mentions_crisis(text: str) -> bool:
    lowered = text.lower()
    return any(w in lowered for w in CRISIS_WORDS)


def normalise_space(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def content_tokens(text: str) -> set[str]:
    """Lower-cased words that carry meaning (no stopwords, at least three letters), lightly stemmed."""
    return {_stem(w) for w in words(text) if len(w) > 2 and w not in STOPWORDS}


def _stem(word: str) -> str:
    # A crude plural/tense folding is enough to match "feelings" to "feeling" and "worried" to "worry".
    for suffix, repl in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


def split_sentences(text: str) -> list[str]:
    return [
        normalise_space(text[s.start : s.end]) for s in sentence_spans(text) if text[s.start : s.end].strip()
    ]


def looks_like_contact_or_link(text: str) -> bool:
    return bool(_URLISH.search(text))


def client_texts(conversation: Conversation) -> list[str]:
    return [t.text for t in conversation.turns if t.role.strip().lower() in CLIENT_ROLES]


def therapist_texts(conversation: Conversation) -> list[str]:
    return [t.text for t in conversation.turns if t.role.strip().lower() in THERAPIST_ROLES]


# --- reflecting the client's words back --------------------------------------------------------------

_REFLECT = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "am": "are",
    "i'm": "you're",
    "im": "you're",
    "i've": "you've",
    "ive": "you've",
    "i'll": "you'll",
    "i'd": "you'd",
    "we": "you",
    "us": "you",
    "our": "your",
    "ours": "yours",
    "ourselves": "yourselves",
}
_REFLECT_TOKEN = re.compile(
    r"\b(?:" + "|".join(sorted(map(re.escape, _REFLECT), key=len, reverse=True)) + r")\b"
)
_I_WAS = re.compile(r"\b(you) was\b")
# A clause that talks to the listener ("you said ...") cannot be mirrored by swapping pronouns.
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|u|ur)\b", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|im|i've|i'd|my|me|myself)\b", re.IGNORECASE)
_LEADING_FILLER = re.compile(
    r"^(?:(?:and|but|so|well|um+|uh+|oh|yeah|yes|no|ok|okay|hi|hello|hey|honestly|also|anyway|actually)"
    r"[,.!]?\s+)+",
    re.IGNORECASE,
)


def reflect_clause(clause: str) -> str:
    """The client's clause in second person: "I feel lost in my job" -> "you feel lost in your job"."""
    text = normalise_space(clause.replace("’", "'")).rstrip(" .!,;:")
    text = _LEADING_FILLER.sub("", text)
    swapped = _REFLECT_TOKEN.sub(lambda m: _REFLECT[m.group(0).lower()], _lower_first_person(text))
    swapped = _I_WAS.sub(r"\1 were", swapped)
    return swapped[:1].lower() + swapped[1:] if not swapped.startswith("I ") else swapped


def _lower_first_person(text: str) -> str:
    return re.sub(r"\b(I|I'm|I've|I'll|I'd|Im|Ive|My|Me|We|Our|Us)\b", lambda m: m.group(0).lower(), text)


def reflectable_clauses(text: str, min_words: int = 4, max_words: int = 22) -> list[str]:
    """Clauses of the client's text that speak in first person and can be mirrored back."""
    clauses: list[str] = []
    for sentence in split_sentences(text):
        if sentence.endswith("?") or _SECOND_PERSON.search(sentence) or not _FIRST_PERSON.search(sentence):
            continue
        for part in re.split(r"[;:]|,\s+(?:but|and|so|because)\s+|\s+-\s+", sentence):
            part = _LEADING_FILLER.sub("", part.strip(" .!,"))
            n = len(part.split())
            if (
                min_words <= n <= max_words
                and _FIRST_PERSON.search(part)
                and not looks_like_contact_or_link(part)
            ):
                clauses.append(part)
    return clauses


# --- naming the feeling ------------------------------------------------------------------------------

# client word stem -> the feeling a therapist would name
FEELINGS: dict[str, str] = {
    "lonel": "lonely",
    "alone": "lonely",
    "isolat": "isolated",
    "anxi": "anxious",
    "nervous": "anxious",
    "panic": "frightening",
    "scared": "frightening",
    "afraid": "frightening",
    "fear": "frightening",
    "worr": "worrying",
    "stress": "stressful",
    "pressure": "stressful",
    "overwhelm": "overwhelming",
    "sad": "sad",
    "depress": "heavy",
    "down": "heavy",
    "cry": "painful",
    "hurt": "painful",
    "heartbr": "heartbreaking",
    "grief": "painful",
    "griev": "painful",
    "lost": "disorienting",
    "confus": "confusing",
    "angry": "infuriating",
    "anger": "infuriating",
    "mad": "infuriating",
    "frustrat": "frustrating",
    "annoy": "frustrating",
    "tired": "exhausting",
    "exhaust": "exhausting",
    "drain": "draining",
    "ashamed": "painful",
    "shame": "painful",
    "guilt": "painful",
    "embarrass": "uncomfortable",
    "insecur": "unsettling",
    "jealous": "unsettling",
    "betray": "painful",
    "reject": "painful",
    "stuck": "frustrating",
    "unmotivat": "draining",
    "hopeless": "heavy",
    "worthless": "painful",
}
_FEELING_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, FEELINGS), key=len, reverse=True)) + r")\w*")


def named_feeling(text: str) -> str:
    """The feeling word a reply can name for this client text ("" when the text names none)."""
    match = _FEELING_RE.search(text.lower())
    return FEELINGS[match.group(1)] if match else ""


def topic_phrase(text: str, vocabulary: set[str]) -> str:
    """The first word of ``text`` that is in ``vocabulary`` (the passage's topic words), else ""."""
    for word in words(text):
        if word in vocabulary and word not in STOPWORDS and len(word) > 3:
            return word
    return ""


def spread_by_group(groups: list[str], rng: random.Random) -> list[int]:
    """A seeded order of indices that takes one item from every group before a second from any.

    Generated records join the group of the conversation they came from (so they never leak across
    splits); spreading them evenly keeps groups small and the splits statistically alike.
    """
    order = list(range(len(groups)))
    rng.shuffle(order)
    seen: dict[str, int] = {}
    rank = []
    for index in order:
        rank.append(seen.get(groups[index], 0))
        seen[groups[index]] = rank[-1] + 1
    return [index for _, index in sorted(zip(rank, order, strict=True), key=lambda pair: pair[0])]
