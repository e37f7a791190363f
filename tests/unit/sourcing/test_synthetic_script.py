"""The standalone generate_nemo_synthetic_data script over a small config written here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_stub import OpenAIStub

from ai.training.ready_packages.scripts.generate_nemo_synthetic_data import main

TRANSCRIPT = (
    "Anxiety often grows when we avoid the situations that frighten us, because avoidance teaches the mind "
    "that the danger was real. Gradual exposure helps people learn that anxious feelings rise and then fall "
    "on their own. Self-compassion makes it easier to face stress without harsh self-criticism and shame. "
    "Loneliness and low mood tend to feed each other, so small steps toward connection support recovery "
    "from depression. Worry at night keeps the mind alert, and a calm routine gives anxious thoughts "
    "somewhere else to go.\n"
)
CLIENTS = [
    "I have been so anxious at work that I avoid every meeting now and I feel ashamed.",
    "I feel lonely since I moved to a new city and my mood has been low for weeks.",
    "I can't sleep because I keep worrying at night and I feel exhausted every day.",
    "I get stressed before exams and my thoughts race until I feel overwhelmed.",
]


@pytest.fixture(autouse=True)
def model() -> Iterator[OpenAIStub]:
    with OpenAIStub() as stub:
        yield stub


def _write_inputs(tmp_path: Path, model_url: str) -> Path:
    (tmp_path / "talks").mkdir()
    (tmp_path / "talks" / "Facing Anxiety.txt").write_text(TRANSCRIPT * 2)
    with open(tmp_path / "chats.jsonl", "w") as handle:
        for when in ("last week", "last month", "this winter"):
            for client in CLIENTS:
                messages = [
                    {"role": "user", "content": f"{client} It started {when}."},
                    {"role": "assistant", "content": "That sounds hard. What would help most right now?"},
                ]
                handle.write(json.dumps({"messages": messages}) + "\n")
    config = """
run: {name: t, seed: 3}
sources:
  - {name: talks, kind: youtube, path: talks, license: CC-BY}
  - {name: chats, path: chats.jsonl, license: MIT}
  - name: grounded
    kind: synthetic
    options:
      mode: grounded
      target: 6
      generation: {endpoint: openai, base_url: "MODEL_URL", model: stub}
  - {name: counterfactual, kind: synthetic, options: {mode: counterfactual, target: 6}}
  - {name: pairs, kind: synthetic, options: {mode: preference_pairs, target: 4}}
"""
    path = tmp_path / "synthetic.yaml"
    path.write_text(config.replace("MODEL_URL", model_url))
    return path


def test_script_writes_records_audit_and_summary(tmp_path: Path, capsys, model: OpenAIStub) -> None:  # type: ignore[no-untyped-def]
    config = _write_inputs(tmp_path, model.base_url)
    out = tmp_path / "out"
    assert main(["--config", str(config), "--out", str(out)]) == 0
    lines = [json.loads(line) for line in (out / "synthetic.jsonl").read_text().splitlines()]
    categories = [line["metadata"]["category"] for line in lines]
    assert categories.count("grounded") == 6 and categories.count("bias") == 10
    assert all(m["role"] in ("user", "assistant") for line in lines for m in line["messages"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["categories"] == {"grounded": 6, "bias": 10}
    assert 0 < summary["groundedness_pass_rate"] <= 1
    assert summary["grounded_repetition"]["turns"] >= 6
    assert any("target met: 6/6" in m for m in summary["quotas"])
    audit = json.loads((out / "bias_audit.json").read_text())
    assert audit["counterfactual"]["variants"] == 6
    assert audit["preference_pairs"]["total"] == 4
    assert json.loads(capsys.readouterr().out) == summary


def test_script_runs_only_the_named_source_and_rejects_unknown_names(
    tmp_path: Path, capsys, model: OpenAIStub
) -> None:  # type: ignore[no-untyped-def]
    config = _write_inputs(tmp_path, model.base_url)
    assert main(["--config", str(config), "--out", str(tmp_path / "o1"), "--source", "pairs"]) == 0
    summary = json.loads((tmp_path / "o1" / "summary.json").read_text())
    assert summary["categories"] == {"bias": 4}
    assert main(["--config", str(config), "--out", str(tmp_path / "o2"), "--source", "nope"]) == 2
    assert "no synthetic source named nope" in capsys.readouterr().err
