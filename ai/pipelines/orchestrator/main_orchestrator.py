"""``dataset-pipeline``: the command-line entry point (also ``python -m ai.pipelines.orchestrator.main_orchestrator``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import click
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ai.core.config import ConfigError, load_config, load_yaml, parse_config
from ai.infrastructure.database.persistence import Catalog, CatalogError
from ai.infrastructure.database.status import show_status
from ai.infrastructure.distributed.local_executor import LocalExecutor
from ai.pipelines.orchestrator.checkpoint_manager import atomic_write_json
from ai.pipelines.orchestrator.logger import Redactor, RunLogger, stderr_console
from ai.pipelines.orchestrator.pipeline import (
    Orchestrator,
    PipelineError,
    RunResult,
    load_run_config,
)
from ai.pipelines.orchestrator.planner import plan_stages
from ai.pipelines.orchestrator.run_directory import (
    RunDirectoryError,
    check_clear_of_inputs,
    check_reusable,
    clear_previous_run,
    run_lock,
)

app = typer.Typer(
    name="dataset-pipeline",
    help="Build clean, deduplicated, safety-checked training datasets for empathetic mental-health "
    "conversational AI. Start with `dataset-pipeline run --config configs/demo.yaml --output runs/demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

WorkersOpt = Annotated[int, typer.Option("--workers", "-w", help="Worker processes (0 = one per core).")]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local (process pool) or ray.")]
RayAddressOpt = Annotated[
    str, typer.Option("--ray-address", help="Ray cluster address (default: RAY_ADDRESS).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only print errors and the final summary.")]


@app.command()
def run(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Pipeline YAML config.")] = None,
    inputs: Annotated[
        list[Path] | None,
        typer.Option(
            "--input",
            "-i",
            help="Input file, directory or glob (OpenAI messages JSONL, ShareGPT, "
            "CSV ...). Repeatable. Ad-hoc mode: no config needed.",
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Run directory to create.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (overrides run.seed).")] = None,
    workers: WorkersOpt = -1,
    executor: ExecutorOpt = "",
    ray_address: RayAddressOpt = "",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing run directory.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Run the pipeline: ingest, preprocess, dedup, safety and quality gates, split, export."""
    if config is None and not inputs:
        raise _usage("give --config FILE, or one or more --input PATH for ad-hoc mode")
    if config is not None and inputs:
        raise _usage("give either --config or --input, not both (list inputs under `sources:` in the config)")
    if config is not None:
        cfg = load_config(config)
        text = config.read_text(encoding="utf-8")
    else:
        data = adhoc_config(inputs or [])
        cfg = parse_config(data, base_dir=Path.cwd(), origin="--input")
        text = yaml.safe_dump(data, sort_keys=False)
    overrides = _overrides(seed, workers, executor, ray_address)
    if overrides:
        data = load_yaml(text, "config") or {}
        data.setdefault("run", {}).update(overrides)
        text = yaml.safe_dump(data, sort_keys=False)
        cfg = parse_config(data, base_dir=cfg.base_dir, origin=str(config or "--input"))
    run_dir = output or Path("runs") / cfg.run.name
    check_clear_of_inputs(run_dir, cfg)
    check_reusable(run_dir, overwrite)
    with run_lock(run_dir):
        # Checked again under the lock: another command may have written here in between.
        check_reusable(run_dir, overwrite)
        clear_previous_run(run_dir)
        _execute(cfg, run_dir, text, quiet)


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="The run directory of an interrupted or finished run.")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="A changed config: the stages whose settings changed, and all after them, are re-run.",
        ),
    ] = None,
    workers: WorkersOpt = -1,
    executor: ExecutorOpt = "",
    ray_address: RayAddressOpt = "",
    quiet: QuietOpt = False,
) -> None:
    """Continue a run where it stopped; finished shards are not redone."""
    cfg, text = load_run_config(run_dir)
    if config is not None:
        text = config.read_text(encoding="utf-8")
        base_dir = load_config(config).base_dir
        cfg = parse_config(load_yaml(text, str(config)), base_dir=base_dir, origin=str(config))
        # Relative source paths now resolve against the new config's directory.
        info = json.loads((run_dir / "run.json").read_text())
        if info.get("base_dir") != cfg.base_dir:
            info["base_dir"] = cfg.base_dir
            atomic_write_json(run_dir / "run.json", info)
    overrides = _overrides(None, workers, executor, ray_address)
    if overrides:
        data = load_yaml(text, "config") or {}
        data.setdefault("run", {}).update(overrides)
        cfg = parse_config(data, base_dir=cfg.base_dir, origin=str(run_dir / "config.yaml"))
    check_clear_of_inputs(run_dir, cfg)
    with run_lock(run_dir):
        _execute(cfg, run_dir, text if config is not None else None, quiet)


