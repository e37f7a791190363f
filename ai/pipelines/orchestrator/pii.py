"""PII scrubbing with compiled patterns and typed placeholders that are consistent inside a conversation.

A full NER analyzer (Presidio) costs milliseconds per text, far over the pipeline's budget, so this module
uses compiled regular expressions plus first-name gazetteers (Faker's name lists) for the places where names
actually show up in counselling conversations: introductions ("my name is ..."), greetings and address
("Hi Sarah,"), relations ("my husband Tom"), titles ("Dr. Patel"), and lower-case names after a cue
("talked to sarah"). Once a name is found, every other mention of it in the same conversation gets the same
placeholder. Identifiers that only context gives away (dates of birth, record and licence numbers, handles)
are found by their cue words ("DOB", "MRN", "license number", "my insta is").

Crisis-line numbers and crisis-resource sites are deliberately kept: a reply that says "call 988" or
"text HOME to 741741" is safety-relevant content, not personal data.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import re2
from faker.providers.lorem.en_US import Provider as _EnglishWords

PII_TYPES = ("EMAIL", "URL", "HANDLE", "IP", "CARD", "DOB", "SSN", "MRN", "ID", "PHONE", "ADDRESS", "NAME")

# Digits-only forms of crisis and emergency lines (US, UK, IE, CA, AU) that must survive scrubbing.
DEFAULT_KEEP_NUMBERS = (
    "988",
    "911",
    "999",
    "112",
    "111",
    "116123",
    "116111",
    "741741",
    "686868",
    "85258",
    "18002738255",
    "8002738255",
    "18007997233",
    "8007997233",
    "18664887386",
    "8664887386",
    "8775658860",
    "18775658860",
    "18006624357",
    "8006624357",
    "18334564566",
    "8334564566",
    "131114",
    "08001111",
    "08088084994",
    "08000683193",
)
DEFAULT_KEEP_DOMAINS = (
    "988lifeline.org",
    "suicidepreventionlifeline.org",
    "crisistextline.org",
    "samaritans.org",
    "befrienders.org",
    "thetrevorproject.org",
    "nami.org",
    "mind.org.uk",
    "findahelpline.com",
    "samhsa.gov",
    "who.int",
    "nhs.uk",
)


class PiiEntity(msgspec.Struct, frozen=True):
    type: str
    text: str
    start: int
    end: int


class ScrubResult(msgspec.Struct):
    texts: list[str]
    counts: dict[str, int]
    entities: list[list[PiiEntity]]


class PiiScrubber:
    """Finds PII spans in text and replaces them with ``[TYPE_n]`` placeholders."""

    def __init__(
        self,
        keep_numbers: Iterable[str] = DEFAULT_KEEP_NUMBERS,
        keep_domains: Iterable[str] = DEFAULT_KEEP_DOMAINS,
        types: Iterable[str] = PII_TYPES,
        keep_toll_free: bool = True,
    ) -> None:
        # Toll-free numbers (US 8XX, UK 0800/0808) belong to organisations, often helplines, not people.
        self.keep_toll_free = keep_toll_free
        self.keep_numbers = frozenset(re.sub(r"\D", "", n) for n in keep_numbers)
        self.keep_domains = tuple(d.lower() for d in keep_domains)
        # "@samaritans" on social media is the organisation, like samaritans.org.
        self.keep_handles = frozenset(d.split(".")[0] for d in self.keep_domains)
        unknown = set(types) - set(PII_TYPES)
        if unknown:
            raise ValueError(f"unknown PII types {sorted(unknown)}; known: {', '.join(PII_TYPES)}")
        self.types = frozenset(types)
        # (type, the hint (_HINTS) a conversation must contain for the detector to run, detector). Earlier win
        # overlaps: a birth date before a phone number, an SSN with separators before a phone number.
        detectors: list[tuple[str, str | None, Callable[[str], Iterable[PiiEntity]]]] = [
            ("EMAIL", "email", self._emails),
            ("URL", None, self._urls),
            ("HANDLE", "handle", self._handles),
            ("IP", "digit", _ips),
            ("CARD", "digit", _cards),
            ("DOB", "birth", _dates_of_birth),
            ("SSN", "digit", _ssns),
            ("MRN", "record", _record_numbers),
            ("ID", "id", _id_numbers),
            ("PHONE", "digit", self._phones),
            ("PHONE", "digit_word", self._spelled_phones),
            ("SSN", "digit", _bare_ssns),
            ("ADDRESS", "digit", _addresses),
            ("NAME", None, _names),
            ("NAME", "title", _lowercase_titled_names),
            ("NAME", "lower_name", _lowercase_introductions),
            ("NAME", "lower_name", _lowercase_names),
        ]
        self._finders = [d for d in detectors if d[0] in self.types]

    def find(self, text: str) -> list[PiiEntity]:
        """Non-overlapping PII spans in ``text``, in text order. Earlier detectors win overlaps."""
        return self._find(text, self._active_finders(text))

    def scrub(self, texts: Sequence[str]) -> ScrubResult:
        """Scrub the texts of one conversation; the same value gets the same placeholder in every text."""
        # Hints are checked once on the whole conversation: most conversations have no digit, no "@" and
        # no cue word, so most detectors never run.
        finders = self._active_finders("\n".join(texts))
        found = [self._find(text, finders) for text in texts]
        if not any(found):  # the usual conversation: nothing to number or replace
            return ScrubResult(texts=list(texts), counts={}, entities=found)
        if "NAME" in self.types:
            found = _propagate_names(texts, found)
        numbering: dict[tuple[str, str], str] = {}
        per_type: Counter[str] = Counter()
        scrubbed = []
        for text, entities in zip(texts, found, strict=True):
            pieces, cursor = [], 0
            for entity in entities:
                key = (entity.type, _canonical(entity))
                if key not in numbering:
                    per_type[entity.type] += 1
                    numbering[key] = f"[{entity.type}_{per_type[entity.type]}]"
                pieces.append(text[cursor : entity.start])
                pieces.append(numbering[key])
                cursor = entity.end
            pieces.append(text[cursor:])
            scrubbed.append("".join(pieces) if entities else text)
        counts = Counter(e.type for entities in found for e in entities)
        return ScrubResult(texts=scrubbed, counts=dict(counts), entities=found)

    def scrub_identifier(self, value: str) -> str:
        """An input record's own id with its PII replaced by placeholders; ids without PII are unchanged.

        Ids such as ``user-jessica.moreno@gmail.com`` or ``patient_ssn_078-05-1120`` go out in the export's
        metadata. The scrubbed form (``user-[EMAIL]``) is stable across runs and cannot be reversed, unlike a
        hash of a low-entropy value such as an SSN. Names are looked for in the id with its separators read
        as spaces (``client_sarah_02``).
        """
        if not value:
            return value
        entities = self.find(value)
        if not entities and "NAME" in self.types:
            spaced = _ID_SEPARATORS.sub(" ", value)
            entities = [e for e in _names(spaced) if e.type == "NAME"] + list(
                _lowercase_names_anywhere(spaced)
            )
            entities = [e for i, e in enumerate(entities) if not _overlaps(e, entities[:i])]
        if not entities:
            return value
        pieces, cursor = [], 0
        for entity in sorted(entities, key=lambda e: e.start):
            pieces += [value[cursor : entity.start], f"[{entity.type}]"]
            cursor = entity.end
        return "".join([*pieces, value[cursor:]])

    def _active_finders(self, text: str) -> list[tuple[bool, Callable[[str], Iterable[PiiEntity]]]]:
        """(needs a digit in the text, detector) for the detectors whose hint ``text`` contains."""
        hints = _HINTS.matching(text)
        if _LOWER_NAME_HINT.search(text):
            hints.add("lower_name")
        return [
            (hint in _DIGIT_HINTS, finder)
            for _type, hint, finder in self._finders
            if hint is None or hint in hints
        ]

    @staticmethod
    def _find(text: str, finders: list[tuple[bool, Callable[[str], Iterable[PiiEntity]]]]) -> list[PiiEntity]:
        spans: list[PiiEntity] = []
        # Most turns of a conversation that has a number somewhere have none themselves.
        has_digit = _DIGIT.search(text) is not None
        for needs_digit, finder in finders:
            if needs_digit and not has_digit:
                continue
            for entity in finder(text):
                if not _overlaps(entity, spans):
                    spans.append(entity)
        spans.sort(key=lambda e: e.start)
        return spans

    def _emails(self, text: str) -> Iterable[PiiEntity]:
        if "@" in text:
            for m in _EMAIL.finditer(text):
                yield PiiEntity("EMAIL", m.group(), m.start(), m.end())
        if _OBFUSCATION_HINT.search(text):
            for m in _OBFUSCATED_EMAIL.finditer(text):
                if _looks_obfuscated(m):
                    yield PiiEntity("EMAIL", m.group(), m.start(), m.end())

    def _urls(self, text: str) -> Iterable[PiiEntity]:
        if "://" not in text and "www." not in text and not _TLD_HINT.search(text):
            return
        for m in _URL.finditer(text):
            url = m.group().rstrip(".,;:!?)]}'\"")
            host = _URL_HOST.sub("", url.lower()).split("/", 1)[0].split(":", 1)[0]
            if not any(host == d or host.endswith("." + d) for d in self.keep_domains):
                yield PiiEntity("URL", url, m.start(), m.start() + len(url))

    def _handles(self, text: str) -> Iterable[PiiEntity]:
        for m in _HANDLE.finditer(text):
            group = "handle" if m.group("handle") else "reddit" if m.group("reddit") else "named"
            handle = m.group(group).rstrip(".")
            if handle.lstrip("@").lower() in self.keep_handles or not _HANDLE_LETTER.search(handle):
                continue
            start = m.start(group)
            yield PiiEntity("HANDLE", handle, start, start + len(handle))

    def _phones(self, text: str) -> Iterable[PiiEntity]:
        for m in _PHONE.finditer(text):
            value = m.group()
            digits = re.sub(r"\D", "", value)
            if digits in self.keep_numbers or not 7 <= len(digits) <= 15:
                continue
            if self.keep_toll_free and _TOLL_FREE.match(digits):
                continue
            if _DATE_LIKE.fullmatch(value):
                continue
            international = value.startswith(("+", "(")) or "(" in value
            if len(digits) < 10 and not international and not _SHORT_LOCAL.fullmatch(value):
                continue
            yield PiiEntity("PHONE", value, m.start(), m.end())

    def _spelled_phones(self, text: str) -> Iterable[PiiEntity]:
        """Numbers written out ("five five five, eight six seven ..."): seven digits or more in a row."""
        for m in _SPELLED_NUMBER.finditer(text):
            digits = _spelled_digits(m.group())
            if len(digits) >= 7 and digits not in self.keep_numbers:
                yield PiiEntity("PHONE", m.group(), m.start(), m.end())


def evaluate(cases: Iterable[dict[str, Any]], scrubber: PiiScrubber | None = None) -> dict[str, Any]:
    """Entity-level precision and recall of the scrubber on labelled cases.

    A case is ``{"text": ..., "entities": [{"type": "EMAIL", "text": "a@b.org"}, ...]}``; a detected span
    matches an expected one of the same type when either text contains the other.
    """
    scrubber = scrubber or PiiScrubber()
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    errors: list[dict[str, Any]] = []
    for case in cases:
        detected = scrubber.scrub([case["text"]]).entities[0]
        expected = [(e["type"], e["text"]) for e in case.get("entities", [])]
        unmatched = list(expected)
        for entity in detected:
            match = next(
                (x for x in unmatched if x[0] == entity.type and _same_span(x[1], entity.text)), None
            )
            if match is None:
                fp[entity.type] += 1
                errors.append({"kind": "false_positive", "type": entity.type, "text": entity.text})
            else:
                tp[entity.type] += 1
                unmatched.remove(match)
        for kind, value in unmatched:
            fn[kind] += 1
            errors.append({"kind": "missed", "type": kind, "text": value, "in": case["text"]})
    by_type = {
        kind: _prf(tp[kind], fp[kind], fn[kind]) for kind in PII_TYPES if tp[kind] + fp[kind] + fn[kind]
    }
    overall = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return {"overall": overall, "by_type": by_type, "errors": errors}


def evaluate_file(path: str | Path, scrubber: PiiScrubber | None = None) -> dict[str, Any]:
    """``evaluate`` over a JSONL file of labelled cases (one case per line)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return evaluate((json.loads(line) for line in lines if line.strip()), scrubber)


