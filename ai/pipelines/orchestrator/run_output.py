"""The run's outputs: dataset splits, quarantine files, the manifest with file hashes and counts."""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from ai.core.licences import licence_use
from ai.core.records import dialogue_id, encode, to_openai
from ai.pipelines.orchestrator.checkpoint_manager import atomic_write_json, atomic_writer
from ai.pipelines.orchestrator.shard_runner import read_shard

SPLITS = ("train", "validation", "test")
UNSPLIT = "unsplit"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_dataset(run_dir: Path, final_shards: list[str]) -> dict[str, Any]:
    """Write ``dataset/<split>.jsonl`` (OpenAI chat format) from the final shards, in shard order."""
    splits: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    seen_ids: set[str] = set()
    duplicates = 0
    ears_total, ears_n = 0.0, 0
    by_split_category: Counter[tuple[str, str]] = Counter()
    dialogues = DialogueCounts()
    dataset_dir = run_dir / "dataset"
    names = list(SPLITS)
    # ExitStack closes (and on failure removes) every split's temp file even when one of them fails.
    with contextlib.ExitStack() as stack:
        handles = {
            name: stack.enter_context(atomic_writer(dataset_dir / f"{name}.jsonl"))
            for name in [*names, UNSPLIT]
        }
        for shard in final_shards:
            for record in read_shard(run_dir / shard):
                split = record.split if record.split in SPLITS else UNSPLIT
                handles[split].write(encode(to_openai(record)) + b"\n")
                splits[split] += 1
                categories[record.category] += 1
                duplicates += record.id in seen_ids
                seen_ids.add(record.id)
                if "ears" in record.scores:
                    ears_total += record.scores["ears"]
                    ears_n += 1
                by_split_category[(split, record.category)] += 1
                dialogues.add(record.category, record.source.name, record.source.license, dialogue_id(record))
    if not splits[UNSPLIT]:
        (dataset_dir / f"{UNSPLIT}.jsonl").unlink()
    per_split: dict[str, dict[str, int]] = {}
    for (split, category), n in sorted(by_split_category.items()):
        per_split.setdefault(split, {})[category] = n
    return {
        "splits": {name: splits[name] for name in [*names, UNSPLIT] if name in SPLITS or splits[name]},
        "categories": dict(sorted(categories.items())),
        "split_categories": per_split,
        "distinct_dialogues": dialogues.to_dict(),
        "exported": sum(splits.values()),
        "duplicates": duplicates,
        "ears_mean": ears_total / ears_n if ears_n else None,
    }


class DialogueCounts:
    """Records and distinct source dialogues, per category, per source and per licence use.

    A windowed dialog gives several records but one dialogue; the totals count a dialog once even when
    two sources (two scrapes of one site) both hold it.
    """

    KINDS = ("category", "source", "licence_use")

    def __init__(self) -> None:
        self.records: dict[str, Counter[str]] = {kind: Counter() for kind in self.KINDS}
        self.ids: dict[str, dict[str, set[str]]] = {kind: {} for kind in self.KINDS}
        self.all_ids: set[str] = set()
        self._uses: dict[str, str] = {}

    def add(self, category: str, source: str, licence: str, dialogue: str) -> None:
        use = self._uses.get(licence) or self._uses.setdefault(licence, licence_use(licence))
        for kind, key in zip(self.KINDS, (category, source, use), strict=True):
            self.records[kind][key] += 1
            self.ids[kind].setdefault(key, set()).add(dialogue)
        self.all_ids.add(dialogue)

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, Any] = {"total": len(self.all_ids)}
        for kind in self.KINDS:
            counts[f"by_{kind}"] = {k: len(v) for k, v in sorted(self.ids[kind].items())}
            counts[f"records_by_{kind}"] = dict(sorted(self.records[kind].items()))
        return counts


def write_quarantine(run_dir: Path, step: str, reject_files: list[str]) -> int:
    """Concatenate a step's per-shard rejections into ``quarantine/<step>.jsonl``; empty steps get no file."""
    path = run_dir / "quarantine" / f"{step}.jsonl"
    count = 0
    chunks: list[bytes] = []
    for rel in reject_files:
        data = (run_dir / rel).read_bytes()
        if data:
            chunks.append(data)
            count += data.count(b"\n")
    if count:
        with atomic_writer(path) as handle:
            for chunk in chunks:
                handle.write(chunk)
    else:
        path.unlink(missing_ok=True)
    return count


def file_hashes(run_dir: Path, directories: tuple[str, ...], files: tuple[str, ...]) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for directory in directories:
        base = run_dir / directory
        if base.is_dir():
            for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")):
                hashes[path.relative_to(run_dir).as_posix()] = sha256_file(path)
    for name in files:
        if (run_dir / name).is_file():
            hashes[name] = sha256_file(run_dir / name)
    return dict(sorted(hashes.items()))


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_json(run_dir / "manifest.json", manifest)
