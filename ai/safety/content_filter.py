"""Content safety of a reply: a learned score in context, with keyword rules as evidence.

``ContentFilter().check(text, role="therapist", context=None)`` returns a ``ContentVerdict``: ``score``
is the probability that the reply is unsafe given the preceding turns (``context``, oldest first), from
the model in ``ai/safety/content/`` (DiaSafety and four other human-labelled sets; see its
MODEL_CARD.md); ``safe`` is ``score < threshold``. The model decides. ``codes`` name why: the keyword
rules below that matched (with spans in ``hits``), and, when the model flags the reply, the kind of
unsafe reply the context invites (``risk_ignorance``, ``toxicity_agreement``, ...; ``unsafe_reply``
when there is no context).

A client may say anything a person in distress says (crisis statements, anger, explicit details of
what happened to them); the training target is the therapist turn. So by default the model judges
therapist turns, and the rules also check system turns. The keyword rules (``ContentRules``) are precise but blind to context; their
codes are:

- ``method_detail``: how to harm oneself (methods, lethal amounts, "the most painless way");
- ``medication_dosing``: doses, or telling the client to start/stop/change a medication;
- ``diagnosis``: telling the client they have a disorder;
- ``harmful_validation``: agreeing that the client is worthless, should die, deserves harm, ...;
- ``sexual_content``: explicit sexual language or advances;
- ``hate_harassment``: insults at the client, slurs, contempt for groups.

Patterns are compiled once into one alternation with a named group per code, so a turn is scanned in
a single pass, case-sensitively on the lower-cased text where that is exact (``CaseFoldedPattern``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import re2

from ai.safety.case_folded import CaseFoldedPattern, first_char_alternation, matched_text
from ai.safety.content.features import CONTEXT_KINDS
from ai.safety.content.model import ContentModel

A = r"(?:['’`´]|â\x80\x99)?"
YOU_ARE = rf"(?:you{A}re|you are|youre|ur|you r)"

DRUGS = (
    r"sertraline|zoloft|prozac|fluoxetine|xanax|alprazolam|lexapro|escitalopram|citalopram|celexa|paxil|"
    r"paroxetine|valium|diazepam|klonopin|clonazepam|ativan|lorazepam|adderall|ritalin|lithium|seroquel|"
    r"quetiapine|abilify|aripiprazole|wellbutrin|bupropion|effexor|venlafaxine|cymbalta|duloxetine|"
    r"ambien|zolpidem|trazodone|mirtazapine|lamotrigine|lamictal|gabapentin|tramadol|oxycodone|"
    r"benzos?|antidepressants?|sleeping pills|ibuprofen|tylenol|paracetamol|acetaminophen|benadryl"
)
DISORDERS = (
    r"(?:clinical |major |severe |manic )?depression|depressive disorder|bipolar(?: disorder)?|bpd|"
    r"borderline(?: personality)?(?: disorder)?|ptsd|c-?ptsd|ocd|adhd|schizophreni[ac]|psychosis|psychotic|"
    r"autism|aspergers?|(?:an? )?anxiety disorder|(?:an? )?(?:\w+ )?personality disorder|narcissis(?:m|tic)|"
    r"(?:an? )?eating disorder|anorexia|bulimia|dementia|sociopath(?:y|ic)?|psychopath(?:y|ic)?|"
    r"dissociative identity disorder|panic disorder|social anxiety disorder|insomnia disorder"
)

RULES: dict[str, tuple[str, ...]] = {
    "method_detail": (
        r"\b(?:the )?(?:most |least )?(?:painless|quickest|fastest|easiest|surest|best|cleanest|"
        r"most effective) (?:way|method|ways|methods) (?:to|of) (?:die|dying|kill|end|suicide|commit)",
        r"\blethal (?:dose|amount|quantity)\b|\bhow many (?:pills|tablets|\w+ pills) (?:it takes|would|to)\b",
        r"\b(?:hang|hanging|shoot|shooting|drown|drowning|cut|cutting|overdose|poison) yourself\b",
        r"\bslit(?:ting)? your (?:wrists?|throat)\b|\b(?:tie|tying) (?:a|the) noose\b|\bcarbon monoxide\b",
        r"\b(?:you could|you can|try|just) (?:jump|overdose|cut deeper|take (?:all|a lot) of)\b",
        r"\bcut (?:deeper|vertically|along the vein)\b|\b(?:tall|high) enough (?:building|bridge) to\b",
    ),
    "medication_dosing": (
        r"\b\d+(?:\.\d+)?\s?(?:mg|milligrams?|mcg|micrograms?|ml)\b",
        rf"\b(?:take|try|start|increase|double|up|raise|lower|decrease|reduce|stop taking|stop|quit|skip|"
        rf"come off|go off|cut back on|get off) (?:\w+ ){{0,3}}?(?:{DRUGS})\b",
        r"\b(?:increase|double|lower|decrease|reduce|raise|halve|skip|up) (?:your|the) (?:dose|dosage|meds|medication)\b",
        r"\bstop taking (?:your|the|those|these) (?:meds|medications?|pills|tablets)\b",
        rf"\b(?:{DRUGS}) (?:would|will|should|could) (?:help|fix|work)\b",
    ),
    "diagnosis": (
        rf"\b(?:you|u) (?:definitely |clearly |probably |obviously |certainly |must |might |may )?"
        rf"(?:have|suffer from|are suffering from|{A}ve got|have got) (?:a |an )?(?:{DISORDERS})\b",
        rf"\b(?:sounds|seems|looks) like (?:you have|you{A}ve got|you suffer from) (?:a |an )?(?:{DISORDERS})\b",
        rf"\b{YOU_ARE} (?:definitely |clearly |probably |obviously )?(?:bipolar|schizophrenic|psychotic|autistic|"
        r"a narcissist|narcissistic|a sociopath|a psychopath|clinically depressed|anorexic|bulimic)\b",
        r"\bi (?:would |d |'d )?diagnose you\b|\byour diagnosis is\b|\bclassic (?:case|symptoms?) of\b",
    ),
    "harmful_validation": (
        r"\byou should (?:just )?(?:kill yourself|die|end it|end your life|hurt yourself|give up|disappear)\b",
        r"\b(?:go ahead|do it)[, ]+(?:and )?(?:kill|end|cut|hurt|jump)\b|\bkys\b",
        r"\b(?:nobody|no one|noone) (?:cares|would care|will care|would miss you|will miss you|likes you|loves you)\b",
        # Harm deserved, never praise: "you deserve it!" congratulates, so a bare "it"/"this" is no hit (a
        # victim-blaming "you deserved it" needs the context, which the model sees and the rules do not).
        rf"\byou (?:deserve|deserved) (?:to (?:suffer|die|be hurt|be alone|feel this way|be punished|be miserable|"
        rf"be (?:hit|beaten|abused|raped|bullied|treated (?:like|that way)))|what (?:happened|you got|"
        rf"(?:he|she|they) did(?: to you)?)|what(?:{A}s| is| was) coming|(?:this|the|all this|all of this) "
        rf"(?:pain|suffering|abuse)|everything (?:that happened|you got))\b|\byou had it coming\b",
        rf"\b(?:it{A}s|that{A}s|its|thats) (?:all )?(?:your own fault|all your fault|your fault)\b",
        rf"\b{YOU_ARE} (?:right|correct)[,.]? (?:you{A}re|you are|nobody|no one|everyone|life is|you should)\b",
        rf"\b{YOU_ARE} (?:worthless|a burden|pathetic|hopeless|a lost cause|beyond help)\b",
        r"\b(?:they|everyone|your family)(?:'d| would| are| will be) (?:be )?better off without you\b",
        rf"\bmaybe (?:it{A}s|it is|its) (?:time|best) (?:to|that you) (?:give up|end|let go of life)\b",
    ),
    "sexual_content": (
        # Sexual talk aimed at the client, not the vocabulary of sexual health: counsellors answer questions
        # about porn use, sex in a marriage and orgasms (counsel-chat's intimacy topic), and a rule on those
        # words refused them wholesale (read in the gate's rejections of real data).
        rf"\b(?:(?:have |had )?sex with me|(?:send|show) me (?:your )?nudes?|get naked for me|i{A}m (?:so )?horny|"
        r"sext(?:ing)? (?:me|with me)|blowjob)\b",
        r"\b(?:send (?:me )?(?:pics|photos|a pic) of (?:you|your body)|turns? me on|make love to you|"
        rf"sleep with you|you{A}re (?:so )?sexy|your body is (?:hot|sexy))\b",
    ),
    "hate_harassment": (
        rf"\b{YOU_ARE} (?:such )?(?:an? )?(?:idiot|stupid|moron|loser|dumb|retard(?:ed)?|freak|ugly|fat|"
        r"disgusting|crazy|psycho|weak|pathetic|joke|clown|waste of space|piece of shit|bitch)\b",
        r"\b(?:shut up|stfu|f+u*c*k+ (?:you|off)|screw you|go to hell)\b",
        # "get lost" / "grow up" only as a command thrown at someone ("Grow up!", "Get lost, you ..."), not "get
        # lost in your thoughts" or "when your kids grow up." (no lookarounds: the rules run in one RE2 set).
        r"\b(?:get lost|grow up)(?:\s*!|,? (?:you|already|loser|idiot)\b)",
        r"\b(?:retards?|faggots?|fags?|trann(?:y|ies)|kikes?|spics?|chinks?|wetbacks?|n[i1]gg(?:er|a)s?)\b",
        r"\b(?:all )?(?:women|men|girls|muslims|jews|christians|blacks|whites|gays|lesbians|immigrants|"
        r"mexicans|asians|trans people|feminists) are (?:all )?(?:stupid|evil|animals|inferior|disgusting|"
        r"trash|the problem|subhuman|worthless|crazy)\b",
        r"\bi hate (?:women|men|gays|muslims|jews|blacks|immigrants|trans people|your kind)\b",
    ),
}
REASON_CODES = tuple(RULES)

# Every rule above contains one of these (case-insensitive) fragments; a text without any of them is
# skipped, because the full rule set costs far more per character than this one alternation. Words that
# therapists use all the time ("right", "maybe", "yourself", "men" in "mentioned") appear only with the
# words their rule needs next to them, so ordinary replies skip the rule set.
_TRIGGER_FRAGMENTS = [
    r"\d\d*(?:\.\d+)?\s?(?:mg|milligram|mcg|microgram|ml)",
    *(
        f"{word} (?:ways?|methods?) (?:to|of)"
        for word in ["painless", "quickest", "fastest", "easiest", "surest", "best", "cleanest", "effective"]
    ),
    *(
        f"{word} yourself"
        for word in [
            "hang",
            "hanging",
            "shoot",
            "shooting",
            "drown",
            "drowning",
            "cut",
            "cutting",
            "overdose",
            "poison",
            "kill",
            "hurt",
        ]
    ),
    r"take (?:all|a lot) of",
    "tall enough",
    "high enough",
    "lethal",
    "how many",
    "slit",
    "noose",
    "monoxide",
    "jump",
    "overdos",
    "cut",
    r"dos(?:e|age)",
    "meds",
    "medication",
    "pills",
    "tablets",
    "benzo",
    "antidepress",
    *DRUGS.split("|"),  # a flat list of names, no groups
    "disorder",
    "depress",
    "bipolar",
    "bpd",
    "borderline",
    r"c-?ptsd",
    "ptsd",
    "ocd",
    "adhd",
    "schizophren",
    "psychos",
    "psychotic",
    "autis",
    "asperger",
    "narcissis",
    "anorexi",
    "bulimi",
    "dementia",
    "sociopath",
    "psychopath",
    "diagnos",
    "classic",
    r"die\b",
    r"end (?:it|your)",
    "give up",
    "disappear",
    "kys",
    "nobody",
    "no one",
    "noone",
    "deserve",
    "had it coming",
    "fault",
    *(f"{lead}[, ]+(?:and )?(?:kill|end|cut|hurt|jump)" for lead in ["go ahead", "do it"]),
    *(f"{you_are} (?:right|correct)" for you_are in [f"you{A}re", "you are", "youre", "ur", "you r"]),
    "worthless",
    "burden",
    "pathetic",
    "hopeless",
    "lost cause",
    "beyond help",
    "better off",
    "maybe it",
    "sex",
    "naked",
    "nude",
    "blowjob",
    "horny",
    r"send (?:me )?(?:pics|photos|a pic)",
    r"turns? me",
    "make love",
    "sleep with",
    "your body is",
    *(
        rf"{insult}\b"
        for insult in [
            "idiot",
            "stupid",
            "moron",
            "loser",
            "dumb",
            "freak",
            "ugly",
            "fat",
            "disgusting",
            "crazy",
            "psycho",
            "weak",
            "joke",
            "clown",
            "waste",
            "piece",
            "bitch",
        ]
    ),
    "shut up",
    "stfu",
    "ff*u*c*k+ ",
    "screw you",
    "go to hell",
    "get lost",
    "grow up",
    "retard",
    "fag",
    "trann",
    "kike",
    "spic",
    "chink",
    "wetback",
    r"n[i1]gg",
    "i hate",
    *(
        rf"{group} are\b"
        for group in [
            "women",
            "men",
            "girls",
            "muslims",
            "jews",
            "christians",
            "blacks",
            "whites",
            "gays",
            "lesbians",
            "immigrants",
            "mexicans",
            "asians",
            "trans people",
            "feminists",
        ]
    ),
]
TRIGGERS = CaseFoldedPattern(r"\b" + first_char_alternation(_TRIGGER_FRAGMENTS))


def _re2_triggers() -> re2._Regexp:
    """TRIGGERS for lower-cased ASCII text in RE2 (a DFA: about 4x faster than ``re`` here). On ASCII
    text the two engines agree except that Python's whitespace class also takes the vertical tab and
    0x1c-0x1f, so those are added: a prefilter may let extra texts through to the full rules, never hold
    one back."""
    options = re2.Options()
    options.max_mem = 64 << 20
    return re2.compile(TRIGGERS.fast.pattern.replace(r"\s", r"[\s\x0b\x1c-\x1f]"), options)


_ASCII_TRIGGERS = _re2_triggers()


def triggered(text: str) -> bool:
    """Whether ``text`` contains a fragment of some rule (else no rule can match it)."""
    if text.isascii():
        return _ASCII_TRIGGERS.search(text.lower()) is not None
    return TRIGGERS.slow.search(text) is not None


DEFAULT_ROLE_CODES: dict[str, tuple[str, ...]] = {
    "therapist": REASON_CODES,
    "system": REASON_CODES,
    "client": (),
}
# A system prompt is not a reply to anything: the rules check it, the model judges replies only.
DEFAULT_MODEL_ROLES = ("therapist",)
# The model's reason code for a flagged reply: the kind of unsafe reply its context invites.
MODEL_CODES = (*CONTEXT_KINDS, "unsafe_reply")


@dataclass(frozen=True, slots=True)
class ContentHit:
    code: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class ContentVerdict:
    safe: bool = True
    score: float = 0.0  # P(unsafe | context); for rules alone 1.0 on a hit
    codes: list[str] = field(default_factory=list)
    hits: list[ContentHit] = field(default_factory=list)  # the keyword rules' evidence, with spans


class ContentRules:
    """The keyword layer alone: checks texts for the reason codes that apply to their speaker's role."""

    def __init__(self, role_codes: dict[str, Iterable[str]] | None = None) -> None:
        role_codes = DEFAULT_ROLE_CODES if role_codes is None else role_codes
        unknown = {code for codes in role_codes.values() for code in codes} - set(REASON_CODES)
        if unknown:
            raise ValueError(f"unknown content reason codes {sorted(unknown)}; known: {list(REASON_CODES)}")
        self.role_codes = {role: tuple(codes) for role, codes in role_codes.items()}
        self._by_codes: dict[tuple[str, ...], CaseFoldedPattern] = {}
        for codes in self.role_codes.values():
            if codes and codes not in self._by_codes:
                self._by_codes[codes] = _compile(codes)

    def check(self, text: str, role: str = "therapist") -> ContentVerdict:
        return _rule_verdict(self.hits(text, role))

    def hits(self, text: str, role: str = "therapist") -> list[ContentHit]:
        codes = self.role_codes.get(role, ())
        if not codes or not text or not triggered(text):
            return []
        return self._hits(self._by_codes[codes], text)

    def check_without_prefilter(self, text: str, role: str = "therapist") -> ContentVerdict:
        """Every rule over the whole text (what ``check`` must always agree with)."""
        codes = self.role_codes.get(role, ())
        if not codes:
            return ContentVerdict()
        return _rule_verdict(self._hits(self._by_codes[codes], text))

    @staticmethod
    def _hits(pattern: CaseFoldedPattern, text: str) -> list[ContentHit]:
        return [
            ContentHit(_code_of(m.lastgroup or ""), m.start(), m.end(), matched_text(text, m))
            for m in pattern.finditer(text)
        ]


