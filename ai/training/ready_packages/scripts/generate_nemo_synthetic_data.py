"""Generate grounded and bias samples from a pipeline config, outside a pipeline run.

    python ai/training/ready_packages/scripts/generate_nemo_synthetic_data.py \
        --config configs/synthetic.yaml --out DIR [--source grounded ...]

Reads the config's other sources (papers, books, transcripts, datasets) for material, runs its
``kind: synthetic`` sources (grounded replies come from the source's ``generation`` endpoint: a local
llama.cpp server by default, or any OpenAI-compatible endpoint; NeMo Data Designer with
``engine: data_designer``) and writes into DIR:

- ``synthetic.jsonl``: the generated conversations, OpenAI chat shape with metadata;
- ``rejected.jsonl``: candidates the generators rejected (e.g. an ungrounded claim), with the reason;
- ``bias_audit.json``: the bias audit of the generated records;
- ``summary.json``: counts, opening/closing repetition and the groundedness pass rate (also printed).

Standalone output has not been through the pipeline's gates (PII, language, safety, EARS, quality);
``dataset-pipeline run`` with the same config gates every record. Exit status 2 on usage or config errors.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ai.core.config import ConfigError, PipelineConfig, SourceConfig, load_config
from ai.core.records import Conversation, Passage, encode, to_openai
from ai.core.stage import Rejection
from ai.safety.groundedness import GroundednessJudge
from ai.sourcing.registry import DERIVED_KINDS, SOURCE_READERS
from ai.sourcing.synthetic import MaterialContext, bias_audit, read_source
from ai.sourcing.synthetic.composer import repetition_report

USAGE_ERROR = 2


def generate_synthetic(config: PipelineConfig, out: Path, only: list[str] | None = None) -> dict[str, Any]:
    """Run the config's synthetic sources (or those named in ``only``) and write DIR; returns the summary."""
    synthetic = [s for s in config.sources if s.enabled and s.kind == "synthetic"]
    if only:
        unknown = sorted(set(only) - {s.name for s in synthetic})
        if unknown:
            raise ConfigError(f"no synthetic source named {', '.join(unknown)} in the config")
        synthetic = [s for s in synthetic if s.name in only]
    passages, conversations = _material(config)
    context = MaterialContext(
        passages, conversations, seed=config.run.seed, run_dir=out, judge=GroundednessJudge.load()
    )
    out.mkdir(parents=True, exist_ok=True)
    records: list[Conversation] = []
    rejected: Counter[str] = Counter()
    quota_messages: list[str] = []
    with open(out / "synthetic.jsonl", "wb") as kept, open(out / "rejected.jsonl", "wb") as dropped:
        for source in synthetic:
            for item in _read_with_warnings(source, config, context, quota_messages):
                if isinstance(item, Conversation):
                    records.append(item)
                    kept.write(encode(to_openai(item)) + b"\n")
                else:
                    rejected[item.reason] += 1
                    dropped.write(encode(item) + b"\n")
    audit = bias_audit(records)
    (out / "bias_audit.json").write_text(json.dumps(audit, indent=2, sort_keys=True))
    summary = summarise(records, rejected, len(passages), len(conversations), quota_messages)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary


def summarise(
    records: list[Conversation],
    rejected: Counter[str],
    passages: int,
    conversations: int,
    quota_messages: list[str],
) -> dict[str, Any]:
    grounded = [r for r in records if r.category == "grounded"]
    checked = len(grounded) + rejected.get("ungrounded_claim", 0)
    therapist_turns = [t.text for r in grounded for t in r.turns if t.role == "therapist"]
    return {
        "material": {"passages": passages, "conversations": conversations},
        "categories": dict(Counter(r.category for r in records)),
        "rejected": dict(rejected),
        "groundedness_pass_rate": round(len(grounded) / checked, 4) if checked else None,
        "grounded_repetition": repetition_report(therapist_turns),
        "quotas": quota_messages,
    }


def _material(config: PipelineConfig) -> tuple[list[Passage], list[Conversation]]:
    passages: list[Passage] = []
    conversations: list[Conversation] = []
    base_dir = Path(config.base_dir or ".")
    for source in config.sources:
        if not source.enabled or source.kind in DERIVED_KINDS:
            continue
        module = importlib.import_module(SOURCE_READERS[source.kind])
        for item in module.read_source(source, base_dir):
            if isinstance(item, Passage):
                passages.append(item)
            elif isinstance(item, Conversation):
                conversations.append(item)
    return passages, conversations


def _read_with_warnings(
    source: SourceConfig, config: PipelineConfig, context: MaterialContext, messages: list[str]
) -> Iterator[Conversation | Rejection]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield from read_source(source, Path(config.base_dir or "."), context)
    messages.extend(str(w.message) for w in caught)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", type=Path, required=True, help="pipeline config with kind: synthetic sources"
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--source", action="append", default=[], help="run only this synthetic source (repeatable)"
    )
    args = parser.parse_args(argv)
    try:
        summary = generate_synthetic(load_config(args.config), args.out, args.source or None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
