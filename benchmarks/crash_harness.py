"""Crash-safety harness: SIGKILL real runs at random points, resume them, compare with a clean run.

    uv run python benchmarks/crash_harness.py --trials 20 [--records 1200] [--seed N]

A clean run of the CLI (in a subprocess, 2 workers) is made first with a hook that logs every durable
write (each ``os.replace`` into the run directory: shard outputs, markers, dataset files, manifest).
Each trial then starts the same run and kills its whole process group (orchestrator and workers) at a
random point, chosen in one of two ways:

- ``write``: just before or just after the k-th durable write, k drawn uniformly over the clean run's
  writes, so every stage (ingest, each stage segment, reduces, export, manifest) gets hit;
- ``time``: after a uniformly random delay within the clean run's wall time.

The run is then resumed (`dataset-pipeline resume DIR`) and its manifest ``files`` hashes and
``counts`` must equal the clean run's. A table of kill points and results is printed; the exit status
is non-zero if any trial differs. The test suite runs a few trials of the same code
(tests/integration/test_crash_safety.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import write_corpus

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "ai.pipelines.orchestrator.main_orchestrator"]

# Loaded by every Python process of a run (orchestrator, forkserver, workers) through PYTHONPATH.
HOOK = """
import os, signal

_run_dir = os.environ.get("CRASH_RUN_DIR")
if _run_dir:
    _run_dir = os.path.realpath(_run_dir) + os.sep
    _log = os.environ["CRASH_WRITE_LOG"]
    _kill_at = int(os.environ.get("CRASH_KILL_AT", "0"))
    _after = os.environ.get("CRASH_PHASE", "before") == "after"
    _replace = os.replace

    def _logged(src, dst, *args, **kwargs):
        target = os.path.realpath(os.fspath(dst))
        if not target.startswith(_run_dir):
            return _replace(src, dst, *args, **kwargs)
        fd = os.open(_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (target[len(_run_dir):] + "\\n").encode())
        finally:
            os.close(fd)
        with open(_log, "rb") as handle:
            count = handle.read().count(b"\\n")
        if _kill_at and count >= _kill_at and not _after:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        result = _replace(src, dst, *args, **kwargs)
        if _kill_at and count >= _kill_at:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        return result

    os.replace = _logged
"""


@dataclass
class Workload:
    """A corpus and a config in ``root``; every run gets its own catalog home under it."""

    root: Path
    records: int = 1200
    shard_size: int = 100
    workers: int = 2
    config: Path = field(init=False)
    hook_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        corpus = self.root / "corpus.jsonl"
        write_corpus(corpus, self.records, seed=5)
        self.config = self.root / "config.yaml"
        run = {"name": "crash", "shard_size": self.shard_size, "workers": self.workers, "seed": 7}
        self.config.write_text(
            yaml.safe_dump(
                {"run": run, "sources": [{"name": "corpus", "path": str(corpus), "license": "CC0"}]}
            )
        )
        self.hook_dir = self.root / "hook"
        self.hook_dir.mkdir(exist_ok=True)
        (self.hook_dir / "sitecustomize.py").write_text(HOOK)

    def env(self, name: str, run_dir: Path | None = None, **crash: str) -> dict[str, str]:
        env = dict(os.environ)
        env["DATASET_PIPELINE_HOME"] = str(self.root / f"home-{name}")
        env.pop("DATABASE_URL", None)
        paths = [str(REPO), env.get("PYTHONPATH", "")]
        if run_dir is not None:
            paths.insert(0, str(self.hook_dir))
            env.update({"CRASH_RUN_DIR": str(run_dir), **{f"CRASH_{k.upper()}": v for k, v in crash.items()}})
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        return env


@dataclass
class CleanRun:
    manifest: dict
    writes: list[str]  # run-relative paths of the durable writes, in order
    seconds: float
    startup: float  # seconds until the run directory existed (imports, catalog, planning)


@dataclass
class Trial:
    number: int
    seed: int
    mode: str  # "write" or "time"
    kill_at: str  # "#k before|after" or "t=1.23s"
    killed: bool
    last_write: str  # the durable write the kill came at or after
    stage: str
    resumed_shards: int = 0
    stray_temp_files: int = 0
    equal: bool = False
    problem: str = ""


def cli(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the CLI in its own process group: the crash hook kills that whole group, never us."""
    process = _start(args, env, capture=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def clean_run(work: Workload) -> CleanRun:
    run_dir = work.root / "clean"
    log = work.root / "clean-writes.log"
    args = ["run", "--config", str(work.config), "--output", str(run_dir), "--quiet"]
    process = _start(args, work.env("clean", run_dir, write_log=str(log)), capture=True)
    started = time.perf_counter()
    startup = None
    while process.poll() is None:
        if startup is None and (run_dir / "run.json").exists():
            startup = time.perf_counter() - started
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"the clean run failed:\n{process.stderr.read()[-3000:]}")  # type: ignore[union-attr]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return CleanRun(manifest, log.read_text().splitlines(), seconds, startup or 0.0)


def stage_of(path: str) -> str:
    """Which part of the run a durable write belongs to."""
    parts = path.split("/")
    if parts[0] in ("work", "checkpoints") and len(parts) > 2:
        step = parts[1]
        if parts[0] == "work" and parts[2].startswith(("summary-", "plan.")):
            return f"{step} {'summarise' if parts[2].startswith('summary-') else 'reduce'}"
        for suffix in (".reduce", ".summarise"):
            if step.endswith(suffix):
                return f"{step[: -len(suffix)]} {suffix[1:]}"
        return step
    if parts[0] in ("run.json", "config.yaml"):
        return "setup"
    if len(parts) == 1 and path.endswith("_report.json") and path != "gate_report.json":
        return f"{path.removesuffix('_report.json')} reduce"  # a global stage's report, written by its reduce
    # dataset/, quarantine/, exports/, reports, the card, the manifest and the run summary
    return "export"


