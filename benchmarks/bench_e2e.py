"""End-to-end benchmark: generate a realistic corpus, run the whole default pipeline, print figures.

    uv run python benchmarks/bench_e2e.py --records 100000 [--executor local|ray] [--workers 2]

Prints wall seconds and records/s per stage (summed worker time), total wall, and the peak RSS of the
whole process tree (orchestrator + workers), sampled from /proc.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import write_corpus

PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as handle:
                rss[int(entry)] = int(handle.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_pipeline(config: Path, out: Path, executor: str) -> tuple[float, int, str]:
    cmd = [
        sys.executable,
        "-m",
        "ai.pipelines.orchestrator.main_orchestrator",
        "run",
        "--config",
        str(config),
        "--output",
        str(out),
        "--overwrite",
        "--quiet",
        "--executor",
        executor,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"pipeline failed ({process.returncode}):\n{output}")
    return wall, peak, output


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--shard-size", type=int, default=5000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench_e2e")
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    parser.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="STAGE",
        help="switch a stage off (to measure its cost)",
    )
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = args.workdir / f"corpus-{args.records}.jsonl"
    if not corpus.exists():
        started = time.perf_counter()
        planted = write_corpus(corpus, args.records, seed=1)
        print(f"corpus: {args.records:,} records in {time.perf_counter() - started:.1f}s, planted {planted}")
    config = args.workdir / "bench.yaml"
    config.write_text(
        json.dumps(
            {
                "run": {"name": "bench", "seed": 1, "shard_size": args.shard_size, "workers": args.workers},
                "sources": [{"name": "bench", "path": str(corpus), "license": "CC0-1.0"}],
                "catalog": {"enabled": True},
                "export": {"formats": ["openai_jsonl", "parquet"]},
                "stages": {name: {"enabled": False} for name in args.disable},
            }
        )
    )
    out = args.workdir / f"run-{args.executor}"
    os.environ.setdefault("DATASET_PIPELINE_HOME", str(args.workdir / "home"))
    wall, peak, _ = run_pipeline(config, out, args.executor)
    summary = json.loads((out / "run_summary.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())

    print(f"\n{'stage':<14}{'in':>10}{'kept':>10}{'seconds':>10}{'records/s':>12}")
    for row in summary["stages"]:
        rate = row["in"] / row["seconds"] if row["seconds"] else 0
        print(f"{row['stage']:<14}{row['in']:>10,}{row['kept']:>10,}{row['seconds']:>10.2f}{rate:>12,.0f}")
    counts = manifest["counts"]
    print(f"\nexecutor {args.executor}, workers {args.workers or os.cpu_count()}, cpus {os.cpu_count()}")
    print(
        f"records in {counts['input']:,}  exported {counts['exported']:,}  quarantined {counts['quarantined']:,}"
    )
    print(f"total wall {wall:.1f}s  ({counts['input'] / wall:,.0f} records/s end to end)")
    print(f"peak RSS (process tree) {peak / 2**30:.2f} GiB")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