@app.command("validate-config")
def validate_config(config: Annotated[Path, typer.Argument(help="Pipeline YAML config to check.")]) -> None:
    """Check a config file and print the stages it would run."""
    cfg = load_config(config)
    steps = plan_stages(cfg)
    for source in cfg.sources:
        for path in source.paths():
            if (
                source.kind != "synthetic"
                and path
                and not any(ch in path for ch in "*?[")
                and not cfg.resolve_path(path).exists()
            ):
                raise ConfigError(
                    f"{config}: sources[{source.name}].path: {cfg.resolve_path(path)} does not exist"
                )
    console = Console()
    # Names come from the user's config: printed as text, never parsed as rich markup.
    console.print(f"[green]OK[/green] {escape(str(config))}")
    sources = ", ".join(f"{s.name} ({s.kind})" for s in cfg.sources if s.enabled) or "none"
    console.print(f"sources: {sources}", markup=False, highlight=False)
    console.print(f"stages:  {' -> '.join(['ingest', *[s.name for s in steps], 'export'])}", markup=False)


def adhoc_config(inputs: list[Path]) -> dict:
    sources = []
    for index, path in enumerate(inputs):
        name = path.stem or f"input{index}"
        if any(s["name"] == name for s in sources):
            name = f"{name}-{index}"
        sources.append({"name": name, "kind": "dataset", "path": str(path.resolve()), "format": "auto"})
    return {"run": {"name": "adhoc"}, "sources": sources}


def _overrides(seed: int | None, workers: int, executor: str, ray_address: str) -> dict:
    overrides: dict = {}
    if seed is not None:
        overrides["seed"] = seed
    if workers >= 0:
        overrides["workers"] = workers
    if executor:
        overrides["executor"] = executor
    if ray_address:
        overrides["ray_address"] = ray_address
    return overrides


def open_catalog(cfg) -> Catalog:
    try:
        return Catalog.open(cfg.catalog.url or None)
    except CatalogError as exc:
        raise PipelineError(
            f"catalog: {exc} (set DATABASE_URL, or catalog.enabled: false to run without it)"
        ) from None


@app.command()
def status(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs to show, newest first.")] = 20,
    database_url: Annotated[
        str,
        typer.Option(
            "--database-url", help="Catalog URL (default: DATABASE_URL, else the local SQLite file)."
        ),
    ] = "",
) -> None:
    """List runs from the catalog: status, when, how long, counts."""
    try:
        show_status(database_url or None, limit=limit, console=_stdout_console())
    except CatalogError as exc:
        raise PipelineError(f"catalog: {exc}") from None


@app.command()
def inspect(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or globs to look at.")],
    format: Annotated[str, typer.Option("--format", "-f", help="auto, or a named format.")] = "auto",
    options: Annotated[
        str, typer.Option("--options", help="Reader options as JSON, e.g. '{\"max_turns\": 8}'.")
    ] = "{}",
) -> None:
    """Show how input files would be read: detected format, records, turns, groups, rejections, tags."""
    from ai.sourcing.datasets.errors import DatasetError
    from ai.sourcing.datasets.inspect import inspect_dataset, print_inspection

    try:
        reports = inspect_dataset(paths, format=format, options=json.loads(options))
    except (ValueError, DatasetError) as exc:
        raise ConfigError(f"inspect: {exc}") from None
    print_inspection(reports)
    if any(r.error for r in reports):
        raise typer.Exit(1)


InputOpt = Annotated[Path, typer.Option("--input", "-i", help="Labelled CSV, TSV, JSON or JSONL file.")]
LabelColOpt = Annotated[str, typer.Option("--label-col", help="Column holding the label.")]
NBootOpt = Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples for the 95% CIs.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Bootstrap seed.")]


