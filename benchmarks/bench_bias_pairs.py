"""Preference pairs through a generation endpoint: how many pass their checks, why the rest fail, how fast.

    uv run python benchmarks/bench_bias_pairs.py RUN_DIR --pairs 40 [--generation '{"endpoint": "local"}'] \\
        [--attempts 4]
    uv run python benchmarks/bench_bias_pairs.py RUN_DIR --generation \\
        '{"endpoint": "openai", "base_url": "https://...", "model": "...", "api_key_env": "KEY"}'

Client messages come from RUN_DIR's exported therapeutic conversations (e.g. a run of
configs/real_data.yaml); stereotypes, markers and checks are the product's (docs/BIAS.md). The pipeline's
per-record gates are not applied here, so "kept" counts pairs that passed the pair checks only. Every
candidate, kept or not, goes to --out as JSON lines (with its reasons), for reading them as a clinician
would. Prints the figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ai.core.stage import Rejection  # noqa: E402
from ai.pipelines.orchestrator.bias_audit import exported_records  # noqa: E402
from ai.sourcing.generation import ChatEndpoint, parse_endpoint_options  # noqa: E402
from ai.sourcing.synthetic.demographics import dimensions  # noqa: E402
from ai.sourcing.synthetic.preference import PairOptions, PairPlanner, PairWriter  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--pairs", type=int, default=40, help="candidate pairs to write")
    parser.add_argument("--generation", default='{"endpoint": "local"}', help="EndpointOptions as JSON")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--attempts", type=int, default=4, help="one-sentence requests per pair")
    parser.add_argument("--out", type=Path, default=Path("bias_pairs.jsonl"))
    args = parser.parse_args()

    conversations = [r for r in exported_records(args.run_dir) if r.category == "therapeutic"]
    planner = PairPlanner(dimensions(), args.seed)
    endpoint = ChatEndpoint.from_options(parse_endpoint_options(json.loads(args.generation)))
    writer = PairWriter(endpoint, "bench-pairs", "generated", PairOptions(stereotype_attempts=args.attempts))
    reasons: Counter[str] = Counter()
    kept = attempted = 0
    started = time.perf_counter()
    with endpoint, open(args.out, "w", encoding="utf-8") as out:
        for n, planned in enumerate(planner.prompts(conversations)):
            if n >= args.pairs:
                break
            attempted += 1
            result = writer.write(planned, seed=args.seed + n)
            record = result.record if isinstance(result, Rejection) else result
            if isinstance(result, Rejection):
                reasons.update(result.reason.split(","))
            else:
                kept += 1
            row = {
                "n": n,
                "stereotype": planned.stereotype.id,
                "kept": not isinstance(result, Rejection),
                "reasons": result.reason if isinstance(result, Rejection) else "",
                "dpo": record.meta["dpo"] if record is not None else None,
            }
            out.write(json.dumps(row) + "\n")
    seconds = time.perf_counter() - started
    stats = endpoint.stats
    print(f"endpoint: {json.dumps(endpoint.provenance())}")
    print(
        f"pairs attempted {attempted}, kept {kept} ({kept / max(1, attempted):.1%}); reasons {dict(reasons)}"
    )
    print(
        f"{seconds:.0f} s, {seconds / max(1, attempted):.1f} s per pair, "
        f"{stats.completion_tokens / max(stats.seconds, 1e-9):.1f} completion tokens/s, "
        f"{stats.completions} completions, {stats.cache_hits} cache hits, {stats.failures} failures"
    )
    print(f"every candidate: {args.out}")


if __name__ == "__main__":
    main()
