"""Issue 21 rows 6 and 16: no string reaches the report unescaped; manifest file names are validated."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from unit.pipelines.test_report_page import build_run

from ai.core.paths import ManifestNameError, check_manifest_name
from ai.pipelines.report import write_report

MARKUP = "<img src=x onerror=alert(1)>"


# Dictionaries whose keys are names from data (files, reasons, categories), not the report's structure.
NAME_KEYED = ("files", "rejected", "categories", "split_categories", "settings")


def _poison(value: Any, key: str = "") -> Any:
    """Every string value of a JSON tree, and every key that is a name from data, with markup appended."""
    if isinstance(value, str):
        return value + MARKUP
    if isinstance(value, dict):
        rename = key in NAME_KEYED
        return {(k + MARKUP if rename else k): _poison(v, k if not rename else key) for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v, key) for v in value]
    return value


def test_row06_every_string_of_every_report_input_is_escaped(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path / "run")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["files"][f"dataset/{MARKUP}.jsonl"] = "0" * 64
    manifest["sources"] = [{"name": "s", "kind": "dataset", "license": "CC-BY-4.0", "category": "c"}]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    for path in sorted(run_dir.glob("*.json")):
        path.write_text(json.dumps(_poison(json.loads(path.read_text()))))
    page = write_report(run_dir).read_text(encoding="utf-8")
    assert MARKUP not in page
    assert not re.search(r"<(img|script|iframe|object)\b", page, re.IGNORECASE)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.parametrize(
    "name",
    [
        "manifest.json.part",
        "dataset/train.jsonl.part",
        "dataset/<img src=x onerror=alert(1)>.jsonl",
        "dataset/a\x00b.jsonl",
        "dataset/" + "a" * 300 + ".jsonl",
        "dataset/tab\there.jsonl",
        "../escape.jsonl",
        "/etc/passwd",
        "dataset\\train.jsonl",
        "",
        "dataset//train.jsonl",
        "dataset/./train.jsonl",
    ],
)
def test_row16_bad_manifest_names_get_one_clear_error(name: str) -> None:
    with pytest.raises(ManifestNameError) as caught:
        check_manifest_name(name)
    message = str(caught.value)
    assert message.startswith("manifest lists") and "\x00" not in message and len(message) < 400


@pytest.mark.parametrize(
    "name", ["dataset/train.jsonl", "exports/parquet/train.parquet", "README.md", "split_report.json"]
)
def test_row16_ordinary_manifest_names_pass(name: str) -> None:
    check_manifest_name(name)
