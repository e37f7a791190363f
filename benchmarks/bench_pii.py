"""PII scrubber quality and speed: planted items that survive, clean text it changes, conversations a second.

    uv run python benchmarks/bench_pii.py [--data ../shared/data] [--spans 40]

Prints JSON with:
- ``planted``: tests/fixtures/pii_planted.jsonl (conversations written for this project with planted PII):
  items, items that survived whole, items leaked in part, recall with a bootstrap 95% interval, per type;
- ``planted_holdout``: tests/fixtures/pii_planted_holdout.jsonl, written after the detectors were tuned on
  the first set (its first measurement, before the fixes it prompted, is in docs/PREPROCESSING.md);
- ``cases``: entity precision/recall on tests/fixtures/pii_cases.jsonl (short labelled texts);
- ``clean_written``: tests/fixtures/pii_clean.jsonl (PII-free counselling sentences with helplines, event
  dates, names that are words): share of texts left unchanged, and every span taken;
- ``clean_esconv``: every seeker and supporter turn of ESConv's validation and test splits in the shared data
  (real crowd-written support conversations; CC BY-NC 4.0, non-commercial), which the name-word lexicon was
  not built from: share of turns left unchanged and the first ``--spans`` spans taken, to read by hand
  (ESConv is not guaranteed PII-free, so a span there is a candidate false positive, not a proven one);
- ``speed``: conversations a second of ``PiiScrubber.scrub`` on the ESConv dialogues, one core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ai.pipelines.orchestrator.pii import PiiScrubber, evaluate  # noqa: E402
from ai.pipelines.orchestrator.pii_evaluation import evaluate_clean, evaluate_planted, load_jsonl  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
ESCONV_HELD_OUT = ("esconv_hf_valid.jsonl", "esconv_hf_test.jsonl")


def esconv_dialogues(data: Path) -> list[list[str]]:
    dialogues = []
    for name in ESCONV_HELD_OUT:
        for line in (data / "conversations" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                dialogues.append([turn["text"] for turn in json.loads(line)["dialog"] if turn.get("text")])
    return dialogues


def speed(scrubber: PiiScrubber, dialogues: list[list[str]], repeats: int = 3) -> dict[str, float]:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for turns in dialogues:
            scrubber.scrub(turns)
        best = min(best, time.process_time() - started)
    return {
        "conversations": len(dialogues),
        "cpu_seconds": round(best, 3),
        "per_second": round(len(dialogues) / best),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--spans", type=int, default=40)
    args = parser.parse_args()
    scrubber = PiiScrubber()
    cases = evaluate(load_jsonl(FIXTURES / "pii_cases.jsonl"), scrubber)
    written = [case["text"] for case in load_jsonl(FIXTURES / "pii_clean.jsonl")]
    figures: dict[str, Any] = {
        "planted": evaluate_planted(load_jsonl(FIXTURES / "pii_planted.jsonl"), scrubber),
        "planted_holdout": evaluate_planted(load_jsonl(FIXTURES / "pii_planted_holdout.jsonl"), scrubber),
        "cases": {"overall": cases["overall"], "by_type": cases["by_type"]},
        "clean_written": evaluate_clean(written, scrubber),
    }
    if (args.data / "conversations").is_dir():
        dialogues = esconv_dialogues(args.data)
        esconv = evaluate_clean([turn for turns in dialogues for turn in turns], scrubber)
        esconv["spans"] = esconv["spans"][: args.spans]
        figures["clean_esconv"] = esconv
        figures["speed"] = speed(scrubber, dialogues)
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
