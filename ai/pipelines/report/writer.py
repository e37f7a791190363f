"""The dataset report: ``DIR/report.html``, one self-contained page that explains a finished run.

``write_report(run_dir)`` reads what the run left behind (manifest, run summary, stage reports, the
dataset card, the exported splits and the quarantine) and writes a single HTML file with inline CSS and
inline SVG charts: it opens offline, from a file, in any browser, and needs no script.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ai.core.atomic import atomic_writer
from ai.pipelines.report.data import ReportError, RunInputs, scan_dataset, scan_quarantine
from ai.pipelines.report.page import render_report

REPORT_FILE = "report.html"


def write_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` and return its path; ReportError when run_dir is not a run directory."""
    run_dir = Path(run_dir)
    inputs = RunInputs.load(run_dir)
    page = render_report(inputs, scan_dataset(run_dir / "dataset"), scan_quarantine(run_dir / "quarantine"))
    path = run_dir / REPORT_FILE
    with atomic_writer(path) as handle:
        # "replace": a lone surrogate from some JSON input must not cost the whole report
        handle.write(page.encode("utf-8", errors="replace"))
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m ai.pipelines.report RUN_DIR``: rebuild the report, print its path."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m ai.pipelines.report RUN_DIR", file=sys.stderr)
        return 2
    try:
        path = write_report(Path(args[0]))
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


__all__ = ["REPORT_FILE", "ReportError", "main", "write_report"]