def scores_table(result: dict[str, Any]) -> str:
    """A markdown table of ``evaluate``'s per-type and overall figures."""
    rows = [
        "| type | labelled | found | false positives | missed | precision | recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, s in [*result["by_type"].items(), ("all", result["overall"])]:
        rows.append(
            f"| {kind} | {s['tp'] + s['fn']} | {s['tp']} | {s['fp']} | {s['fn']} | "
            f"{s['precision']:.3f} | {s['recall']:.3f} |"
        )
    return "\n".join(rows)


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "tp": tp, "fp": fp, "fn": fn}


def _same_span(expected: str, found: str) -> bool:
    return expected in found or found in expected


def _overlaps(entity: PiiEntity, spans: list[PiiEntity]) -> bool:
    return any(entity.start < s.end and s.start < entity.end for s in spans)


def _canonical(entity: PiiEntity) -> str:
    if entity.type in ("PHONE", "CARD", "SSN"):
        return re.sub(r"\D", "", entity.text) or _spelled_digits(entity.text)
    if entity.type == "NAME":
        # "Sarah" and "Sarah Jones" in one conversation are taken to be the same person.
        return entity.text.split()[0].casefold()
    return entity.text.casefold()


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _re2_options(max_mem: int = 8 << 20) -> re2.Options:
    options = re2.Options()
    options.max_mem = max_mem
    options.log_errors = False
    return options


