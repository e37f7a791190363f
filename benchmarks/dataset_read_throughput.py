"""Read throughput of the conversation dataset readers on the real files in ../shared/data/conversations.

Prints, per file: records out, rejections, CPU seconds, records per CPU second and MB per CPU second of
input; then the same for configs/real_data.yaml as the pipeline reads it, for a generated JSONL file
large enough to show that memory stays flat (peak RSS before and after), and for ``--corpus`` files
(e.g. the end-to-end benchmark's corpus) both through the OpenAI JSON Lines fast path and through the
general path (the same file read with ``container: json``, which parses every line into dicts).
CPU time, not wall time, so figures stay comparable on a shared machine.

    uv run python benchmarks/dataset_read_throughput.py [--repeat 3] [--synthetic-rows 200000]
        [--corpus /tmp/bench_e2e/corpus-100000.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from ai.core.config import SourceConfig, load_config
from ai.core.records import Conversation
from ai.sourcing.datasets import read_source

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHARED_DATA_DIR", REPO_ROOT.parent / "shared" / "data")) / "conversations"
DATA_FILES = (
    "counselchat_20200325_counsel_chat.csv",
    "counselchat_counselchat-data.csv",
    "esconv_hf_train.jsonl",
    "esconv_FailedESConv.json",
    "annomi_AnnoMI-simple.csv",
    "annomi_AnnoMI-full.csv",
    "psyqa_PsyQA_example_zh.json",
)


def measure(sources: list[SourceConfig], base_dir: Path, repeat: int) -> tuple[int, int, float]:
    """(records, rejections, best CPU seconds over ``repeat`` full reads)."""
    best, records, rejected = float("inf"), 0, 0
    for _ in range(repeat):
        records = rejected = 0
        start = time.process_time()
        for source in sources:
            for item in read_source(source, base_dir):
                if isinstance(item, Conversation):
                    records += 1
                else:
                    rejected += 1
        best = min(best, time.process_time() - start)
    return records, rejected, best


def report(label: str, records: int, rejected: int, seconds: float, size: int) -> None:
    print(
        f"{label:42s} {records:7d} rec {rejected:4d} rej {seconds:7.3f} cpu-s "
        f"{records / seconds:9.0f} rec/cpu-s {size / seconds / 1e6:6.1f} MB/cpu-s"
    )


def real_files(repeat: int) -> None:
    print(f"# per file (best of {repeat})")
    for name in DATA_FILES:
        size = (SHARED / name).stat().st_size
        report(name, *measure([SourceConfig(name=name, path=name)], SHARED, repeat), size)


def real_data_config(repeat: int) -> None:
    config = load_config(REPO_ROOT / "configs" / "real_data.yaml")
    size = sum(p.stat().st_size for s in config.sources for p in _files(s, Path(config.base_dir)))
    report("configs/real_data.yaml (windowed)", *measure(config.sources, Path(config.base_dir), repeat), size)


def synthetic(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.jsonl"
        turn = "I have been feeling anxious about work and I can't sleep at night. " * 3
        with path.open("w") as handle:
            for i in range(rows):
                messages = [
                    {"role": "user", "content": f"{i} {turn}"},
                    {"role": "assistant", "content": turn},
                ]
                handle.write(json.dumps({"messages": messages}) + "\n")
        size = path.stat().st_size
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = measure([SourceConfig(name="synthetic", path=str(path))], Path(tmp), 1)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        report(f"synthetic OpenAI JSONL ({size / 1e6:.0f} MB)", *result, size)
        print(f"peak RSS before {rss_before / 1024:.0f} MB, after {rss_after / 1024:.0f} MB")


def corpus(path: Path, repeat: int) -> None:
    size = path.stat().st_size
    fast = SourceConfig(name=path.name, path=str(path))
    general = SourceConfig(name=path.name, path=str(path), options={"container": "json"})
    report(f"{path.name} (fast path)", *measure([fast], path.parent, repeat), size)
    report(f"{path.name} (general path)", *measure([general], path.parent, repeat), size)


def _files(source: SourceConfig, base_dir: Path) -> list[Path]:
    return [p for pattern in source.paths() for p in sorted(base_dir.glob(pattern))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--synthetic-rows", type=int, default=200_000)
    parser.add_argument("--corpus", type=Path, action="append", default=[], help="a JSON Lines file to time")
    args = parser.parse_args()
    real_files(args.repeat)
    real_data_config(args.repeat)
    if args.synthetic_rows:
        synthetic(args.synthetic_rows)
    for path in args.corpus:
        corpus(path, args.repeat)


if __name__ == "__main__":
    main()
