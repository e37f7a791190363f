"""Grounded conversations written by an LLM through NeMo Data Designer (extra ``synthetic``).

The seed dataset is our passages: each seed row holds a passage, one of its quotable sentences and
how to attribute it. Data Designer adds a persona (``person_from_faker``), a scenario and a feeling
(category samplers), then two LLM columns: the client's message, and an empathy-first (EARS) reply that
quotes the seed sentence. Each generated row becomes a candidate Conversation whose ``grounding`` names
the passage; the groundedness check and the run's gates decide whether it is kept.

Nothing but the configured endpoint is contacted: telemetry is switched off before Data Designer is
imported (``NEMO_TELEMETRY_ENABLED=false``), ``DATA_DESIGNER_HOME`` and every artifact live in the run
directory, the metrics port is off (``RunConfig(otel_metrics_port=None)``), and the model health check
is skipped. The API key is read from the environment variable the config names; it never appears in
configs, logs or records.

Resumable: every generated row is appended (and fsynced) to ``work/synthetic/<source>/rows.jsonl``
under its seed key before it is used. A later run reads that file first and requests only the seeds
that have no row yet, so a row is never requested twice.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

from ai.core.atomic import append_lines_durably
from ai.core.config import ConfigError, SourceConfig
from ai.core.context import SourceContext
from ai.core.records import Conversation, PassageRef, Provenance, Turn, content_hash, make_conversation
from ai.core.stage import Rejection
from ai.sourcing.synthetic.groundedness import check_groundedness
from ai.sourcing.synthetic.knowledge import KnowledgePassage
from ai.sourcing.synthetic.options import DataDesignerOptions, GroundedOptions
from ai.sourcing.synthetic.quota import QuotaReport, budget_for, gated
from ai.sourcing.synthetic.research import grounding_knowledge

STAGE = "ingest"
SCENARIOS = (
    "stress at work", "a recent breakup", "loneliness after moving", "conflict with a parent",
    "trouble sleeping", "grief after a loss", "pressure at university", "feeling stuck in life",
    "friendship problems", "worry about health", "low mood that will not lift", "self-criticism",
)  # fmt: skip
FEELINGS = ("anxious", "sad", "overwhelmed", "lonely", "frustrated", "ashamed", "exhausted", "confused")
CLIENT_PROMPT = (
    "You are {{ persona.first_name }}, {{ persona.age }} years old, working as {{ persona.occupation }}. "
    "Write the first message you send to a counsellor about {{ scenario }}. You feel {{ emotion }}. "
    "Write 2 to 4 sentences in the first person, plain and specific, with no greeting and no names. "
    "The topic should connect to this idea: {{ quote }}"
)
THERAPIST_PROMPT = (
    "You are an empathetic counsellor. The client wrote:\n{{ client_message }}\n\n"
    "Reply in 4 to 6 sentences following EARS: name the client's feeling; acknowledge it without "
    "minimising; reflect the client's own words back; share exactly one idea from {{ attribution }} by "
    'quoting this sentence word for word inside double quotes: "{{ quote }}"; end with a small, '
    "collaborative next step phrased as an open question that leaves the choice to the client. "
    "Do not diagnose, do not give medical or medication advice, and state no other facts."
)
SYSTEM_PROMPT = "You write realistic, safe training conversations for counselling assistants."


def read_data_designer(
    source: SourceConfig, options: GroundedOptions, context: SourceContext
) -> Iterator[Conversation | Rejection]:
    if options.data_designer is None:
        raise ConfigError(
            f"sources[{source.name}].options: engine data_designer needs a data_designer section"
        )
    knowledge, rejections = grounding_knowledge(source.name, options, context)
    yield from rejections
    if not knowledge:
        yield Rejection(
            stage=STAGE,
            reason="no_grounding_material",
            message=f"source {source.name!r}: the run's earlier sources produced no passages about mental health",
            locator=source.name,
        )
        return
    workdir = Path(context.run_dir) / "work" / "synthetic" / source.name
    generator = DesignerGenerator(source, options, options.data_designer, knowledge, workdir)
    for stratum, quota in options.strata().items():
        report = QuotaReport(source.name, stratum, quota, budget_for(quota, options.budget))
        yield from gated(generator.candidates(stratum), report, context, options.batch_size)


class RowStore:
    """Generated rows by seed key, persisted as JSON lines (append + fsync per batch)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    self.rows[row["seed_key"]] = row

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def get(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def extend(self, rows: list[dict[str, Any]]) -> None:
        append_lines_durably(self.path, [json.dumps(row, sort_keys=True, ensure_ascii=False) for row in rows])
        for row in rows:
            self.rows[row["seed_key"]] = row


class DesignerGenerator:
    def __init__(
        self,
        source: SourceConfig,
        options: GroundedOptions,
        endpoint: DataDesignerOptions,
        knowledge: list[KnowledgePassage],
        workdir: Path,
    ) -> None:
        self.source = source
        self.options = options
        self.endpoint = endpoint
        self.knowledge = knowledge
        self.workdir = workdir
        self.store = RowStore(workdir / "rows.jsonl")
        self.requested = 0  # rows asked of the endpoint by this process

    def candidates(self, stratum: str) -> Iterator[Conversation | Rejection]:
        passages = [k for k in self.knowledge if stratum in ("all", k.kind)]
        if not passages:
            return
        seeds = self._seeds(stratum, passages)
        while True:
            chunk = [next(seeds) for _ in range(self.endpoint.buffer_size)]
            missing = [s for s in chunk if s["seed_key"] not in self.store]
            if missing:
                self.store.extend(self._generate(missing))
            for seed in chunk:
                row = self.store.get(seed["seed_key"])
                yield self._candidate(seed, row, passages)

    def _seeds(self, stratum: str, passages: list[KnowledgePassage]) -> Iterator[dict[str, Any]]:
        """Deterministic seeds: passages round-robin, each time with its next quotable sentence."""
        for index in count():
            passage = passages[index % len(passages)]
            quote = passage.quotes[(index // len(passages)) % len(passage.quotes)]
            yield {
                "seed_key": f"{stratum}:{index}",
                "passage_id": passage.id,
                "attribution": passage.attribution,
                "quote": quote,
            }

    def _generate(self, seeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        frame = run_data_designer(seeds, self.endpoint, self.workdir)
        self.requested += len(seeds)
        generated = {str(r.get("seed_key")): r for r in frame}
        rows = []
        for seed in seeds:
            row = generated.get(seed["seed_key"], {})
            persona = row.get("persona") if isinstance(row.get("persona"), dict) else {}
            rows.append(
                {
                    "seed_key": seed["seed_key"],
                    "client_message": str(row.get("client_message") or "").strip(),
                    "therapist_reply": str(row.get("therapist_reply") or "").strip(),
                    "scenario": str(row.get("scenario") or ""),
                    "emotion": str(row.get("emotion") or ""),
                    # Only coarse persona traits: the persona's fake name and address are not kept.
                    "persona": {k: persona.get(k) for k in ("age", "sex", "occupation") if k in persona},
                }
            )
        return rows

    def _candidate(
        self, seed: dict[str, Any], row: dict[str, Any] | None, passages: list[KnowledgePassage]
    ) -> Conversation | Rejection:
        passage = next(p for p in passages if p.id == seed["passage_id"])
        locator = f"{self.source.name}:{seed['seed_key']}"
        if not row or not row["client_message"] or not row["therapist_reply"]:
            return Rejection(
                stage=STAGE,
                reason="generation_failed",
                message=f"{self.source.name}: Data Designer returned no text for seed {seed['seed_key']}",
                locator=locator,
            )
        turns = [Turn("client", row["client_message"]), Turn("therapist", row["therapist_reply"])]
        record = make_conversation(
            turns,
            Provenance(
                kind="synthetic",
                name=self.source.name,
                uri=passage.passage.source.uri,
                license=self.source.license or passage.passage.source.license,
                locator={
                    "passage_id": passage.id,
                    "passage_source": passage.passage.source.name,
                    "passage_kind": passage.kind,
                    "passage_locator": passage.passage.source.locator,
                    "engine": "data_designer",
                    "model": self.endpoint.model,
                    "seed_key": seed["seed_key"],
                },
            ),
            category="grounded",
            language="en",
            tags=["synthetic:grounded", f"passage:{passage.kind}", "engine:data_designer"],
            grounding=[PassageRef(passage.id, seed["quote"])],
            meta={
                "synthetic": {
                    "mode": "grounded",
                    "engine": "data_designer",
                    "stratum": seed["seed_key"].split(":", 1)[0],
                    "scenario": row["scenario"],
                    "emotion": row["emotion"],
                    "persona": row["persona"],
                }
            },
        )
        result = check_groundedness(
            [row["therapist_reply"]],
            [passage.passage.text],
            [row["client_message"]],
            self.options.groundedness_threshold,
        )
        if not result.passed:
            return Rejection(
                stage=STAGE,
                reason="ungrounded_claim",
                message=f"{self.source.name}: {result.explain()}",
                record=record,
                record_id=record.id,
                locator=locator,
            )
        return record


# --- Data Designer itself ------------------------------------------------------------------------------


def run_data_designer(
    seeds: list[dict[str, Any]], endpoint: DataDesignerOptions, workdir: Path
) -> list[dict[str, Any]]:
    """Generate one row per seed with Data Designer; returns the rows as dicts (seed columns included)."""
    dd = import_data_designer(workdir / "home")
    import pandas as pd

    managed_assets = workdir / "home" / "managed-assets"
    managed_assets.mkdir(parents=True, exist_ok=True)

    builder = dd.config.DataDesignerConfigBuilder(model_configs=[_model_config(dd, endpoint)])
    builder.with_seed_dataset(
        dd.config.DataFrameSeedSource(df=pd.DataFrame(seeds)),
        sampling_strategy=dd.config.SamplingStrategy.ORDERED,
    )
    builder.add_column(
        dd.config.SamplerColumnConfig(
            name="persona",
            sampler_type="person_from_faker",
            params=dd.config.PersonFromFakerSamplerParams(locale="en_US", age_range=[18, 80]),
        )
    )
    for name, values in (("scenario", SCENARIOS), ("emotion", FEELINGS)):
        builder.add_column(
            dd.config.SamplerColumnConfig(
                name=name,
                sampler_type="category",
                params=dd.config.CategorySamplerParams(values=list(values)),
            )
        )
    for name, prompt in (("client_message", CLIENT_PROMPT), ("therapist_reply", THERAPIST_PROMPT)):
        builder.add_column(
            dd.config.LLMTextColumnConfig(
                name=name, prompt=prompt, system_prompt=SYSTEM_PROMPT, model_alias="writer"
            )
        )
    designer = dd.DataDesigner(
        artifact_path=workdir / "artifacts",
        model_providers=[_provider(dd, endpoint)],
        managed_assets_path=managed_assets,
        auto_configure_logging=False,
    )
    designer.set_run_config(
        dd.config.RunConfig(otel_metrics_port=None, display_tui=False, buffer_size=len(seeds))
    )
    name = "batch-" + content_hash([s["seed_key"] for s in seeds], 12)
    results = designer.create(builder, num_records=len(seeds), dataset_name=name)
    return results.load_dataset().to_dict(orient="records")


def _model_config(dd: Any, endpoint: DataDesignerOptions) -> Any:
    return dd.config.ModelConfig(
        alias="writer",
        model=endpoint.model,
        provider=endpoint.provider_name,
        skip_health_check=True,
        inference_parameters=dd.config.ChatCompletionInferenceParams(
            temperature=endpoint.temperature,
            max_tokens=endpoint.max_tokens,
            max_parallel_requests=endpoint.max_parallel_requests,
            timeout=endpoint.timeout_seconds,
        ),
    )


def _provider(dd: Any, endpoint: DataDesignerOptions) -> Any:
    # Data Designer resolves ``api_key`` as the name of an environment variable first, so the key itself
    # never passes through our code; with no such variable set the endpoint is called without a key.
    api_key = endpoint.api_key_env if os.environ.get(endpoint.api_key_env) else None
    return dd.config.ModelProvider(
        name=endpoint.provider_name, endpoint=endpoint.base_url, provider_type="openai", api_key=api_key
    )


class _DataDesignerModules:
    def __init__(self) -> None:
        import data_designer.config as config
        from data_designer.interface.data_designer import DataDesigner

        self.config = config
        self.DataDesigner = DataDesigner


def import_data_designer(home: Path) -> _DataDesignerModules:
    """Import Data Designer with telemetry off and its home in the run directory.

    Both settings are read once, when Data Designer is first imported, so they are set before that;
    if it was imported earlier with telemetry on, generation is refused rather than allowed to phone home.
    """
    if "data_designer.config" not in sys.modules:
        home.mkdir(parents=True, exist_ok=True)
        os.environ["DATA_DESIGNER_HOME"] = str(home)
    os.environ["NEMO_TELEMETRY_ENABLED"] = "false"
    try:
        from data_designer.engine.models import telemetry

        modules = _DataDesignerModules()
    except ImportError as exc:
        raise ConfigError(
            "engine data_designer needs the 'synthetic' extra (data-designer 0.9.7): uv sync --extra synthetic"
        ) from exc
    if telemetry.TELEMETRY_ENABLED:
        raise ConfigError(
            "Data Designer was imported with telemetry enabled; set NEMO_TELEMETRY_ENABLED=false in the environment"
        )
    logging.getLogger("data_designer").setLevel(logging.WARNING)
    return modules