def crash_trial(
    work: Workload, clean: CleanRun, number: int, seed: int, mode: str | None = None, write: int = 0
) -> Trial:
    """Kill one run at a point drawn from ``seed`` (or at durable write ``write``), resume, compare."""
    rng = random.Random(seed)
    mode = "write" if write else mode or rng.choice(["write", "write", "time"])
    run_dir = work.root / f"trial-{number:03d}"
    shutil.rmtree(run_dir, ignore_errors=True)
    log = work.root / f"trial-{number:03d}-writes.log"
    log.unlink(missing_ok=True)
    args = ["run", "--config", str(work.config), "--output", str(run_dir), "--quiet"]
    if mode == "write":
        k = write or rng.randint(1, len(clean.writes))
        phase = rng.choice(["before", "after"])
        kill_at = f"#{k} {phase}"
        env = work.env(f"trial{number}", run_dir, write_log=str(log), kill_at=str(k), phase=phase)
        killed = cli(args, env).returncode == -signal.SIGKILL
    else:
        delay = rng.uniform(0.0, max(clean.seconds - clean.startup, 0.1))
        kill_at = f"t0+{delay:.2f}s"
        killed = _kill_after(args, work.env(f"trial{number}", run_dir, write_log=str(log)), run_dir, delay)
    writes = log.read_text().splitlines() if log.exists() else []
    last = writes[-1] if writes else "(none)"
    trial = Trial(number, seed, mode, kill_at, killed, last, stage_of(last) if writes else "startup")
    _resume_and_compare(work, clean, run_dir, number, trial)
    return trial


def _start(args: list[str], env: dict[str, str], capture: bool = False) -> subprocess.Popen[str]:
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        [*CLI, *args], env=env, cwd=REPO, stdout=output, stderr=output, text=True, start_new_session=True
    )


def _kill_after(args: list[str], env: dict[str, str], run_dir: Path, delay: float) -> bool:
    """Start a run and SIGKILL its process group ``delay`` seconds after its run directory exists."""
    process = _start(args, env)
    deadline = time.monotonic() + 600
    try:
        while not (run_dir / "run.json").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        process.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        return True
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


def _resume_and_compare(work: Workload, clean: CleanRun, run_dir: Path, number: int, trial: Trial) -> None:
    if (run_dir / "run.json").exists():
        result = cli(["resume", str(run_dir), "--quiet"], work.env(f"trial{number}"))
    else:  # killed before the run directory was set up: start again
        shutil.rmtree(run_dir, ignore_errors=True)
        args = ["run", "--config", str(work.config), "--output", str(run_dir), "--quiet"]
        result = cli(args, work.env(f"trial{number}"))
    if result.returncode != 0:
        trial.problem = f"resume failed (exit {result.returncode}): {result.stderr.strip()[-500:]}"
        return
    manifest = json.loads((run_dir / "manifest.json").read_text())
    summary = json.loads((run_dir / "run_summary.json").read_text())
    trial.resumed_shards = sum(row["resumed_shards"] for row in summary["stages"])
    trial.stray_temp_files = sum(1 for p in run_dir.rglob(".*.tmp-*") if p.is_file())
    differing = sorted(
        name
        for name in set(manifest["files"]) | set(clean.manifest["files"])
        if manifest["files"].get(name) != clean.manifest["files"].get(name)
    )
    if differing:
        trial.problem = f"{len(differing)} file(s) differ: {', '.join(differing[:5])}"
    elif manifest["counts"] != clean.manifest["counts"]:
        trial.problem = "counts differ"
    trial.equal = not trial.problem


def print_table(trials: list[Trial], clean: CleanRun) -> None:
    print(
        f"clean run: {clean.seconds:.1f}s, {len(clean.writes)} durable writes, "
        f"{clean.manifest['counts']['exported']} exported, {len(clean.manifest['files'])} files in the manifest "
        f"(startup {clean.startup:.1f}s)"
    )
    header = (
        f"{'#':>3} {'seed':>10} {'mode':5} {'kill at':>13} {'killed':6} {'stage':>18} {'resumed':>7} "
        f"{'stray tmp':>9}  result"
    )
    print(header)
    print("-" * len(header))
    for t in trials:
        result = "identical" if t.equal else f"DIFFERS: {t.problem}"
        print(
            f"{t.number:>3} {t.seed:>10} {t.mode:5} {t.kill_at:>13} {'yes' if t.killed else 'no':6} "
            f"{t.stage:>18} {t.resumed_shards:>7} {t.stray_temp_files:>9}  {result}"
        )
    stages = sorted({t.stage for t in trials if t.killed})
    ok = sum(t.equal for t in trials)
    print(f"{ok}/{len(trials)} resumed runs identical to the clean run; stages hit: {', '.join(stages)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--records", type=int, default=1200)
    parser.add_argument("--shard-size", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None, help="master seed (default: random, printed)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    master = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    print(f"master seed {master} (repeat with --seed {master})")
    root = Path(tempfile.mkdtemp(prefix="crash-harness-"))
    try:
        work = Workload(root, args.records, args.shard_size, args.workers)
        clean = clean_run(work)
        seeds = random.Random(master).sample(range(1 << 30), args.trials)
        trials = []
        for number, seed in enumerate(seeds, start=1):
            trials.append(crash_trial(work, clean, number, seed))
            print(
                f"trial {number}/{args.trials}: {trials[-1].kill_at} in {trials[-1].stage}", file=sys.stderr
            )
        print_table(trials, clean)
        return 0 if all(t.equal for t in trials) else 1
    finally:
        if args.keep:
            print(f"work directory: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
