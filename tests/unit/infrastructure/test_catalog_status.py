"""``dataset-pipeline status``: the runs table built from the catalog."""

from __future__ import annotations

from rich.console import Console

from ai.infrastructure.database import Catalog
from ai.infrastructure.database.status import format_audit_table, format_runs_table, show_status


def _render(renderable) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_status_lists_runs_newest_first_with_counts_and_duration():
    with Catalog.open() as catalog:
        catalog.start_run("run-old", "nightly", "0123456789abcdef", "/out/old")
        catalog.finish_run("run-old", "failed", {"exported": 5, "rejected": 2, "splits": {"train": 5}})
        catalog.start_run("run-new", "nightly", "fedcba9876543210", "/out/new")
        runs = catalog.list_runs()
        audit_text = _render(format_audit_table(catalog.audit_log()))

    text = _render(format_runs_table(runs))
    assert text.index("run-new") < text.index("run-old")
    assert "failed" in text and "running" in text
    assert "exported=5, rejected=2" in text and "splits" not in text
    assert "0123456789ab" in text and "0123456789abcdef" not in text
    assert "0m00s" in text
    assert "run_finish" in audit_text and "status=failed" in audit_text


def test_show_status_prints_runs_or_says_the_catalog_is_empty():
    console = Console(record=True, width=200, color_system=None)
    assert show_status(console=console) == []
    assert "No runs in the catalog" in console.export_text()

    with Catalog.open() as catalog:
        catalog.start_run("run-1", "demo", "cfg", "/out")
    console = Console(record=True, width=200, color_system=None)
    runs = show_status(limit=5, console=console)
    assert [run.run_id for run in runs] == ["run-1"]
    assert "run-1" in console.export_text()
