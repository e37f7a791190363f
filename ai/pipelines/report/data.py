"""What the dataset report is drawn from: a run directory's files, read or streamed once.

Dataset and quarantine files are streamed line by line and only counters and a few examples are kept,
so memory does not grow with the run. Every input is optional: a missing or unreadable file becomes a
``Loaded`` without data (and with the reason), never an exception.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

SPLIT_ORDER = ("train", "validation", "test", "unsplit")
EXAMPLES_PER_CATEGORY = 3
SCORE_BINS = 20
MAX_TURN_BIN = 30  # turn counts above this share one "30+" bin
CARD_FILES = ("README.md", "dataset/README.md", "dataset_card.md")


class ReportError(RuntimeError):
    """The report cannot be written at all (not a run directory); the message says why."""


# -- small JSON inputs ------------------------------------------------------------------------------
@dataclass
class Loaded:
    """One optional input file: its parsed content, or why there is none."""

    name: str
    data: Any = None
    error: str = ""  # set when the file exists but cannot be read

    @property
    def present(self) -> bool:
        return self.data is not None


@dataclass
class RunInputs:
    run_dir: Path
    manifest: Loaded
    summary: Loaded
    run_info: Loaded
    reports: dict[str, Loaded]  # "<stage>_report.json", bias_audit.json and bias_judge_audit.json, by name
    card: str  # the dataset card's markdown, "" when absent
    card_name: str

    @classmethod
    def load(cls, run_dir: Path) -> RunInputs:
        if not run_dir.is_dir():
            raise ReportError(
                f"{run_dir} is not a directory; give the run directory of `dataset-pipeline run`"
            )
        if not (run_dir / "manifest.json").exists() and not (run_dir / "dataset").is_dir():
            raise ReportError(
                f"{run_dir} has neither manifest.json nor dataset/: it is not a finished run directory "
                "(finish or resume the run first)"
            )
        reports = {
            path.name.removesuffix("_report.json"): load_json(path)
            for path in sorted(run_dir.glob("*_report.json"))
        }
        reports["bias_audit"] = load_json(run_dir / "bias_audit.json")
        reports["bias_judge_audit"] = load_json(run_dir / "bias_judge_audit.json")
        card_name, card = _read_card(run_dir)
        return cls(
            run_dir=run_dir,
            manifest=load_json(run_dir / "manifest.json"),
            summary=load_json(run_dir / "run_summary.json"),
            run_info=load_json(run_dir / "run.json"),
            reports=reports,
            card=card,
            card_name=card_name,
        )

    def report(self, name: str) -> Loaded:
        return self.reports.get(name, Loaded(f"{name}_report.json"))

    @property
    def counts(self) -> dict[str, Any]:
        data = self.manifest.data if isinstance(self.manifest.data, dict) else {}
        counts = data.get("counts")
        return counts if isinstance(counts, dict) else {}


def load_json(path: Path) -> Loaded:
    if not path.exists():
        return Loaded(path.name)
    try:
        return Loaded(path.name, json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return Loaded(path.name, error=f"{path.name} could not be read: {exc}")


def _read_card(run_dir: Path) -> tuple[str, str]:
    for name in CARD_FILES:
        path = run_dir / name
        if path.is_file():
            return name, path.read_text(encoding="utf-8", errors="replace")
    return "", ""


# -- the exported dataset, streamed ---------------------------------------------------------------
class ExportedMessage(msgspec.Struct):
    role: str = ""
    content: str | None = ""


class ExportedSource(msgspec.Struct):
    kind: str = ""
    name: str = ""
    uri: str = ""
    license: str = ""
    locator: dict[str, Any] = msgspec.field(default_factory=dict)


class ExportedMetadata(msgspec.Struct):
    category: str = ""
    language: str = ""
    split: str = ""
    source: ExportedSource = msgspec.field(default_factory=ExportedSource)
    scores: dict[str, float] = msgspec.field(default_factory=dict)
    tags: list[str] = msgspec.field(default_factory=list)
    grounding: list[dict[str, Any]] = msgspec.field(default_factory=list)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class ExportedRecord(msgspec.Struct):
    """The fields of an exported (OpenAI chat) line the report uses; the rest is skipped unparsed."""

    id: str = ""
    messages: list[ExportedMessage] = msgspec.field(default_factory=list)
    metadata: ExportedMetadata = msgspec.field(default_factory=ExportedMetadata)


class ScoreHistograms:
    """score name -> series (split or "quarantined") -> counts in SCORE_BINS equal bins over [0, 1]."""

    def __init__(self) -> None:
        self.bins: dict[str, dict[str, list[int]]] = defaultdict(dict)

    def add(self, scores: dict[str, float], series: str) -> None:
        for name, value in scores.items():
            if not isinstance(value, int | float) or math.isnan(value):
                continue
            counts = self.bins[name].setdefault(series, [0] * SCORE_BINS)
            counts[min(max(int(value * SCORE_BINS), 0), SCORE_BINS - 1)] += 1

    def names(self) -> list[str]:
        return sorted(self.bins)


@dataclass
class SplitStats:
    records: int = 0
    turns: Counter[int] = field(default_factory=Counter)
    lengths: Counter[int] = field(default_factory=Counter)  # length bin -> records
    categories: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    crisis: Counter[str] = field(default_factory=Counter)


@dataclass
class DatasetScan:
    present: bool = False
    splits: dict[str, SplitStats] = field(default_factory=dict)
    scores: ScoreHistograms = field(default_factory=ScoreHistograms)
    pii: Counter[str] = field(default_factory=Counter)
    records_with_pii: int = 0
    examples: dict[str, list[ExportedRecord]] = field(default_factory=dict)
    unreadable: int = 0
    first_error: str = ""

    @property
    def records(self) -> int:
        return sum(s.records for s in self.splits.values())

    def ordered_splits(self) -> list[tuple[str, SplitStats]]:
        order = {name: i for i, name in enumerate(SPLIT_ORDER)}
        return sorted(self.splits.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


_exported_decoder = msgspec.json.Decoder(ExportedRecord)


def scan_dataset(dataset_dir: Path) -> DatasetScan:
    """One pass over ``dataset/<split>.jsonl``: per-split counters, score bins, PII counts, examples."""
    scan = DatasetScan(present=dataset_dir.is_dir())
    if not scan.present:
        return scan
    for path in sorted(dataset_dir.glob("*.jsonl")):
        split = path.stem
        stats = scan.splits.setdefault(split, SplitStats())
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = _exported_decoder.decode(line)
                except msgspec.DecodeError as exc:
                    scan.unreadable += 1
                    scan.first_error = scan.first_error or f"{path.name}:{number}: {exc}"
                    continue
                _count_record(scan, stats, split, record)
    return scan


def _count_record(scan: DatasetScan, stats: SplitStats, split: str, record: ExportedRecord) -> None:
    meta = record.metadata
    stats.records += 1
    stats.turns[min(len(record.messages), MAX_TURN_BIN)] += 1
    stats.lengths[length_bin(sum(len(m.content or "") for m in record.messages))] += 1
    stats.categories[meta.category or "(none)"] += 1
    stats.sources[meta.source.name or "(unknown)"] += 1
    stats.languages[meta.language or "(unknown)"] += 1
    stats.crisis[crisis_level(meta.scores, meta.meta)] += 1
    scan.scores.add(meta.scores, split)
    redacted = pii_counts(meta.meta)
    if redacted:
        scan.records_with_pii += 1
        scan.pii.update(redacted)
    _keep_example(scan.examples.setdefault(meta.category or "(none)", []), record)


def _keep_example(kept: list[ExportedRecord], record: ExportedRecord) -> None:
    """Keep the EXAMPLES_PER_CATEGORY smallest ids: ids are content hashes, so this is a fixed random pick."""
    if len(kept) < EXAMPLES_PER_CATEGORY:
        kept.append(record)
    else:
        largest = max(range(len(kept)), key=lambda i: kept[i].id)
        if record.id < kept[largest].id:
            kept[largest] = record
    kept.sort(key=lambda r: r.id)


def length_bin(chars: int) -> int:
    """Half-octave bins of total characters: 0 is under 100, bin k starts at 100 * 2**((k - 1) / 2)."""
    if chars < 100:
        return 0
    return int(2 * math.log2(chars / 100) + 1e-9) + 1


def length_bin_start(index: int) -> int:
    return 0 if index == 0 else round(100 * 2 ** ((index - 1) / 2))


def crisis_level(scores: dict[str, float], meta: dict[str, Any]) -> str:
    """The crisis detector's level for a record: "none" when scored and not flagged."""
    crisis = meta.get("crisis")
    if isinstance(crisis, dict) and crisis.get("level"):
        return str(crisis["level"])
    return "none" if "crisis" in scores else "not scored"


