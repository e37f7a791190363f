"""The bias audit of the judges: does a judge's score or decision move when only the client's identity does?

Counterfactual probe sets (``ai.sourcing.synthetic.counterfactual``) hold a real conversation and
variants of it that differ in one identity marker (or two, for an intersection) and in nothing else;
the therapist turns are the same in every variant. Each judge scores the original and every variant,
and the audit reports per judge, per dimension and per marker value:

- ``mean_gap``: mean of (variant score - original score), with a bootstrap 95% CI;
- ``max_gap``: the gap of largest size (signed);
- ``flip_rate``: the share of sets in which the judge's gate decision for the variant differs from its
  decision for the original, with a bootstrap 95% CI (per dimension: resampling whole sets).

A dimension fails the dataset gate when one of its values flips more often than ``max_flip_rate``
(values seen in fewer than ``min_sets`` sets are reported but not judged).

Judges are injected as batch callables (``records -> [Judgement]``), so the audit works whatever model
sits behind the crisis detector, the content filter, EARS or the quality score, and a test can plant one.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ai.core.atomic import atomic_write_json
from ai.core.records import Conversation
from ai.pipelines.orchestrator.quality_gates import BiasAuditGateOptions
from ai.sourcing.synthetic.counterfactual import ProbeBuilder, ProbeSet, target_name, targets, usable_original
from ai.sourcing.synthetic.demographics import dimensions
from ai.sourcing.synthetic.text import CLIENT_ROLES, THERAPIST_ROLES

CONFIDENCE = 0.95
_GATE_DEFAULTS = BiasAuditGateOptions()


@dataclass(frozen=True)
class Judgement:
    score: float
    passes: bool  # the gate's decision: True when the record would be kept


JudgeFn = Callable[[list[Conversation]], list[Judgement]]


@dataclass(frozen=True)
class AuditOptions:
    originals: int = _GATE_DEFAULTS.originals  # real conversations the probe sets start from
    variants_per_set: int = 4
    bootstrap: int = _GATE_DEFAULTS.bootstrap
    seed: int = 42
    max_flip_rate: float = _GATE_DEFAULTS.max_flip_rate
    min_sets: int = _GATE_DEFAULTS.min_sets
    batch_size: int = 512

    @classmethod
    def from_gate(cls, gate: BiasAuditGateOptions, seed: int) -> AuditOptions:
        return cls(
            gate.originals,
            bootstrap=gate.bootstrap,
            seed=seed,
            max_flip_rate=gate.max_flip_rate,
            min_sets=gate.min_sets,
        )


# --- the judges, through their public APIs --------------------------------------------------------------


def default_judges(
    ears_threshold: float | None = None, min_quality: float | None = None
) -> dict[str, JudgeFn]:
    """The pipeline's four judges, applied the way their stages apply them (stage defaults when None):
    crisis over the client's turns as one person, content per reply in its context at the gate's point,
    EARS over the whole conversation, quality per record."""
    from ai.core.records import openai_messages
    from ai.pipelines.orchestrator.ears_compliance_gate import EarsOptions, EarsStage
    from ai.pipelines.orchestrator.quality_gates import QualityOptions, quality_score
    from ai.pipelines.orchestrator.safety_gates import ContentStage, judge_turns
    from ai.safety.crisis_detection.production_crisis_detector import CrisisDetector

    crisis = CrisisDetector()
    content = ContentStage().filter
    ears_options = EarsOptions() if ears_threshold is None else EarsOptions(threshold=ears_threshold)
    ears = EarsStage(ears_options).judge_model
    quality_floor = QualityOptions().min_quality if min_quality is None else min_quality

    def crisis_judge(records: list[Conversation]) -> list[Judgement]:
        people = [[t.text for t in r.turns if t.role.strip().lower() in CLIENT_ROLES] for r in records]
        return [Judgement(float(r.score), not r.is_crisis) for r in crisis.detect_conversations(people)]

    def content_judge(records: list[Conversation]) -> list[Judgement]:
        judged = judge_turns(content, records)
        return [
            Judgement(
                max((_content_score(v) for _, v in turns), default=0.0),
                all(v.safe and not v.hits for _, v in turns),
            )
            for turns in judged
        ]

    def ears_judge(records: list[Conversation]) -> list[Judgement]:
        judged = ears.judge_conversations([openai_messages(r) for r in records])
        return [Judgement(j.score, j.score >= ears_options.threshold) for j in judged]

    def quality_judge(records: list[Conversation]) -> list[Judgement]:
        scores = [quality_score(r) for r in records]
        return [Judgement(s, s >= quality_floor) for s in scores]

    return {"crisis": crisis_judge, "content": content_judge, "ears": ears_judge, "quality": quality_judge}


def _content_score(verdict: Any) -> float:
    # A learned filter gives a probability; the rule filter only gives hits, read as 1 (unsafe) or 0.
    score = getattr(verdict, "score", None)
    return float(score) if score is not None else float(not verdict.safe)


def client_text(record: Conversation) -> str:
    return "\n".join(t.text for t in record.turns if t.role.strip().lower() in CLIENT_ROLES)


def therapist_text(record: Conversation) -> str:
    return "\n".join(t.text for t in record.turns if t.role.strip().lower() in THERAPIST_ROLES)


def first_exchange(record: Conversation) -> tuple[str, str]:
    """The client turns up to the first therapist reply, and that reply: where every variant differs."""
    client: list[str] = []
    for turn in record.turns:
        role = turn.role.strip().lower()
        if role in CLIENT_ROLES:
            client.append(turn.text)
        elif role in THERAPIST_ROLES and client:
            return "\n".join(client), turn.text
    return "\n".join(client), ""


# --- building the probe sets ------------------------------------------------------------------------------


def probe_sets(records: Iterable[Conversation], options: AuditOptions) -> list[ProbeSet]:
    """One set per target (nine dimensions and their intersections) for each of ``options.originals``
    real conversations with a therapist reply, drawn with a fixed seed."""
    usable = [r for r in records if usable_original(r) and first_exchange(r)[1]]
    rng = np.random.default_rng(options.seed)
    picked = sorted(rng.choice(len(usable), size=min(options.originals, len(usable)), replace=False).tolist())
    builder = ProbeBuilder(targets(dimensions()), options.variants_per_set, frozenset(), options.seed)
    return [s for i in picked for s in builder.every_target(usable[i])]


# --- scoring and statistics -----------------------------------------------------------------------------


@dataclass
class _Rows:
    """One row per (judge, variant): the set, its target and value, and both scores and decisions."""

    set_ids: list[str]
    targets: list[str]
    values: list[str]
    gaps: list[float]
    flips: list[bool]


def audit_judges(sets: list[ProbeSet], judges: dict[str, JudgeFn], options: AuditOptions) -> dict[str, Any]:
    """Per judge, dimension and value: score gap to the original and decision flip rate, with CIs."""
    rows = {name: _Rows([], [], [], [], []) for name in judges}
    for chunk in _chunks(sets, max(1, options.batch_size // (options.variants_per_set + 1))):
        _score_chunk(chunk, judges, rows)
    rng = np.random.default_rng(options.seed)
    by_judge = {name: _judge_summary(r, options, rng) for name, r in rows.items()}
    return {
        "sets": len(sets),
        "variants": sum(len(s.choices) for s in sets),
        "originals": len({s.original.id for s in sets}),
        "targets": sorted({target_name(s.target) for s in sets}),
        "options": {
            "bootstrap": options.bootstrap,
            "confidence": CONFIDENCE,
            "max_flip_rate": options.max_flip_rate,
            "min_sets": options.min_sets,
            "seed": options.seed,
        },
        "judges": by_judge,
        "gate": flip_gate(by_judge, options.max_flip_rate, options.min_sets),
    }


def _chunks(items: list[ProbeSet], size: int) -> Iterator[list[ProbeSet]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _score_chunk(chunk: list[ProbeSet], judges: dict[str, JudgeFn], rows: dict[str, _Rows]) -> None:
    records: list[Conversation] = []
    layout: list[tuple[ProbeSet, int, list[str]]] = []  # set, index of its original, variant values
    for probe in chunk:
        variants = probe.variants()
        layout.append((probe, len(records), [meta_value(v) for v in variants]))
        records.append(probe.original)
        records.extend(variants)
    for name, judge in judges.items():
        judged = judge(records)
        if len(judged) != len(records):
            raise ValueError(f"judge {name!r} returned {len(judged)} judgements for {len(records)} records")
        out = rows[name]
        for probe, at, values in layout:
            original = judged[at]
            for offset, value in enumerate(values, start=1):
                variant = judged[at + offset]
                out.set_ids.append(probe.id)
                out.targets.append(target_name(probe.target))
                out.values.append(value)
                out.gaps.append(variant.score - original.score)
                out.flips.append(variant.passes != original.passes)


def meta_value(record: Conversation) -> str:
    return str(record.meta["counterfactual"]["value"])


def _judge_summary(rows: _Rows, options: AuditOptions, rng: np.random.Generator) -> dict[str, Any]:
    gaps = np.asarray(rows.gaps, dtype=float)
    flips = np.asarray(rows.flips, dtype=float)
    by_target: dict[str, list[int]] = defaultdict(list)
    for index, target in enumerate(rows.targets):
        by_target[target].append(index)
    dimensions_out = {}
    for target, indices in sorted(by_target.items()):
        idx = np.asarray(indices)
        by_value: dict[str, list[int]] = defaultdict(list)
        for i in indices:
            by_value[rows.values[i]].append(i)
        summary = _set_level(idx, rows.set_ids, gaps, flips, options.bootstrap, rng)
        summary["values"] = {
            value: _variant_level(np.asarray(v), gaps, flips, options.bootstrap, rng)
            for value, v in sorted(by_value.items())
        }
        dimensions_out[target] = summary
    return {"variants": len(rows.gaps), "dimensions": dimensions_out}


def _variant_level(
    idx: np.ndarray, gaps: np.ndarray, flips: np.ndarray, n_boot: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Per value each set holds one variant, so variants are the resampling unit."""
    return {"sets": len(idx), **_stats(gaps[idx], gaps[idx], flips[idx], n_boot, rng)}


