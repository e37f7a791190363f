"""What a worker does with one shard: run a chain of steps, write each output durably, mark it done.

These functions are the unit of work handed to an executor (a local process pool or Ray). They read
and write only files under the run directory, so any executor that can call a function with a
msgspec struct can run them, and a killed worker loses at most the step it was in.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import msgspec

from ai.core.records import Conversation, LineageEntry, decode_conversation, encode
from ai.core.stage import GlobalStage, Rejection, Stage, StageResult
from ai.pipelines.orchestrator.checkpoint_manager import CheckpointManager, atomic_writer
from ai.pipelines.orchestrator.registry import resolve_target, stage_class

GC_GEN0_THRESHOLD = 50_000


class AccountingError(RuntimeError):
    """A stage lost or invented records: in != kept + rejected."""


class StepRun(msgspec.Struct, frozen=True):
    """Everything a worker needs to run one step."""

    name: str
    target: str  # "module:Class"
    version: str
    options: dict[str, Any]
    seed: int
    hash: str  # chained config hash of this step
    mode: str = "map"  # "map" (Stage.process) or "apply" (GlobalStage.apply with the stored plan)
    plan_path: str = ""  # relative to the run dir, for mode "apply"


class SegmentTask(msgspec.Struct, frozen=True):
    run_dir: str
    shard: int
    input_path: str  # relative to the run dir
    steps: list[StepRun]
    # A global stage whose per-shard summary is computed from this segment's final output.
    summarise: StepRun | None = None
    # Global stage name -> its hash in this plan; a stored summary under another hash is stale.
    summary_hashes: dict[str, str] = msgspec.field(default_factory=dict)


class StepStats(msgspec.Struct):
    step: str
    n_in: int
    kept: int
    rejected: dict[str, int]
    seconds: float
    resumed: bool = False


class ShardOutcome(msgspec.Struct):
    shard: int
    steps: list[StepStats]
    output_path: str
    summary_path: str = ""


def relax_gc() -> None:
    """Collect the young generation less often: shards allocate millions of short-lived objects and
    CPython's default threshold (700) made garbage collection about 13% of ingest time."""
    if gc.get_threshold()[0] < GC_GEN0_THRESHOLD:
        gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)


def shard_output(step: str, shard: int) -> str:
    return f"work/{step}/shard-{shard:05d}.jsonl"


def shard_rejects(step: str, shard: int) -> str:
    return f"work/{step}/shard-{shard:05d}.rejected.jsonl"


def shard_summary(step: str, shard: int) -> str:
    return f"work/{step}/summary-{shard:05d}.msgpack"


def run_segment(task: SegmentTask) -> ShardOutcome:
    """Run the task's steps over one shard, or report them done when every step's marker is valid.

    Only the segment's last step stores its kept records: the steps in between hand theirs on in
    memory (writing and fsyncing every intermediate shard cost more than re-running a segment after a
    crash). Every step still writes its rejections and its marker. A segment with any step missing
    is re-run from its input, which is deterministic, so it rewrites the same bytes.
    """
    relax_gc()
    run_dir = Path(task.run_dir)
    checkpoints = CheckpointManager(run_dir)
    markers = [checkpoints.valid(s.name, task.shard, s.hash, run_dir) for s in task.steps]
    all_done = all(marker is not None for marker in markers)
    summary_done = task.summarise is not None and checkpoints.valid(
        task.summarise.name + ".summarise", task.shard, task.summarise.hash, run_dir
    )
    current = shard_output(task.steps[-1].name, task.shard) if task.steps else task.input_path
    stats: list[StepStats] = []
    summary_path = ""
    if all_done:
        stats = [_stats_from_marker(s.name, markers[i]) for i, s in enumerate(task.steps)]
        batch = read_shard(run_dir / current) if task.summarise is not None and not summary_done else []
    else:
        batch = read_shard(run_dir / task.input_path)
        for index, step in enumerate(task.steps):
            store = index == len(task.steps) - 1
            batch, step_stats = _run_step(step, batch, task.shard, run_dir, checkpoints, store)
            stats.append(step_stats)

    if task.summarise is not None:
        summary_path = shard_summary(task.summarise.name, task.shard)
        if not summary_done:
            stage = load_stage(task.summarise)
            assert isinstance(stage, GlobalStage)  # nosec B101  # type narrowing; only global steps summarise
            earlier = earlier_summaries(stage, run_dir, task.shard, task.summary_hashes)
            summary = stage.summarise(batch, task.shard, earlier)
            with atomic_writer(run_dir / summary_path) as handle:
                handle.write(msgspec.msgpack.encode(summary))
            checkpoints.mark_done(
                task.summarise.name + ".summarise", task.shard, task.summarise.hash, [summary_path]
            )
    return ShardOutcome(shard=task.shard, steps=stats, output_path=current, summary_path=summary_path)