# Letters of the Latin scripts (Zoë, Łukasz, Åsa, Nguyễn): a name regex limited to A-Z leaves "[NAME_1]ë".
_UPPER = "A-Z" + "".join(c for c in map(chr, [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]) if c.isupper())
_LOWER = "a-z" + "".join(c for c in map(chr, [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]) if c.islower())
# The local part takes every character RFC 5322 allows unquoted (o'brien@, j.doe+x@) and any letter (zoë@):
# a narrower class leaves the start of the address in the text.
_EMAIL = re.compile(r"\w[\w.!#$%&'*+/=?^`{|}~-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_TLDS = "com|org|net|edu|gov|io|co|uk|info|me|us|ca|de|au|ly|app|dev|biz|ie|nz|in|tv|xyz|online|site"
_MAIL_HOSTS = "gmail|googlemail|yahoo|ymail|hotmail|outlook|live|msn|icloud|me|aol|proton|protonmail|gmx|mail"
# "jane dot doe at gmail dot com", "jane.doe [at] gmail [dot] com", "jane(at)gmail.com".
_OBF_AT = r"(?:\s*[\[({<]\s*(?:at|AT)\s*[\])}>]\s*|\s+(?:at|AT)\s+)"
_OBF_DOT = r"(?:\s*[\[({<]\s*(?:dot|DOT)\s*[\])}>]\s*|\s+(?:dot|DOT)\s+|\.)"
_OBFUSCATED_EMAIL = re.compile(
    rf"\b[\w%+'-]+(?:{_OBF_DOT}[\w%+'-]+)*{_OBF_AT}[A-Za-z0-9-]+(?:{_OBF_DOT}[A-Za-z0-9-]+)*"
    rf"{_OBF_DOT}(?:{_TLDS}|COM|ORG|NET)\b"
)
_OBFUSCATION_HINT = re.compile(
    rf"\b(?:dot|DOT)\b|[\[({{<]\s*(?:at|AT)\s*[\])}}>]|\b(?:at|AT)\s+(?:{_MAIL_HOSTS})\."
)
_SPELLED_SEPARATOR = re.compile(r"\s*[\[({<]\s*(?:at|AT|dot|DOT)\s*[\])}>]\s*|\s(?:dot|DOT)\s")
_MAIL_HOST_AFTER_AT = re.compile(rf"\s(?:at|AT)\s+(?:{_MAIL_HOSTS})\.")
# Bare domains need a lower-case top-level domain: "the counselor.In the first session" is two sentences
# run together, not a link to an Indian site.
_URL = re.compile(
    r"(?:\b[Hh][Tt][Tt][Pp][Ss]?://|\b[Ww][Ww][Ww]\.)[^\s<>\"'\]\[]+"
    rf"|\b(?:[A-Za-z0-9-]+\.)+(?:{_TLDS})\b(?:/[^\s<>\"'\]\[]*)?"
)
_TLD_HINT = re.compile(rf"\.(?:{_TLDS})\b", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
# One character each, so that offsets in the spaced form of an id are offsets in the id.
_ID_SEPARATORS = re.compile(r"[_\-./:#|]")
_URL_HOST = re.compile(r"^(?:https?://)?(?:www\.)?")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.])"
)
_IPV6 = re.compile(
    r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}"
    r"|::1)(?![\w:])"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,11}(?:[ .-]\d{1,6}){0,5}(?![\w-])"
)
_TOLL_FREE = re.compile(r"1?8(?:00|33|44|55|66|77|88)\d{7}$|0?80[08]\d{6,7}$")
_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_SHORT_LOCAL = re.compile(r"\d{3}[-.]\d{4}")

# "@sadboi_1999", "u/throwaway_4821", "my insta is jen.lee_92", "snap: xo.jenny".
# "handle" alone is mostly the verb ("I can't handle it"); only "handle is" / "handle:" cue a handle.
_HANDLE_CUE = (
    "insta|instagram|ig|snap|snapchat|tiktok|twitter|discord|kik|telegram|reddit|username|user name"
    r"|handle(?=\s*:|\s+is)|gamertag|psn|xbox|steam|tumblr|twitch|threads"
)
_HANDLE = re.compile(
    r"(?<![\w@.])(?P<handle>@[A-Za-z0-9_][A-Za-z0-9_.]{1,29})(?![\w@])"
    r"|(?<![\w/])(?P<reddit>u/[A-Za-z0-9_-]{3,20})\b"
    rf"|(?i:\b(?:{_HANDLE_CUE})(?:\s+(?:handle|name|username|account|id|tag))?"
    r"(?:\s*[:=]\s*|\s+(?:is|was|it's)\s+))"
    r"(?P<named>@?(?=[A-Za-z0-9_.]*[0-9_.])[A-Za-z0-9_][A-Za-z0-9_.]{2,29})\b"
)
_HANDLE_LETTER = re.compile(r"[A-Za-z]")

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE = (
    rf"\d{{1,4}}[./-]\d{{1,2}}[./-]\d{{2,4}}"
    rf"|(?:{_MONTHS})\.?\s+{_DAY}(?:,?\s+(?:19|20)\d\d)?\b"
    rf"|{_DAY}\s+(?:of\s+)?(?:{_MONTHS})\b\.?(?:,?\s+(?:19|20)\d\d)?"
    rf"|(?:{_MONTHS})\.?,?\s+(?:19|20)\d\d"
    r"|(?:19|20)\d\d\b"
)
_BIRTH_CUE = r"born|birth|birthday|bday|b-day|dob|d\.o\.b\.?"
# A date within a few words after a birth cue, in the same sentence: "born on March 14, 1987", "DOB: 3/14/87".
# Other dates ("on March 3rd my dad died") are events, not identifiers, and are kept.
_DOB = re.compile(rf"(?i:\b(?:{_BIRTH_CUE})(?![a-z]))[^.!?\n\d]{{0,30}}?(?P<date>(?i:{_DATE}))")

_RECORD_CUE = (
    r"mrn|medical record(?:s)?(?:\s+(?:number|num|no|#))?|patient\s+(?:id|number|no|#)|chart\s+(?:number|no|#)"
    r"|hospital\s+(?:number|no|id)|nhs\s+(?:number|no)|health\s+(?:card|insurance|plan)\s+(?:number|no|id)"
    r"|member\s+(?:id|number)|insurance\s+(?:id|number|policy|card)|policy\s+(?:number|no)|medicaid|medicare"
)
_ID_CUE = (
    r"driver'?s?\s+licen[cs]e|driving\s+licen[cs]e|licen[cs]e(?:\s+(?:number|no|#|plate))?|dl|passport"
    r"|national\s+insurance|ni\s+number|nino|tax\s+(?:id|number)|tin|ein|sin|student\s+(?:id|number)"
    r"|employee\s+(?:id|number)|id\s+(?:number|no|#)|account\s+(?:number|no)|routing\s+number|plate"
)
# After the cue: filler ("number is", "#:") then the value, a token with two digits or more
# ("D1234-5678-9012", "SMITH812046JD9AB") or spaced groups ("943 476 5919", "QQ 12 34 56 C"). The filler
# before it is up to three short words ("number is", "again,").
_ID_VALUE = (
    r"(?:[a-z'’]{1,10}[\s:#=.,-]+){0,3}"
    r"(?P<value>(?=[A-Za-z0-9-]*\d[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{3,24}[A-Za-z0-9]"
    r"(?:\s\d{2,4}(?:\s\d{2,4}){0,3}(?:\s[A-Za-z])?)?"
    r"|\d{2,5}(?:\s\d{2,5}){1,4}"
    r"|[A-Za-z]{1,3}\s\d{2}(?:\s\d{2}){2,3}(?:\s[A-Za-z])?)(?![\w-])"
)
_RECORD = re.compile(rf"(?i:\b(?:{_RECORD_CUE})\b)[\s:#=.-]*{_ID_VALUE}", re.IGNORECASE)
_ID = re.compile(rf"(?i:\b(?:{_ID_CUE})\b)[\s:#=.-]*{_ID_VALUE}", re.IGNORECASE)

