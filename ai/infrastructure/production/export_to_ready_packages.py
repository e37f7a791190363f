"""Ready packages: a run's dataset as a versioned, documented, checksummed directory.

``write_dataset_card(run_dir, manifest, config_summary)`` writes ``run_dir/README.md``: a Hugging Face
dataset card (YAML header with licences, task categories, size category, configs and splits) and a
body with counts, the quarantine summary, sources with licences and how the data was made.

``build_ready_package(run_dir, dest=None)`` copies the splits, exported formats, stage reports and the
card into ``run_dir/package/<name>-v<code version>-<content digest>/`` (or ``dest``) with a
``manifest.json`` holding the sha256 and size of every file. Quarantine files are not packaged by
default: they hold the records a gate refused (crisis texts, unscrubbed personal data) and are for
reviewers of the run, not for training.

The command is ``dataset-pipeline package RUN_DIR [--dest DIR]``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import yaml

from ai.core.atomic import atomic_directory, atomic_write_json, atomic_write_text
from ai.core.licences import COMMERCIAL, NON_COMMERCIAL, UNKNOWN, USES, hf_license, licence_use
from ai.core.paths import ManifestNameError, check_manifest_name, is_inside, overlaps

CARD_FILE = "README.md"
MANIFEST_FILE = "manifest.json"
QUARANTINE_DIR = "quarantine"
SPLIT_ORDER = ("train", "validation", "test", "unsplit")
# Stage reports and the run report sit at the top of a run directory.
REPORT_PATTERNS = ("*_report.json", "report.html")

_SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
_SECRET_KEY = re.compile(r"secret|password|passwd|token|api[_-]?key|access[_-]?key|credential", re.I)


class PackageError(RuntimeError):
    """A ready package cannot be built; the message says what is missing or wrong."""


# -- dataset card ------------------------------------------------------------------------------------------


def write_dataset_card(run_dir: Path, manifest: dict[str, Any], config_summary: dict[str, Any]) -> Path:
    """Write ``run_dir/README.md`` from the run's manifest and a summary of its config; returns the path.

    ``config_summary`` keys used when present: ``name``/``pretty_name``, ``description``, ``languages``
    (else read from the exported splits), ``executor``, ``workers``, ``split`` (ratios), ``formats``;
    the whole summary is also shown in the card, with secret-looking values redacted.
    """
    run_dir = Path(run_dir)
    languages = config_summary.get("languages") or dataset_languages(run_dir, manifest)
    path = run_dir / CARD_FILE
    atomic_write_text(path, render_dataset_card(manifest, config_summary, list(languages)))
    return path


def render_dataset_card(
    manifest: dict[str, Any], config_summary: dict[str, Any], languages: list[str]
) -> str:
    header = yaml.safe_dump(
        card_metadata(manifest, config_summary, languages), sort_keys=False, allow_unicode=True
    )
    sections = [
        _title(manifest, config_summary),
        _summary_section(manifest),
        _splits_section(manifest),
        _quarantine_section(manifest),
        _dialogues_section(manifest),
        _sources_section(manifest),
        _licence_section(manifest),
        _provenance_section(manifest, config_summary),
        _usage_section(manifest),
        _limitations_section(manifest),
    ]
    return f"---\n{header}---\n\n" + "\n\n".join(s.strip("\n") for s in sections if s.strip()) + "\n"


def card_metadata(
    manifest: dict[str, Any], config_summary: dict[str, Any], languages: list[str]
) -> dict[str, Any]:
    """The YAML header the Hugging Face Hub reads."""
    licenses = sorted({hf_license(s.get("license", "")) for s in manifest.get("sources", [])}) or ["unknown"]
    meta: dict[str, Any] = {
        "pretty_name": _pretty_name(manifest, config_summary),
        "license": licenses[0] if len(licenses) == 1 else licenses,
    }
    if "other" in licenses:
        # The per-source licences are in the card's "Sources and licences" table.
        meta["license_name"] = "per-source-licences"
        meta["license_link"] = "README.md"
    if languages:
        meta["language"] = sorted(languages)
    meta["task_categories"] = ["text-generation"]
    meta["task_ids"] = ["dialogue-modeling"]
    meta["tags"] = ["mental-health", "empathy", "counseling", "conversational"]
    meta["size_categories"] = [size_category(int(manifest.get("counts", {}).get("exported", 0)))]
    configs = dataset_configs(manifest)
    if configs:
        meta["configs"] = configs
    return meta


def size_category(n: int) -> str:
    for limit, name in _SIZE_CATEGORIES:
        if n < limit:
            return name
    return "n>1B"


def dataset_configs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Hub ``configs``: the OpenAI-messages JSONL splits, plus the Parquet export when there is one."""
    files = manifest.get("files", {})
    splits = _split_counts(manifest)
    configs = []
    jsonl = [
        {"split": s, "path": f"dataset/{s}.jsonl"} for s in _ordered(splits) if f"dataset/{s}.jsonl" in files
    ]
    jsonl = [entry for entry in jsonl if splits.get(entry["split"], 0) > 0]
    if jsonl:
        configs.append({"config_name": "default", "data_files": jsonl, "default": True})
    parquet = sorted(
        (
            {"split": Path(f).stem, "path": f}
            for f in files
            if Path(f).parent.name == "parquet" and f.endswith(".parquet")
        ),
        key=lambda entry: _split_rank(entry["split"]),
    )
    if parquet:
        configs.append({"config_name": "parquet", "data_files": parquet})
    return configs


