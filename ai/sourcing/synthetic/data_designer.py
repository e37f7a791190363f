"""NeMo Data Designer as the engine that makes the requests (``engine: data_designer``, extra ``synthetic``).

The grounded generator decides *what* to ask (topic-matched client/passage pairs, the versioned prompt)
and judges what comes back; with this engine Data Designer sends the requests. Each batch of prompts is
a seed dataset (``DataFrameSeedSource``, ordered sampling) with one LLM text column, ``reply``, whose
prompt is the seed row's prompt and whose model is the run's ``generation`` endpoint: the same local
llama.cpp server (started by ``ChatEndpoint.base_url``) or remote OpenAI-compatible endpoint the default
engine uses. Answers go into the same response cache under the same keys, so a resumed run asks nothing
twice whichever engine made the first request, and the judge and gates treat both alike.

Nothing but the configured endpoint is contacted: telemetry is switched off before Data Designer is
imported (``NEMO_TELEMETRY_ENABLED=false``), ``DATA_DESIGNER_HOME`` and every artifact live in the run
directory, the metrics port is off (``RunConfig(otel_metrics_port=None)``), and the model health check
is skipped. Data Designer reads the API key from the environment variable the config names.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from ai.core.config import ConfigError
from ai.core.records import content_hash
from ai.sourcing.generation import ChatEndpoint, ChatRequest, Completion, EndpointError, EndpointOptions

PROVIDER = "pipeline-endpoint"


class DesignerTransport:
    """Answers chat requests through Data Designer, consulting and filling the endpoint's cache."""

    def __init__(self, endpoint: ChatEndpoint, workdir: Path) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.batches = 0  # Data Designer runs made by this process

    def __call__(self, requests: list[ChatRequest]) -> list[Completion | EndpointError]:
        answers: list[Completion | EndpointError | None] = [
            self.endpoint.cached(r.messages, r.seed) for r in requests
        ]
        missing = [i for i, a in enumerate(answers) if a is None]
        if missing:
            rows = run_data_designer(
                [_seed_row(requests[i], i) for i in missing],
                self.endpoint.options,
                self.endpoint.base_url(),
                self.workdir,
            )
            self.batches += 1
            by_key = {str(row.get("seed_key")): row for row in rows}
            for i in missing:
                text = str(by_key.get(str(i), {}).get("reply") or "").strip()
                if not text:
                    answers[i] = self.endpoint.failed("malformed_response", "Data Designer returned no reply")
                    continue
                completion = Completion(text, 0, 0, "stop", False)
                self.endpoint.store(requests[i].messages, requests[i].seed, completion)
                answers[i] = completion
        return [a for a in answers if a is not None]


def _seed_row(request: ChatRequest, index: int) -> dict[str, Any]:
    system = next((m["content"] for m in request.messages if m["role"] == "system"), "")
    # Data Designer sends one user prompt: worked exchanges before the real request keep their roles
    # as labels, so the example replies read as examples rather than as part of the request.
    prompt = "\n\n".join(
        m["content"] if m["role"] == "user" else f"Your reply:\n{m['content']}"
        for m in request.messages
        if m["role"] != "system"
    )
    return {"seed_key": str(index), "system": system, "prompt": prompt}


def run_data_designer(
    seeds: list[dict[str, Any]], endpoint: EndpointOptions, base_url: str, workdir: Path
) -> list[dict[str, Any]]:
    """One Data Designer run: a ``reply`` for every seed row; the rows come back as dicts."""
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
        dd.config.LLMTextColumnConfig(
            name="reply", prompt="{{ prompt }}", system_prompt=seeds[0]["system"], model_alias="writer"
        )
    )
    designer = dd.DataDesigner(
        artifact_path=workdir / "artifacts",
        model_providers=[_provider(dd, endpoint, base_url)],
        managed_assets_path=managed_assets,
        auto_configure_logging=False,
    )
    designer.set_run_config(
        dd.config.RunConfig(otel_metrics_port=None, display_tui=False, buffer_size=len(seeds))
    )
    name = "batch-" + content_hash([s["prompt"] for s in seeds], 12)
    results = designer.create(builder, num_records=len(seeds), dataset_name=name)
    return results.load_dataset().to_dict(orient="records")


def _model_config(dd: Any, endpoint: EndpointOptions) -> Any:
    return dd.config.ModelConfig(
        alias="writer",
        model=endpoint.model_name,
        provider=PROVIDER,
        skip_health_check=True,
        inference_parameters=dd.config.ChatCompletionInferenceParams(
            temperature=endpoint.temperature,
            top_p=endpoint.top_p,
            max_tokens=endpoint.max_tokens,
            max_parallel_requests=endpoint.concurrency,
            timeout=int(endpoint.timeout_seconds),
        ),
    )


def _provider(dd: Any, endpoint: EndpointOptions, base_url: str) -> Any:
    # Data Designer resolves ``api_key`` as the name of an environment variable first, so the key itself
    # never passes through our code; with no such variable set the endpoint is called without a key.
    env = endpoint.api_key_env
    api_key = env if env and os.environ.get(env) else None
    return dd.config.ModelProvider(name=PROVIDER, endpoint=base_url, provider_type="openai", api_key=api_key)


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
