"""The orchestrator: the only code that knows the order of the run.

ingest -> segments of per-record stages (fused per shard) -> for each global stage: per-shard
summaries, one reduce, per-shard apply -> export -> manifest. Every step of every shard leaves a
durable output and a marker, so a killed run resumes where it stopped and ends with exactly the
bytes an uninterrupted run produces.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

import msgspec

from ai.core.config import PipelineConfig, load_yaml, parse_config
from ai.core.licences import hf_license, licence_use
from ai.core.records import Conversation
from ai.core.stage import GlobalStage, Rejection
from ai.infrastructure.database.persistence import Catalog
from ai.infrastructure.export.multi_format import ExportError, write_formats
from ai.infrastructure.production.export_to_ready_packages import write_dataset_card
from ai.pipelines.orchestrator.checkpoint_manager import CheckpointManager, atomic_write_json, atomic_writer
from ai.pipelines.orchestrator.ingest import Ingestor
from ai.pipelines.orchestrator.logger import RunLogger
from ai.pipelines.orchestrator.planner import PlannedStep, ingest_hash, plan_stages, run_hash
from ai.pipelines.orchestrator.quality_gates import (
    BiasAuditGateOptions,
    DatasetGateOptions,
    evaluate_dataset_gates,
)
from ai.pipelines.orchestrator.run_catalog import RunCatalog
from ai.pipelines.orchestrator.run_output import (
    file_hashes,
    write_dataset,
    write_manifest,
    write_quarantine,
)
from ai.pipelines.orchestrator.shard_runner import (
    SegmentTask,
    ShardOutcome,
    StepRun,
    load_stage,
    read_shard,
    run_segment,
    shard_rejects,
    shard_summary,
)
from ai.pipelines.report import write_report


def package_version() -> str:
    try:
        return version("unified-ai-dataset-pipeline")
    except PackageNotFoundError:
        return "0.0.0"


class PipelineError(RuntimeError):
    """A run could not complete; the message says what failed and what to do."""


class Executor(Protocol):
    name: str

    def map_unordered(self, fn: Any, tasks: Any) -> Any: ...

    def close(self) -> None: ...


@dataclass
class StepTotals:
    name: str
    n_in: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    resumed_shards: int = 0

    def add(self, n_in: int, kept: int, rejected: dict[str, int], seconds: float, resumed: bool) -> None:
        self.n_in += n_in
        self.kept += kept
        self.rejected.update(rejected)
        self.seconds += seconds
        self.resumed_shards += int(resumed)

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    manifest: dict[str, Any]
    totals: list[StepTotals]
    wall_seconds: float


RUN_FILE = "run.json"
GATE_REPORT = "gate_report.json"
BIAS_AUDIT = "bias_audit.json"
BIAS_JUDGE_AUDIT = "bias_judge_audit.json"  # ai.pipelines.orchestrator.bias_audit.AUDIT_FILE
CONFIG_FILE = "config.yaml"


class Orchestrator:
    def __init__(
        self,
        config: PipelineConfig,
        run_dir: Path,
        executor: Executor,
        log: RunLogger,
        config_text: str | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.config = config
        self._catalog = catalog
        self.catalog: RunCatalog | None = None
        self.run_dir = Path(run_dir)
        self.executor = executor
        self.log = log
        self.config_text = config_text
        self.checkpoints = CheckpointManager(self.run_dir)
        self.steps: list[PlannedStep] = plan_stages(config)
        self.totals: dict[str, StepTotals] = {}

    # -- public entry -----------------------------------------------------------------------------
    def run(self) -> RunResult:
        started = time.perf_counter()
        run_info = self._prepare_run_dir()
        run_id = run_info["run_id"]
        if self._catalog is not None:
            self.catalog = RunCatalog(self._catalog, run_id)
            self.catalog.started(
                self.config, self.run_dir, run_hash(self.config, self.steps), [s.name for s in self.steps]
            )
        try:
            return self._run(run_id, started)
        except KeyboardInterrupt:
            self._finish_in_catalog("interrupted")
            raise
        except BaseException:
            self._finish_in_catalog("failed")
            raise

    def _finish_in_catalog(self, status: str) -> None:
        if self.catalog is not None:
            try:
                self.catalog.finished(status)
            except Exception as exc:
                self.log.error("catalog_update_failed", error=str(exc))

    def _run(self, run_id: str, started: float) -> RunResult:
        self.log.event(
            "run_started",
            run_id=run_id,
            run_dir=str(self.run_dir),
            stages=[s.name for s in self.steps],
            executor=self.executor.name,
            echo=f"run {run_id}: {' -> '.join(['ingest', *[s.name for s in self.steps], 'export'])}",
        )
        shard_paths = self._ingest()
        self._warm_driver_imports()
        final_paths = self._run_stages(shard_paths)
        manifest = self._export(run_id, final_paths)
        wall = time.perf_counter() - started
        self._write_run_summary(run_id, wall)
        self._write_report()
        if self.catalog is not None:
            self.catalog.exported(self.run_dir, manifest, final_paths)
            self.catalog.finished("succeeded", manifest["counts"])
        self.log.event("run_finished", run_id=run_id, wall_seconds=round(wall, 3), counts=manifest["counts"])
        return RunResult(run_id, self.run_dir, manifest, list(self.totals.values()), wall)

    def _warm_driver_imports(self) -> None:
        """Import the heavy modules the driver's own later steps need while it waits for the workers:
        scipy.stats for the split's homogeneity tests (~1.5 s) and pandas, which pyarrow loads on its
        first array (~1 s). Otherwise both land on the serial path after the stages."""
        modules = []
        if any(step.name == "split" for step in self.steps):
            modules.append("scipy.stats")
        if any(fmt != "openai_jsonl" for fmt in self.config.export.formats):
            modules.append("pandas")

        def load() -> None:
            for name in modules:
                with contextlib.suppress(ImportError):  # the step that needs it reports the error
                    importlib.import_module(name)

        if modules:
            threading.Thread(target=load, name="warm-imports", daemon=True).start()

    # -- run directory ------------------------------------------------------------------------------
    def _prepare_run_dir(self) -> dict[str, Any]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        stray = self.checkpoints.remove_stray_temp_files(self.run_dir)
        if stray:
            self.log.event("stray_temp_files_removed", count=stray)
        run_file = self.run_dir / RUN_FILE
        if run_file.exists():
            info = json.loads(run_file.read_text())
        else:
            digest = run_hash(self.config, self.steps)
            info = {
                "run_id": f"run-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{digest[:8]}",
                "base_dir": self.config.base_dir,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            atomic_write_json(run_file, info)
        if self.config_text is not None:
            with atomic_writer(self.run_dir / CONFIG_FILE, "w") as handle:
                handle.write(self.config_text)
        return info

    # -- ingest ------------------------------------------------------------------------------------
    def _ingest(self) -> list[str]:
        started = time.perf_counter()
        ingestor = Ingestor(
            self.config, self.run_dir, self.log, ingest_hash(self.config), self.gate, self._excerpt_scrubber()
        )
        marker = ingestor.run()
        totals = self.totals.setdefault("ingest", StepTotals("ingest"))
        for shard in marker["shards"]:
            totals.add(shard["n_in"], shard["kept"], shard["rejected"], 0.0, False)
        totals.seconds = time.perf_counter() - started
        self.passages = marker.get("passages", 0)
        self.log.event(
            "ingest_finished",
            shards=len(marker["shards"]),
            records=totals.kept,
            rejected=dict(totals.rejected),
            passages=self.passages,
        )
        return [shard["output"] for shard in marker["shards"]]

    def _excerpt_scrubber(self) -> Callable[[str], str]:
        """Scrub quarantined raw input as the pii stage scrubs content (when it runs), and redact secrets."""
        redact = self.log.redactor.text
        pii = next((step for step in self.steps if step.name == "pii"), None)
        if pii is None:
            return redact
        scrubber = load_stage(pii.step_run(self.config.run.seed))
        return lambda text: redact(scrubber.scrub_text(text))

    def gate(self, batch: list[Conversation]) -> list[Rejection | None]:
        """Run the plan's per-record stages in this process: None where a record passes them all.

        Handed to derived sources (grounded generation) so they can generate until enough pass.
        """
        verdicts: list[Rejection | None] = [None] * len(batch)
        alive = list(enumerate(batch))
        for step in self.steps:
            if step.is_global or not alive:
                continue
            result = load_stage(step.step_run(self.config.run.seed)).process([r for _, r in alive])
            by_id: dict[str, list[int]] = {}
            for index, record in alive:
                by_id.setdefault(record.id, []).append(index)
            for rejection in result.rejected:
                positions = by_id.get(rejection.record_id)
                if positions:
                    verdicts[positions.pop(0)] = rejection
            alive = [(by_id[r.id].pop(0), r) for r in result.kept if by_id.get(r.id)]
        return verdicts

    # -- stages --------------------------------------------------------------------------------------
    def _run_stages(self, inputs: list[str]) -> list[str]:
        seed = self.config.run.seed
        segment: list[StepRun] = []
        for step in self.steps:
            if step.is_global:
                inputs = self._run_segment(inputs, segment, summarise=step.step_run(seed))
                plan_path = self._reduce(step, len(inputs))
                segment = [step.step_run(seed, mode="apply", plan_path=plan_path)]
            else:
                segment.append(step.step_run(seed))
        if segment:
            inputs = self._run_segment(inputs, segment, summarise=None)
        return inputs

    def _run_segment(self, inputs: list[str], steps: list[StepRun], summarise: StepRun | None) -> list[str]:
        if not steps and summarise is None:
            return inputs
        label = "+".join(s.name for s in steps) or summarise.name  # type: ignore[union-attr]
        if summarise is not None:
            label += f" ({summarise.name} summary)" if steps else " summary"
        # Earlier summaries are only trusted when written under this plan's hash for their stage.
        summary_hashes = {step.name: step.hash for step in self.steps if step.is_global}
        tasks = [
            SegmentTask(str(self.run_dir), shard, path, steps, summarise, summary_hashes)
            for shard, path in enumerate(inputs)
        ]
        outcomes: dict[int, ShardOutcome] = {}
        with self.log.progress(label, len(tasks)) as progress:
            for outcome in self.executor.map_unordered(run_segment, tasks):
                outcomes[outcome.shard] = outcome
                if self.catalog is not None:
                    self.catalog.shard_done(outcome.shard, outcome.steps)
                n_records = outcome.steps[0].n_in if outcome.steps else 0
                progress.advance(
                    n_records, skipped=all(s.resumed for s in outcome.steps) and bool(outcome.steps)
                )
                self.log.event(
                    "shard_done", shard=outcome.shard, steps=[msgspec.to_builtins(s) for s in outcome.steps]
                )
        for shard in range(len(tasks)):
            for stats in outcomes[shard].steps:
                self.totals.setdefault(stats.step, StepTotals(stats.step)).add(
                    stats.n_in, stats.kept, stats.rejected, stats.seconds, stats.resumed
                )
        return [outcomes[shard].output_path for shard in range(len(tasks))]

    def _reduce(self, step: PlannedStep, n_shards: int) -> str:
        plan_rel = f"work/{step.name}/plan.msgpack"
        report_rel = f"{step.name}_report.json"
        stage = load_stage(step.step_run(self.config.run.seed))
        assert isinstance(stage, GlobalStage)  # nosec B101  # type narrowing; the planner marks global steps
        if self.checkpoints.valid(step.name + ".reduce", "plan", step.hash, self.run_dir) is None:
            started = time.perf_counter()
            # Exactly this run's shards: a run resumed with a changed config may have left summaries of
            # shards that no longer exist, and they describe records that are no longer in the data.
            summaries = [
                msgspec.msgpack.decode(
                    (self.run_dir / shard_summary(step.name, i)).read_bytes(), type=stage.summary_type
                )
                for i in range(n_shards)
            ]
            plan = stage.reduce(summaries)
            with atomic_writer(self.run_dir / plan_rel) as handle:
                handle.write(msgspec.msgpack.encode(plan))
            outputs = [plan_rel]
            report = stage.report(plan)
            if report is not None:
                atomic_write_json(self.run_dir / report_rel, report)
                outputs.append(report_rel)
            self.checkpoints.mark_done(step.name + ".reduce", "plan", step.hash, outputs)
            self.log.event("reduce_done", stage=step.name, seconds=round(time.perf_counter() - started, 3))
        report_path = self.run_dir / report_rel
        if report_path.exists():
            report = json.loads(report_path.read_text())
            if report.get("passed") is False:
                raise PipelineError(
                    f"{step.name} check failed: {report.get('message', 'see ' + report_rel)} "
                    f"(details in {report_path})"
                )
        return plan_rel

    # -- export ----------------------------------------------------------------------------------------
    def _export(self, run_id: str, final_paths: list[str]) -> dict[str, Any]:
        started = time.perf_counter()
        dataset_counts = write_dataset(self.run_dir, final_paths)
        # The quarantine comes first: when a gate blocks the export it is what explains why.
        n_shards = len(final_paths)
        quarantined = 0
        for name in ["ingest", *[s.name for s in self.steps]]:
            quarantined += write_quarantine(
                self.run_dir, name, [shard_rejects(name, i) for i in range(n_shards)]
            )
        self._dataset_gates(dataset_counts, quarantined)
        self._write_formats(final_paths)
        self._write_bias_audit(final_paths)
        counts = self._counts(dataset_counts, quarantined)
        manifest = {
            "run_id": run_id,
            "version": package_version(),
            "config_hash": run_hash(self.config, self.steps),
            "seed": self.config.run.seed,
            "stages": [{"name": s.name, "version": s.cls.version, "hash": s.hash} for s in self.steps],
            "sources": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "license": s.license,
                    "license_id": hf_license(s.license),
                    "license_use": licence_use(s.license),
                    "category": s.category,
                }
                for s in self.config.sources
                if s.enabled
            ],
            "counts": counts,
            "files": file_hashes(
                self.run_dir,
                ("dataset", "quarantine", "exports"),
                (GATE_REPORT, BIAS_AUDIT, BIAS_JUDGE_AUDIT, *(f"{s.name}_report.json" for s in self.steps)),
            ),
        }
        write_manifest(self.run_dir, manifest)
        write_dataset_card(self.run_dir, manifest, self._card_summary())
        self.totals["export"] = StepTotals(
            "export", counts["exported"], counts["exported"], Counter(), time.perf_counter() - started
        )
        return manifest

    def _write_formats(self, final_paths: list[str]) -> None:
        """Every other configured format under ``exports/`` (``dataset/`` already is OpenAI JSONL)."""
        formats = [f for f in self.config.export.formats if f != "openai_jsonl"]
        if not formats:
            return

        def records() -> Iterator[Conversation]:
            for rel in final_paths:
                yield from read_shard(self.run_dir / rel)

        try:
            written = write_formats(self.run_dir / "exports", records, formats, self.config.export.options)
        except ExportError as exc:
            raise PipelineError(f"export: {exc}") from None
        self.log.event("formats_written", files={k: len(v) for k, v in written.items()})

    def _write_bias_audit(self, final_paths: list[str]) -> None:
        """Demographic marker counts per split and counterfactual coverage, when the run augments data."""
        if not any(s.enabled and s.kind == "synthetic" for s in self.config.sources):
            return
        from ai.sourcing.synthetic import bias_audit

        records = (r for rel in final_paths for r in read_shard(self.run_dir / rel))
        atomic_write_json(self.run_dir / BIAS_AUDIT, bias_audit(records))

    def _card_summary(self) -> dict[str, Any]:
        return {
            "name": self.config.run.name,
            "executor": self.executor.name,
            "workers": self.config.run.workers,
            "split": msgspec.to_builtins(self.config.split),
            "formats": self.config.export.formats,
        }

    def _dataset_gates(self, dataset_counts: dict[str, Any], quarantined: int) -> None:
        """Judge the dataset as a whole; a failed gate removes the dataset files and fails the run."""
        quality = next((s for s in self.steps if s.name == "quality"), None)
        if quality is None:
            return
        options = msgspec.convert(quality.options.get("dataset", {}), DatasetGateOptions)
        exported = dataset_counts["exported"]
        summary: dict[str, Any] = {
            "total": exported,
            "counts_by_category": dataset_counts["categories"],
            "counts_by_split": {k: v for k, v in dataset_counts["splits"].items() if k != "unsplit"},
            "duplicate_rate": dataset_counts["duplicates"] / exported if exported else 0.0,
        }
        if dataset_counts["ears_mean"] is not None:
            summary["ears_mean"] = dataset_counts["ears_mean"]
        if options.bias_audit is not None:
            summary["bias_flip_checks"] = self._judge_bias_audit(options.bias_audit)
        split_report = self.run_dir / "split_report.json"
        if split_report.exists():
            leakage = json.loads(split_report.read_text()).get("leakage", {})
            summary["split_leakage"] = leakage.get("leaking_groups", 0) + leakage.get(
                "leaking_near_duplicate_pairs", 0
            )
        report = evaluate_dataset_gates(summary, options)
        atomic_write_json(self.run_dir / GATE_REPORT, report.to_dict())
        self.log.event("dataset_gates", passed=report.passed, failed=[g.name for g in report.failed])
        if not report.passed:
            for path in (self.run_dir / "dataset").glob("*.jsonl"):
                path.unlink()
            failures = "; ".join(g.message for g in report.failed)
            hint = (
                f"; {quarantined:,} records are in {self.run_dir / 'quarantine'} with the reasons"
                if quarantined
                else ""
            )
            raise PipelineError(
                f"dataset gate(s) failed, export blocked: {failures} (details in {self.run_dir / GATE_REPORT}"
                f"{hint})"
            )

    def _judge_bias_audit(self, gate: BiasAuditGateOptions) -> list[dict[str, Any]]:
        """Every judge on probe sets from the exported records, with this run's thresholds (docs/BIAS.md)."""
        from ai.pipelines.orchestrator.bias_audit import AuditOptions, audit_run_dir, default_judges

        options = {s.name: s.options for s in self.steps}
        judges = default_judges(
            options.get("ears", {}).get("threshold"), options.get("quality", {}).get("min_quality")
        )
        audit = audit_run_dir(self.run_dir, AuditOptions.from_gate(gate, self.config.run.seed), judges)
        self.log.event(
            "bias_audit", sets=audit["sets"], failed=audit["gate"]["failed"], seconds=audit["seconds"]
        )
        return audit["gate"]["checks"]

    def _counts(self, dataset_counts: dict[str, Any], quarantined: int) -> dict[str, Any]:
        names = ["ingest", *[s.name for s in self.steps]]
        stages = [
            {
                "stage": n,
                "in": self.totals[n].n_in,
                "kept": self.totals[n].kept,
                "rejected": self.totals[n].n_rejected,
            }
            for n in names
        ]
        counts = {
            "input": self.totals["ingest"].n_in,
            "exported": dataset_counts["exported"],
            "quarantined": quarantined,
            "passages": self.passages,
            "rejected": {
                n: dict(sorted(self.totals[n].rejected.items())) for n in names if self.totals[n].rejected
            },
            "splits": dataset_counts["splits"],
            "categories": dataset_counts["categories"],
            "split_categories": dataset_counts["split_categories"],
            "distinct_dialogues": dataset_counts["distinct_dialogues"],
            "stages": stages,
        }
        self._check_accounting(counts)
        return counts

    def _check_accounting(self, counts: dict[str, Any]) -> None:
        problems = []
        previous_kept = None
        for row in counts["stages"]:
            if row["in"] != row["kept"] + row["rejected"]:
                problems.append(
                    f"{row['stage']}: in {row['in']} != kept {row['kept']} + rejected {row['rejected']}"
                )
            if previous_kept is not None and row["in"] != previous_kept:
                problems.append(
                    f"{row['stage']}: received {row['in']} but the stage before kept {previous_kept}"
                )
            previous_kept = row["kept"]
        if counts["input"] != counts["exported"] + counts["quarantined"]:
            problems.append(
                f"input {counts['input']} != exported {counts['exported']} + quarantined {counts['quarantined']}"
            )
        if problems:
            raise PipelineError("record accounting does not balance: " + "; ".join(problems))

    def _write_report(self) -> None:
        # The dataset is already written and verified; a report problem is worth a warning, not a failed run.
        try:
            path = write_report(self.run_dir)
        except Exception as exc:
            self.log.warning(
                "report_failed",
                error=f"{type(exc).__name__}: {exc}",
                echo=f"warning: the report could not be written ({exc}); "
                f"retry with `dataset-pipeline report {self.run_dir}`",
            )
        else:
            self.log.event("report_written", path=str(path))

    def _write_run_summary(self, run_id: str, wall: float) -> None:
        rows = [
            {
                "stage": t.name,
                "in": t.n_in,
                "kept": t.kept,
                "rejected": dict(t.rejected),
                "seconds": round(t.seconds, 3),
                "resumed_shards": t.resumed_shards,
            }
            for t in self.totals.values()
        ]
        atomic_write_json(
            self.run_dir / "run_summary.json",
            {
                "run_id": run_id,
                "wall_seconds": round(wall, 3),
                "executor": self.executor.name,
                "stages": rows,
            },
        )


def load_run_config(run_dir: Path) -> tuple[PipelineConfig, str]:
    """The config stored in a run directory, with relative paths resolved as in the original run."""
    run_file, config_file = run_dir / RUN_FILE, run_dir / CONFIG_FILE
    if not run_file.exists() or not config_file.exists():
        raise PipelineError(
            f"{run_dir} is not a run directory (no {RUN_FILE} / {CONFIG_FILE}); start one with "
            "`dataset-pipeline run`"
        )
    info = json.loads(run_file.read_text())
    text = config_file.read_text(encoding="utf-8")
    return parse_config(
        load_yaml(text, str(config_file)), base_dir=info.get("base_dir", "."), origin=str(config_file)
    ), text