# A nine-digit run with a valid SSN area ("078051120"); a cue word lets other separators through too.
_SSN_BARE = re.compile(r"(?<![\d.,-])(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}(?![\d-]|[.,]\d)")
_SSN_CUED = re.compile(
    r"(?i:\b(?:ssn|social security(?:\s+(?:number|no|#))?|social)\b)[\s:#=.-]*(?:(?:number|is|was)\s+){0,2}"
    r"(?P<value>\d{3}[ .-]?\d{2}[ .-]?\d{4})(?![\d-])"
)

_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_DIGIT_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
_SPELLED_NUMBER = re.compile(
    rf"(?i:\b(?:{_DIGIT_WORD}|double|triple)(?:(?:[\s,.-]|\s-\s|\sdash\s)+(?:{_DIGIT_WORD}|o|double|triple|\d{{1,4}})\b){{5,}})"
)
_SPELLED_TOKEN = re.compile(r"(?i)\d+|[a-z]+")


def _ips(text: str) -> Iterable[PiiEntity]:
    if "." in text:
        for m in _IPV4.finditer(text):
            yield PiiEntity("IP", m.group(), m.start(), m.end())
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            yield PiiEntity("IP", m.group(), m.start(), m.end())


def _cards(text: str) -> Iterable[PiiEntity]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            yield PiiEntity("CARD", m.group(), m.start(), m.end())


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ssns(text: str) -> Iterable[PiiEntity]:
    for m in _SSN.finditer(text):
        yield PiiEntity("SSN", m.group(), m.start(), m.end())
    if "ssn" in text.lower() or "social" in text.lower():
        for m in _SSN_CUED.finditer(text):
            yield PiiEntity("SSN", m.group("value"), m.start("value"), m.end("value"))


def _bare_ssns(text: str) -> Iterable[PiiEntity]:
    for m in _SSN_BARE.finditer(text):
        yield PiiEntity("SSN", m.group(), m.start(), m.end())


def _dates_of_birth(text: str) -> Iterable[PiiEntity]:
    for m in _DOB.finditer(text):
        yield PiiEntity("DOB", m.group("date"), m.start("date"), m.end("date"))


def _record_numbers(text: str) -> Iterable[PiiEntity]:
    for m in _RECORD.finditer(text):
        yield PiiEntity("MRN", m.group("value"), m.start("value"), m.end("value"))


def _id_numbers(text: str) -> Iterable[PiiEntity]:
    for m in _ID.finditer(text):
        yield PiiEntity("ID", m.group("value"), m.start("value"), m.end("value"))


def _looks_obfuscated(m: re.Match[str]) -> bool:
    """ "jane at gmail.com" or "jane dot doe at example dot org", not "I looked at it.com"."""
    return bool(_SPELLED_SEPARATOR.search(m.group()) or _MAIL_HOST_AFTER_AT.search(m.group()))


def _spelled_digits(value: str) -> str:
    digits: list[str] = []
    repeat = 1
    for token in _SPELLED_TOKEN.findall(value.lower()):
        if token in ("double", "triple"):
            repeat = 2 if token == "double" else 3
            continue
        digit = token if token.isdigit() else _DIGIT_WORDS.get(token, "")
        digits.append(digit * repeat)
        repeat = 1
    return "".join(digits)


_STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Circle"
    "|Close|Crescent|Parkway|Pkwy|Highway|Hwy|Square|Sq"
)
_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?\s+(?:(?:[NSEW]\.?|North|South|East|West)\s+)?"
    r"(?:(?:\d+(?:st|nd|rd|th)|[A-Z][a-z']+)\s+){1,3}"
    rf"(?:{_STREET_TYPES}|{_STREET_TYPES.lower()})\b\.?"
    r"(?:,?\s*(?:Apt|Apartment|Suite|Unit|Flat|apt|suite|unit|flat)\.?\s*#?\w+)?"
    r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+)?(?:,?\s*[A-Z]{2}(?:\s+\d{5}(?:-\d{4})?)?)?)?"
    r"|\bP\.?\s?O\.?\s+Box\s+\d+"
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b"
)
# Continental order, the number after the street ("Rue de Rivoli 25", "Calle Mayor 5, 28013 Madrid",
# "Hauptstraße 12", "Kerkstraat 7"), or the French number-first form in lower case ("25 rue de Rivoli").
_STREET_WORD = rf"[{_UPPER}][{_LOWER}'’.-]+"
_PARTICLES = (
    r"(?:(?:de|del|de la|des|du|della|delle|dei|di|da|do|dos|das|la|le|les|el|los|las)\s+|d['’]|l['’])*"
)
_STREET_PREFIXES = (
    "Rue|Avenue|Av\\.|Boulevard|Bd|Chemin|Allée|Impasse|Quai|Place|Calle|Avenida|Avda\\.?|Plaza|Paseo|Carrer"
    "|Camino|Via|Viale|Piazza|Corso|Largo|Vicolo|Rua|Travessa|Praça|ul\\.|ulica|Aleja|al\\.|Strada|Calea"
)
_STREET_SUFFIXES = (
    "straße|strasse|str\\.|weg|gasse|platz|allee|ring|damm|ufer|straat|laan|gracht|plein|singel|kade|gatan"
    "|vägen|gata|veien|vei|vej|gade|katu|tie"
)
# Casual writing: "she lives at 88 north park drive". "3 blocks down the road" and "a 2 lane road" are not.
_LOWERCASE_ADDRESS = re.compile(
    r"\b\d{1,5}[a-z]?\s+(?:(?:north|south|east|west|[nsew]\.?)\s+)?(?P<street>(?:[a-z]+\s+){1,2})"
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|terrace|circle"
    r"|crescent|parkway)\b"
)
_NOT_STREET_NAME_WORDS = _words(
    """
    a an the my our your his her their this that down up along across over on of to from in at by and or more
    other same one two three four five six seven eight nine ten miles mile blocks block minutes minute hours
    hour days weeks years lane way long dirt dead country busy quiet back side new old times
    """
)
_CONTINENTAL_ADDRESS = re.compile(
    rf"\b(?:{_STREET_PREFIXES})\s+{_PARTICLES}{_STREET_WORD}(?:\s+{_PARTICLES}{_STREET_WORD}){{0,3}},?\s+\d{{1,4}}"
    rf"(?:\s?[a-zA-Z]\b)?(?:,?\s+\d{{4,5}}\s+{_STREET_WORD})?"
    rf"|\b{_STREET_WORD}(?:{_STREET_SUFFIXES})\s+\d{{1,4}}[a-z]?\b(?:,?\s+\d{{4,5}}\s+{_STREET_WORD})?"
    rf"|\b\d{{1,4}}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai|calle|via"
    rf"|{_STREET_PREFIXES})"
    rf"\s+{_PARTICLES}{_STREET_WORD}(?:\s+{_PARTICLES}{_STREET_WORD}){{0,3}}(?:,?\s+\d{{4,5}}\s+{_STREET_WORD})?"
)


