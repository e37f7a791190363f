"""Two processes writing to one SQLite catalog at once: every write lands and the file stays sound."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

from ai.infrastructure.database import Catalog

RUNS_PER_WRITER = 6
RECORDS_PER_RUN = 3000


def _write_runs(url: str, writer: str, barrier) -> None:
    barrier.wait()  # both processes open (and migrate) a fresh file at the same moment
    with Catalog.open(url, actor=writer) as catalog:
        for number in range(RUNS_PER_WRITER):
            run_id = f"{writer}-{number}"
            catalog.start_run(run_id, writer, "cfg", f"/out/{run_id}")
            for shard in range(3):
                catalog.record_stage_shard(run_id, "ingest", shard, "done", n_in=10, n_kept=9, n_rejected=1)
            rows = [
                {"record_id": f"{run_id}-{i}", "split": "train", "content_hash": f"h{i}"}
                for i in range(RECORDS_PER_RUN)
            ]
            catalog.add_records(run_id, rows)
            catalog.finish_run(run_id, "succeeded", {"records": RECORDS_PER_RUN})


def test_two_processes_write_at_once_without_losing_or_corrupting_anything(tmp_path: Path):
    path = tmp_path / "shared.sqlite"
    url = f"sqlite:///{path}"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    writers = [context.Process(target=_write_runs, args=(url, name, barrier)) for name in ("alpha", "beta")]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=240)
    assert [process.exitcode for process in writers] == [0, 0]

    with Catalog.open(url) as catalog:
        runs = catalog.list_runs()
        assert len(runs) == 2 * RUNS_PER_WRITER
        assert {run.status for run in runs} == {"succeeded"}
        for run in runs:
            assert catalog.record_counts(run.run_id) == {"train": RECORDS_PER_RUN}
            assert len(catalog.stage_status(run.run_id)) == 3
        actions = [entry.action for entry in catalog.audit_log()]
    assert actions.count("run_start") == actions.count("run_finish") == 2 * RUNS_PER_WRITER
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