@app.command("judge-eval")
def judge_eval_cmd(
    judge: Annotated[str, typer.Argument(help="crisis, content or ears.")],
    input: InputOpt,
    text_col: Annotated[
        str, typer.Option("--text-col", help="The text (crisis), the reply (content, ears).")
    ],
    label_col: LabelColOpt,
    positive: Annotated[
        list[str],
        typer.Option(
            "--positive",
            help="Label value(s) of the positive class, repeatable: crisis, unsafe reply, good reply (EARS).",
        ),
    ],
    context_col: Annotated[
        str | None,
        typer.Option(
            "--context-col",
            help="content: the preceding turns (text or a JSON list); ears: the client's message.",
        ),
    ] = None,
    n_boot: NBootOpt = 1000,
    seed: SeedOpt = 0,
) -> None:
    """Measure a judge on your labelled data: JSON with sensitivity, specificity, precision, F1, PR-AUC and
    ROC-AUC at the judge's shipped threshold, each with a bootstrap 95% CI."""
    from ai.safety.evaluation import Columns, EvaluationInputError, judge_eval

    if not input.exists():
        raise PipelineError(f"--input {input} does not exist")
    if judge == "ears" and context_col is None:
        # A usage error (exit 2), like a missing option.
        raise ConfigError("--context-col: the EARS judge needs the client's message")
    try:
        report = judge_eval(judge, input, Columns(text_col, label_col, context_col), positive, n_boot, seed)
    except EvaluationInputError as exc:
        raise PipelineError(str(exc)) from None
    typer.echo(json.dumps(report, indent=2))


@app.command("crisis-eval")
def crisis_eval_cmd(
    input: InputOpt,
    text_col: Annotated[str, typer.Option("--text-col", help="Column holding the text.")],
    label_col: LabelColOpt,
    positive: Annotated[
        list[str], typer.Option("--positive", help="Label value(s) that mean crisis (repeatable).")
    ],
    n_boot: NBootOpt = 1000,
    seed: SeedOpt = 0,
) -> None:
    """Alias of ``judge-eval crisis``: the crisis detector on labelled data, metrics with bootstrap CIs."""
    judge_eval_cmd("crisis", input, text_col, label_col, positive, None, n_boot, seed)


