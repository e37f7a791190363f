"""The dataset report: ``DIR/report.html``, one self-contained page that explains a finished run.

``writer`` writes it, ``data`` reads the run directory, ``page`` lays out the sections, ``charts`` draws
the inline SVG and ``markdown`` renders the dataset card. The report reads only what a run left behind.
"""

from ai.pipelines.report.writer import REPORT_FILE, ReportError, main, write_report

__all__ = ["REPORT_FILE", "ReportError", "main", "write_report"]
