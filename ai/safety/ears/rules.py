"""The EARS rubric as rules: the evidence a reviewer reads beside the learned score.

EARS = Empathize (name the feeling), Acknowledge (validate without minimising), Reflect (mirror the
client's own words and themes), Support (a small collaborative next step, autonomy language, an open
question). The rules also name what a reply should not do: minimise ("you'll be fine"), judge, prescribe,
lead with hotlines when the client shows no risk. The learned model (``judge.py``) sees whether each rule
matched as one of its features, so a rule's weight comes from human labels, not from us; the rules' own
job is to quote the words behind a score and to find the safety step a crisis conversation must hold.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ai.safety.case_folded import CaseFoldedPattern, RuleSet, matched_text

A = r"(?:['’`´])?"
EMOTIONS = (
    r"sad(?:ness)?|upset|hurt(?:ing)?|angry|anger|mad|frustrat\w*|anxious|anxiety|worried|worry|scared|"
    r"afraid|fear\w*|terrified|lonely|alone|isolated|overwhelm\w*|stress\w*|exhaust\w*|tired|drained|"
    r"hopeless|helpless|guilt\w*|asham\w*|shame|embarrass\w*|disappoint\w*|heartbroken|grie\w+|loss|"
    r"depress\w*|down|low|miserable|confus\w*|lost|stuck|torn|conflicted|nervous|panic\w*|insecure|"
    r"rejected|betrayed|jealous|resent\w*|bitter|empty|numb|worthless|unappreciated|ignored|pain\w*|"
    r"difficult|hard|tough|struggl\w*|happy|relie\w+|proud|excited|hopeful|grateful|ambivalent|unsure"
)
EMPATHY = (
    rf"\b(?:you{A}re|you are|you{A}ve been|you have been|you{A}re been) (?:\w+ )?(?:feeling|felt) (?:\w+ )?",
    r"\b(?:you|u) (?:feel|felt|must feel|might feel|may feel|seem|sound)\b",
    r"\b(?:it |that )?(?:sounds|seems|looks) (?:like )?(?:it (?:is|was|has been) )?(?:really |so |very |quite )?",
    rf"\bmust (?:be|have been|feel)\b|\bi can (?:imagine|hear|see|sense|understand)\b|\bi{A}m sorry\b",
)
ACKNOWLEDGE = (
    r"\bmakes? (?:a lot of |complete |total )?sense\b|\b(?:very |completely |totally )?understandable\b",
    rf"\b(?:it{A}s|it is|that{A}s|that is) (?:okay|ok|normal|natural|human|valid|fair) to\b|\bno wonder\b",
    rf"\b(?:that{A}s|that is|it{A}s|it is|that sounds|sounds) (?:really |so |very |incredibly )?"
    r"(?:hard|tough|difficult|painful|a lot|heavy|exhausting|overwhelming|frustrating|scary|upsetting)\b",
    r"\bthank you for (?:sharing|telling|trusting|opening|being)\b|\bi hear (?:you|that|what)\b",
    rf"\b(?:you{A}re|you are) not alone\b|\banyone (?:would|in your)\b|\bof course you\b|\bvalid\b",
    r"\b(?:glad|grateful) (?:that )?you (?:told|shared|reached|said|came|opened)\b|\bi appreciate (?:you|that|your)\b|\bthat took (?:courage|strength)\b|\bgood (?:for you|point)\b",
)
REFLECTION_STEMS = (
    rf"\b(?:it )?(?:sounds|seems) like\b|\byou{A}re saying\b|\bwhat i{A}m hearing\b|\bso you\b|\byou mentioned\b",
    rf"\byou said\b|\byou feel like\b|\bif i understand\b|\bin other words\b|\bon (?:the )?one hand\b|\byou{A}re (?:\w+ )?(?:wondering|thinking|worried)\b",
)
OPEN_QUESTION = r"(?:^|[.!?]\s+|\b(?:and|so|but)\s+)(?:what|how|when|where|which|who|tell me|could you|can you|would you|in what)\b[^?]*\?"
AUTONOMY = (
    rf"\bwould you (?:like|be (?:willing|open|interested))\b|\bif you{A}?d like\b|\bif you want\b|\bwhat do you think\b",
    rf"\bup to you\b|\byour (?:choice|decision|call)\b|\bwhen you{A}re ready\b|\btogether\b|\bwe could\b|\bwe can\b",
    r"\bwould it help\b|\bare you open to\b|\bhow would you feel about\b|\byou might (?:consider|try|want)\b|\bwhat would\b",
)
NEXT_STEP = (
    r"\b(?:one |a )?small (?:step|thing)\b|\bnext step\b|\bthis week\b|\bstart (?:with|by)\b|\btry\b|\bplan\b",
    r"\bpractice\b|\bnotice\b|\bwrite (?:down|it)\b|\breach out\b|\btalk (?:to|with)\b|\bexplore\b",
)
MINIMISING = (
    rf"\byou{A}ll be (?:fine|ok|okay|alright)\b|\bdon{A}t worry\b|\bnot (?:a|that) big (?:deal|of a deal)\b",
    rf"\b(?:it{A}s|it is|that{A}s) not that bad\b|\bget over it\b|\bcheer up\b|\bbright side\b|\bat least you\b",
    r"\beverything happens for a reason\b|\bothers have it worse\b|\bcould be worse\b|\bcalm down\b|\bjust relax\b",
    rf"\bstop (?:being|feeling|worrying|overthinking)\b|\bsnap out of\b|\bit{A}s all in your head\b|\bmove on\b",
)
JUDGEMENT = (
    rf"\byou (?:should|shouldn{A}t) have\b|\bthat{A}s (?:wrong|stupid|selfish|ridiculous|silly)\b|\byour (?:own )?fault\b",
    rf"\bwhat were you thinking\b|\byou{A}re (?:overreacting|being (?:dramatic|ridiculous|silly|selfish|childish))\b",
    r"\bshame on you\b|\byou only have yourself\b|\bhow could you\b",
)
PRESCRIPTIVE = (
    r"\byou (?:need|have|must|ought) to\b|\byou must\b|\byou should (?:just )?(?:take|stop|start|go|leave|quit|get|tell|"
    r"break|dump|divorce|move)\b|\bthe (?:answer|solution) is\b|\bdo this\b",
)
HOTLINE = r"\b(?:hotline|helpline|crisis (?:line|text line|center|team)|lifeline|samaritans|988|911|999|112|emergency (?:room|services|department)|call (?:the )?(?:police|an ambulance))\b"
SAFETY_STEP = (
    r"\bare you (?:safe|somewhere safe|in (?:a )?safe place)\b|\b(?:your |keep you |stay )safe(?:ty)?\b|\bsafety plan\b",
    r"\b(?:thinking about|thoughts of) (?:ending|killing|suicide|hurting)\b|\bhave you (?:thought|made) (?:about )?a plan\b",
    HOTLINE,
    r"\b(?:reach out|talk|call|text|contact) (?:to )?(?:someone|a (?:friend|family member|doctor|counsell?or|therapist)|"
    r"your (?:doctor|therapist|gp|counsell?or))\b|\bstay with you\b|\bright now\b|\bremove (?:the|any) means\b",
)

RUBRIC: dict[str, tuple[str, ...]] = {
    "empathy_framed": tuple(f"(?:{e})\\s*(?:\\w+\\s+){{0,2}}(?:{EMOTIONS})\\b" for e in EMPATHY),
    "emotion": (rf"\b(?:{EMOTIONS})\b",),
    "acknowledge": ACKNOWLEDGE,
    "reflection_stem": REFLECTION_STEMS,
    "open_question": (OPEN_QUESTION,),
    "autonomy": AUTONOMY,
    "next_step": NEXT_STEP,
    "minimising": MINIMISING,
    "judgement": JUDGEMENT,
    "prescriptive": PRESCRIPTIVE,
    "hotline": (HOTLINE,),
    "safety_step": SAFETY_STEP,
}

RULE_NAMES = tuple(RUBRIC)

# Words too common in any reply to show that it mirrors the client (four letters or more only: the
# content-word pattern already skips shorter ones).
_STOPWORD_LIST = """
    about above after again against also always around because been before being below between both
    came cannot come could does doing done down during each even ever every feel feels felt from
    further gets getting give going gone gonna good have having here hers herself himself however into
    itself just know like made make many maybe more most much must myself never next none only other
    others ought ours over really same said says shall should since some something still such sure take
    than that thats their theirs them then there these they thing things think this those though
    through time under until very want wanted were what when where which while whom will with would
    yeah your yours yourself okay right well mean kind sort lots actually