def pii_counts(meta: dict[str, Any]) -> dict[str, int]:
    """Placeholders the pii stage put into a record, by type (its ``meta["pii_redacted"]``)."""
    redacted = meta.get("pii_redacted")
    if not isinstance(redacted, dict):
        return {}
    return {str(k): int(v) for k, v in redacted.items() if isinstance(v, int | float) and v > 0}


# -- the quarantine, streamed ---------------------------------------------------------------------
class QuarantinedRecord(msgspec.Struct):
    id: str = ""
    scores: dict[str, float] = msgspec.field(default_factory=dict)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class QuarantineEntry(msgspec.Struct):
    stage: str = ""
    reason: str = ""
    message: str = ""
    locator: str = ""
    record: QuarantinedRecord | None = None


@dataclass
class QuarantineScan:
    present: bool = False
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], QuarantineEntry] = field(default_factory=dict)
    scores: ScoreHistograms = field(default_factory=ScoreHistograms)
    pii: Counter[str] = field(default_factory=Counter)
    records_with_pii: int = 0
    unreadable: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


_quarantine_decoder = msgspec.json.Decoder(QuarantineEntry)


def scan_quarantine(quarantine_dir: Path) -> QuarantineScan:
    """One pass over ``quarantine/<stage>.jsonl``: counts by (stage, reason), one example message each."""
    scan = QuarantineScan(present=quarantine_dir.is_dir())
    if not scan.present:
        return scan
    for path in sorted(quarantine_dir.glob("*.jsonl")):
        with open(path, "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    entry = _quarantine_decoder.decode(line)
                except msgspec.DecodeError:
                    scan.unreadable += 1
                    continue
                _count_rejection(scan, entry, path.stem)
    return scan


def _count_rejection(scan: QuarantineScan, entry: QuarantineEntry, file_stage: str) -> None:
    key = (entry.stage or file_stage, entry.reason or "(no reason)")
    scan.counts[key] += 1
    if key not in scan.examples:
        scan.examples[key] = msgspec.structs.replace(entry, record=None)
    if entry.record is not None:
        scan.scores.add(entry.record.scores, "quarantined")
        redacted = pii_counts(entry.record.meta)
        if redacted:
            scan.records_with_pii += 1
            scan.pii.update(redacted)