@app.command("bias-audit")
def bias_audit_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory (its dataset/*.jsonl).")],
    originals: Annotated[
        int, typer.Option("--originals", help="Exported conversations the probe sets start from.")
    ] = 200,
    max_flip_rate: Annotated[
        float, typer.Option("--max-flip-rate", help="Largest share of sets one value may flip a decision in.")
    ] = 0.10,
    min_sets: Annotated[int, typer.Option("--min-sets", help="Values in fewer sets are not judged.")] = 20,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples for the 95% CIs.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the sample and the bootstrap.")] = 42,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSON to write (default DIR/bias_judge_audit.json).")
    ] = None,
) -> None:
    """Audit every judge for bias: counterfactual probe sets from the run's conversations, each judge's score
    gap and decision flips per identity dimension and value (bootstrap CIs); exit 1 when a value flips more
    often than --max-flip-rate. See docs/BIAS.md."""
    from ai.pipelines.orchestrator.bias_audit import (
        AUDIT_FILE,
        AuditOptions,
        audit_run_dir,
        gate_messages,
        summary_rows,
    )

    if not (run_dir / "dataset").is_dir():
        raise PipelineError(f"{run_dir} is not a finished run: it has no dataset/ directory")
    options = AuditOptions(
        originals, bootstrap=n_boot, seed=seed, max_flip_rate=max_flip_rate, min_sets=min_sets
    )
    audit = audit_run_dir(run_dir, options, output=output)
    console = _stdout_console()
    table = Table(
        title=f"Judge bias audit: {audit['sets']:,} probe sets, {audit['variants']:,} variants of "
        f"{audit['originals']:,} conversations ({audit['seconds']} s)"
    )
    for column in ("judge", "dimension", "sets", "mean gap [95% CI]", "max gap", "flip rate [95% CI]"):
        table.add_column(column)
    table.add_column("worst value")
    table.add_column("gate")
    for row in summary_rows(audit):
        table.add_row(*row)
    console.print(table)
    for message in gate_messages(audit):
        console.print(f"FAIL {message}", markup=False, highlight=False)
    console.print(f"written: {output or run_dir / AUDIT_FILE}", markup=False, highlight=False)
    if not audit["gate"]["passed"]:
        raise typer.Exit(1)


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """(Re)build DIR/report.html: one self-contained page with the run's numbers, charts and examples."""
    from ai.pipelines.report import ReportError, write_report

    try:
        typer.echo(str(write_report(run_dir)))
    except ReportError as exc:
        raise PipelineError(str(exc)) from None


@app.command()
def package(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    dest: Annotated[
        Path | None, typer.Option("--dest", help="Where to build it (default RUN_DIR/package/).")
    ] = None,
    include_quarantine: Annotated[
        bool,
        typer.Option(
            "--include-quarantine", help="Also ship the quarantine (holds refused, sensitive text)."
        ),
    ] = False,
) -> None:
    """Build a versioned, checksummed ready package (splits, manifest, dataset card, reports)."""
    from ai.infrastructure.production.export_to_ready_packages import PackageError, build_ready_package

    try:
        path = build_ready_package(run_dir, dest, include_quarantine=include_quarantine)
    except PackageError as exc:
        raise PipelineError(str(exc)) from None
    typer.echo(str(path))


PrefixOpt = Annotated[
    str | None,
    typer.Option("--prefix", help="Key prefix in the bucket (default OVH_S3_PREFIX or 'datasets')."),
]


def _s3(command: Callable[[], object]) -> None:
    """Print what an S3 command returns; its known failures are one red line and exit code 1."""
    from ai.infrastructure.s3.s3_dataset_loader import COMMAND_ERRORS, report_command_error

    console = _stdout_console()
    try:
        console.print(command())
    except COMMAND_ERRORS as exc:
        raise typer.Exit(report_command_error(exc, console)) from None


@app.command()
def upload(
    run_dir: Annotated[
        Path, typer.Argument(help="A finished run directory (its manifest lists every file).")
    ],
    prefix: PrefixOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a different package with this id.")
    ] = False,
) -> None:
    """Upload a run's package to S3 (OVH_S3_*), verifying every file's sha256; resumable."""
    from ai.infrastructure.s3.s3_dataset_loader import upload_command

    _s3(lambda: upload_command(run_dir, prefix, overwrite=overwrite))


@app.command()
def download(
    run_id: Annotated[
        str, typer.Argument(help="The run id to fetch (see `dataset-pipeline list-packages`).")
    ],
    dest: Annotated[Path, typer.Argument(help="Directory to download into.")],
    prefix: PrefixOpt = None,
) -> None:
    """Download a package from S3 and verify every file against its manifest."""
    from ai.infrastructure.s3.s3_dataset_loader import download_command

    _s3(lambda: download_command(run_id, dest, prefix))


@app.command("list-packages")
def list_packages(prefix: PrefixOpt = None) -> None:
    """List the dataset packages (versions) stored in S3, complete or not."""
    from ai.infrastructure.s3.s3_dataset_loader import list_command

    _s3(lambda: list_command(prefix))


@app.command("delete-package")
def delete_package(
    run_id: Annotated[str, typer.Argument(help="The run id whose package to delete.")],
    prefix: PrefixOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a package from S3 (recorded in the catalog's audit log)."""
    if not yes and not typer.confirm(f"Delete package {run_id} from S3?"):
        raise typer.Exit(1)
    from ai.infrastructure.s3.s3_dataset_loader import delete_command

    _s3(lambda: delete_command(run_id, prefix))


source_app = typer.Typer(
    help="Fetch knowledge passages from one kind of source into a JSONL file.", no_args_is_help=True
)
app.add_typer(source_app, name="source")


@source_app.command("academic")
def source_academic_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Passages JSONL to write.")],
    query: Annotated[
        str | None, typer.Option("--query", help="Search query (online: PubMed E-utilities).")
    ] = None,
    max_results: Annotated[int, typer.Option("--max", help="Maximum number of articles.")] = 20,
    from_xml: Annotated[
        Path | None, typer.Option("--from-xml", help="Offline: a PubMed/PMC XML file or directory.")
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help="pubmed or semantic_scholar.")] = "pubmed",
    full_text: Annotated[
        bool, typer.Option("--full-text", help="Also fetch PMC full text sections.")
    ] = False,
    pubmed_url: Annotated[str, typer.Option("--pubmed-url", help="E-utilities base URL.")] = "",
    s2_url: Annotated[str, typer.Option("--s2-url", help="Semantic Scholar API base URL.")] = "",
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the response cache.")
    ] = False,
) -> None:
    """Search PubMed / Semantic Scholar (or parse local XML) and write passages with provenance."""
    from ai.sourcing.academic.academic_sourcing import source_academic

    urls = {key: url for key, url in (("pubmed_url", pubmed_url), ("s2_url", s2_url)) if url}
    source_academic(  # type: ignore[arg-type]
        query, max_results, out, from_xml, backend=backend, full_text=full_text, cache=not no_cache, **urls
    )


@source_app.command("books")
def source_books_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="PDF/EPUB files or directories.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Passages JSONL to write.")],
    quarantine: Annotated[
        Path | None, typer.Option("--quarantine", help="Where refused files go (JSONL).")
    ] = None,
) -> None:
    """Extract books (PDF, EPUB) into chunked passages with page/chapter provenance."""
    from ai.sourcing.books import extract_books_to_jsonl
    from ai.sourcing.extraction_output import print_summary

    print_summary(extract_books_to_jsonl(inputs, out, quarantine_out=quarantine))


@source_app.command("youtube")
def source_youtube_cmd(
    inputs: Annotated[
        list[Path], typer.Argument(help="Subtitle files (VTT, SRT, SBV, JSON3, text) or directories.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Passages JSONL to write.")],
    conversations: Annotated[
        Path | None,
        typer.Option("--conversations", help="Also write speaker-labelled transcripts as conversations."),
    ] = None,
    quarantine: Annotated[
        Path | None, typer.Option("--quarantine", help="Where refused files go (JSONL).")
    ] = None,
) -> None:
    """Clean transcripts (auto-caption repair) into timestamped passages."""
    from ai.sourcing.extraction_output import print_summary
    from ai.sourcing.youtube import extract_transcripts_to_jsonl

    print_summary(
        extract_transcripts_to_jsonl(inputs, out, conversations_out=conversations, quarantine_out=quarantine)
    )


@app.command("journal-trigger")
def journal_trigger_cmd(
    conversations: Annotated[
        Path, typer.Argument(help="Conversations JSONL (canonical or OpenAI messages).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Passages JSONL to write.")],
    passages: Annotated[
        Path | None, typer.Option("--passages", help="Passages already at hand (they count as grounding).")
    ] = None,
    taxonomy: Annotated[
        str, typer.Option("--taxonomy", help="Taxonomy YAML (default: the bundled one).")
    ] = "",
    min_passages: Annotated[
        int, typer.Option("--min-passages", help="Topics with fewer grounding passages are searched.")
    ] = 20,
    max_queries: Annotated[int, typer.Option("--max-queries", help="Budget of searches.")] = 8,
    max_results: Annotated[int, typer.Option("--max-results", help="Results per search.")] = 20,
    backend: Annotated[str, typer.Option("--backend", help="pubmed or semantic_scholar.")] = "pubmed",
    pubmed_url: Annotated[str, typer.Option("--pubmed-url", help="E-utilities base URL.")] = "",
    s2_url: Annotated[str, typer.Option("--s2-url", help="Semantic Scholar API base URL.")] = "",
) -> None:
    """Find under-grounded therapeutic topics in conversations and fetch papers for them, within budget."""
    import msgspec

    from ai.journal_dataset_research.trigger import journal_trigger_cli
    from ai.sourcing.academic.topics import TriggerOptions

    if not conversations.is_file():
        raise ConfigError(f"{conversations}: no such conversations file")
    academic = {key: url for key, url in (("pubmed_url", pubmed_url), ("s2_url", s2_url)) if url}
    fields = {
        "taxonomy": taxonomy,
        "min_passages": min_passages,
        "max_queries": max_queries,
        "max_results_per_query": max_results,
        "backend": backend,
        "academic": academic,
    }
    try:
        options = msgspec.convert(fields, TriggerOptions)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"journal-trigger: {exc}") from None
    journal_trigger_cli(conversations, out, existing_passages=passages, options=options)


def make_executor(cfg) -> object:
    if cfg.run.executor == "ray":
        try:
            from ai.infrastructure.distributed.ray_executor import RayExecutor
        except ImportError as exc:
            raise PipelineError(
                f"the Ray executor needs the 'distributed' extra: uv sync --extra distributed ({exc})"
            ) from None
        return RayExecutor(address=cfg.run.ray_address or None, workers=cfg.run.workers)
    preload = ["ai.pipelines.orchestrator.shard_runner"]
    return LocalExecutor(cfg.run.workers, preload=preload)


def _execute(cfg, run_dir: Path, config_text: str | None, quiet: bool) -> RunResult:
    log = RunLogger(run_dir / "logs" / "run.jsonl", console=stderr_console(), quiet=quiet)
    catalog = open_catalog(cfg) if cfg.catalog.enabled else None
    executor = make_executor(cfg)
    try:
        orchestrator = Orchestrator(cfg, run_dir, executor, log, config_text=config_text, catalog=catalog)
        result = orchestrator.run()
    except KeyboardInterrupt:
        log.error("run_interrupted")
        # Typer would turn a KeyboardInterrupt into a silent exit 130; this one carries the message.
        raise RunInterrupted(run_dir) from None
    except BaseException as exc:
        log.error("run_failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        executor.close()
        log.close()
        if catalog is not None:
            catalog.close()
    print_summary(result, Console())
    return result


class RunInterrupted(Exception):
    """Ctrl-C during a run: finished shards are durable, so the run can be resumed."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"interrupted; continue with `dataset-pipeline resume {run_dir}`")


def print_summary(result: RunResult, console: Console) -> None:
    table = Table(title=f"run {result.run_id}", title_justify="left")
    for column in ("stage", "in", "kept", "rejected", "top reasons", "time (s)", "records/s"):
        table.add_column(column, justify="left" if column in ("stage", "top reasons") else "right")
    for t in result.totals:
        reasons = ", ".join(f"{r} {n}" for r, n in t.rejected.most_common(3))
        rate = f"{t.n_in / t.seconds:,.0f}" if t.seconds > 0 else "-"
        resumed = " (resumed)" if t.resumed_shards and t.seconds == 0 else ""
        table.add_row(
            escape(t.name + resumed),
            f"{t.n_in:,}",
            f"{t.kept:,}",
            f"{t.n_rejected:,}",
            escape(reasons),
            f"{t.seconds:.2f}",
            rate,
        )
    console.print(table)
    counts = result.manifest["counts"]
    splits = ", ".join(f"{k} {v:,}" for k, v in counts["splits"].items())
    categories = ", ".join(f"{k} {v:,}" for k, v in counts["categories"].items())
    console.print(
        f"input {counts['input']:,} = exported {counts['exported']:,} + quarantined {counts['quarantined']:,}  |  "
        f"splits: {splits}  |  categories: {categories}  |  wall {result.wall_seconds:.1f}s",
        markup=False,
    )
    console.print(
        f"dataset: {result.run_dir / 'dataset'}   manifest: {result.run_dir / 'manifest.json'}", markup=False
    )


def _usage(message: str) -> typer.BadParameter:
    return typer.BadParameter(message)


def main(argv: list[str] | None = None) -> None:
    """Console entry: user-facing errors become one clear, redacted line and a non-zero exit."""
    redactor = Redactor()
    try:
        # Without standalone mode click returns a command's exit code instead of exiting with it.
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except (ConfigError, PipelineError, RunDirectoryError) as exc:
        _print_error(redactor.text(str(exc)))
        sys.exit(2 if isinstance(exc, ConfigError) else 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except RunInterrupted as exc:
        stderr_console().print(str(exc), markup=False, highlight=False, soft_wrap=True)
        sys.exit(130)
    except (typer.Abort, KeyboardInterrupt):
        stderr_console().print("interrupted", markup=False)
        sys.exit(130)
    except Exception as exc:
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        _print_error(f"{type(exc).__name__}: {redactor.text(str(exc))}")
        sys.exit(1)


def _stdout_console() -> Console:
    """Piped or captured output is not wrapped to 80 columns: run ids must stay whole for scripts."""
    return Console() if sys.stdout.isatty() else Console(width=200)


def _print_error(message: str) -> None:
    console = stderr_console()
    console.print("error:", style="bold red", end=" ")
    console.print(message, markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    main()
