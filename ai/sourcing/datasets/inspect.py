"""Look at a dataset before configuring it: per file, the detected format, record and rejection counts.

    dataset-pipeline inspect PATH [PATH ...] [--format auto] [--options '{"columns": {...}}']

The command calls :func:`inspect_dataset` and :func:`print_inspection`.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ai.core.config import SourceConfig
from ai.core.records import Conversation
from ai.sourcing.datasets.build import ReadContext
from ai.sourcing.datasets.errors import DatasetError
from ai.sourcing.datasets.files import dataset_input_problem, expand_paths, pattern_root
from ai.sourcing.datasets.reader import check_source, detect_format, read_file


@dataclass
class FileReport:
    path: str
    container: str = ""
    format: str = ""
    records: int = 0
    turns: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    tags: Counter[str] = field(default_factory=Counter)
    groups: set[str] = field(default_factory=set)
    error: str = ""


def inspect_dataset(
    paths: list[str],
    format: str = "auto",
    options: dict[str, Any] | None = None,
    base_dir: Path | None = None,
) -> list[FileReport]:
    """Read every file the paths name, as a source with this format and options would, and count."""
    source = SourceConfig(name="inspect", path=paths, format=format, options=options or {})
    check_source(source)
    ctx = ReadContext.for_source(source)
    reports = []
    for pattern in source.paths():
        root = pattern_root(pattern, base_dir or Path.cwd())
        for path, explicit in expand_paths([pattern], base_dir or Path.cwd()):
            problem = dataset_input_problem(
                path, root, explicit, follow_links=bool(source.options.get("follow_symlinks"))
            )
            if problem is not None:
                reports.append(FileReport(str(path), error=problem[1]))
                continue
            reports.append(inspect_file(path, source, ctx))
    return reports


def inspect_file(path: Path, source: SourceConfig, ctx: ReadContext) -> FileReport:
    report = FileReport(str(path))
    try:
        report.container, report.format = detect_format(path, source)
        for item in read_file(path, source, ctx):
            if isinstance(item, Conversation):
                report.records += 1
                report.turns += len(item.turns)
                report.groups.add(item.group)
                report.tags.update(item.tags)
            else:
                report.rejected[item.reason] += 1
    except DatasetError as exc:
        report.error = str(exc)
    return report


def print_inspection(reports: list[FileReport], out: TextIO | None = None) -> None:
    """One block per file: format, counts, rejections by reason and the most common tags."""
    out = out or sys.stdout
    for r in reports:
        print(r.path, file=out)
        if r.error:
            print(f"  error: {r.error}", file=out)
            continue
        print(f"  format: {r.format or '(no rows)'} in {r.container}", file=out)
        print(f"  records: {r.records:,}  turns: {r.turns:,}  groups: {len(r.groups):,}", file=out)
        if r.rejected:
            reasons = ", ".join(f"{reason} {n:,}" for reason, n in r.rejected.most_common())
            print(f"  rejected: {sum(r.rejected.values()):,} ({reasons})", file=out)
        if r.tags:
            print("  top tags: " + ", ".join(f"{t} ({n})" for t, n in r.tags.most_common(8)), file=out)