class ContentFilter:
    """Judges replies in context: the learned score decides, the keyword rules add evidence.

    ``threshold`` overrides the one shipped with the model (for studies, not per config).
    """

    def __init__(
        self,
        role_codes: dict[str, Iterable[str]] | None = None,
        model_roles: Iterable[str] = DEFAULT_MODEL_ROLES,
        threshold: float | None = None,
        model_dir: Path | str | None = None,
        model: ContentModel | None = None,
    ) -> None:
        self.rules = ContentRules(role_codes)
        self.model_roles = frozenset(model_roles)
        self.model = model or (ContentModel(Path(model_dir)) if model_dir else ContentModel())
        self.threshold = self.model.threshold if threshold is None else float(threshold)
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"content threshold must be in (0, 1), got {self.threshold}")
        self.version = self.model.version

    def check(
        self, text: str, role: str = "therapist", context: Sequence[str] | None = None
    ) -> ContentVerdict:
        return self.check_batch([text], role, [context or ()])[0]

    def check_batch(
        self, texts: Sequence[str], role: str = "therapist", contexts: Sequence[Sequence[str]] | None = None
    ) -> list[ContentVerdict]:
        """One verdict per text, all spoken in ``role``; ``contexts[i]`` are the turns before ``texts[i]``."""
        if contexts is None:
            contexts = [()] * len(texts)
        if len(contexts) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(contexts)} contexts")
        hits = [self.rules.hits(text, role) for text in texts]
        if role not in self.model_roles or not texts:
            # A role the model does not judge: the rules configured for it are all there is.
            return [_rule_verdict(h) for h in hits]
        scored = self.model.score(texts, contexts)
        return [
            self._verdict(float(p), int(kind), h)
            for p, kind, h in zip(scored.probabilities, scored.kinds, hits, strict=True)
        ]

    def _verdict(self, probability: float, kind: int, hits: list[ContentHit]) -> ContentVerdict:
        codes = {h.code for h in hits}
        safe = probability < self.threshold
        if not safe:
            codes.add(MODEL_CODES[kind])
        return ContentVerdict(safe, round(probability, 6), sorted(codes), hits)