"""
STOPWORDS = frozenset(_STOPWORD_LIST.split())


def rubric_rules() -> RuleSet:
    """Every rubric question of a reply, answered in one scan."""
    return RuleSet({name: _any(regexes) for name, regexes in RUBRIC.items()})


def quote(rules: RuleSet, name: str, text: str, limit: int | None = None) -> str:
    """The words rule ``name`` matched first in ``text`` (call it only for a rule that matched)."""
    match = rules.patterns[name].search(text)
    return matched_text(text, match)[:limit] if match else ""


@lru_cache(maxsize=1 << 16)
def content_stems(text: str) -> frozenset[str]:
    """Content words (runs of 4+ letters a-z, minus stopwords) cut to a 5-letter stem, so
    "worried"/"worrying" and "drinking"/"drinks" match.

    Cached: a conversation's client turns are looked at once per reply that follows them. The EARS
    stage's batch path (``features.stem_keys``) finds the same stems as numbers, with numpy.
    """
    words = set(letter_runs(text.lower())) - STOPWORDS
    return frozenset([w[:5] for w in words if len(w) >= 4])


def letter_runs(lowered: str) -> list[str]:
    """The runs of letters a-z of lower-cased text, in order."""
    if lowered.isascii():  # by a byte table instead of a regex: 4x faster
        return lowered.encode().translate(_LETTERS_ONLY).decode().split()
    return _LETTER_RUN.findall(lowered)


_LETTER_RUN = re.compile(r"[a-z]+")
# A byte table that keeps a-z and turns every other byte into a space.
_LETTERS_ONLY = bytes(c if 97 <= c <= 122 else 32 for c in range(256))


def _any(regexes: tuple[str, ...]) -> CaseFoldedPattern:
    return CaseFoldedPattern("|".join(f"(?:{r})" for r in regexes))
