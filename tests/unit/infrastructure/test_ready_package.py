"""Dataset card and ready package: Hub-readable header, honest counts and licences, checked copies."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml
from huggingface_hub import DatasetCard
from pipeline_helpers import cli

from ai.core.records import Provenance, Turn, encode, make_conversation, to_openai
from ai.infrastructure.production.export_to_ready_packages import (
    PackageError,
    build_ready_package,
    card_metadata,
    hf_license,
    package_name,
    redact,
    size_category,
    write_dataset_card,
)

SOURCES = [
    {
        "name": "counsel-chat",
        "kind": "dataset",
        "license": "MIT (nbertagnolli/counsel-chat; cite)",
        "category": "therapeutic",
    },
    {
        "name": "esconv",
        "kind": "dataset",
        "license": "CC BY-NC 4.0 (thu-coai; research only)",
        "category": "therapeutic",
    },
    {"name": "pairs", "kind": "synthetic", "license": "CC-BY-4.0", "category": "bias"},
]
SPLIT_SIZES = {"train": 7, "validation": 2, "test": 2}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_run(root: Path, sources: list[dict[str, Any]] | None = None) -> tuple[Path, dict[str, Any]]:
    """A finished run directory shaped like the orchestrator's: splits, quarantine, reports, manifest."""
    run = root / "run"
    (run / "dataset").mkdir(parents=True)
    categories: dict[str, dict[str, int]] = {}
    n = 0
    for split, size in SPLIT_SIZES.items():
        lines = []
        for _ in range(size):
            category = "bias" if n % 4 == 3 else "therapeutic"
            language = "de" if n == 5 else "en"
            record = make_conversation(
                [Turn("client", f"I feel stuck {n}."), Turn("therapist", f"What feels most stuck, {n}?")],
                Provenance("dataset", "counsel-chat", license="MIT"),
                category=category,
                language=language,
                split=split,
            )
            lines.append(encode(to_openai(record)))
            categories.setdefault(split, {}).setdefault(category, 0)
            categories[split][category] += 1
            n += 1
        (run / "dataset" / f"{split}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (run / "quarantine").mkdir()
    (run / "quarantine" / "ingest.jsonl").write_text(
        '{"reason":"malformed_json"}\n{"reason":"malformed_json"}\n'
    )
    (run / "quarantine" / "crisis.jsonl").write_text('{"reason":"crisis_detected"}\n')
    (run / "split_report.json").write_text('{"passed": true}\n')
    (run / "report.html").write_text("<html>report</html>\n")
    (run / "config.yaml").write_text("run:\n  name: Counsel Demo\n  seed: 3\n")
    files = {
        p.relative_to(run).as_posix(): sha256(p)
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.name not in ("config.yaml", "report.html")
    }
    total = {c: sum(s.get(c, 0) for s in categories.values()) for c in ("bias", "therapeutic")}
    manifest = {
        "run_id": "run-20260101-000000-abcdef12",
        "version": "0.1.0",
        "config_hash": "abcdef1234567890",
        "seed": 3,
        "stages": [
            {"name": "normalize", "version": "1", "hash": "h1"},
            {"name": "crisis", "version": "2", "hash": "h2"},
        ],
        "sources": sources if sources is not None else SOURCES,
        "counts": {
            "input": n + 3,
            "exported": n,
            "quarantined": 3,
            "passages": 0,
            "rejected": {"ingest": {"malformed_json": 2}, "crisis": {"crisis_detected": 1}},
            "splits": dict(SPLIT_SIZES),
            "categories": total,
            "split_categories": categories,
            "stages": [
                {"stage": "ingest", "in": n + 3, "kept": n + 1, "rejected": 2},
                {"stage": "normalize", "in": n + 1, "kept": n + 1, "rejected": 0},
                {"stage": "crisis", "in": n + 1, "kept": n, "rejected": 1},
            ],
        },
        "files": files,
    }
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return run, manifest


def header(card_text: str) -> dict[str, Any]:
    assert card_text.startswith("---\n")
    return yaml.safe_load(card_text.split("---\n", 2)[1])


def test_card_header_is_read_by_the_hub_card_parser(tmp_path):
    run, manifest = make_run(tmp_path)
    path = write_dataset_card(run, manifest, {"name": "Counsel demo"})
    assert path == run / "README.md"
    data = DatasetCard(path.read_text()).data.to_dict()
    assert data["license"] == ["cc-by-4.0", "cc-by-nc-4.0", "mit"]
    assert data["language"] == ["de", "en"]
    assert data["task_categories"] == ["text-generation"]
    assert data["size_categories"] == ["n<1K"]
    assert data["pretty_name"] == "Counsel demo"
    default = data["configs"][0]
    assert default["config_name"] == "default"
    assert default["data_files"] == [
        {"split": s, "path": f"dataset/{s}.jsonl"} for s in ("train", "validation", "test")
    ]


def test_card_configs_load_with_datasets(tmp_path):
    run, manifest = make_run(tmp_path)
    meta = header(write_dataset_card(run, manifest, {}).read_text())
    data_files = {e["split"]: str(run / e["path"]) for e in meta["configs"][0]["data_files"]}
    loaded = datasets.load_dataset("json", data_files=data_files)
    assert {split: len(loaded[split]) for split in loaded} == SPLIT_SIZES


def test_card_body_reports_counts_quarantine_sources_and_stages(tmp_path):
    run, manifest = make_run(tmp_path)
    text = write_dataset_card(
        run, manifest, {"executor": "ray", "s3": {"secret_access_key": "hunter2"}}
    ).read_text()
    assert "| train | 7 | 1 | 6 |" in text  # split, conversations, bias, therapeutic
    assert "| total | 11 | 2 | 9 |" in text
    assert "| ingest | 2 | malformed_json (2) |" in text
    assert "| crisis | 1 | crisis_detected (1) |" in text
    assert (
        "| esconv | dataset | therapeutic | CC BY-NC 4.0 (thu-coai; research only) | cc-by-nc-4.0 |" in text
    )
    assert "| crisis | 2 | h2 | 12 | 11 |" in text
    assert "`split_report.json`" in text
    assert "executor: ray" in text
    assert "hunter2" not in text and "secret_access_key: '***'" in text
    assert "The `bias` category holds preference pairs" in text


def test_unknown_and_other_licences_are_declared(tmp_path):
    sources = [
        {"name": "yt", "kind": "youtube", "license": "No licence (YouTube auto-captions; testing only)"},
        {"name": "books", "kind": "books", "license": "per book (see PROVENANCE.md)"},
    ]
    _, manifest = make_run(tmp_path, sources)
    meta = card_metadata(manifest, {}, ["en"])
    assert meta["license"] == ["other", "unknown"]
    assert meta["license_name"] and meta["license_link"] == "README.md"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CC-BY-4.0", "cc-by-4.0"),
        (
            "CC BY-NC 4.0 (thu-coai/Emotional-Support-Conversation; academic research use only)",
            "cc-by-nc-4.0",
        ),
        ("MIT (nbertagnolli/counsel-chat; text scraped from counselchat.com)", "mit"),
        ("Apache-2.0 fixtures (metapub/metapub)", "other"),
        ("Apache-2.0", "apache-2.0"),
        ("apache 2.0", "apache-2.0"),
        ("CC0", "cc0-1.0"),
        ("No licence stated (uccollab/AnnoMI)", "unknown"),
        ("", "unknown"),
        ("per book (see ../shared/data/books/PROVENANCE.md)", "other"),
    ],
)
def test_hf_license_ids(text, expected):
    assert hf_license(text) == expected


