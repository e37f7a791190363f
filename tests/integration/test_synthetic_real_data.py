"""configs/synthetic.yaml on the real shared data: >= 5,000 grounded and >= 5,000 bias samples, all gated.

Runs the real CLI once (a few minutes on two busy cores) and checks the manifest, the exported records,
the quarantine and the bias audit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ai.core.records import decode_passage
from ai.sourcing.synthetic.audit import bias_audit
from ai.sourcing.synthetic.composer import repetition_report
from ai.sourcing.synthetic.demographics import dimensions
from ai.sourcing.synthetic.groundedness import check_groundedness
from ai.sourcing.synthetic.stereotypes import stereotype_inventory

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "ai.pipelines.orchestrator.main_orchestrator"]
GENERATED = ("grounded", "bias")


@pytest.fixture(scope="module")
def synthetic_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import ai.sourcing.academic as academic

    if not hasattr(academic, "read_source"):
        pytest.skip("kind: academic sources cannot run: ai.sourcing.academic exports no read_source yet")
    out = tmp_path_factory.mktemp("synthetic") / "run"
    config = REPO_ROOT / "configs" / "synthetic.yaml"
    result = subprocess.run(
        [*CLI, "run", "--config", str(config), "--output", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    return out


def _exported(run: Path) -> list[dict[str, Any]]:
    rows = []
    for split in ("train", "validation", "test"):
        with open(run / "dataset" / f"{split}.jsonl", encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    return rows


def test_manifest_counts_at_least_5000_grounded_and_5000_bias(synthetic_run: Path) -> None:
    counts = json.loads((synthetic_run / "manifest.json").read_text())["counts"]
    assert counts["categories"]["grounded"] >= 5000
    assert counts["categories"]["bias"] >= 5000


def test_no_generated_record_was_rejected_by_any_stage(synthetic_run: Path) -> None:
    rejected: Counter[str] = Counter()
    for path in (synthetic_run / "quarantine").glob("*.jsonl"):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                entry = json.loads(line)
                record = entry.get("record") or {}
                if entry.get("stage") != "ingest" and record.get("category") in GENERATED:
                    rejected[f"{entry['stage']}:{entry['reason']}"] += 1
    assert rejected == Counter()


def test_grounded_records_quote_their_passages_and_pass_the_groundedness_check(synthetic_run: Path) -> None:
    passages = {}
    with open(synthetic_run / "work" / "ingest" / "passages.jsonl", "rb") as handle:
        for line in handle:
            passage = decode_passage(line)
            passages[passage.id] = passage.text
    grounded = [r for r in _exported(synthetic_run) if r["metadata"]["category"] == "grounded"]
    for row in grounded:
        ref = row["metadata"]["grounding"][0]
        assert ref["passage_id"] in passages
        assert ref["quote"] in row["messages"][-1]["content"]
        assert row["metadata"]["source"]["locator"]["passage_id"] == ref["passage_id"]
    # The groundedness check on a sample of the exported records, against their passages.
    for row in grounded[::50]:
        therapist = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        client = [m["content"] for m in row["messages"] if m["role"] == "user"]
        passage = passages[row["metadata"]["grounding"][0]["passage_id"]]
        assert check_groundedness(therapist, [passage], client).passed, row["id"]
    report = repetition_report(
        m["content"] for r in grounded for m in r["messages"] if m["role"] == "assistant"
    )
    assert report["opening_max_share"] <= 0.05
    assert report["opening_stem_max_share"] <= 0.10
    assert report["closing_max_share"] <= 0.10


def test_counterfactual_sets_stay_in_one_split_and_pairs_carry_dpo_fields(synthetic_run: Path) -> None:
    from ai.core.records import Conversation, Provenance, Turn

    records = []
    for row in _exported(synthetic_run):
        meta = row["metadata"]
        turns = [
            Turn("client" if m["role"] == "user" else "therapist", m["content"]) for m in row["messages"]
        ]
        records.append(
            Conversation(
                id=row["id"],
                turns=turns,
                source=Provenance(**meta["source"]),
                category=meta["category"],
                split=meta["split"],
                meta=meta.get("meta", {}),
            )
        )
    audit = bias_audit(records)
    assert audit["counterfactual"]["variants"] >= 1000
    assert audit["counterfactual"]["sets_spanning_splits"] == 0
    counterfactual = audit["counterfactual"]
    assert set(counterfactual["dimensions_covered"]) == set(dimensions())
    assert len(counterfactual["intersections_covered"]) >= 10
    stereotypes = stereotype_inventory()
    for record in records:
        if "dpo" in record.meta:
            assert set(record.meta["dpo"]) == {"prompt", "chosen", "rejected", "bias_type"}
            assert record.meta["dpo"]["bias_type"] in stereotypes
