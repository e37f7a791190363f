"""A real pipeline run exported in every format and packaged, as the lead's run end will do it."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import datasets
import pytest
import yaml

from ai.infrastructure.export.multi_format import FORMATS, dataset_records, write_formats
from ai.infrastructure.production.export_to_ready_packages import build_ready_package, write_dataset_card
from ai.pipelines.orchestrator.main_orchestrator import main

WORDS = ["worry", "sleep", "exams", "sister", "breathing", "work", "alone", "hope", "calm", "panic", "walks"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("packaged")
    rng = random.Random(3)
    with open(root / "talks.jsonl", "w", encoding="utf-8") as handle:
        for i in range(90):
            client = f"Lately {' '.join(rng.choices(WORDS, k=9))} keeps me up, number {i}."
            therapist = f"It makes sense that {' '.join(rng.choices(WORDS, k=10))} weighs on you."
            messages = [{"role": "user", "content": client}, {"role": "assistant", "content": therapist}]
            handle.write(json.dumps({"id": f"t{i}", "messages": messages}) + "\n")
    (root / "pipeline.yaml").write_text(
        "run:\n  name: packaged-demo\n  shard_size: 30\n  workers: 1\n"
        "sources:\n  - name: talks\n    path: talks.jsonl\n    license: CC-BY-4.0\n"
    )
    run = root / "run"
    main(["run", "--config", str(root / "pipeline.yaml"), "--output", str(run), "--quiet"])
    return run


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_end_exports_formats_card_and_package(finished_run):
    run = finished_run
    manifest = json.loads((run / "manifest.json").read_text())
    written = write_formats(run / "exports", dataset_records(run / "dataset"), list(FORMATS), {})

    # The OpenAI export of the run's own rows reproduces the run's dataset files byte for byte.
    for split, n in manifest["counts"]["splits"].items():
        if n:
            assert (run / "exports" / "openai_jsonl" / f"{split}.jsonl").read_bytes() == (
                run / "dataset" / f"{split}.jsonl"
            ).read_bytes()

    # What the lead does: list the exports in the manifest, then write the card.
    for rels in written.values():
        for rel in rels:
            manifest["files"][f"exports/{rel}"] = sha256(run / "exports" / rel)
    manifest["files"]["exports/export_summary.json"] = sha256(run / "exports" / "export_summary.json")
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    card = write_dataset_card(run, manifest, {"name": "packaged-demo", "formats": list(FORMATS)})

    meta = yaml.safe_load(card.read_text().split("---\n", 2)[1])
    assert meta["license"] == "cc-by-4.0"
    assert [c["config_name"] for c in meta["configs"]] == ["default", "parquet"]

    package = build_ready_package(run)
    assert package.name.startswith("packaged-demo-v")
    for config in meta["configs"]:
        files = {e["split"]: str(package / e["path"]) for e in config["data_files"]}
        builder = "json" if config["config_name"] == "default" else "parquet"
        loaded = datasets.load_dataset(builder, data_files=files)
        assert {s: len(loaded[s]) for s in loaded} == {
            s: n for s, n in manifest["counts"]["splits"].items() if n
        }
    hf = datasets.load_from_disk(str(package / "exports" / "hf_dataset"))
    assert sum(len(hf[s]) for s in hf) == manifest["counts"]["exported"]
    package_manifest = json.loads((package / "manifest.json").read_text())
    assert (
        package_manifest["files"]["exports/parquet/train.parquet"]["sha256"]
        == manifest["files"]["exports/parquet/train.parquet"]
    )
    assert "split_report.json" in package_manifest["files"]
