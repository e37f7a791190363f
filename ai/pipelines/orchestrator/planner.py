"""Turn a config into an ordered list of steps, each with validated options and a chained hash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from ai.core.config import ConfigError, PipelineConfig, stable_hash
from ai.core.stage import GlobalStage, Stage
from ai.pipelines.orchestrator.registry import STAGE_ORDER, UnknownStageError, stage_class, stage_target
from ai.pipelines.orchestrator.shard_runner import StepRun

# Options the splitter takes from the config's top-level `split:` section.
SPLIT_KEYS = ("train", "validation", "test")


@dataclass(frozen=True)
class PlannedStep:
    name: str
    cls: type[Stage]
    options: dict[str, Any]
    hash: str

    @property
    def is_global(self) -> bool:
        return issubclass(self.cls, GlobalStage)

    def step_run(self, seed: int, mode: str = "map", plan_path: str = "") -> StepRun:
        return StepRun(
            name=self.name,
            target=stage_target(self.cls),
            version=self.cls.version,
            options=self.options,
            seed=seed,
            hash=self.hash,
            mode=mode,
            plan_path=plan_path,
        )


def ingest_hash(config: PipelineConfig) -> str:
    sources = [msgspec.to_builtins(s) for s in config.sources if s.enabled]
    return stable_hash(["ingest", "1", sources, config.run.shard_size, config.base_dir])


def plan_stages(config: PipelineConfig) -> list[PlannedStep]:
    """The enabled stages in registry order, options validated, hashes chained from the ingest hash."""
    unknown = [name for name in config.stages if name not in STAGE_ORDER]
    if unknown:
        raise ConfigError(f"stages.{unknown[0]}: unknown stage; known stages are {', '.join(STAGE_ORDER)}")
    steps: list[PlannedStep] = []
    previous = ingest_hash(config)
    for name in STAGE_ORDER:
        raw = dict(config.stages.get(name) or {})
        try:
            cls = stage_class(name)
        except (ImportError, UnknownStageError) as exc:
            # A registered stage that cannot load is a broken install, never a stage to skip quietly.
            raise ConfigError(f"stages.{name}: this stage cannot be loaded ({exc})") from exc
        if not raw.get("enabled", cls.enabled_by_default):
            continue
        raw["enabled"] = True
        if name == "split":
            for key in SPLIT_KEYS:
                if key in cls.Options.__struct_fields__:
                    raw.setdefault(key, getattr(config.split, key))
        options = validate_options(name, cls, raw)
        digest = stable_hash([previous, name, cls.version, options, config.run.seed])
        steps.append(PlannedStep(name, cls, options, digest))
        previous = digest
    return steps


def validate_options(name: str, cls: type[Stage], raw: dict[str, Any]) -> dict[str, Any]:
    try:
        options = msgspec.convert(raw, cls.Options, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if " - at `$." in message:
            what, where = message.rsplit(" - at `$.", 1)
            raise ConfigError(f"stages.{name}.{where.rstrip('`')}: {what}") from None
        raise ConfigError(f"stages.{name}: {message.replace(' - at `$`', '')}") from None
    return msgspec.to_builtins(options)


def run_hash(config: PipelineConfig, steps: list[PlannedStep]) -> str:
    last = steps[-1].hash if steps else ingest_hash(config)
    return stable_hash([last, msgspec.to_builtins(config.export)])
