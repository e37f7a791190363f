"""Quality gates: per-record checks (the ``quality`` stage) and dataset-level gates (``evaluate_dataset_gates``).

Per record: structure (roles, turn counts, empty or huge turns), residual PII that preprocessing missed,
language, and a heuristic quality score. Crisis, content and EARS checks are their own stages
(``crisis``, ``content``, ``ears``).

Dataset level: ``evaluate_dataset_gates(summary, options)`` is a pure function over counts the
orchestrator gathers after the run. It returns a JSON-able ``GateReport`` (``DIR/gate_report.json``)
that says which gate failed and by how much; a failed gate blocks the export.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ai.core.records import ROLES, Conversation
from ai.core.stage import GateStage, Rejection, StageOptions

PII_PATTERNS: dict[str, str] = {
    "email": r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b",
    "phone": r"(?<![\w-])(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]\d{3}[\s.-]\d{4}(?![\w-])",
    "ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "credit_card": r"\b(?:\d[ -]?){12,18}\d\b",
    "ip_address": r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
}
# Public helplines are not personal data; therapist turns in crisis conversations should keep them.
DEFAULT_PII_ALLOWLIST = (
    "1-800-273-8255",
    "800-273-8255",
    "1-800-799-7233",
    "1-800-656-4673",
    "1-866-488-7386",
)

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# Every PII pattern needs a digit or an "@"; most conversations hold neither, so one search over the
# joined turns spares the full PII scan per turn.
_PII_HINT = re.compile(r"[\d@]")
# The ASCII characters for which str.isalpha or str.isspace holds (deleted, what remains is the rest).
_ASCII_LETTERS_AND_SPACES = bytes(c for c in range(128) if chr(c).isalpha() or chr(c).isspace())


class BiasAuditGateOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``stages.quality.dataset.bias_audit``: audit every judge on counterfactual probe sets built from the
    exported conversations (ai.pipelines.orchestrator.bias_audit, docs/BIAS.md) and fail the dataset when
    one marker value flips a judge's decision in more than ``max_flip_rate`` of its sets."""

    originals: int = 200  # exported conversations the probe sets start from
    max_flip_rate: float = 0.10
    min_sets: int = 20  # values seen in fewer sets are reported, not judged
    bootstrap: int = 1000

    def __post_init__(self) -> None:
        if self.originals < 1 or self.min_sets < 1 or self.bootstrap < 0:
            raise ValueError("bias_audit: originals and min_sets must be >= 1 and bootstrap >= 0")
        if not 0.0 <= self.max_flip_rate <= 1.0:
            raise ValueError("bias_audit.max_flip_rate must be within 0..1")


class DatasetGateOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Thresholds of the dataset-level gates (``stages.quality.dataset`` in the config)."""

    min_total: int = 1
    min_per_category: dict[str, int] = msgspec.field(default_factory=dict)
    min_crisis_sensitivity: float = 0.95
    require_crisis_eval: bool = False  # fail when no labelled crisis evaluation was run
    max_duplicate_rate: float = 0.01
    split_ratios: dict[str, float] = msgspec.field(
        default_factory=lambda: {"train": 0.70, "validation": 0.15, "test": 0.15}
    )
    split_tolerance: float = 0.05  # absolute deviation allowed per split ratio
    min_split_total: int = 20  # below this many records split ratios are not judged
    max_split_leakage: int = 0  # groups found in more than one split
    min_ears_mean: float = 0.0
    bias_audit: BiasAuditGateOptions | None = None  # off unless configured: it scores ~17k probe records


class QualityOptions(StageOptions, kw_only=True):
    min_turns: int = 2
    max_turns: int = 400
    required_roles: list[str] = msgspec.field(default_factory=lambda: ["client", "therapist"])
    max_turn_chars: int = 20_000
    allowed_languages: list[str] = msgspec.field(default_factory=list)  # empty: any language
    check_pii: bool = True
    pii_kinds: list[str] = msgspec.field(default_factory=lambda: list(PII_PATTERNS))
    pii_allowlist: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_PII_ALLOWLIST))
    min_quality: float = 0.35
    dataset: DatasetGateOptions = msgspec.field(default_factory=DatasetGateOptions)

    def __post_init__(self) -> None:
        if isinstance(self.dataset, dict):  # QualityOptions(**yaml_options) passes the nested mapping as is
            self.dataset = msgspec.convert(self.dataset, DatasetGateOptions)
        unknown = set(self.pii_kinds) - set(PII_PATTERNS)
        if unknown:
            raise ValueError(f"unknown pii_kinds {sorted(unknown)}; known: {list(PII_PATTERNS)}")


class QualityStage(GateStage[QualityOptions]):
    """Per-record gates: structure, residual PII, language and the quality score (``scores["quality"]``)."""

    name = "quality"
    version = "1"
    Options = QualityOptions

    def __init__(self, options: QualityOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self._pii = re.compile(
            "|".join(f"(?P<{kind}>{PII_PATTERNS[kind]})" for kind in self.options.pii_kinds), re.IGNORECASE
        )
        self._allow = set(self.options.pii_allowlist)

    def judge(self, record: Conversation) -> Rejection | None:
        problem = (
            self._structure_problem(record) or self._language_problem(record) or self._pii_problem(record)
        )
        if problem:
            return self.reject(record, *problem)
        score = quality_score(record)
        record.scores["quality"] = score
        if score < self.options.min_quality:
            message = f"quality score {score:.2f} is below {self.options.min_quality:.2f}"
            return self.reject(record, "quality_below_threshold", message)
        return None

    def _structure_problem(self, record: Conversation) -> tuple[str, str] | None:
        opts = self.options
        turns = record.turns
        if len(turns) < opts.min_turns:
            return "structure_too_few_turns", f"{len(turns)} turns; at least {opts.min_turns} needed"
        if len(turns) > opts.max_turns:
            return "structure_too_many_turns", f"{len(turns)} turns; at most {opts.max_turns} allowed"
        for index, turn in enumerate(turns):
            if turn.role not in ROLES:
                return (
                    "structure_unknown_role",
                    f"turn {index} has role {turn.role!r}; expected one of {ROLES}",
                )
            if not turn.text.strip():
                return "structure_empty_turn", f"turn {index} ({turn.role}) is empty"
            if len(turn.text) > opts.max_turn_chars:
                return "structure_turn_too_long", f"turn {index} has {len(turn.text):,} characters"
        missing = [role for role in opts.required_roles if all(t.role != role for t in turns)]
        if missing:
            return "structure_missing_role", f"no {' or '.join(missing)} turn"
        return None

    def _language_problem(self, record: Conversation) -> tuple[str, str] | None:
        allowed = self.options.allowed_languages
        if allowed and record.language not in allowed:
            return "language_not_allowed", f"language {record.language or 'unknown'!r} is not in {allowed}"
        return None

    def _pii_problem(self, record: Conversation) -> tuple[str, str] | None:
        if not self.options.check_pii:
            return None
        if not _PII_HINT.search("\n".join(turn.text for turn in record.turns)):
            return None
        for index, turn in enumerate(record.turns):
            if not _PII_HINT.search(turn.text):
                continue
            for match in self._pii.finditer(turn.text):
                if match.group(0) in self._allow:
                    continue
                kind = match.lastgroup or "pii"
                if kind == "credit_card" and not _luhn_valid(match.group(0)):
                    continue
                # Never echo the value itself: the quarantine must not become a PII store.
                return (
                    f"residual_pii_{kind}",
                    f"turn {index} ({turn.role}) still holds a {kind.replace('_', ' ')}",
                )
        return None


def quality_score(record: Conversation) -> float:
    """0..1 heuristic: turn balance, reply substance, vocabulary variety, repetition, and letter share."""
    texts = [t.text for t in record.turns]
    therapist = [t.text for t in record.turns if t.role == "therapist"]
    client = [t.text for t in record.turns if t.role == "client"]
    balance = min(len(therapist), len(client)) / max(1, max(len(therapist), len(client)))
    words_per_reply = sorted(len(t.split()) for t in therapist)
    median = words_per_reply[len(words_per_reply) // 2] if words_per_reply else 0
    substance = min(1.0, median / 8) if median <= 400 else max(0.0, 1.0 - (median - 400) / 800)
    joined = " ".join(therapist)  # a space never joins two words
    # Lower-casing ASCII text keeps every letter a letter, so it can come first, once.
    words = _WORD.findall(joined.lower()) if joined.isascii() else [w.lower() for w in _WORD.findall(joined)]
    # Type/token ratio says little about a handful of words, so short replies earn variety gradually.
    variety = min(1.0, (len(set(words)) / len(words)) / 0.4) * min(1.0, len(words) / 20) if words else 0.0
    unique_turns = len({t.strip().casefold() for t in texts}) / max(1, len(texts))
    characters = "".join(texts)
    letters = _letter_or_space_count(characters) / max(1, len(characters))
    parts = (balance, substance, variety, unique_turns, min(1.0, letters / 0.85))
    return round(sum(parts) / len(parts), 4)


def _letter_or_space_count(text: str) -> int:
    if text.isascii():  # the common case, counted in C
        return len(text) - len(text.encode("ascii").translate(None, _ASCII_LETTERS_AND_SPACES))
    return sum(c.isalpha() or c.isspace() for c in text)


def _luhn_valid(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


# --- dataset-level gates ---------------------------------------------------------------------------


class GateResult(msgspec.Struct, omit_defaults=False):
    name: str
    passed: bool
    value: float | None
    threshold: float | None
    comparison: str  # ">=" or "<="
    shortfall: float  # how far the value misses the threshold (0 when passed)
    message: str


class GateReport(msgspec.Struct):
    passed: bool
    gates: list[GateResult]

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": [g.name for g in self.failed],
            "gates": [msgspec.to_builtins(g) for g in self.gates],
        }

    def summary_table(self) -> str:
        """A plain-text table for the run summary."""
        rows = [("gate", "result", "value", "threshold", "shortfall")]
        for g in self.gates:
            rows.append(
                (
                    g.name,
                    "PASS" if g.passed else "FAIL",
                    _fmt(g.value),
                    f"{g.comparison} {_fmt(g.threshold)}",
                    "" if g.passed else _fmt(g.shortfall),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def evaluate_dataset_gates(summary: dict[str, Any], options: DatasetGateOptions | None = None) -> GateReport:
    """Judge a finished run. Keys read from ``summary`` (all optional except ``total``):

    - ``total``: records exported;
    - ``counts_by_category``: {category: records};
    - ``counts_by_split``: {split: records};
    - ``split_leakage``: number of groups found in more than one split;
    - ``duplicate_rate``: share of exported records that duplicate another exported record;
    - ``crisis_eval``: the dict returned by ``crisis_eval`` on a labelled set (or None);
    - ``ears_mean``: mean EARS score of the exported conversations;
    - ``bias_flip_checks``: the judge bias audit's per judge and dimension worst flip rates.
    """
    options = options or DatasetGateOptions()
    gates = [_at_least("min_total", summary.get("total", 0), options.min_total, "records exported")]
    counts = summary.get("counts_by_category") or {}
    for category, minimum in sorted(options.min_per_category.items()):
        gates.append(
            _at_least(f"min_count:{category}", counts.get(category, 0), minimum, f"{category} records")
        )
    gates.append(_crisis_gate(summary.get("crisis_eval"), options))
    if "duplicate_rate" in summary:
        gates.append(
            _at_most(
                "duplicate_rate", summary["duplicate_rate"], options.max_duplicate_rate, "duplicate share"
            )
        )
    gates += _split_gates(summary, options)
    if options.min_ears_mean > 0 and "ears_mean" in summary:
        gates.append(_at_least("ears_mean", summary["ears_mean"], options.min_ears_mean, "mean EARS score"))
    if options.bias_audit is not None:
        gates += _bias_gates(summary.get("bias_flip_checks") or [], options.bias_audit)
    gates = [g for g in gates if g is not None]
    return GateReport(passed=all(g.passed for g in gates), gates=gates)


def _crisis_gate(crisis_eval: dict[str, Any] | None, options: DatasetGateOptions) -> GateResult | None:
    def unmeasured(why: str) -> GateResult:
        floor = options.min_crisis_sensitivity
        return GateResult("crisis_sensitivity", False, None, floor, ">=", floor, why)

    if not crisis_eval:
        if not options.require_crisis_eval:
            return None
        return unmeasured("no labelled crisis evaluation was run (require_crisis_eval is on)")
    value = (crisis_eval.get("sensitivity") or {}).get("value")
    if value is None:
        return unmeasured("the labelled crisis set has no positive examples, so sensitivity is undefined")
    return _at_least("crisis_sensitivity", value, options.min_crisis_sensitivity, "crisis sensitivity")


def _bias_gates(checks: list[dict[str, Any]], options: BiasAuditGateOptions) -> list[GateResult | None]:
    """One gate per judge and dimension: its worst value's share of sets whose decision flips."""
    gates: list[GateResult | None] = []
    for check in checks:
        what = f"{check['judge']} decision flips for {check['dimension']} '{check['value']}' ({check['sets']} sets)"
        gates.append(_at_most(check["name"], check["flip_rate"], options.max_flip_rate, what))
    return gates