def _addresses(text: str) -> Iterable[PiiEntity]:
    for m in _CONTINENTAL_ADDRESS.finditer(text):
        yield PiiEntity("ADDRESS", m.group(), m.start(), m.end())
    for m in _LOWERCASE_ADDRESS.finditer(text):
        if not _NOT_STREET_NAME_WORDS.intersection(m.group("street").split()):
            yield PiiEntity("ADDRESS", m.group(), m.start(), m.end())
    for m in _ADDRESS.finditer(text):
        yield PiiEntity(
            "ADDRESS", m.group().rstrip(",. "), m.start(), m.start() + len(m.group().rstrip(",. "))
        )


_FIRST_NAME_LISTS = ("first_names", "first_names_male", "first_names_female")
_LAST_NAME_LISTS = ("last_names",)
# Faker's first-name lists. Names from these are taken for names wherever they are capitalised.
ENGLISH_NAME_LOCALES = (
    "en", "en_US", "en_GB", "en_IE", "en_NZ", "en_IN", "es_ES", "fr_FR", "it_IT", "ar_AA", "hi_IN", "zu_ZA",
)  # fmt: skip
# Latin-script lists of other countries: names from these count without a cue only when their spelling cannot
# be an English word (José, Łukasz, Åsa): in English text "Per", "Even" or "Bent" are words.
WORLD_NAME_LOCALES = (
    "az_AZ", "cs_CZ", "da_DK", "de_AT", "de_CH", "de_DE", "es", "es_AR", "es_CL", "es_CO", "es_MX", "et_EE",
    "fi_FI", "fr_BE", "fr_CA", "fr_CH", "fr_QC", "ga_IE", "hr_HR", "hu_HU", "id_ID", "lt_LT", "lv_LV", "nl_BE",
    "nl_NL", "no_NO", "pl_PL", "pt_BR", "pt_PT", "ro_RO", "sl_SI", "sv_SE", "tr_TR", "tw_GH",
)  # fmt: skip


def first_names_of(locales: Iterable[str], attributes: Sequence[str] = _FIRST_NAME_LISTS) -> set[str]:
    """Every first name (or, with ``_LAST_NAME_LISTS``, last name) in Faker's person providers of these locales."""
    names: set[str] = set()
    for locale in locales:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attribute in attributes:
            values = provider.__dict__.get(attribute, ())
            if isinstance(values, dict | list | tuple | set | frozenset):
                names.update(values)
    return {n for n in names if n.replace("-", "").replace("'", "").isalpha()}


