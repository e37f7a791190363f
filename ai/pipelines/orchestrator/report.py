"""The dataset report: ``DIR/report.html``, one self-contained page that explains a finished run.

``write_report(run_dir)`` reads what the run left behind (manifest, run summary, stage reports, the
dataset card, the exported splits and the quarantine) and writes a single HTML file with inline CSS and
inline SVG charts: it opens offline, from a file, in any browser, and needs no script.
"""

from __future__ import annotations

from pathlib import Path

from ai.pipelines.orchestrator.checkpoint_manager import atomic_writer
from ai.pipelines.orchestrator.report_data import ReportError, RunInputs, scan_dataset, scan_quarantine
from ai.pipelines.orchestrator.report_html import render_report

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


__all__ = ["REPORT_FILE", "ReportError", "write_report"]