@pytest.mark.parametrize(
    ("n", "category"),
    [
        (0, "n<1K"),
        (999, "n<1K"),
        (1000, "1K<n<10K"),
        (99_999, "10K<n<100K"),
        (2_500_000, "1M<n<10M"),
        (10**10, "n>1B"),
    ],
)
def test_size_categories(n, category):
    assert size_category(n) == category


def test_redact_hides_secret_looking_values_at_any_depth():
    summary = {"catalog": {"url": "sqlite://", "password": "p"}, "tokens": [{"api_key": "k"}], "workers": 2}
    assert redact(summary) == {
        "catalog": {"url": "sqlite://", "password": "***"},
        "tokens": [{"api_key": "***"}],
        "workers": 2,
    }


def test_package_holds_checked_copies_card_reports_and_a_manifest(tmp_path):
    run, manifest = make_run(tmp_path)
    write_dataset_card(run, manifest, {"name": "Counsel demo"})
    package = build_ready_package(run)

    assert package.parent == run / "package"
    assert package.name.startswith("Counsel-Demo-v0.1.0-")
    pm = json.loads((package / "manifest.json").read_text())
    expected = {
        "README.md",
        "dataset/test.jsonl",
        "dataset/train.jsonl",
        "dataset/validation.jsonl",
        "report.html",
        "split_report.json",
    }
    assert set(pm["files"]) == expected
    for rel, entry in pm["files"].items():
        data = (package / rel).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert (package / "README.md").read_bytes() == (run / "README.md").read_bytes()
    assert not (package / "quarantine").exists()
    assert pm["counts"] == manifest["counts"] and pm["config_hash"] == "abcdef1234567890"
    assert pm["code_version"] == "0.1.0" and pm["run_id"] == manifest["run_id"]
    assert pm["licenses"] == ["cc-by-4.0", "cc-by-nc-4.0", "mit"]
    assert [s["license_id"] for s in pm["sources"]] == ["mit", "cc-by-nc-4.0", "cc-by-4.0"]
    assert sorted(p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()) == sorted(
        [*expected, "manifest.json"]
    )