def _name_words() -> frozenset[str]:
    """First names that are also words in counselling text (built by scripts/build_pii_name_words.py)."""
    path = Path(__file__).with_name("pii_name_words.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


# First names that are also everyday words; they count as names only after an explicit introduction.
_AMBIGUOUS_NAMES = _words(
    """
    Will May June April August Hope Faith Joy Grace Mark Bill Art Rose Summer Sunny Guy Frank Dawn Chase
    Hunter Christian Page Sage Ray Angel Love Pat Sue Rob Don Jean Gene Carol Iris Lily Ruby Amber Holly
    Ivy Jade Crystal Destiny Harmony Heaven Brandy Candy Cherry Ginger Olive Violet Autumn Winter Sky
    Skye River Rain Storm Stone Lane Drew Trinity Genesis Major King Prince Royal Bishop Price Bond Cash
    Justice Honor True Blue Gray Grey Brown Green White Black Young Long Rich Earl Duke Marshall
    Sterling Miles Bob Buck Penny Misty Melody Patience Mercy Felicity Constance Prudence Charity Trust
    Rocky Dusty Brook Brooke Dean Victor Noble Case Wade Cliff Glen Glenn Hill Forest Field Ford Park
    Shelby Jordan Norman Tanner Carter Mason Parker Cooper Porter Taylor Sawyer Fisher Walker Kelly
    Shannon Max Sandy Terry Nick Jack Harry Rusty Dale Sally Lou Kay Jay Dee Eve Al Ed Tom Tim Ben Sam
    Dan Jan Ken Ron Ted Val Us Toy Tan Sole Mar Canal Limon Pier Paris India Jesus Baba Bali Nazi Naz
    Verde Flor Sol Luce Roman Coral Cruz Ale Che Chus Paz Luz Salud Dolores Mercedes Rosario Consuelo
    Angeles Reyes Amor Africa America Asia Europa Happy Star Moon Sunday Sonny Trinidad Victoria
    Florence Adelaide Georgia Virginia Carolina Chelsea Lincoln Jersey Sydney Austin Dallas Houston
    Phoenix Denver Madison Eden Haven Hazel Pepper Poppy Daisy Willow Raven Piper Kit Bunny Cookie Sugar
    Honey Precious Princess Lady Man Bud Ace Rex Rico Durante Una Loyal
    """
)
_EXTRA_FIRST_NAMES = _words(
    """
    Sarah Emily Priya Aisha Mohammed Muhammad Ahmed Fatima Wei Mei Yuki Hiroshi Raj Arjun Ananya
    Carlos Maria Jose Luis Sofia Mateo Diego Olga Ivan Dmitri Anya Kofi Amara Chidi Ngozi
    Siobhan Niamh Aoife Sean Liam Noah Oliver Elijah Lucas Mia Ava Chloe Zoe Ella Leah Nora
    Hannah Tyler Jake Josh Ryan Zainab Thabo Kwame Nkechi Oluwaseun Tendai Xin Jia Hao Minh Thanh Hyun
    """
)
# Lookups are by casefolded spelling, so "DeShawn" finds Faker's "Deshawn" and "MACKENZIE" finds "Mackenzie".
# What people call their relatives ("my nan says", "papa"), which Faker's registers also hold as names.
_KINSHIP_WORDS = _words("nan nana nanna nanny gran granny grammy papa pappy pops mama mamma momma mum mummy")
_NOT_FIRST_NAMES = (
    {w.casefold() for w in _AMBIGUOUS_NAMES | _KINSHIP_WORDS}
    | _name_words()
    | {w.casefold() for w in _EnglishWords.word_list}
)
_FIRST_NAMES = (
    frozenset(n.casefold() for n in first_names_of(ENGLISH_NAME_LOCALES) | _EXTRA_FIRST_NAMES)
    - _NOT_FIRST_NAMES
)
_WORLD_NAMES = frozenset(n.casefold() for n in first_names_of(WORLD_NAME_LOCALES)) - _NOT_FIRST_NAMES
_SURNAMES = (
    frozenset(
        n.casefold() for n in first_names_of(ENGLISH_NAME_LOCALES + WORLD_NAME_LOCALES, _LAST_NAME_LISTS)
    )
    - _NOT_FIRST_NAMES
)
# Capitalised words that follow greetings or titles but are not names.
_NOT_NAME_WORDS = _words(
    """
    I Im Everyone Everybody All Guys Folks Team There Again Doctor Doc Dr Mom Mum Dad Mommy Daddy Mother
    Father Sir Madam Ma'am Miss Friend Friends Buddy Man Dude Honey Sweetie Dear Love Babe Baby God
    Jesus Lord Therapist Counselor Counsellor Coach Nurse So Very For Yes No Okay Ok Well Oh Hi Hello
    Hey Bye Goodbye Cheers Regards Congrats Merry Christmas Xmas Easter Thanksgiving Halloween Santa
    Thanks Thank You Good Morning Afternoon Evening Night Today Tomorrow Yesterday Monday Tuesday
    Wednesday Thursday Friday Saturday Sunday January February March July September October November
    December English American British Canadian Christian Muslim Jewish Catholic Not Just Really Still
    German French Spanish Italian Irish Scottish Welsh Mexican Chinese Japanese Korean Indian African Asian
    European Latino Latina Russian Polish Dutch Swedish Greek Turkish Arab Persian Australian
    Also Here Back Sorry Glad Happy Sad Fine Depressed Anxious Tired Afraid Scared Worried Stressed
    Feeling Trying Going Doing Being Having Getting The A An And But Or It This That What When Where Why
    How Who Which If My Your His Her Our Their We They He She Me Us Them Mr Mrs Ms Prof Professor Reddit
    Google Facebook Instagram Twitter Netflix Zoom Covid Lol
    """
)
# Places that people sign with or are addressed by on forums ("Hi Michigan,"): locations, not names.
_PLACES = _words(
    """
    Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho
    Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota
    Mississippi Missouri Montana Nebraska Nevada Hampshire Jersey Mexico York Carolina Dakota Ohio Oklahoma
    Oregon Pennsylvania Rhode Island Tennessee Texas Utah Vermont Virginia Washington Wisconsin Wyoming
    Puerto Rico Ontario Quebec Alberta Columbia Manitoba Scotland Wales England Ireland Canada America
    Australia India London Toronto Chicago Boston Seattle Houston Dallas Austin Denver Miami Atlanta Portland
    Phoenix Vegas Angeles Francisco Diego Montreal Vancouver Anaheim Boise Bend Brooklyn Manhattan Paris
    Berlin Milan Rome Vienna Madrid Cleveland Memphis Camden Kingston Bristol Melbourne Wellington Sheffield
    Hamburg Munich Lyon Marseille Naples Venice Geneva Zurich Amsterdam Rotterdam Antwerp Brussels Kent Essex
    """
)
# Ordinary English words (Faker's list of ~1000 common words): never a name on weak evidence alone.
_COMMON_WORDS = frozenset(w.capitalize() for w in _EnglishWords.word_list)
# Brands and products written with an inner capital, which would otherwise look like "DeShawn".
_BRANDS = _words(
    """
    YouTube FaceTime PowerPoint WhatsApp LinkedIn TikTok iPhone MacBook PlayStation GoFundMe BetterHelp
    TalkSpace Talkspace HeadSpace WebMD McDonald McDonalds DoorDash GrubHub OnlyFans SnapChat JavaScript
    PayPal CashApp DeVry LaGuardia DeKalb OkCupid NyQuil DayQuil McAfee MasterCard StarBucks
    """
)
_NOT_NAMES = _NOT_NAME_WORDS | _PLACES | _BRANDS
# "The Trevor Project", "Grace Hospital": a first name leading an organisation's name.
_ORGANISATION_WORDS = _words(
    """
    Project Foundation Helpline Lifeline Line Hospital University College School Center Centre Clinic Trust
    Institute Society Association Network Church Street Road Avenue Park Bridge Hotel Station Group
    """
)
# One part of a name: "Sarah", "O'Brien", "Ke'Shawn", "DeShawn", "MacKenzie", "LaMarcus"; parts join with a
# hyphen ("Williams-Carter"). A name never ends inside a word: "(?![^\W\d_])" is "no letter follows".
_NAME_PART = rf"[{_UPPER}](?:[{_LOWER}]{{0,2}}['’][{_UPPER}])?[{_LOWER}]+(?:[{_UPPER}][{_LOWER}]{{2,}})?"
_NAME_TOKEN = rf"{_NAME_PART}(?:-{_NAME_PART})*(?![^\W\d_])"  # nosec B105  # a name regex, not a password
# Spellings of surnames and given names that English words do not have: O'Brien, D'Angelo, McKenna,
# MacKenzie, DeAndre, LaToya, VanDyke.
_NAME_SHAPE = re.compile(
    rf"(?:[OD]['’][{_UPPER}]|Ma?c[{_UPPER}]|(?:De|Da|Di|Du|La|Le|Lu|Ja|Ke|Ky|Sha|Ta|Te|Ty|Van|Von)[{_UPPER}])"
    rf"[{_LOWER}]{{2,}}"
)
_RELATIONS = (
    "husband|wife|boyfriend|girlfriend|partner|fiance|fiancé|fiancee|son|daughter|friend|best friend|brother"
    "|sister|mom|mum|dad|mother|father|boss|manager|therapist|counselor|counsellor|coworker|co-worker|colleague"
    "|ex|ex-husband|ex-wife|roommate|flatmate|neighbor|neighbour|cousin|aunt|uncle|grandma|grandpa|grandmother"
    "|grandfather|stepdad|stepmom|teacher|doctor|niece|nephew|child|kid|baby|girl|boy|classmate|mentor|pastor"
    "|supervisor|(?:mother|father|sister|brother|son|daughter)-in-law|stepson|stepdaughter|stepbrother|stepsister"
    "|stepmother|stepfather|grandson|granddaughter|twin|bf|gf|bestie|bff|fiancée|ex-boyfriend|ex-girlfriend"
    "|ex-partner|landlord|landlady|nurse|psychiatrist|psychologist|social worker|caseworker|sponsor|coach"
)
# What comes right before a capitalised word decides whether it is a name. One regex anchored at the end of
# the preceding text classifies the context; the group that matched says which rule applies.
_NAME_CONTEXT = re.compile(
    r"(?:(?P<intro>\b(?:my name is|my name's|name's|call me|i go by))"
    rf"|(?P<relation>\b(?:my|your|her|his|our)\s+(?:{_RELATIONS}),?)"
    r"|(?P<title>\b(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Doctor|Professor)\.?)"
    r"|(?P<self>\b(?:I'm|I’m|I am|Im))"
    r"|(?P<weak_self>\b(?:this is|it's|it’s|it is))"
    r"|(?P<greeting>\b(?:hi|hello|hey|dear|thanks|thank you|good (?:morning|afternoon|evening)|welcome|bye"
    r"|goodbye|nice to meet you|oh|sorry|yes|no|okay|well|listen),?)"
    r"|(?P<comma>,))"
    r"\s+$",
    re.IGNORECASE,
)
_CONTEXT_CHARS = 40
# Rules that accept any capitalised word; an ordinary English word there is not taken for a name.
_WEAK_RULES = ("self", "greeting", "comma")
_TITLES_WITH_STOP = ("Mr.", "Mrs.", "Ms.", "Mx.", "Dr.", "Prof.", "mr.", "mrs.", "ms.", "dr.", "prof.")
_NOT_SURNAMES = _NOT_NAMES | _ORGANISATION_WORDS
# Lower-case particles inside a surname: "Van der Berg", "Ní Bhriain" has none, "da Silva", "bin Salman".
_SURNAME_PARTICLES = "(?:van|von|der|den|de|del|della|di|da|du|dos|das|le|la|bin|ibn|al|el|ter|ten|ap)"
# The start is checked after the capital ("(?<![\w'’-].)": no letter, digit, apostrophe or hyphen before
# it, so "O'Brien" is never cut to "O'[NAME]"): a pattern that starts with a character set lets the regex
# engine skip straight to capitals, ~40% faster on prose.
_CAPITALISED = re.compile(
    rf"(?P<name>[{_UPPER}](?<![\w'’-].)(?:[{_LOWER}]{{0,2}}['’][{_UPPER}])?[{_LOWER}]+"
    rf"(?:[{_UPPER}][{_LOWER}]{{2,}})?(?:-{_NAME_PART})*)(?![^\W\d_])"
)
# Up to two capitalised words after a first name, looked for only once the first name is accepted.
_SURNAME_AFTER = re.compile(rf"(?:[ \t]+(?:{_SURNAME_PARTICLES}[ \t]+)*{_NAME_TOKEN}){{1,2}}")
_SURNAME_PIECE = re.compile(_NAME_TOKEN)
# "Mr. O'Brien" is found by the title rule; "dr. patel" in casual writing is the same cue.
_LOWER_TITLED = re.compile(r"\b(?:[Dd]r|[Mm]rs?|[Mm][sx]|[Pp]rof)\.?[ \t]+(?P<name>[a-z][a-z'’-]+[a-z])\b")
# Introductions in lower case ("my name is tomasz", "its me again, ana"): any gazetteer's name counts.
_INTRO_LOWER = re.compile(
    r"\b(?:[Mm]y name is|[Mm]y name's|[Cc]all me|[Ii]m|[Ii]'m|[Ii]t'?s me(?: again)?,?|[Tt]his is)[ \t]+"
    r"(?P<name>[a-zà-ÿ]+)\b(?!['’])"
)
_CLAUSE_END = re.compile(r"\s*(?:[,.!?;:]|$)")
_SENTENCE_END = re.compile(r"[.!?]|$")
# Lower-case names ("talked to sarah", "me and jake", "sarah said"): a gazetteer name that is not also a word,
# next to a word that puts a person there.
_LOWER_CUE_BEFORE = re.compile(
    r"\b(?:(?:talk|talked|talking|spoke|speak|speaking|said|say|wrote|write|writing|listen|listened|lied|lying"
    r"|married|engaged|close|mean|nice|apologi[sz]ed|explained|complained|reached out|went|go|going|introduced"
    r"|happened|belongs|next|sent|give|gave|send) to"
    r"|with|and|me and|told|tell|telling|asked|ask|asking|texted|text|texting|called|call|calling|met|meet|saw"
    r"|see|seeing|hi|hey|hello|thanks|thank you|dear|love|loved|miss|missed|named|name is|name's|call me|i'm|im"
    r"|i am|dating|date|dated|marry|divorced|hate|trust|visit|visited|hug|hugged|kissed|broke up with|blocked"
    rf"|unfollowed|(?:my|your|her|his|our)\s+(?:{_RELATIONS}),?)\s+$"
)
_LOWER_CUE_AFTER = re.compile(
    r"\s+(?:said|says|told|tells|asked|asks|texted|texts|called|calls|thinks|thought|wants|wanted|keeps|kept"
    r"|broke up|left me|doesn't|didn't|won't|never|always|and i|and me|yelled|shouted|hit|cheated|ignored|ignores"
    r"|ghosted|blocked|hates|loves|texts)\b|['’]s\b"
)
_PUNCTUATION_TO_SPACE = str.maketrans(dict.fromkeys("!\"#$%&()*+,./:;<=>?@[\\]^_`{|}~'’", " "))


def _names(text: str) -> Iterable[PiiEntity]:
    for m in _CAPITALISED.finditer(text):
        end = _name_end(text, m)
        if end:
            start = m.start("name")
            yield PiiEntity("NAME", text[start:end], start, end)


def _lowercase_titled_names(text: str) -> Iterable[PiiEntity]:
    for m in _LOWER_TITLED.finditer(text):
        if m.group("name") in _SURNAMES or m.group("name") in _FIRST_NAMES:
            yield PiiEntity("NAME", m.group("name"), m.start("name"), m.end("name"))


def _lowercase_introductions(text: str) -> Iterable[PiiEntity]:
    for m in _INTRO_LOWER.finditer(text):
        if _known_name(m.group("name")) or m.group("name") in _WORLD_NAMES:
            yield PiiEntity("NAME", m.group("name"), m.start("name"), m.end("name"))


def _name_end(text: str, m: re.Match[str]) -> int:
    """Where the name starting at this capitalised word ends, or 0 when the context says it is not one."""
    first = m.group("name")
    if first in _NOT_NAMES:
        return 0
    rule = _context_rule(text, m.start())
    known = _known_name(first)
    if not known and (rule is None or (rule in _WEAK_RULES and _ordinary_word(first, rule))):
        return 0
    first_end = m.end("name")
    surname_end, organisation = _surname_end(text, first_end)
    full_end = surname_end or first_end
    if rule in ("intro", "relation", "title"):
        return full_end
    if rule == "self":
        # "I'm Nadia," or "I'm Nguyễn Thị Hoa." introduce someone even outside the gazetteer; "I'm Tired" not.
        if known:
            return full_end
        return next((end for end in (full_end, first_end) if _CLAUSE_END.match(text, end)), 0)
    if rule == "greeting" and _CLAUSE_END.match(text, first_end):
        return first_end
    if rule == "comma" and _SENTENCE_END.match(text, first_end):
        return first_end
    if known and not organisation:
        return full_end
    return 0


def _surname_end(text: str, first_end: int) -> tuple[int, bool]:
    """End of the capitalised words after a first name, cut at a word that is no surname; and whether the
    first of them names an organisation ("The Trevor Project", "Grace Hospital")."""
    surname = _SURNAME_AFTER.match(text, first_end)
    if not surname:
        return 0, False
    end = 0
    for piece in _SURNAME_PIECE.finditer(surname.group()):
        if piece.group() in _NOT_SURNAMES:
            return end, end == 0 and piece.group() in _ORGANISATION_WORDS
        end = first_end + piece.end()
    return end, False


def _ordinary_word(word: str, rule: str) -> bool:
    # After "I'm", a name that is also a word ("I'm Will,") is still an introduction.
    return word in _COMMON_WORDS and not (rule == "self" and word in _AMBIGUOUS_NAMES)


def _context_rule(text: str, start: int) -> str | None:
    before = text[max(0, start - _CONTEXT_CHARS) : start]
    tail = before.rstrip()
    # Sentence starts are the most common capitalised words; only a title ("Dr.") ends in a full stop.
    if not tail or tail[-1] in "!?\n" or (tail[-1] == "." and not tail.endswith(_TITLES_WITH_STOP)):
        return None
    context = _NAME_CONTEXT.search(before)
    return context.lastgroup if context else None


@functools.lru_cache(maxsize=1 << 16)
def _known_name(word: str) -> bool:
    """A gazetteer name, or a spelling only names have (José, DeShawn, O'Brien, Mary-Jane)."""
    key = word.casefold()
    if key in _FIRST_NAMES or _NAME_SHAPE.fullmatch(word):
        return True
    if "-" in word:
        return any(_known_name(part) for part in word.split("-") if part)
    # Names of other countries only when English has no word spelled that way: an accent or an inner capital.
    return key in _WORLD_NAMES and (not word.isascii() or not word[1:].islower())


_LOWER_FIRST_NAMES = frozenset(
    n
    for n in _FIRST_NAMES
    if len(n) >= 3 and n.isalpha() and n.islower() and n.capitalize() not in _NOT_NAMES
)
# Every lower-case name an introduction may give ("my name is tomasz"); a conversation with none of these
# words skips the lower-case detectors.
_LOWER_NAME_TOKENS = _LOWER_FIRST_NAMES | {n for n in _WORLD_NAMES if len(n) >= 3 and n.isalpha()}
# The same test as one RE2 search (a DFA over ~15,000 names): 3-4x faster than splitting the text into words.
_LOWER_NAME_HINT = re2.compile(
    r"(?:^|[^\pL\pN_])(?:" + "|".join(sorted(_LOWER_NAME_TOKENS)) + r")(?:$|[^\pL\pN_])",
    _re2_options(max_mem=256 << 20),
)


def _lowercase_names(text: str) -> Iterable[PiiEntity]:
    """Casual writing drops capitals ("talked to sarah"); a name needs a cue on one side."""
    words = _LOWER_FIRST_NAMES.intersection(text.translate(_PUNCTUATION_TO_SPACE).split())
    for word in words:
        for m in re.finditer(rf"(?<![\w'’-]){word}(?![\w'’-]\w|[\w-])", text):
            before = text[max(0, m.start() - _CONTEXT_CHARS) : m.start()].lower()
            if _LOWER_CUE_BEFORE.search(before) or _LOWER_CUE_AFTER.match(text, m.end()):
                yield PiiEntity("NAME", word, m.start(), m.end())


def _lowercase_names_anywhere(text: str) -> Iterable[PiiEntity]:
    """Lower-case gazetteer names without a cue: for ids such as ``client_sarah_02``, not for prose."""
    # Whole words only: a hex digest such as "f3ada91" holds "ada" but names nobody.
    for m in re.finditer(r"(?<![A-Za-z0-9])[a-z]+(?![A-Za-z0-9])", text):
        if m.group() in _LOWER_FIRST_NAMES:
            yield PiiEntity("NAME", m.group(), m.start(), m.end())


def _propagate_names(texts: Sequence[str], found: list[list[PiiEntity]]) -> list[list[PiiEntity]]:
    """Mark every other mention of a detected name in the conversation ("Tom ... Tom")."""
    names = {e.text for entities in found for e in entities if e.type == "NAME"}
    if not names:
        return found
    tokens = names | {n.split()[0] for n in names}
    # A name first seen in lower case ("sarah") is also written capitalised in the same conversation.
    tokens |= {t.capitalize() for t in tokens if t.islower()}
    pattern = re.compile(
        r"\b(?:" + "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)) + r")\b"
    )
    result = []
    for text, entities in zip(texts, found, strict=True):
        extra = [PiiEntity("NAME", m.group(), m.start(), m.end()) for m in pattern.finditer(text)]
        merged = list(entities)
        for entity in extra:
            if not _overlaps(entity, merged):
                merged.append(entity)
        merged.sort(key=lambda e: e.start)
        result.append(merged)
    return result