def _set_level(
    idx: np.ndarray,
    set_ids: list[str],
    gaps: np.ndarray,
    flips: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Per dimension a set holds several variants, which are not independent: resample whole sets."""
    members: dict[str, list[int]] = defaultdict(list)
    for i in idx:
        members[set_ids[i]].append(int(i))
    set_gaps = np.asarray([gaps[m].mean() for m in members.values()])
    set_flips = np.asarray([flips[m].mean() for m in members.values()])
    any_flip = np.asarray([flips[m].max() for m in members.values()])
    stats = _stats(gaps[idx], set_gaps, set_flips, n_boot, rng)
    return {
        "sets": len(members),
        "variants": len(idx),
        **stats,
        "sets_with_a_flip": round(float(any_flip.mean()), 4),
    }


def _stats(
    gaps: np.ndarray, unit_gaps: np.ndarray, unit_flips: np.ndarray, n_boot: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Means and CIs over the resampling units; the largest gap over every variant."""
    largest = int(np.argmax(np.abs(gaps)))
    return {
        "mean_gap": round(float(unit_gaps.mean()), 4),
        "mean_gap_ci": _bootstrap_ci(unit_gaps, n_boot, rng),
        "max_gap": round(float(gaps[largest]), 4),
        "flip_rate": round(float(unit_flips.mean()), 4),
        "flip_rate_ci": _bootstrap_ci(unit_flips, n_boot, rng),
    }


def _bootstrap_ci(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> list[float]:
    """Percentile bootstrap interval of the mean."""
    if len(values) < 2 or n_boot < 1:
        mean = round(float(values.mean()), 4)
        return [mean, mean]
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return [round(float(low), 4), round(float(high), 4)]


# --- the gate -----------------------------------------------------------------------------------------------


def flip_gate(by_judge: dict[str, Any], max_flip_rate: float, min_sets: int) -> dict[str, Any]:
    """Per judge and dimension the worst-flipping value; the gate fails when one exceeds ``max_flip_rate``."""
    checks = []
    for judge, summary in by_judge.items():
        for dimension, stats in summary["dimensions"].items():
            judged = {v: s for v, s in stats["values"].items() if s["sets"] >= min_sets}
            if not judged:
                continue
            value, worst = max(judged.items(), key=lambda item: (item[1]["flip_rate"], item[0]))
            flips = [s["flip_rate"] for s in judged.values()]
            gaps = [s["mean_gap"] for s in judged.values()]
            checks.append(
                {
                    "name": f"bias_flip_rate:{judge}:{dimension}",
                    "judge": judge,
                    "dimension": dimension,
                    "value": value,
                    "flip_rate": worst["flip_rate"],
                    "flip_rate_ci": worst["flip_rate_ci"],
                    "sets": worst["sets"],
                    # Between values: what the marker itself does, beyond inserting any sentence at all.
                    "flip_rate_spread": round(max(flips) - min(flips), 4),
                    "mean_gap_spread": round(max(gaps) - min(gaps), 4),
                    "passed": worst["flip_rate"] <= max_flip_rate,
                }
            )
    failed = [c for c in checks if not c["passed"]]
    return {
        "passed": not failed,
        "max_flip_rate": max_flip_rate,
        "min_sets": min_sets,
        "failed": [c["name"] for c in failed],
        "checks": checks,
    }


def gate_messages(audit: dict[str, Any]) -> list[str]:
    """A sentence per failed check, naming the judge, the dimension and the value."""
    gate = audit["gate"]
    return [
        f"{c['judge']} flips its decision for {c['flip_rate']:.1%} of {c['dimension']} sets when the client is "
        f"'{c['value']}' (CI {c['flip_rate_ci'][0]:.1%}-{c['flip_rate_ci'][1]:.1%}, {c['sets']} sets; "
        f"limit {gate['max_flip_rate']:.1%})"
        for c in gate["checks"]
        if not c["passed"]
    ]


# --- a finished run ---------------------------------------------------------------------------------------

AUDIT_FILE = "bias_judge_audit.json"


def exported_records(run_dir: Path) -> Iterator[Conversation]:
    """The records of a run's ``dataset/*.jsonl`` (OpenAI rows carry the whole record in metadata)."""
    from ai.infrastructure.export.multi_format import from_openai

    paths = sorted((run_dir / "dataset").glob("*.jsonl"))
    if not paths:
        raise FileNotFoundError(f"{run_dir / 'dataset'} holds no *.jsonl: is {run_dir} a finished run?")
    for path in paths:
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield from_openai(line, f"{path}:{number}")


def run_thresholds(run_dir: Path) -> tuple[float | None, float | None]:
    """The EARS threshold and quality floor the run used (None where its config kept the stage default)."""
    path = run_dir / "config.yaml"
    if not path.exists():
        return None, None
    stages = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("stages") or {}
    ears = (stages.get("ears") or {}).get("threshold")
    quality = (stages.get("quality") or {}).get("min_quality")
    return ears, quality


def audit_run_dir(
    run_dir: Path, options: AuditOptions, judges: dict[str, JudgeFn] | None = None, output: Path | None = None
) -> dict[str, Any]:
    """Probe sets from the run's exported conversations, every judge over them, written to ``output``."""
    judges = judges if judges is not None else default_judges(*run_thresholds(run_dir))
    started = time.perf_counter()
    audit = audit_judges(probe_sets(exported_records(run_dir), options), judges, options)
    audit["run_dir"] = str(run_dir)
    audit["seconds"] = round(time.perf_counter() - started, 1)
    atomic_write_json(output or run_dir / AUDIT_FILE, audit)
    return audit


def summary_rows(audit: dict[str, Any]) -> list[tuple[str, ...]]:
    """judge, dimension, sets, mean gap [CI], max gap, flip rate [CI], worst value: one row per pair."""
    worst = {(c["judge"], c["dimension"]): c for c in audit["gate"]["checks"]}
    rows = []
    for judge, summary in audit["judges"].items():
        for dimension, s in summary["dimensions"].items():
            check = worst.get((judge, dimension))
            rows.append(
                (
                    judge,
                    dimension,
                    str(s["sets"]),
                    f"{s['mean_gap']:+.4f} [{s['mean_gap_ci'][0]:+.4f}, {s['mean_gap_ci'][1]:+.4f}]",
                    f"{s['max_gap']:+.3f}",
                    f"{s['flip_rate']:.1%} [{s['flip_rate_ci'][0]:.1%}, {s['flip_rate_ci'][1]:.1%}]",
                    "" if check is None else f"{check['value']} {check['flip_rate']:.1%}",
                    "" if check is None else ("PASS" if check["passed"] else "FAIL"),
                )
            )
    return rows
