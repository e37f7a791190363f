"""How long ``write_report`` takes, and how much memory it needs, on a finished run directory.

    uv run python benchmarks/bench_report.py RUN_DIR [--repeat 3]

Make a 100k-record run directory first, for example:

    uv run python -c "import sys; sys.path.insert(0, 'benchmarks'); from corpus import write_corpus; \
from pathlib import Path; write_corpus(Path('/tmp/big/corpus.jsonl'), 100000, seed=1)"
    uv run dataset-pipeline run --input /tmp/big/corpus.jsonl --output /tmp/big/run --quiet

Prints seconds per report (best and median), records/s, the peak RSS growth and the report's size.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

from ai.pipelines.report import write_report
from ai.pipelines.report.data import scan_dataset, scan_quarantine


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        path = write_report(args.run_dir)
        timings.append(time.perf_counter() - started)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    records = scan_dataset(args.run_dir / "dataset").records
    quarantined = scan_quarantine(args.run_dir / "quarantine").total
    dataset_mb = sum(p.stat().st_size for p in (args.run_dir / "dataset").glob("*.jsonl")) / 1e6
    quarantine_mb = sum(p.stat().st_size for p in (args.run_dir / "quarantine").glob("*.jsonl")) / 1e6
    best, median = min(timings), statistics.median(timings)
    lines = records + quarantined
    print(f"run dir         {args.run_dir}")
    print(f"exported        {records:,} records ({dataset_mb:,.1f} MB)")
    print(f"quarantined     {quarantined:,} records ({quarantine_mb:,.1f} MB)")
    print(f"write_report    best {best:.2f} s, median {median:.2f} s over {args.repeat}")
    print(f"throughput      {lines / best:,.0f} dataset + quarantine lines/s")
    print(
        f"peak RSS        {rss_after / 1024:,.0f} MB ({(rss_after - rss_before) / 1024:,.1f} MB above the start)"
    )
    print(f"report          {path} ({path.stat().st_size / 1024:,.0f} KB)")


if __name__ == "__main__":
    main()
