"""CPU cost of the content stage (the learned judge in context) on the end-to-end benchmark corpus.

    uv run python benchmarks/bench_content.py [--records 20000] [--model-dir DIR]

Builds ``--records`` conversations with ``benchmarks/corpus.py`` (~7 turns, ~200 words each), runs
``ContentStage`` over them in shards of 2,000 (the default shard size) and prints CPU seconds, the
same scaled to 100,000 conversations and the share of conversations rejected. Single process; nothing
is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from corpus import conversation

from ai.core.records import Provenance, Turn, make_conversation
from ai.pipelines.orchestrator.safety_gates import ContentStage
from ai.safety.content.model import ContentModel
from ai.safety.content_filter import ContentFilter

ROLES = {"user": "client", "assistant": "therapist", "system": "system"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(0)
    source = Provenance(kind="dataset", name="bench")
    records = []
    for i in range(args.records):
        messages = conversation(i, rng)["messages"]
        turns = [Turn(ROLES[m["role"]], m["content"]) for m in messages]
        records.append(make_conversation(turns, source, source_id=str(i)))
    stage = ContentStage()
    if args.model_dir:
        model = ContentModel(args.model_dir)
        stage._filter = ContentFilter(threshold=model.gate_threshold, model=model)
    assert stage.filter.model  # nosec B101  # load the model before timing: each worker pays this once
    cpu = time.process_time()
    rejected = 0
    for begin in range(0, len(records), 2000):
        rejected += len(stage.process(records[begin : begin + 2000]).rejected)
    spent = time.process_time() - cpu
    print(
        json.dumps(
            {
                "records": len(records),
                "cpu_seconds": round(spent, 2),
                "cpu_seconds_per_100k": round(spent * 100_000 / len(records), 1),
                "rejected_share": round(rejected / len(records), 4),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
