"""Throughput of the safety stages, and validation of the gates against human labels.

    uv run python benchmarks/bench_safety.py [--texts 100000] [--records 20000] [--skip-validation]

Speed (real text: ESConv dialogues, cycled to the requested size):
  - CrisisDetector.detect_batch over client texts (single client turns);
  - records/s of each stage: crisis, content, ears, quality.
Validation (``../shared/data``):
  - EARS vs AnnoMI high/low MI quality (AUC, per transcript) and ESConv seeker empathy (Spearman);
  - content filter precision/recall on DiaSafety train and val;
  - crisis detector on each development source's held-back test portion.
Prints a table and, with --json, the figures as JSON. Single process; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ai.core.records import Conversation, Provenance, Turn, make_conversation  # noqa: E402
from ai.pipelines.orchestrator.ears_compliance_gate import EarsStage  # noqa: E402
from ai.pipelines.orchestrator.quality_gates import QualityStage  # noqa: E402
from ai.pipelines.orchestrator.safety_gates import ContentStage, CrisisStage  # noqa: E402
from ai.safety.content_filter import diasafety_metrics  # noqa: E402
from ai.safety.crisis_detection.corpora import (  # noqa: E402
    DEVELOPMENT_SOURCES,
    load_development_corpus,
    read_diasafety,
)
from ai.safety.crisis_detection.evaluate import evaluate_scores  # noqa: E402
from ai.safety.crisis_detection.production_crisis_detector import CrisisDetector  # noqa: E402
from ai.safety.ears.judge import EarsJudge  # noqa: E402
from ai.safety.ears.validation import validate_judge  # noqa: E402

DATA = Path(os.environ.get("SHARED_DATA_DIR", REPO.parent / "shared" / "data"))
CONVERSATIONS = DATA / "conversations"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=5_000)
    parser.add_argument("--skip-validation", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (CONVERSATIONS / "esconv_hf_train.jsonl").is_file():
        print(f"shared data not found at {DATA}", file=sys.stderr)
        return 2
    dialogues = read_esconv_dialogues()
    figures: dict[str, Any] = {"speed": bench_speed(dialogues, args.texts, args.records)}
    if not args.skip_validation:
        figures["ears_validation"] = validate_ears()
        figures["content_filter_diasafety"] = {
            split: diasafety_metrics(read_diasafety(DATA / "crisis", split)) for split in ("train", "val")
        }
        figures["crisis_test_portions"] = validate_crisis()
    print_report(figures)
    if args.json:
        print(json.dumps(figures, indent=2, default=float))
    return 0


def bench_speed(dialogues: list[list[Turn]], n_texts: int, n_records: int) -> dict[str, Any]:
    detector = CrisisDetector()
    client_turns = [t.text for d in dialogues for t in d if t.role == "client"]
    texts = list(islice(cycle(client_turns), n_texts))
    chars = sum(map(len, texts))
    cpu = time.process_time()
    elapsed, results = timed(lambda: detector.detect_batch(texts))
    speed: dict[str, Any] = {
        "detect_batch": {
            "texts": n_texts,
            "mean_chars": round(chars / n_texts),
            "seconds": round(elapsed, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "texts_per_s": round(n_texts / elapsed),
            "flagged_share": round(sum(r.is_crisis for r in results) / n_texts, 4),
        }
    }
    source = Provenance(kind="dataset", name="esconv-bench")
    records = [
        make_conversation(list(turns), source, source_id=str(i))
        for i, turns in enumerate(islice(cycle(dialogues), n_records))
    ]
    turns = sum(len(r.turns) for r in records)
    stages = {
        "crisis": CrisisStage(),
        "content": ContentStage(),
        "ears": EarsStage(),
        "quality": QualityStage(),
    }
    batch_size = 2000  # the default shard size
    for name, stage in stages.items():
        kept: list[Conversation] = []
        cpu = time.process_time()
        start = time.perf_counter()
        for begin in range(0, len(records), batch_size):
            kept += stage.process(records[begin : begin + batch_size]).kept
        elapsed = time.perf_counter() - start
        speed[name] = {
            "records": len(records),
            "mean_turns": round(turns / len(records), 1),
            "seconds": round(elapsed, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "records_per_cpu_s": round(len(records) / max(1e-9, time.process_time() - cpu)),
            "records_per_s": round(len(records) / elapsed),
            "kept": len(kept),
        }
    return speed


def validate_ears() -> dict[str, Any]:
    """The shipped EARS judge on AnnoMI sessions, ESConv ratings and real counselling pass rates."""
    return validate_judge(EarsJudge(), DATA, n_boot=1000)


def validate_crisis() -> dict[str, Any]:
    examples, _ = load_development_corpus(DATA / "crisis")
    detector = CrisisDetector()
    report = {}
    for source in DEVELOPMENT_SOURCES:
        subset = [e for e in examples if e.source == source and e.split == "test"]
        scores = detector.scores([e.text for e in subset])
        metrics = evaluate_scores(np.array([e.label == 1 for e in subset]), scores, n_boot=1000)
        report[source] = {k: metrics[k] for k in ("n", "n_positive", "sensitivity", "specificity", "pr_auc")}
    return report


def read_esconv_dialogues() -> list[list[Turn]]:
    dialogues = []
    for part in ("train", "valid", "test"):
        with (CONVERSATIONS / f"esconv_hf_{part}.jsonl").open(encoding="utf-8") as handle:
            for line in handle:
                dialog = json.loads(line)["dialog"]
                dialogues.append(
                    [Turn("client" if t["speaker"] == "usr" else "therapist", t["text"]) for t in dialog]
                )
    return dialogues


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def print_report(figures: dict[str, Any]) -> None:
    speed = figures["speed"]
    d = speed["detect_batch"]
    print(
        f"detect_batch: {d['texts']:,} texts ({d['mean_chars']} chars avg) in {d['seconds']} s "
        f"({d['cpu_seconds']} s CPU) = {d['texts_per_s']:,} texts/s; flagged {d['flagged_share']:.1%}"
    )
    for name in ("crisis", "content", "ears", "quality"):
        s = speed[name]
        print(
            f"stage {name:8s} {s['records']:,} records ({s['mean_turns']} turns avg) in {s['seconds']} s "
            f"({s['cpu_seconds']} s CPU) = {s['records_per_s']:,} records/s "
            f"({s['records_per_cpu_s']:,} per CPU-second); kept {s['kept']:,}"
        )
    if "ears_validation" in figures:
        ears = figures["ears_validation"]
        a, e = ears["annomi_sessions"], ears["esconv_empathy"]
        print(f"EARS vs AnnoMI MI quality (in-sample): AUC {a['auc']} {a['ci95']} (n={a['n']})")
        print(f"EARS vs ESConv seeker empathy: Spearman {e['spearman']} {e['ci95']} (n={e['n']})")
        for name, rates in ears["pass_rates"].items():
            print(f"EARS pass rate at {ears['threshold']}: {name} {rates['pass_rate']} (n={rates['n']})")
        for split, report in figures["content_filter_diasafety"].items():
            o = report["overall"]
            print(
                f"content filter DiaSafety {split}: precision {o['precision']} recall {o['recall']} "
                f"(tp {o['tp']} fp {o['fp']} fn {o['fn']} tn {o['tn']})"
            )
        for source, m in figures["crisis_test_portions"].items():
            print(
                f"crisis {source} test: n={m['n']} sensitivity {m['sensitivity']['value']} "
                f"{m['sensitivity']['ci95']} specificity {m['specificity']['value']}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