def diasafety_metrics(rows: list[dict[str, Any]], rules: ContentRules | None = None) -> dict[str, Any]:
    """Precision/recall of the keyword rules' "any hit" against DiaSafety's Unsafe label for bot
    responses, overall and per DiaSafety category (the response is checked as a therapist turn)."""
    rules = rules or ContentRules()
    per_category: dict[str, dict[str, int]] = {}
    codes_seen: dict[str, int] = {}
    for row in rows:
        verdict = rules.check(str(row.get("response") or ""), "therapist")
        unsafe = str(row.get("label", "")).strip().lower() == "unsafe"
        cell = per_category.setdefault(str(row.get("category", "")), {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
        cell[("t" if unsafe == (not verdict.safe) else "f") + ("p" if not verdict.safe else "n")] += 1
        for code in verdict.codes:
            codes_seen[code] = codes_seen.get(code, 0) + 1
    total = {key: sum(c[key] for c in per_category.values()) for key in ("tp", "fp", "fn", "tn")}
    return {
        "overall": _precision_recall(total),
        "by_category": {name: _precision_recall(cell) for name, cell in sorted(per_category.items())},
        "hits_by_code": dict(sorted(codes_seen.items())),
    }


def _precision_recall(cell: dict[str, int]) -> dict[str, Any]:
    tp, fp, fn = cell["tp"], cell["fp"], cell["fn"]
    return {
        **cell,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
    }


def _compile(codes: tuple[str, ...]) -> CaseFoldedPattern:
    alternatives = [f"(?P<{code}__{i}>{regex})" for code in codes for i, regex in enumerate(RULES[code])]
    # Every rule starts at a word boundary (tests/unit/safety/test_content_filter.py checks it).
    return CaseFoldedPattern("|".join(alternatives), word_start=True)


def _code_of(group: str) -> str:
    return group.rsplit("__", 1)[0]


def _rule_verdict(hits: list[ContentHit]) -> ContentVerdict:
    return ContentVerdict(not hits, 1.0 if hits else 0.0, sorted({h.code for h in hits}), hits)
