"""The Ray executor: same bytes as the local executor, resume under Ray, and the executor contract.

One local Ray instance (2 CPUs) is started for the whole session; the pipeline's RayExecutor attaches
to it and must leave it running when it closes.
"""

from __future__ import annotations

import json
import math
import operator
import random
import shutil
import time
from pathlib import Path

import pytest

from ai.infrastructure.distributed.ray_executor import RayExecutor, connect
from ai.pipelines.orchestrator.main_orchestrator import main

ray = pytest.importorskip("ray")

WORDS = [
    "anxious",
    "sleep",
    "work",
    "family",
    "friend",
    "worry",
    "hope",
    "calm",
    "breathe",
    "talk",
    "feel",
    "better",
    "tired",
    "lonely",
    "stress",
    "panic",
    "listen",
    "understand",
    "grief",
    "partner",
    "exams",
    "morning",
    "night",
    "heavy",
    "chest",
    "racing",
    "thoughts",
    "therapist",
    "weekend",
    "journal",
    "walk",
    "sister",
    "brother",
    "job",
    "interview",
    "deadline",
    "angry",
    "guilty",
    "proud",
    "small",
    "steps",
    "routine",
]


def test_executor_shuts_down_the_ray_instance_it_started():
    # Runs first in this module, before the session's shared instance exists.
    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this session")
    executor = RayExecutor(workers=1)
    try:
        assert ray.is_initialized()
        assert ray.cluster_resources().get("CPU") == 1
        assert sorted(executor.map_unordered(abs, [-3, 2, -1])) == [1, 2, 3]
    finally:
        executor.close()
    assert not ray.is_initialized()


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray instance for the session (started once: it takes seconds and about 1 GB)."""
    started = not ray.is_initialized()
    if started:
        start_local_ray()
    yield ray
    if started:
        ray.shutdown()


def start_local_ray(attempts: int = 3) -> None:
    # Ray gives its raylet a fixed 30 s to register; on a machine loaded by other jobs that can pass,
    # so a failed start is retried from scratch.
    for attempt in range(1, attempts + 1):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            return
        except Exception:
            ray.shutdown()
            if attempt == attempts:
                raise


@pytest.fixture(scope="module")
def pipeline_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config with several small shards over a few hundred varied conversations (and some bad input)."""
    root = tmp_path_factory.mktemp("ray_input")
    rng = random.Random(7)
    lines = []
    for i in range(240):
        client = f"Lately I keep thinking about {' '.join(rng.choices(WORDS, k=rng.randint(6, 14)))}."
        therapist = f"It sounds like {' '.join(rng.choices(WORDS, k=rng.randint(8, 16)))} matters to you."
        record = {
            "id": f"conv-{i}",
            "messages": [{"role": "user", "content": client}, {"role": "assistant", "content": therapist}],
        }
        lines.append(json.dumps(record))
        if i % 40 == 0:
            lines.append(json.dumps(record))  # exact duplicates for dedup to find across shards
    lines.insert(17, '{"id": "broken", "messages": [')  # malformed line: quarantined at ingest
    (root / "talks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "pipeline.yaml").write_text(
        "run:\n  shard_size: 32\n  seed: 11\n"
        "sources:\n  - name: talks\n    path: talks.jsonl\n    license: CC-BY-4.0\n",
        encoding="utf-8",
    )
    return root / "pipeline.yaml"


def run_pipeline(config: Path, output: Path, executor: str) -> dict:
    main(["run", "--config", str(config), "--output", str(output), "--executor", executor, "--quiet"])
    return json.loads((output / "manifest.json").read_text())


@pytest.fixture(scope="module")
def local_run(pipeline_input: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("local") / "run"
    return output, run_pipeline(pipeline_input, output, "local")


def test_ray_run_is_byte_identical_to_local_run(ray_session, pipeline_input, local_run, tmp_path):
    local_dir, local_manifest = local_run
    ray_manifest = run_pipeline(pipeline_input, tmp_path / "ray", "ray")

    assert ray_manifest["files"] == local_manifest["files"]
    assert ray_manifest["counts"] == local_manifest["counts"]
    assert local_manifest["counts"]["input"] > 200
    assert len(list((tmp_path / "ray" / "work" / "normalize").glob("shard-*.jsonl"))) >= 7
    for name in local_manifest["files"]:
        assert (tmp_path / "ray" / name).read_bytes() == (local_dir / name).read_bytes()
    summary = json.loads((tmp_path / "ray" / "run_summary.json").read_text())
    assert summary["executor"] == "ray"
    assert ray.is_initialized(), "the executor must not shut down a Ray instance it did not start"


def test_resume_under_ray_equals_clean_run(ray_session, pipeline_input, local_run, tmp_path):
    _, clean_manifest = local_run
    run_dir = tmp_path / "interrupted"
    run_pipeline(pipeline_input, run_dir, "local")
    removed = simulate_interruption(run_dir)
    assert removed > 0

    main(["resume", str(run_dir), "--executor", "ray", "--quiet"])

    resumed = json.loads((run_dir / "manifest.json").read_text())
    assert resumed["files"] == clean_manifest["files"]
    assert resumed["counts"] == clean_manifest["counts"]
    summary = json.loads((run_dir / "run_summary.json").read_text())
    assert summary["executor"] == "ray"
    assert any(row["resumed_shards"] > 0 for row in summary["stages"]), "finished shards were redone"


def simulate_interruption(run_dir: Path) -> int:
    """Remove what a run killed midway would not have written: odd shards' markers of later stages."""
    stage_dirs = sorted(p for p in (run_dir / "checkpoints").iterdir() if p.is_dir() and p.name != "ingest")
    removed = 0
    for stage_dir in stage_dirs[len(stage_dirs) // 2 :]:
        for marker in sorted(stage_dir.glob("*.done"))[1::2]:
            marker.unlink()
            removed += 1
    for product in ("dataset", "quarantine"):
        shutil.rmtree(run_dir / product, ignore_errors=True)
    (run_dir / "manifest.json").unlink()
    return removed


def test_map_unordered_yields_every_result(ray_session):
    executor = RayExecutor(workers=2)
    try:
        results = list(executor.map_unordered(operator.neg, range(25)))
    finally:
        executor.close()
    assert sorted(results) == sorted(-i for i in range(25))
    assert ray.is_initialized()


def test_map_unordered_with_no_tasks_yields_nothing(ray_session):
    with RayExecutor() as executor:
        assert list(executor.map_unordered(operator.neg, [])) == []


def test_first_failure_is_raised_with_its_own_type(ray_session):
    with RayExecutor() as executor, pytest.raises(ValueError, match="math domain error"):
        list(executor.map_unordered(math.sqrt, [4.0, -1.0, 9.0]))


@pytest.mark.timeout(40)
def test_stopping_early_cancels_the_tasks_still_pending(ray_session):
    # Without cancellation the two CPUs would stay busy with minute-long sleeps and the second map
    # could not start before the timeout.
    with RayExecutor() as executor:
        results = executor.map_unordered(time.sleep, [0.0] + [60.0] * 6)
        assert next(results) is None
        results.close()
        assert sorted(executor.map_unordered(operator.neg, [1, 2])) == [-2, -1]


def test_connect_does_not_reinitialise_a_running_instance(ray_session):
    assert connect(workers=1) is False