class _HintSet:
    """Which cue words a conversation contains, all found in one linear-time pass (an RE2 set).

    Most detectors need a cue ("born", "MRN", "@", a digit) that most conversations lack. Asked one by one
    with Python's case-insensitive ``re`` each question is a scan of the whole conversation, ~1 ms on a long
    one; the set answers all of them in one scan of the lower-cased text, tens of microseconds. A hint only
    switches a detector on, so a hint that fires without a real match costs time, never a wrong result.
    """

    def __init__(self, patterns: dict[str, str]) -> None:
        self._set = re2.Set.SearchSet(_re2_options())
        self._names = list(patterns)
        for pattern in patterns.values():
            self._set.Add(pattern)
        self._set.Compile()

    def matching(self, text: str) -> set[str]:
        return {self._names[i] for i in self._set.Match(text.lower()) or ()}


# Detectors behind these hints match digits only ("born" needs a date, "MRN" a number).
_DIGIT_HINTS = frozenset({"digit", "birth", "record", "id"})
_HINTS = _HintSet(
    {
        "email": rf"@|\bdot\b|[\[({{<]\s*at\s*[\])}}>]|\bat\s+(?:{_MAIL_HOSTS})\.",
        "handle": rf"@|\bu/|\b(?:{_HANDLE_CUE.replace('(?=', '(?:')})\b",
        "digit": r"\d",
        "birth": _BIRTH_CUE,
        "record": rf"\b(?:{_RECORD_CUE})",
        "id": rf"\b(?:{_ID_CUE})\b",
        "digit_word": rf"\b{_DIGIT_WORD}[\s,-]+(?:{_DIGIT_WORD}|o)\b",
        "title": r"\b(?:dr|mrs?|m[sx]|prof)\.?[ \t]+[a-z]",
    }
)


if __name__ == "__main__":
    import sys

    # python -m ai.pipelines.orchestrator.pii CASES.jsonl : precision/recall of the scrubber on labelled cases
    print(scores_table(evaluate_file(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/pii_cases.jsonl")))
