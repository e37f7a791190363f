"""The licence stage in a whole run: refused records are quarantined, counted and shown in the report."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pipeline_helpers import cli, read_jsonl

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def test_a_commercial_only_run_quarantines_the_non_commercial_source(tmp_path: Path) -> None:
    config = {
        "run": {"name": "licences", "seed": 1},
        "sources": [
            {"name": "open", "path": str(DEMO / "openai_chat.jsonl"), "license": "CC-BY-4.0"},
            {"name": "research-only", "path": str(DEMO / "sharegpt.json"), "license": "CC BY-NC 4.0 (x)"},
        ],
        "stages": {"licence": {"enabled": True, "allow": ["commercial"]}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = tmp_path / "run"
    assert cli("run", "--config", str(path), "--output", str(out), "--quiet") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    refused = read_jsonl(out / "quarantine" / "licence.jsonl")
    assert refused and {r["reason"] for r in refused} == {"licence_not_allowed"}
    assert {r["record"]["source"]["name"] for r in refused} == {"research-only"}
    assert manifest["counts"]["rejected"]["licence"] == {"licence_not_allowed": len(refused)}
    assert manifest["counts"]["stages"][1]["stage"] == "licence"
    assert set(manifest["counts"]["distinct_dialogues"]["by_source"]) == {"open"}
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "licence_not_allowed" in report