def test_package_is_reproducible_and_rebuilt_in_place(tmp_path):
    run, _ = make_run(tmp_path)
    first = build_ready_package(run)
    snapshot = {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()}
    second = build_ready_package(run)
    assert second == first
    assert {p.relative_to(second): p.read_bytes() for p in second.rglob("*") if p.is_file()} == snapshot
    assert not [p for p in (run / "package").iterdir() if p.name.startswith(".")]


def test_package_without_a_card_gets_a_generated_one(tmp_path):
    run, _ = make_run(tmp_path)
    package = build_ready_package(run, dest=tmp_path / "out" / "pkg")
    assert package == tmp_path / "out" / "pkg"
    meta = header((package / "README.md").read_text())
    assert meta["pretty_name"] == "Counsel-Demo"


def test_quarantine_is_packaged_only_when_asked(tmp_path):
    run, _ = make_run(tmp_path)
    package = build_ready_package(run, dest=tmp_path / "pkg", include_quarantine=True)
    assert (package / "quarantine" / "ingest.jsonl").read_bytes() == (
        run / "quarantine" / "ingest.jsonl"
    ).read_bytes()


def test_a_file_changed_after_the_run_stops_the_package(tmp_path):
    run, _ = make_run(tmp_path)
    with open(run / "dataset" / "train.jsonl", "ab") as handle:
        handle.write(b'{"id": "tampered"}\n')
    with pytest.raises(PackageError, match="does not match the run manifest"):
        build_ready_package(run, dest=tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "run"] == []


def test_missing_listed_file_and_missing_manifest_are_clear_errors(tmp_path):
    run, _ = make_run(tmp_path)
    (run / "dataset" / "test.jsonl").unlink()
    with pytest.raises(PackageError, match="missing"):
        build_ready_package(run)
    with pytest.raises(PackageError, match="not a finished run"):
        build_ready_package(tmp_path / "nowhere")


def test_manifest_paths_outside_the_run_are_refused(tmp_path):
    run, manifest = make_run(tmp_path)
    manifest["files"]["../escape.txt"] = "0" * 64
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackageError, match="points outside"):
        build_ready_package(run)


def test_broken_manifest_is_a_clear_error(tmp_path):
    run, _ = make_run(tmp_path)
    (run / "manifest.json").write_text("{not json")
    with pytest.raises(PackageError, match="not valid JSON"):
        build_ready_package(run)
    (run / "manifest.json").write_text("[]")
    with pytest.raises(PackageError, match="no 'files' table"):
        build_ready_package(run)


def test_package_name_falls_back_when_the_config_has_none(tmp_path):
    assert package_name(tmp_path) == "dataset"
    (tmp_path / "config.yaml").write_text("run: [broken")
    assert package_name(tmp_path) == "dataset"
    (tmp_path / "config.yaml").write_text("run:\n  name: ../../etc passwd\n")
    assert package_name(tmp_path) == "etc-passwd"


def test_command_line_entry(tmp_path, capsys):
    run, _ = make_run(tmp_path)
    assert cli("package", str(run), "--dest", str(tmp_path / "pkg")) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "pkg")
    assert cli("package", str(tmp_path / "missing")) == 1
    assert "not a finished run" in capsys.readouterr().err
