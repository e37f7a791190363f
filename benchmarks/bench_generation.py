"""Grounded generation with the local model: speed, acceptance per gate, and the time 5,000 would take.

    uv run python benchmarks/bench_generation.py [--config configs/synthetic_local.yaml] [--target 30]
        [--output DIR] [--samples 10 --seed 7]

Runs ``dataset-pipeline run`` on the config (its grounded source's ``target`` overridden) and reads what
the run recorded: ``work/synthetic/grounded/generation.json`` (requests, tokens, generation wall time),
the ingest quarantine (the groundedness judge's rejections), ``gate_rejected.jsonl`` (the gates'
rejections of generated candidates) and the exported dataset. Prints one JSON object:

- ``requests_per_second`` and ``completion_tokens_per_second`` over the generation wall time;
- ``acceptance``: candidates, then how many each check rejected, in pipeline order, and the accepted;
- ``acceptance_rate`` (exported / candidates) with a bootstrap 95% interval over the candidates;
- ``projected_hours_for_5000_accepted`` at this acceptance rate and speed.

``--samples N`` also prints N generated conversations (half accepted, half rejected) chosen with
``--seed``, with the decision of every check, as markdown (docs/SYNTHETIC.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE = "grounded"
# Rejections the generator makes before the groundedness judge sees a reply (grounded.reply_shape_problem)
# or when the endpoint gave none; the rest of its rejections are the judge's.
SHAPE_REASONS = frozenset(
    {"empty_reply", "prompt_echo", "repetitive_reply", "not_addressed_to_client", "duplicate_reply"}
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "configs" / "synthetic_local.yaml")
    parser.add_argument("--target", type=int, default=30)
    parser.add_argument("--output", type=Path, default=None, help="run directory (default: a temp dir)")
    parser.add_argument("--samples", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    out = args.output or Path(tempfile.mkdtemp(prefix="bench-generation-")) / "run"
    if not (out / "manifest.json").exists():
        config = _with_target(args.config, args.target, out.parent / "bench_config.yaml")
        subprocess.run(
            [sys.executable, "-m", "ai.pipelines.orchestrator.main_orchestrator", "run", "--config", str(config),
             "--output", str(out), "--quiet"],
            check=True,
        )  # fmt: skip
    figures = measure(out)
    print(json.dumps(figures, indent=2))
    if args.samples:
        print(samples_markdown(out, args.samples, args.seed))
    return 0


def measure(run: Path) -> dict[str, Any]:
    summary = json.loads((run / "work" / "synthetic" / SOURCE / "generation.json").read_text())
    endpoint, stratum = summary["endpoint"], summary["strata"][0]
    wall = endpoint["generation_wall_seconds"] or float("nan")
    accepted = len(_exported(run))
    candidates = stratum["candidates"]
    generator = stratum["generator_rejected"]
    return {
        "model": summary["generation"]["model"],
        "endpoint": summary["generation"]["endpoint"],
        "run": str(run),
        "requests": endpoint["requests"],
        "cache_hits": endpoint["cache_hits"],
        "generation_wall_seconds": endpoint["generation_wall_seconds"],
        "requests_per_second": round(endpoint["completions"] / wall, 3),
        "completion_tokens_per_second": round(endpoint["completion_tokens"] / wall, 1),
        "acceptance": {
            "candidates": candidates,
            "endpoint_failed": {k: v for k, v in generator.items() if k == "generation_failed"},
            "reply_shape_rejected": {k: v for k, v in generator.items() if k in SHAPE_REASONS},
            "groundedness_judge_rejected": {
                k: v for k, v in generator.items() if k not in SHAPE_REASONS and k != "generation_failed"
            },
            "gates_rejected": stratum["gate_rejected"],
            "accepted_by_source": stratum["accepted"],
            "exported_after_all_stages": accepted,
            "acceptance_rate": round(accepted / candidates, 4) if candidates else 0.0,
            "acceptance_rate_95ci": _bootstrap_ci(accepted, candidates),
        },
        "projected_hours_for_5000_accepted": (
            round(5000 / accepted * wall / 3600, 1) if accepted and endpoint["requests"] else None
        ),
    }


def _bootstrap_ci(successes: int, trials: int, resamples: int = 2000) -> list[float]:
    """Bootstrap 95% interval of a rate over its trials (seeded, so reruns print the same interval)."""
    if not trials:
        return [0.0, 0.0]
    outcomes = np.zeros(trials)
    outcomes[:successes] = 1.0
    rng = np.random.default_rng(0)
    rates = outcomes[rng.integers(0, trials, size=(resamples, trials))].mean(axis=1)
    return [round(float(q), 4) for q in np.quantile(rates, [0.025, 0.975])]


def samples_markdown(run: Path, n: int, seed: int) -> str:
    rng = random.Random(seed)  # nosec B311  # a reproducible sample for reading, not security
    accepted = _exported(run)
    rejected = _judge_rejected(run) + _gate_rejected(run)
    picks = rng.sample(accepted, min(n // 2, len(accepted))) + rng.sample(
        rejected, min(n - n // 2, len(rejected))
    )
    blocks = []
    for item in picks:
        blocks.append(
            f"**{item['decision']}**\n\n> **Client:** {_one_line(item['client'])}\n>\n"
            f"> **Model:** {_one_line(item['reply'])}\n\nCited: {item['cited']}\n"
        )
    return "\n".join(blocks)


def _exported(run: Path) -> list[dict[str, Any]]:
    rows = []
    for split in ("train", "validation", "test"):
        for row in map(json.loads, (run / "dataset" / f"{split}.jsonl").read_text().splitlines()):
            meta = row["metadata"]
            if meta["category"] != "grounded":
                continue
            scores = ", ".join(f"{k} {v}" for k, v in sorted(meta["scores"].items()))
            rows.append(
                {
                    "client": row["messages"][0]["content"],
                    "reply": row["messages"][1]["content"],
                    "cited": meta["source"]["locator"]["passage_source"],
                    "decision": f"accepted: groundedness {meta['meta']['synthetic']['groundedness']}; "
                    f"passed crisis, content, EARS, quality ({scores})",
                }
            )
    return rows


def _judge_rejected(run: Path) -> list[dict[str, Any]]:
    path = run / "quarantine" / "ingest.jsonl"
    entries = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [
        _rejected(e, "reply-shape check" if e["reason"] in SHAPE_REASONS else "groundedness judge")
        for e in entries
        if e.get("locator", "").startswith(f"{SOURCE}:") and e.get("record")
    ]


def _gate_rejected(run: Path) -> list[dict[str, Any]]:
    path = run / "work" / "synthetic" / SOURCE / "gate_rejected.jsonl"
    entries = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [_rejected(e, f"{e['stage']} gate") for e in entries]


def _rejected(entry: dict[str, Any], who: str) -> dict[str, Any]:
    record = entry["record"]
    return {
        "client": record["turns"][0][1],
        "reply": record["turns"][1][1],
        "cited": record["source"]["locator"].get("passage_source", ""),
        "decision": f"rejected by the {who}: `{entry['reason']}`: {entry['message']}",
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _with_target(config: Path, target: int, path: Path) -> Path:
    raw = yaml.safe_load(config.read_text())
    for source in raw["sources"]:
        if source.get("name") == SOURCE:
            source["options"]["target"] = target
        for key in ("path",):
            if isinstance(source.get(key), str):
                source[key] = str((config.parent / source[key]).resolve())
        xml = (source.get("options") or {}).get("from_xml")
        if xml:
            source["options"]["from_xml"] = str((config.parent / xml).resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    return path


if __name__ == "__main__":
    raise SystemExit(main())
