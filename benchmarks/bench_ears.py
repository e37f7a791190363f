"""CPU cost of the EARS stage per 100k conversations, on the end-to-end benchmark corpus.

    uv run python benchmarks/bench_ears.py [--records 20000] [--repeats 3] [--profile 25]

Builds ``--records`` conversations with ``benchmarks/corpus.py`` (~7 turns, 3 therapist replies each),
runs ``EarsStage.process`` over them in shards of 2,000 (the default shard size) ``--repeats`` times
after one warm-up pass, and prints the best and median CPU seconds, scaled to 100,000 conversations.
``--profile N`` also prints the N most expensive functions of one pass (cProfile, cumulative time).
Prints the load average: the machine is shared, so compare CPU seconds, not wall time.
Single process; nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import conversation  # noqa: E402

from ai.core.records import Conversation, Provenance, Turn, make_conversation  # noqa: E402
from ai.pipelines.orchestrator.ears_compliance_gate import EarsStage  # noqa: E402

SHARD = 2000
ROLE = {"user": "client", "assistant": "therapist", "system": "system"}


def bench_records(n: int, seed: int = 0) -> list[Conversation]:
    rng = random.Random(seed)
    source = Provenance(kind="dataset", name="bench")
    records = []
    for i in range(n):
        messages = conversation(i, rng)["messages"]
        turns = [Turn(ROLE[m["role"]], m["content"]) for m in messages]
        records.append(make_conversation(turns, source, source_id=str(i)))
    return records


def run_stage(stage: EarsStage, records: list[Conversation]) -> float:
    """CPU seconds of one pass over ``records`` in shards."""
    cpu = time.process_time()
    for begin in range(0, len(records), SHARD):
        stage.process(records[begin : begin + SHARD])
    return time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions")
    args = parser.parse_args()
    records = bench_records(args.records)
    replies = sum(t.role == "therapist" for r in records for t in r.turns)
    stage = EarsStage()
    run_stage(stage, records[:SHARD])  # warm-up: imports, caches, first allocations
    runs = [run_stage(stage, records) for _ in range(args.repeats)]
    scale = 100_000 / args.records
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"EARS stage: {args.records:,} conversations ({replies / args.records:.1f} replies each), "
        f"shards of {SHARD:,}, {args.repeats} runs; load average {load}"
    )
    print(
        f"CPU-s per 100k conversations: best {min(runs) * scale:.2f}, "
        f"median {statistics.median(runs) * scale:.2f} (runs: {', '.join(f'{r:.2f}' for r in runs)} CPU-s)"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run_stage(stage, records)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
