"""SIGKILL real runs at random durable writes in every part of the run; each resume equals a clean run.

A small-size version of ``benchmarks/crash_harness.py`` (which runs 20+ trials): one kill point drawn
at random from each of ingest, the per-record stages, the global stages' summaries/reduces, and
export. The random seed is printed; set CRASH_SEED to repeat a failing draw.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _harness() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("crash_harness", BENCHMARKS / "crash_harness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["crash_harness"] = module
    spec.loader.exec_module(module)
    return module


harness = _harness()
GLOBAL_PARTS = ("summarise", "reduce")


def _part(stage: str) -> str:
    if stage in ("ingest", "export"):
        return stage
    return "global" if stage.endswith(GLOBAL_PARTS) else "record stages"


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    work = harness.Workload(tmp_path_factory.mktemp("crash"), records=200, shard_size=40, workers=2)
    return work, harness.clean_run(work)


def test_clean_run_writes_are_seen_in_every_part(workload: tuple) -> None:
    _, clean = workload
    parts = {_part(harness.stage_of(path)) for path in clean.writes}
    assert {"ingest", "record stages", "global", "export"} <= parts, parts
    assert "manifest.json" in clean.writes and harness.stage_of(clean.writes[-1]) == "export"


@pytest.mark.parametrize("part", ["ingest", "record stages", "global", "export"])
def test_sigkill_at_a_random_write_then_resume_equals_the_clean_run(part: str, workload: tuple) -> None:
    work, clean = workload
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(1 << 30))
    print(f"crash seed {seed} (repeat with CRASH_SEED={seed})")
    rng = random.Random(seed)
    candidates = [i for i, path in enumerate(clean.writes, start=1) if _part(harness.stage_of(path)) == part]
    write = rng.choice(candidates)
    number = ["ingest", "record stages", "global", "export"].index(part) + 1
    trial = harness.crash_trial(work, clean, number, seed, write=write)
    print(f"killed at write {trial.kill_at} ({clean.writes[write - 1]}), last write seen: {trial.last_write}")
    assert trial.killed, "the run was not killed"
    assert trial.equal, trial.problem
    if part in ("global", "export"):
        # Every shard of the first segment was finished before these kill points.
        assert trial.resumed_shards >= 1, "the resume redid work that was finished before the kill"