def _split_gates(summary: dict[str, Any], options: DatasetGateOptions) -> list[GateResult | None]:
    gates: list[GateResult | None] = []
    if "split_leakage" in summary:
        gates.append(
            _at_most(
                "split_leakage",
                summary["split_leakage"],
                options.max_split_leakage,
                "groups in several splits",
            )
        )
    counts = summary.get("counts_by_split") or {}
    total = sum(counts.values())
    if total < options.min_split_total:
        return gates
    for split, expected in sorted(options.split_ratios.items()):
        share = counts.get(split, 0) / total
        deviation = round(abs(share - expected), 6)
        gate = _at_most(
            f"split_ratio:{split}", deviation, options.split_tolerance, f"{split} ratio deviation"
        )
        gate.message += f" ({split} holds {share:.3f} of records, expected {expected:.3f})"
        gates.append(gate)
    return gates


def _at_least(name: str, value: float, threshold: float, what: str) -> GateResult:
    passed = value >= threshold
    shortfall = 0.0 if passed else round(threshold - value, 6)
    message = (
        f"{what}: {_fmt(value)} >= {_fmt(threshold)}"
        if passed
        else (f"{what} {_fmt(value)} is below {_fmt(threshold)} by {_fmt(shortfall)}")
    )
    return GateResult(name, passed, value, threshold, ">=", shortfall, message)


def _at_most(name: str, value: float, threshold: float, what: str) -> GateResult:
    passed = value <= threshold
    shortfall = 0.0 if passed else round(value - threshold, 6)
    message = (
        f"{what}: {_fmt(value)} <= {_fmt(threshold)}"
        if passed
        else (f"{what} {_fmt(value)} is above {_fmt(threshold)} by {_fmt(shortfall)}")
    )
    return GateResult(name, passed, value, threshold, "<=", shortfall, message)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"