def dataset_languages(run_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """Languages of the exported records, read from the split files one record at a time."""
    decoder = msgspec.json.Decoder(_LanguageOnly)
    found: set[str] = set()
    for rel in manifest.get("files", {}):
        if rel.startswith("dataset/") and rel.endswith(".jsonl") and (run_dir / rel).is_file():
            with open(run_dir / rel, "rb") as handle:
                for line in handle:
                    if line.strip():
                        language = decoder.decode(line).metadata.language
                        if language:
                            found.add(language)
    return sorted(found)


class _Metadata(msgspec.Struct):
    language: str = ""


class _LanguageOnly(msgspec.Struct):
    metadata: _Metadata = msgspec.field(default_factory=_Metadata)


def _pretty_name(manifest: dict[str, Any], config_summary: dict[str, Any]) -> str:
    name = (
        config_summary.get("pretty_name") or config_summary.get("name") or manifest.get("run_id", "dataset")
    )
    return str(name)


def _title(manifest: dict[str, Any], config_summary: dict[str, Any]) -> str:
    description = config_summary.get("description") or (
        "Conversations for training empathetic mental-health conversational AI: cleaned, deduplicated, "
        "checked for safety and therapeutic quality, and split 70/15/15 without leakage between splits."
    )
    return f"# {_pretty_name(manifest, config_summary)}\n\n{description}"


def _summary_section(manifest: dict[str, Any]) -> str:
    counts = manifest.get("counts", {})
    rows = [
        ("run", manifest.get("run_id", "")),
        ("pipeline version", manifest.get("version", "")),
        ("config hash", manifest.get("config_hash", "")),
        ("seed", manifest.get("seed", "")),
        ("input records", counts.get("input", 0)),
        ("exported conversations", counts.get("exported", 0)),
        ("quarantined records", counts.get("quarantined", 0)),
        ("knowledge passages", counts.get("passages", 0)),
    ]
    return "## Summary\n\n" + _table(("", "value"), rows)


def _splits_section(manifest: dict[str, Any]) -> str:
    counts = manifest.get("counts", {})
    splits = _split_counts(manifest)
    categories = sorted(counts.get("categories", {}))
    per_split = counts.get("split_categories", {})
    rows = [
        (split, splits[split], *(per_split.get(split, {}).get(c, 0) for c in categories))
        for split in _ordered(splits)
    ]
    rows.append(("total", sum(splits.values()), *(counts.get("categories", {})[c] for c in categories)))
    return "## Splits and categories\n\n" + _table(("split", "conversations", *categories), rows)


def _quarantine_section(manifest: dict[str, Any]) -> str:
    counts = manifest.get("counts", {})
    rejected = counts.get("rejected", {})
    total = counts.get("quarantined", 0)
    text = (
        f"## Quarantine\n\n{total} input records were not exported. Each one is kept with its stage, a "
        "machine-readable reason and a sentence in `quarantine/<stage>.jsonl` of the run directory "
        "(not in the ready package: it holds the texts the gates refused)."
    )
    if not rejected:
        return text
    rows = []
    for stage in _stage_order(manifest, rejected):
        reasons = Counter(rejected[stage])
        top = ", ".join(
            f"{reason} ({n})" for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        rows.append((stage, sum(reasons.values()), top))
    return text + "\n\n" + _table(("stage", "records", "reasons"), rows)


def dialogue_rows(manifest: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(source, exported records, distinct source dialogues) for every source that exported records."""
    dialogues = manifest.get("counts", {}).get("distinct_dialogues", {})
    records = dialogues.get("records_by_source", {})
    distinct = dialogues.get("by_source", {})
    return [(name, int(records[name]), int(distinct.get(name, 0))) for name in sorted(records)]


def licence_rows(manifest: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(licence use, exported records, distinct dialogues) for each use present, commercial first."""
    dialogues = manifest.get("counts", {}).get("distinct_dialogues", {})
    records = dialogues.get("records_by_licence_use", {})
    distinct = dialogues.get("by_licence_use", {})
    return [(use, int(records[use]), int(distinct.get(use, 0))) for use in USES if use in records]


def licence_filter_effect(manifest: dict[str, Any]) -> str:
    """What keeping only commercially usable sources would remove, in one sentence."""
    rows = licence_rows(manifest)
    removed = [(use, n, d) for use, n, d in rows if use != COMMERCIAL]
    if not removed:
        return "Every exported record comes from a source whose licence allows commercial use."
    total = sum(n for _, n, _ in rows)
    n_removed, d_removed = sum(n for _, n, _ in removed), sum(d for _, _, d in removed)
    return (
        f"Keeping only sources whose licence allows commercial use (`stages: {{licence: {{enabled: true, allow: "
        f"[commercial]}}}}`) would remove {n_removed:,} of {total:,} records ({n_removed / total:.0%}; "
        f"{d_removed:,} distinct dialogues): " + ", ".join(f"{n:,} {use}" for use, n, _ in removed) + "."
    )


def _dialogues_section(manifest: dict[str, Any]) -> str:
    dialogues = manifest.get("counts", {}).get("distinct_dialogues", {})
    if not dialogues:
        return ""
    text = (
        "## Records and distinct dialogues\n\nA record is one training sample; long dialogs are cut into "
        "overlapping windows, each its own record. `metadata.source_dialogue_id` names the source dialog "
        "a record came from (windows of one dialog share it), and the distinct dialogues below count "
        f"those ids: {int(dialogues.get('total', 0)):,} in all."
    )
    by_category = [
        (c, manifest["counts"].get("categories", {}).get(c, 0), n)
        for c, n in dialogues.get("by_category", {}).items()
    ]
    return "\n\n".join(
        [
            text,
            _table(("category", "records", "distinct dialogues"), by_category),
            _table(("source", "records", "distinct dialogues"), dialogue_rows(manifest)),
        ]
    )


def _licence_section(manifest: dict[str, Any]) -> str:
    rows = licence_rows(manifest)
    if not rows:
        return ""
    return (
        "## Licence mix\n\n"
        + _table(("licence use", "records", "distinct dialogues"), rows)
        + "\n\n"
        + licence_filter_effect(manifest)
    )


def _sources_section(manifest: dict[str, Any]) -> str:
    rows = [
        (
            s.get("name", ""),
            s.get("kind", ""),
            s.get("category", ""),
            s.get("license", "") or "not stated",
            hf_license(s.get("license", "")),
            _use_label(licence_use(s.get("license", ""))),
        )
        for s in manifest.get("sources", [])
    ]
    text = (
        "## Sources and licences\n\nEvery exported record names its source, licence and locator (file and "
        "line, page, PMID/DOI, video and time) in `metadata.source`. The dataset is only as open as its most "
        "restrictive source: check each licence below before use or redistribution."
    )
    return (
        text
        + "\n\n"
        + _table(("source", "kind", "category", "licence (as given)", "licence id", "use"), rows)
    )


def _use_label(use: str) -> str:
    return {NON_COMMERCIAL: "**non-commercial**", UNKNOWN: "unknown: ask before use"}.get(use, use)


def _provenance_section(manifest: dict[str, Any], config_summary: dict[str, Any]) -> str:
    stages = [
        (s.get("name", ""), s.get("version", ""), s.get("hash", "")) for s in manifest.get("stages", [])
    ]
    by_stage = {row["stage"]: row for row in manifest.get("counts", {}).get("stages", [])}
    rows = [
        (name, version, digest, by_stage.get(name, {}).get("in", ""), by_stage.get(name, {}).get("kept", ""))
        for name, version, digest in stages
    ]
    text = (
        "## How it was made\n\nThe pipeline ran these stages in order over sharded data; each record's "
        "`metadata.lineage` lists the stages (name, version, config hash) that touched it. The same inputs, "
        "config and seed give byte-identical files."
    )
    parts = [text, _table(("stage", "version", "config hash", "in", "kept"), rows)]
    reports = sorted(f for f in manifest.get("files", {}) if f.endswith("_report.json"))
    if reports:
        parts.append(
            "Stage reports (split balance and leakage checks, gate results): "
            + ", ".join(f"`{r}`" for r in reports)
        )
    summary = redact(config_summary)
    if summary:
        parts.append(
            "Configuration summary:\n\n```yaml\n" + yaml.safe_dump(summary, sort_keys=True).strip() + "\n```"
        )
    return "\n\n".join(parts)


def _usage_section(manifest: dict[str, Any]) -> str:
    configs = dataset_configs(manifest)
    if not configs:
        return "## Use\n\nThis run exported no conversations."
    data_files = {entry["split"]: entry["path"] for entry in configs[0]["data_files"]}
    return (
        '## Use\n\nEach line of `dataset/<split>.jsonl` is `{"id", "messages": [{"role", "content"}], '
        '"metadata"}` with roles `system`, `user` (the client) and `assistant` (the therapist).\n\n'
        "```python\nfrom datasets import load_dataset\n\n"
        f'ds = load_dataset("json", data_files={json.dumps(data_files)})\n```'
    )


def _limitations_section(manifest: dict[str, Any]) -> str:
    categories = manifest.get("counts", {}).get("categories", {})
    lines = [
        "## Intended use and limitations",
        "",
        "- For training and evaluating supportive, empathetic conversational models. It is not a substitute "
        "for professional care, and models trained on it must not be presented as therapists.",
        "- Conversations touch on distress, self-harm and crisis. Crisis-flagged records were handled by the "
        "safety stage; the quarantine of the run shows what was removed and why.",
        "- Personal data was scrubbed automatically (names, contacts, addresses); automatic scrubbing can miss "
        "cases, so report any that remain.",
    ]
    if "bias" in categories:
        lines.append(
            "- The `bias` category holds preference pairs (an unbiased reply chosen over a stereotyping one) "
            "for bias mitigation; its rejected replies are biased on purpose."
        )
    return "\n".join(lines)


def redact(value: Any, key: str = "") -> Any:
    """A copy with values under secret-looking keys replaced, so a card never carries a credential."""
    if key and _SECRET_KEY.search(key) and not isinstance(value, dict | list):
        return "***"
    if isinstance(value, dict):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _split_counts(manifest: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in manifest.get("counts", {}).get("splits", {}).items()}


def _split_rank(split: str) -> tuple[int, str]:
    return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER), split)


def _ordered(splits: Iterable[str]) -> list[str]:
    return sorted(splits, key=_split_rank)


def _stage_order(manifest: dict[str, Any], rejected: dict[str, Any]) -> list[str]:
    order = ["ingest", *[s.get("name", "") for s in manifest.get("stages", [])]]
    return [s for s in order if s in rejected] + sorted(s for s in rejected if s not in order)


def _table(columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# -- ready package -----------------------------------------------------------------------------------------


def build_ready_package(run_dir: Path, dest: Path | None = None, include_quarantine: bool = False) -> Path:
    """Build the versioned package of a finished run and return its directory.

    Every file listed in the run manifest is copied (quarantine only when asked) and checked against
    the manifest's sha256 as it is copied, so a corrupted run directory is never packaged; stage
    reports and the card are added. The package is built beside its destination and swapped in whole.
    """
    run_dir = Path(run_dir)
    manifest = read_run_manifest(run_dir)
    name = package_name(run_dir)
    version = package_version(manifest)
    target = Path(dest) if dest is not None else run_dir / "package" / f"{name}-v{version}"
    check_package_target(run_dir, target, manifest)
    files = _files_to_package(run_dir, manifest, include_quarantine)
    with atomic_directory(target) as building:
        entries = {
            rel: _copy_checked(run_dir / rel, building / rel, expected) for rel, expected in files.items()
        }
        card = building / CARD_FILE
        if (run_dir / CARD_FILE).is_file():
            entries[CARD_FILE] = _copy_checked(run_dir / CARD_FILE, card, None)
        else:
            atomic_write_text(
                card, render_dataset_card(manifest, {"name": name}, dataset_languages(run_dir, manifest))
            )
            entries[CARD_FILE] = file_entry(card)
        atomic_write_json(building / MANIFEST_FILE, package_manifest(manifest, name, version, entries))
    return target


def check_package_target(run_dir: Path, target: Path, manifest: dict[str, Any]) -> None:
    """The package replaces ``target`` whole, so it must be new, empty, or an earlier package of this run.

    Anything else (the run itself, a directory holding it, inside its outputs, a user's folder) would
    be deleted by the swap.
    """
    package_root = run_dir / "package"
    if overlaps(target, run_dir) and not (
        is_inside(target, package_root) and not is_inside(package_root, target)
    ):
        raise PackageError(
            f"--dest {target} overlaps the run directory {run_dir}; choose a directory outside it "
            f"(or leave --dest out to build under {package_root})"
        )
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise PackageError(f"--dest {target} exists and is not a directory; choose a new directory")
    if not any(target.iterdir()) or _is_package_of(target, manifest):
        return
    raise PackageError(
        f"--dest {target} is not empty and is not an earlier package of run {manifest.get('run_id', '?')}; "
        "choose a new or empty directory (nothing was changed)"
    )


def _is_package_of(directory: Path, manifest: dict[str, Any]) -> bool:
    try:
        existing = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(existing, dict)
        and "name" in existing
        and "code_version" in existing
        and existing.get("run_id") == manifest.get("run_id")
    )


def read_run_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PackageError(
            f"{path} not found: {run_dir} is not a finished run (run or resume it with dataset-pipeline first)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(f"{path} is not valid JSON ({exc}); resume the run to rewrite it") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise PackageError(f"{path} has no 'files' table; resume the run to rewrite it")
    return manifest


def package_name(run_dir: Path) -> str:
    """The run's configured name (``run.name`` in its config.yaml), made safe for a directory name."""
    name = ""
    config = run_dir / "config.yaml"
    if config.is_file():
        try:
            data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            data = {}
        run = data.get("run") if isinstance(data, dict) else None
        name = str(run.get("name", "")) if isinstance(run, dict) else ""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return name or "dataset"


def package_version(manifest: dict[str, Any]) -> str:
    """``<code version>-<content digest>``: the same data from the same code always gets the same name."""
    digest = hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()[:8]
    return f"{manifest.get('version', '0.0.0')}-{digest}"


def package_manifest(
    manifest: dict[str, Any], name: str, version: str, entries: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "run_id": manifest.get("run_id", ""),
        "code_version": manifest.get("version", ""),
        "config_hash": manifest.get("config_hash", ""),
        "seed": manifest.get("seed"),
        "counts": manifest.get("counts", {}),
        "stages": manifest.get("stages", []),
        "sources": [
            {**source, "license_id": hf_license(source.get("license", ""))}
            for source in manifest.get("sources", [])
        ],
        "licenses": sorted({hf_license(s.get("license", "")) for s in manifest.get("sources", [])}),
        "files": dict(sorted(entries.items())),
    }


def _files_to_package(
    run_dir: Path, manifest: dict[str, Any], include_quarantine: bool
) -> dict[str, str | None]:
    files: dict[str, str | None] = {}
    for rel, digest in manifest["files"].items():
        if rel in (CARD_FILE, MANIFEST_FILE) or (
            rel.startswith(QUARANTINE_DIR + "/") and not include_quarantine
        ):
            continue
        try:
            check_manifest_name(rel)
        except ManifestNameError as exc:
            raise PackageError(f"{run_dir / MANIFEST_FILE}: {exc}") from None
        files[rel] = digest if isinstance(digest, str) else None
    for pattern in REPORT_PATTERNS:
        for path in sorted(run_dir.glob(pattern)):
            files.setdefault(path.name, None)
    return files


def _copy_checked(source: Path, target: Path, expected: str | None) -> dict[str, Any]:
    if not source.is_file():
        raise PackageError(
            f"{source} is listed in the run manifest but missing; resume the run to rewrite it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as reader, open(target, "wb") as writer:
        for block in iter(lambda: reader.read(1 << 20), b""):
            digest.update(block)
            writer.write(block)
            size += len(block)
    if expected is not None and digest.hexdigest() != expected:
        raise PackageError(
            f"{source} does not match the run manifest (sha256 {digest.hexdigest()[:12]}..., manifest "
            f"{expected[:12]}...): the file changed after the run; resume the run to rewrite it"
        )
    return {"sha256": digest.hexdigest(), "bytes": size}


def file_entry(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as reader:
        for block in iter(lambda: reader.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"sha256": digest.hexdigest(), "bytes": size}
