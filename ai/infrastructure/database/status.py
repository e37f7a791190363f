"""What ``dataset-pipeline status`` shows: runs and audit entries from the catalog as rich tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ai.infrastructure.database.persistence import AuditEntry, Catalog, RunInfo

STATUS_STYLE = {"succeeded": "green", "running": "cyan", "failed": "bold red", "interrupted": "yellow"}
MAX_COUNT_FIELDS = 6


def show_status(url: str | None = None, limit: int = 20, console: Console | None = None) -> list[RunInfo]:
    """Print the newest ``limit`` runs of the catalog at ``url`` (default catalog when None)."""
    console = console or Console()
    with Catalog.open(url) as catalog:
        runs = catalog.list_runs(limit=limit)
        if runs:
            console.print(format_runs_table(runs))
        else:
            console.print(f"No runs in the catalog at {catalog.display_url} yet.", markup=False)
    return runs


def format_runs_table(runs: Sequence[RunInfo]) -> Table:
    table = Table(title="Pipeline runs", header_style="bold")
    for column in ("Run", "Name", "Status", "Started (UTC)", "Duration", "Counts", "Config", "Output"):
        table.add_column(column, overflow="fold")
    for run in runs:
        style = STATUS_STYLE.get(run.status, "")
        # Names and paths are user strings: escaped, so "[/bold]" in a run name is text, not markup.
        table.add_row(
            escape(run.run_id),
            escape(run.name),
            f"[{style}]{escape(run.status)}[/]" if style else escape(run.status),
            _timestamp(run.started_at),
            _duration(run.seconds),
            escape(_counts(run.counts)),
            escape(run.config_hash[:12]),
            escape(run.output_dir),
        )
    return table


def format_audit_table(entries: Sequence[AuditEntry]) -> Table:
    table = Table(title="Audit log", header_style="bold")
    for column in ("#", "When (UTC)", "Actor", "Action", "Run", "Details"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        details = ", ".join(f"{key}={value}" for key, value in sorted(entry.details.items()))
        table.add_row(
            str(entry.id),
            _timestamp(entry.at),
            escape(entry.actor),
            escape(entry.action),
            escape(entry.run_id or ""),
            escape(details),
        )
    return table


def _timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _counts(counts: dict[str, object]) -> str:
    # Counts can nest (per split, per stage); the table shows the top-level numbers only.
    scalars = [(k, v) for k, v in sorted(counts.items()) if isinstance(v, int | float)]
    shown = ", ".join(f"{k}={v}" for k, v in scalars[:MAX_COUNT_FIELDS])
    return shown + (", …" if len(scalars) > MAX_COUNT_FIELDS else "")