def earlier_summaries(
    stage: GlobalStage, run_dir: Path, shard: int, hashes: dict[str, str]
) -> dict[str, Any]:
    """The summaries of ``shard`` that ``stage.needs_summaries`` names, None where none can be trusted."""
    return {name: _stored_summary(name, run_dir, shard, hashes.get(name)) for name in stage.needs_summaries}


def _stored_summary(name: str, run_dir: Path, shard: int, step_hash: str | None) -> Any:
    # A stage that is not in this run, a summary left by an earlier config (its marker's hash differs)
    # or an unreadable one leaves the needing stage to do the work itself: the same result, only slower.
    if (
        step_hash is None
        or CheckpointManager(run_dir).valid(name + ".summarise", shard, step_hash, run_dir) is None
    ):
        return None
    try:
        data = (run_dir / shard_summary(name, shard)).read_bytes()
        return msgspec.msgpack.decode(data, type=stage_class(name).summary_type)
    except (OSError, msgspec.DecodeError):
        return None


def _run_step(
    step: StepRun,
    batch: list[Conversation],
    shard: int,
    run_dir: Path,
    checkpoints: CheckpointManager,
    store_kept: bool,
) -> tuple[list[Conversation], StepStats]:
    stage = load_stage(step)
    started = time.perf_counter()
    if step.mode == "apply":
        assert isinstance(stage, GlobalStage)  # nosec B101  # type narrowing; only global steps apply a plan
        result = stage.apply(batch, load_plan(stage, run_dir / step.plan_path), shard)
    else:
        result = stage.process(batch)
    seconds = time.perf_counter() - started
    check_accounting(step.name, len(batch), result)

    lineage = LineageEntry(step.name, step.version, step.hash)
    for record in result.kept:
        record.lineage.append(lineage)
    kept_path, rejects_path = shard_output(step.name, shard), shard_rejects(step.name, shard)
    outputs = [rejects_path]
    if store_kept:
        write_shard(run_dir / kept_path, result.kept)
        outputs.append(kept_path)
    write_shard(run_dir / rejects_path, result.rejected)
    by_reason = result.rejected_by_reason()
    checkpoints.mark_done(
        step.name,
        shard,
        step.hash,
        outputs,
        n_in=len(batch),
        kept=len(result.kept),
        rejected=by_reason,
        seconds=round(seconds, 4),
    )
    return result.kept, StepStats(step.name, len(batch), len(result.kept), by_reason, seconds)


def check_accounting(stage: str, n_in: int, result: StageResult) -> None:
    n_out = len(result.kept) + len(result.rejected)
    if n_out != n_in:
        raise AccountingError(
            f"stage {stage!r} received {n_in} records but returned {len(result.kept)} kept + "
            f"{len(result.rejected)} rejected = {n_out}; every record must be kept or rejected"
        )


def _stats_from_marker(step: str, marker: dict[str, Any] | None) -> StepStats:
    assert marker is not None  # nosec B101  # called only for steps whose marker was found
    return StepStats(
        step, marker["n_in"], marker["kept"], marker["rejected"], marker.get("seconds", 0.0), resumed=True
    )


_stage_cache: dict[tuple[str, str, int], Stage] = {}


def load_stage(step: StepRun) -> Stage:
    """Build (once per process) the stage instance a step describes."""
    key = (step.target, msgspec.json.encode(step.options, order="sorted").decode(), step.seed)
    stage = _stage_cache.get(key)
    if stage is None:
        cls = resolve_target(step.target)
        stage = cls(msgspec.convert(step.options, cls.Options, strict=False), seed=step.seed)
        _stage_cache[key] = stage
    return stage


def load_plan(stage: GlobalStage, path: Path) -> Any:
    return msgspec.msgpack.decode(path.read_bytes(), type=stage.plan_type)


_decoder = msgspec.json.Decoder(Conversation)


def read_shard(path: Path) -> list[Conversation]:
    data = path.read_bytes()
    return [_decoder.decode(line) for line in data.splitlines() if line]


def write_shard(path: Path, items: list[Conversation] | list[Rejection]) -> None:
    with atomic_writer(path) as handle:
        handle.write(b"".join(encode(item) + b"\n" for item in items))


def read_rejections(path: Path) -> list[Rejection]:
    decoder = msgspec.json.Decoder(Rejection)
    return [decoder.decode(line) for line in path.read_bytes().splitlines() if line]


__all__ = [
    "AccountingError",
    "SegmentTask",
    "ShardOutcome",
    "StepRun",
    "StepStats",
    "decode_conversation",
    "read_rejections",
    "read_shard",
    "run_segment",
    "write_shard",
]
