"""The high-recall pattern layer of the crisis detector.

Every pattern names a category and a C-SSRS-style level. A hit is *discounted* (kept as evidence but
not allowed to make a text a crisis on its own) when the words around it say that the speaker is not
the person at risk: negation ("I would never kill myself"), third person ("my friend wants to die"),
second-person support ("please don't hurt yourself", "call a crisis line"), hypotheticals and questions
about others ("what should I do if someone says they want to die"), quotations and song lyrics, figures
of speech ("I could just die of embarrassment") and past-tense accounts the writer says are over ("I used
to want to die, but therapy helped and now I'm doing well"). The discounting looks only at the clause before the hit, so a later
sentence that does carry risk is still found.

Speed matters (the pipeline scans every client turn): the full pattern set runs only on texts that hold
one of the trigger words or word pairs every pattern needs.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ai.safety.case_folded import CaseFoldedPattern, first_char_alternation, matched_text

LEVELS = ("none", "indicator", "ideation", "behavior_or_plan", "attempt")
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}

CATEGORIES = (
    "ideation",
    "plan_or_intent",
    "means",
    "self_harm",
    "past_attempt",
    "farewell",
    "hopelessness",
    "harm_to_others",
    "abuse_or_danger",
)

# An optional apostrophe, including the mojibake form of U+2019 that some scraped sets carry.
A = r"(?:['’`´]|â\x80\x99)?"
I_AM = rf"(?:i{A}m|i am|im)"
I_HAVE = rf"(?:i{A}ve|i have|ive)"
DONT = rf"(?:don{A}t|do not|dont)"
SELF = r"(?:myself|my self|my own life|my life)"
KILL = r"(?:kill(?:ing|ed|s)?|end(?:ing|ed|s)?|tak(?:e|ing|en)|off(?:ing)?)"
DIE = r"(?:die|be dead|not exist|not be alive|not wake up|disappear forever|cease to exist)"


@dataclass(frozen=True, slots=True)
class Pattern:
    category: str
    level: str
    regex: str


PATTERNS: tuple[Pattern, ...] = (
    # Ideation: active and passive wish to be dead (C-SSRS items 1-2).
    Pattern("ideation", "ideation", r"\bsuicid(?:e|al|ality)\b"),
    Pattern("ideation", "ideation", rf"\b{KILL}\s+{SELF}"),
    Pattern("ideation", "ideation", r"\bkms\b|\bkys\b"),
    Pattern(
        "ideation",
        "ideation",
        rf"\b(?:wants?|wanna|wanted|wish(?:es)?|wishing|going|gonna|ready|deserve)\s+(?:to\s+)?{DIE}\b",
    ),
    Pattern(
        "ideation",
        "ideation",
        rf"\bwish(?:ed)?\s+(?:that\s+)?i\s+(?:was|were|{A}d be|would be|could be)\s+dead\b",
    ),
    Pattern(
        "ideation",
        "ideation",
        rf"\bwish(?:ed)?\s+(?:that\s+)?i\s+(?:was|were|had)\s*n(?:o|{A})?t\s+(?:alive|born)\b",
    ),
    Pattern(
        "ideation",
        "ideation",
        r"\bwish(?:ed)?\s+i\s+(?:could|would)\s+(?:just\s+)?(?:die|disappear|not wake up|sleep forever)\b",
    ),
    Pattern(
        "ideation",
        "ideation",
        rf"\b(?:{DONT}|no longer|not)\s+want\s+to\s+(?:live|be alive|exist|be here anymore|wake up)\b",
    ),
    Pattern(
        "ideation",
        "ideation",
        r"\b(?:no|not any|nothing (?:left )?to)\s*(?:reason|point)\s+(?:to|in)\s+(?:live|living|go on|going on)\b",
    ),
    Pattern(
        "ideation",
        "ideation",
        r"\b(?:better off|be better)\s+(?:dead|without me|if i (?:was|were)n?'?t (?:here|around|alive))\b",
    ),
    Pattern(
        "ideation",
        "ideation",
        r"\b(?:end|ending)\s+it\s+all\b|\bend\s+(?:it|things)\s+(?:all\s+)?(?:tonight|now|soon|today)\b",
    ),
    Pattern(
        "ideation",
        "ideation",
        rf"\b(?:can{A}t|cannot|can not)\s+(?:go on|keep going|do this|live like this|take (?:it|this)) any\s*more\b",
    ),
    Pattern(
        "ideation",
        "ideation",
        r"\b(?:thoughts|thinking|thought|think) (?:of|about) (?:dying|death|ending it|not being here)\b",
    ),
    Pattern("ideation", "ideation", r"\bunalive\b|\bself[- ]?deletion\b|\bcatch the bus\b"),
    # Plan, intent and preparation (C-SSRS items 3-5, behaviour).
    Pattern(
        "plan_or_intent",
        "behavior_or_plan",
        rf"\b(?:going to|gonna|will|plan(?:ning)? to|decided to|about to)\s+(?:kill|end|take)\s+{SELF}",
    ),
    Pattern(
        "plan_or_intent",
        "behavior_or_plan",
        r"\b(?:my|a|the) (?:suicide )?(?:plan|note)\b(?=[^.!?]{0,60}\b(?:die|end|kill|suicide|tonight|goodbye)\b)",
    ),
    Pattern(
        "plan_or_intent",
        "behavior_or_plan",
        r"\bsuicide note\b|\bwr(?:ote|iting|ite) (?:a|my) (?:note|letter) (?:to|for) (?:my|everyone)",
    ),
    Pattern(
        "plan_or_intent",
        "behavior_or_plan",
        r"\b(?:tonight|tomorrow|this weekend) (?:is|will be) the (?:night|day)\b",
    ),
    Pattern(
        "plan_or_intent",
        "behavior_or_plan",
        r"\b(?:gave|giving) away (?:all )?my (?:stuff|things|belongings|possessions)\b",
    ),
    # Means: access to a method.
    Pattern(
        "means",
        "behavior_or_plan",
        r"\b(?:stockpil|hoard|sav)(?:e|ed|ing) (?:up )?(?:my )?(?:pills|meds|medication|tablets|sleeping pills)\b",
    ),
    Pattern(
        "means",
        "behavior_or_plan",
        r"\b(?:bought|got|have|found|loaded) (?:a |the |my )?(?:gun|rope|noose|razor|blade|pills)\b(?=[^.!?]{0,60}\b(?:die|end|kill|suicide|myself|it all)\b)",
    ),
    Pattern(
        "means",
        "behavior_or_plan",
        r"\b(?:hang|hanging|hanged) myself\b|\bnoose\b|\bjump(?:ing)? (?:off|from|in front of)\b(?=[^.!?]{0,40}\b(?:bridge|building|roof|train|cliff|balcony)\b)",
    ),
    Pattern(
        "means",
        "behavior_or_plan",
        r"\b(?:overdos(?:e|ing)|od) on\b|\btake (?:all|a bunch|a handful) of (?:my |the )?(?:pills|meds|tablets)\b",
    ),
    Pattern(
        "means",
        "behavior_or_plan",
        r"\bslit(?:ting)? my (?:wrists?|throat)\b|\bgun to my head\b|\bshoot(?:ing)? myself\b",
    ),
    # Self-harm (non-suicidal or ambiguous).
    Pattern("self_harm", "behavior_or_plan", r"\bself[- ]?harm(?:ing|ed)?\b|\bself[- ]?injur(?:y|ing)\b"),
    Pattern(
        "self_harm",
        "behavior_or_plan",
        r"\b(?:cut|cutting|burn|burning|hurt|hurting|harm|harming|starve|starving|hit|hitting)\s+myself\b",
    ),
    Pattern(
        "self_harm",
        "behavior_or_plan",
        r"\b(?:relapsed?|urge to) (?:on |into )?(?:cutting|self[- ]?harm|cut)\b",
    ),
    # Past attempt (C-SSRS actual attempt).
    Pattern(
        "past_attempt",
        "attempt",
        r"\b(?:tried|attempted|trying) to (?:kill|end|take) (?:myself|my (?:own )?life)\b",
    ),
    Pattern(
        "past_attempt",
        "attempt",
        r"\b(?:my|a|the|last|previous|first|second) (?:suicide )?attempts?\b(?=[^.!?]{0,40}\b(?:suicide|life|myself|hospital|survived)\b)",
    ),
    Pattern(
        "past_attempt",
        "attempt",
        r"\bsuicide attempts?\b|\b(?:i|just) (?:overdosed|od'?d)\b|\btook (?:all|a bunch|a handful|too many) (?:of )?(?:my |the )?(?:pills|meds|tablets)\b",
    ),
    Pattern(
        "past_attempt", "attempt", r"\bsurvived (?:my|an?|the) (?:attempt|overdose)\b|\bpumped my stomach\b"
    ),
    # Farewell messages.
    Pattern(
        "farewell",
        "behavior_or_plan",
        r"\b(?:this is )?(?:my )?(?:final|last) (?:goodbye|message|post|words|note)\b",
    ),
    Pattern(
        "farewell",
        "behavior_or_plan",
        r"\bgoodbye (?:everyone|world|forever|cruel world)\b|\bwon'?t be (?:here|around) (?:tomorrow|much longer|anymore)\b",
    ),
    Pattern(
        "farewell",
        "behavior_or_plan",
        r"\b(?:tell|let) (?:my )?(?:family|mom|mum|dad|everyone) (?:that )?i (?:love|loved) (?:them|her|him)\b(?=[^.!?]{0,40}\b(?:sorry|goodbye|gone)\b)",
    ),
    # Hopelessness and burden (risk indicators; not a crisis on their own).
    Pattern(
        "hopelessness",
        "indicator",
        r"\bhopeless(?:ness)?\b|\bno hope\b|\bno future\b|\bno way out\b|\btrapped\b",
    ),
    Pattern(
        "hopelessness",
        "indicator",
        r"\b(?:i am|i'?m|im|feel like) (?:such )?a burden\b|\bburden (?:to|on) (?:everyone|my family|others|them)\b",
    ),
    Pattern(
        "hopelessness",
        "indicator",
        r"\bworthless\b|\bpointless\b|\bnothing (?:matters|will (?:ever )?(?:change|get better))\b|\bgive up on (?:life|everything)\b",
    ),
    Pattern(
        "hopelessness",
        "indicator",
        r"\bempty inside\b|\bnumb\b|\bcan'?t (?:see|find) a way out\b|\bwhat'?s the point\b",
    ),
    # Harm to others: first-person intent toward another person.
    Pattern(
        "harm_to_others",
        "behavior_or_plan",
        r"\b(?:want|going|gonna|plan(?:ning)?|thinking about how) to (?:kill|hurt|murder|shoot|stab|strangle) (?:him|her|them|someone|somebody|people|my \w+|everyone)\b",
    ),
    Pattern(
        "harm_to_others", "behavior_or_plan", r"\b(?:shoot up|bomb) (?:the|my) (?:school|office|work|class)\b"
    ),
    # Abuse or immediate danger to the speaker.
    Pattern(
        "abuse_or_danger",
        "indicator",
        r"\b(?:he|she|they|my (?:husband|wife|partner|boyfriend|girlfriend|dad|father|mom|mother|stepdad|stepfather|uncle|ex)) (?:hits|beats|hit|beat|chokes|choked|strangled|raped|rapes|abuses|abused|threatens|threatened) me\b",
    ),
    Pattern(
        "abuse_or_danger",
        "indicator",
        rf"\b(?:{I_AM}|i was|i have been|{I_HAVE} been) (?:being )?(?:abused|raped|molested|assaulted|beaten|trafficked)\b",
    ),
    Pattern(
        "abuse_or_danger",
        "indicator",
        rf"\b(?:{I_AM}|i feel|i do not feel|{DONT} feel) (?:not )?safe (?:at home|with him|with her|around him|in my (?:home|house))\b|\bthreatened to kill me\b|\bafraid (?:he|she|they)(?:'ll| will| is going to) kill me\b",
    ),
)

# Third-person variants are matched so that they can be reported, but they never count as the
# speaker's own crisis.
THIRD_PERSON_PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "ideation",
        "indicator",
        r"\b(?:kill(?:ing|ed|s)?|end(?:ing|ed|s)?) (?:himself|herself|themselves|themself|his life|her life|their lives?)\b",
    ),
    Pattern(
        "past_attempt", "indicator", r"\b(?:he|she|they) (?:tried|attempted) (?:to )?(?:kill|suicide|end)\b"
    ),
)

# Figures of speech built from crisis words ("this homework is killing me", "I could just die of
# embarrassment", "dead tired"): matched so the model scores the text without them, never counted. Each
# needs a trigger word (see TRIGGERS), as every pattern does.
_FEELINGS = (
    r"(?:embarrass\w*|shame|laugh\w*|boredom|cuteness|excitement|jealousy|envy|happiness|joy|hunger|"
    r"thirst|heat|cold|curiosity|anticipation|suspense|cringe|stress|exhaustion)"
)
IDIOM_PATTERNS: tuple[Pattern, ...] = (
    Pattern("idiom", "indicator", r"\b(?:is|are|was|were|s|its|it's)\s+(?:literally\s+)?killing\s+me\b"),
    Pattern(
        "idiom",
        "indicator",
        rf"\b(?:(?:could|would|will|might|gonna|almost|nearly)\s+(?:just\s+)?)?(?:die|dying)\s+(?:of|from)\s+(?:the\s+)?{_FEELINGS}\b",
    ),
    Pattern("idiom", "indicator", r"\bdying\s+(?:to|for)\b"),
    Pattern("idiom", "indicator", r"\bdead\s+(?:tired|serious|wrong|set|beat|on time|last|end)\b"),
    Pattern(
        "idiom",
        "indicator",
        r"\b(?:bored|scared|frightened|worried|sick|tired)\s+to\s+death\b|\bkill(?:ing)?\s+time\b|"
        r"\bkill\s+for\s+(?:a|an|some|the)\b|\bkilling\s+it\b",
    ),
)

# How far a hit can push the combined score: a first-person, undiscounted hit at these levels makes the
# text a crisis (score >= 0.5) whatever the linear model says. Abuse and danger reports are crises too.
LEVEL_FLOOR = {"ideation": 0.80, "behavior_or_plan": 0.90, "attempt": 0.95}
CATEGORY_FLOOR = {"abuse_or_danger": 0.75, "harm_to_others": 0.90}

# Words and word pairs (in the model's normalised form: lower case, apostrophes dropped) of which every
# pattern above needs at least one. Texts holding none of them are skipped; the detector finds them in
# the hashed n-gram matrix it builds anyway, so the pre-filter costs almost nothing.
TRIGGERS = (
    *tuple(
        [
            "suicide",
            "suicidal",
            "suicidality",
            "suicides",
            "myself",
            "kms",
            "kys",
            "die",
            "dying",
            "dead",
            "death",
            "alive",
            "unalive",
            "disappear",
            "exist",
            "born",
            "overdose",
            "overdosed",
            "overdosing",
            "od",
            "odd",
            "pills",
            "meds",
            "tablets",
            "medication",
            "gun",
            "rope",
            "noose",
            "razor",
            "blade",
            "slit",
            "jump",
            "jumping",
            "selfharm",
            "harm",
            "harming",
            "harmed",
            "injury",
            "injuring",
            "relapse",
            "relapsed",
            "cutting",
            "attempt",
            "attempts",
            "attempted",
            "survived",
            "pumped",
            "goodbye",
            "farewell",
            "final",
            "hopeless",
            "hopelessness",
            "trapped",
            "burden",
            "worthless",
            "pointless",
            "numb",
            "hurt",
            "hurting",
            "murder",
            "shoot",
            "shooting",
            "stab",
            "strangle",
            "bomb",
            "kill",
            "killing",
            "abused",
            "abuse",
            "raped",
            "rape",
            "rapes",
            "molested",
            "assaulted",
            "beaten",
            "trafficked",
            "hits",
            "beats",
            "beat",
            "chokes",
            "choked",
            "strangled",
            "threatened",
            "threatens",
            "himself",
            "herself",
            "themselves",
            "themself",
            "anymore",
            "deletion",
            "tonight",
            "tomorrow",
            "gone",
            "bus",
            "starving",
            "abuses",
        ]
    ),
    "better off",
    "be better",
    "my life",
    "own life",
    "my self",
    "end it",
    "ending it",
    "no hope",
    "no future",
    "way out",
    "give up",
    "no reason",
    "no point",
    "the point",
    "any more",
    "wake up",
    "sleep forever",
    "be here",
    "being here",
    "go on",
    "keep going",
    "my plan",
    "a plan",
    "the plan",
    "a note",
    "my note",
    "a letter",
    "my letter",
    "gave away",
    "giving away",
    "my last",
    "last message",
    "last post",
    "last words",
    "empty inside",
    "nothing matters",
    "get better",
    "to live",
    "to cut",
    "feel safe",
    "not safe",
    "safe at",
    "hit me",
    "the night",
    "the day",
    "be around",
    "be dead",
    "end things",
    "the note",
    "last note",
    "love them",
    "love him",
    "love her",
    "nothing will",
    "his life",
    "her life",
    "their life",
    "their lives",
)

# "don t": scraped sets that replaced apostrophes with spaces.
_NEGATORS = re.compile(
    r"\b(?:not|never|no|nor|(?:do|does|did|wo|would|is|are|was|have|has|should|could)n(?:['’`´ ]|â\x80\x99)?t)\b",
    re.IGNORECASE,
)
# Phrases that contain a negator but do not negate what follows ("I can't stop thinking about ...").
_NEGATION_EXCEPTIONS = re.compile(
    rf"\b(?:can{A}t stop|cannot stop|couldn{A}t stop|can{A}t help|not sure|{DONT} know|didn{A}t know|"
    rf"no one|nobody|nothing|no longer|not even|{DONT} care|not anymore|no matter|no idea|never been|"
    rf"never felt|not just|not only|don{A}t see|can{A}t see|no reason|not a|no point|never gets)\b",
    re.IGNORECASE,
)
_HYPOTHETICAL = re.compile(
    r"\b(?:if i ever|if you ever|what if|hypothetical(?:ly)?|imagine|suppose|pretend|in (?:a|the|this) "
    r"(?:movie|film|book|show|series|game|novel|story|episode|song)|character|how (?:do|can|should|would) "
    r"(?:i|you|we) (?:help|tell|know|support|talk)|signs of|someone who|somebody who|people who|"
    r"anyone who|friends? who|what should i do if|for (?:a|my) (?:class|paper|project|essay|story|research)|"
    r"awareness|prevention|lyrics?|joke|jk|lol|lmao|haha|song|sing(?:s|ing)?|rapper|album)\b|[♪🎵🎶]",
    re.IGNORECASE,
)
# Hits that are figures of speech ("I could just die of embarrassment", "killing myself at the gym"),
# recognised by what follows them in the clause.
_IDIOM_AFTER = re.compile(
    r"^\W*(?:just\s+)?(?:of|from|with)\s+(?:the\s+)?(?:embarrass\w*|shame|laugh\w*|boredom|cuteness|"
    r"excitement|jealousy|envy|happiness|joy|hunger|heat|cold|curiosity|anticipation|suspense|"
    r"stress|exhaustion|tiredness|cringe)\b|^\W*(?:laughing|at the gym|at work|over (?:this|that|my|the) "
    r"(?:homework|exam|essay|project|assignment|test|workout))\b",
    re.IGNORECASE,
)
# Someone writing to another person about that person's risk ("please don't hurt yourself", "if you
# are thinking about suicide, call a crisis line"): support, not the writer's own crisis.
_SUPPORT = re.compile(
    r"\b(?:crisis (?:line|text line|team)|hotline|helpline|lifeline|samaritans|988|you deserve to live|"
    r"reach out to (?:someone|a professional|your)|you(?:['’]re| are) not alone)\b",
    re.IGNORECASE,
)
_SECOND_PERSON = frozenset(["you", "your", "youre", "you're", "you’re", "yourself", "u", "ur"])
# A past-tense account followed by the writer saying it is over ("I used to want to die, but therapy
# helped and now I'm doing well").
_PAST = re.compile(
    r"\b(?:used to|years? ago|months ago|back then|in the past|at one point|growing up|as a (?:kid|teen(?:ager)?|child)|"
    r"when i was (?:younger|little|a (?:kid|teen(?:ager)?|child)|in (?:high )?school|\d+))\b",
    re.IGNORECASE,
)
# Only plain statements that it is over count: "I'm okay" after a recent attempt is not recovery.
_RECOVERED = re.compile(
    r"\b(?:but now|now i(?:['’]?m| am)|i(?:['’]?m| am) (?:doing )?(?:much |so much |a lot |way )?better now|"
    r"(?:in a (?:much |way )?better place)|doing (?:well|great|better) now|recovered|in recovery|"
    r"(?:clean|sober) for|(?:years?|months?) (?:clean|sober|free)|therapy helped|got (?:the )?help i needed|"
    r"glad i(?:['’]?m| am) (?:still )?(?:here|alive)|survived it)\b",
    re.IGNORECASE,
)
_RECOVERY_REACH = 200  # characters after a hit in which the writer may say it is over
_CLAUSE_BREAK = re.compile(r"[.!?;\n]|\bbut\b|\bhowever\b|\bthough\b", re.IGNORECASE)
_CONJUNCTION = re.compile(r",|\band\b|\bso\b|\bbecause\b|\bcause\b|\bwhen\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z’']+")
_FIRST_PERSON = frozenset(
    ["i", "im", "i'm", "i’m", "ive", "i've", "id", "i'd", "ill", "i'll", "me", "myself", "my"]
)
_THIRD_PERSON = frozenset(
    [
        "he",
        "she",
        "they",
        "hes",
        "he's",
        "shes",
        "she's",
        "theyre",
        "they're",
        "him",
        "her",
        "them",
        "his",
        "their",
        "friend",
        "friends",
        "brother",
        "sister",
        "mom",
        "mum",
        "dad",
        "mother",
        "father",
        "son",
        "daughter",
        "someone",
        "somebody",
        "people",
        "person",
        "character",
        "patient",
        "client",
        "wife",
        "husband",
        "boyfriend",
        "girlfriend",
        "partner",
        "kid",
        "child",
        "cousin",
        "aunt",
        "uncle",
        "classmate",
        "roommate",
        "coworker",
        "guy",
        "girl",
        "man",
        "woman",
    ]
)
_TRIGGER_SET = frozenset(TRIGGERS)
# "bus" only matters in "catch the bus", and everyday text mentions buses a lot: its windows wait for
# the whole phrase.
_WINDOW_TRIGGERS = tuple("catch the bus" if t == "bus" else t for t in TRIGGERS)
# The triggers as they appear in raw lower-cased text: word pairs may be split by any whitespace, "odd"
# is how the model's normaliser sees "od'd", and no word boundary is required at the end because some
# patterns match inside glued words ("end my lifei", "selfharmed").
_TRIGGER_WORDS = re.compile(
    r"\b"
    + first_char_alternation(
        [
            *sorted((re.escape(t).replace(r"\ ", r"\s+") for t in _WINDOW_TRIGGERS), key=len, reverse=True),
            r"od['’]d",
            r"self[- ]harm",
        ]
    )
)
# Patterns reach at most this far before / after their trigger word (look-aheads included).
_BEFORE_TRIGGER, _AFTER_TRIGGER = 120, 160
_MODEL_TOKEN = re.compile(r"[a-z0-9]+")
_APOSTROPHES = re.compile(r"['’`´]|â\x80\x99")
_QUOTES = '"“”«»'
_WINDOW = 80


@dataclass(frozen=True, slots=True)
class PatternHit:
    """One pattern match in a text: where, which category/level, and whether the context discounts it."""

    start: int
    end: int
    category: str
    level: str
    text: str
    # "" (counts), negated, third_person, second_person, hypothetical, quoted, idiom, recovered
    discount: str = ""

    @property
    def counts(self) -> bool:
        return not self.discount


class PatternLayer:
    """Compiled pattern set; ``scan`` finds hits with their context discount for many texts at once."""

    def __init__(self) -> None:
        self._groups: list[Pattern] = [*PATTERNS, *THIRD_PERSON_PATTERNS, *IDIOM_PATTERNS]
        self._third_person_start = len(PATTERNS)
        self._idiom_start = len(PATTERNS) + len(THIRD_PERSON_PATTERNS)
        alternatives = [f"(?P<p{i}>{p.regex})" for i, p in enumerate(self._groups)]
        # Every pattern starts at a word boundary (tests/unit/safety/test_crisis_patterns.py checks it).
        self._combined = CaseFoldedPattern("|".join(alternatives), word_start=True)

    def scan(self, texts: list[str], candidates: list[int] | None = None) -> list[list[PatternHit]]:
        """Hits per text. Only ``candidates`` (indices of texts holding a trigger) are scanned; when not
        given they are found here, one text at a time."""
        if candidates is None:
            candidates = [i for i, text in enumerate(texts) if has_trigger(text)]
        hits: list[list[PatternHit]] = [[] for _ in texts]
        for index in candidates:
            hits[index] = self.scan_one(texts[index])
        return hits

    def scan_one(self, text: str) -> list[PatternHit]:
        """Hits in one text. The full pattern set is slow per character, so it runs only in windows
        around trigger words (every pattern contains one); the whole text is scanned when lower-casing
        changed its length (so positions in the lowered copy would not be positions in the text)."""
        found: list[PatternHit] = []
        lowered = text.lower()
        for start, end in _trigger_windows(text, lowered):
            found += self._scan_range(text, lowered, start, end)
        return found

    def scan_full(self, text: str) -> list[PatternHit]:
        return self._scan_range(text, text.lower(), 0, len(text))

    def _scan_range(self, text: str, lowered: str, start: int, end: int) -> list[PatternHit]:
        found: list[PatternHit] = []
        for match in self._combined.finditer_lowered(text, lowered, start, end):
            group = match.lastgroup or ""
            number = int(group[1:])
            pattern = self._groups[number]
            if number >= self._idiom_start:
                discount = "idiom"
            elif number >= self._third_person_start:
                discount = "third_person"
            else:
                discount = _discount(text, match.start(), match.end())
            found.append(
                PatternHit(
                    match.start(),
                    match.end(),
                    pattern.category,
                    pattern.level,
                    matched_text(text, match),
                    discount,
                )
            )
        return found


def _trigger_windows(text: str, lowered: str) -> list[tuple[int, int]]:
    if len(lowered) != len(text):
        return [(0, len(text))]
    windows: list[tuple[int, int]] = []
    for match in _TRIGGER_WORDS.finditer(lowered):
        start, end = max(0, match.start() - _BEFORE_TRIGGER), min(len(text), match.end() + _AFTER_TRIGGER)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


def may_hit(text: str) -> bool:
    """False only when ``PatternLayer().scan_one(text)`` is sure to find nothing (no trigger window)."""
    lowered = text.lower()
    return len(lowered) != len(text) or _TRIGGER_WORDS.search(lowered) is not None


def has_trigger(text: str) -> bool:
    words = _MODEL_TOKEN.findall(_APOSTROPHES.sub("", text.lower()))
    grams = set(words)
    grams.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    return not _TRIGGER_SET.isdisjoint(grams)


def _discount(text: str, start: int, end: int) -> str:
    before, after = _clause_before(text, start), _clause_after(text, end)
    if _inside_quotes(text, start):
        return "quoted"
    if _HYPOTHETICAL.search(before) or _HYPOTHETICAL.search(after):
        return "hypothetical"
    if _IDIOM_AFTER.search(text[end : end + 40]):
        return "idiom"
    if _NEGATORS.search(_negation_scope(before)):
        return "negated"
    speaker = _nearest_person(before)
    if speaker == "third":
        return "third_person"
    if speaker == "second" or _SUPPORT.search(before) or _SUPPORT.search(after):
        return "second_person"
    if _recovered(text, start, end):
        return "recovered"
    return ""


def _recovered(text: str, start: int, end: int) -> bool:
    """A past-tense account ("I used to...", "I tried to...") that the writer then says is over."""
    past = _PAST.search(text[max(0, start - _WINDOW) : start])
    return bool(past) and bool(_RECOVERED.search(text[end : end + _RECOVERY_REACH]))


def _clause_before(text: str, start: int) -> str:
    window = text[max(0, start - _WINDOW) : start]
    breaks = list(_CLAUSE_BREAK.finditer(window))
    return window[breaks[-1].end() :] if breaks else window


def _negation_scope(before: str) -> str:
    """The last few words of the last conjunct: "I'm not okay and I want to die" is not negated."""
    conjunct = _CONJUNCTION.split(before)[-1]
    return " ".join(_NEGATION_EXCEPTIONS.sub(" ", conjunct).split()[-6:])


def _clause_after(text: str, end: int) -> str:
    window = text[end : end + 40]
    match = _CLAUSE_BREAK.search(window)
    return window[: match.start()] if match else window


def _inside_quotes(text: str, start: int) -> bool:
    prefix = text[max(0, start - 200) : start]
    return sum(prefix.count(q) for q in _QUOTES) % 2 == 1


def _nearest_person(before: str) -> str:
    """The nearest person word before the hit decides who is speaking about whom: first, second, third
    (or "" when the clause names nobody)."""
    for word in reversed(_WORD.findall(before.lower())):
        if word in _FIRST_PERSON:
            return "first"
        if word in _SECOND_PERSON:
            return "second"
        if word in _THIRD_PERSON:
            return "third"
    return ""
