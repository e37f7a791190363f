"""The stage registry: which stages exist, their order, and what the report needs to know of each.

This is the only place that knows the stages and their order: adding a stage is one module plus one line in
``STAGES``. A stage is found by its ``name`` attribute inside the module listed there, so modules are
imported only when a plan uses them; the report shows the stages marked ``gate`` in its gate table.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import NamedTuple

from ai.core.stage import Stage


class StageEntry(NamedTuple):
    name: str
    module: str  # module defining the Stage subclass whose ``name`` is this entry's name
    gate: bool = False  # a safety or quality gate: shown in the report's gate table


# Default order: (licence filter) -> preprocess -> dedup -> safety -> quality gates -> split ->
# contamination. The licence filter comes first so records a user may not use cost no work downstream.
STAGES: tuple[StageEntry, ...] = (
    StageEntry("licence", "ai.pipelines.orchestrator.licence_filter", gate=True),
    StageEntry("normalize", "ai.pipelines.orchestrator.unified_preprocessing_pipeline"),
    StageEntry("roles", "ai.pipelines.orchestrator.unified_preprocessing_pipeline"),
    StageEntry("pii", "ai.pipelines.orchestrator.unified_preprocessing_pipeline"),
    StageEntry("language", "ai.pipelines.orchestrator.unified_preprocessing_pipeline"),
    StageEntry("dedup", "ai.pipelines.orchestrator.dedup"),
    StageEntry("journal_trigger", "ai.journal_dataset_research.trigger"),
    StageEntry("crisis", "ai.pipelines.orchestrator.safety_gates", gate=True),
    StageEntry("content", "ai.pipelines.orchestrator.safety_gates", gate=True),
    StageEntry("ears", "ai.pipelines.orchestrator.ears_compliance_gate", gate=True),
    StageEntry("quality", "ai.pipelines.orchestrator.quality_gates", gate=True),
    StageEntry("split", "ai.pipelines.orchestrator.data_splitter"),
    # After the split: near duplicates across train/validation/test, at a looser similarity than dedup.
    StageEntry("contamination", "ai.pipelines.orchestrator.contamination", gate=True),
)

STAGE_MODULES: dict[str, str] = {entry.name: entry.module for entry in STAGES}
GATE_STAGES: tuple[str, ...] = tuple(entry.name for entry in STAGES if entry.gate)
STAGE_ORDER: list[str] = list(STAGE_MODULES)


class UnknownStageError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@cache
def stage_class(name: str, module: str | None = None) -> type[Stage]:
    """The Stage subclass called ``name`` (from the registry, or from ``module`` when given)."""
    module_name = module or STAGE_MODULES.get(name)
    if module_name is None:
        raise UnknownStageError(f"unknown stage {name!r}; known stages: {', '.join(STAGE_ORDER)}")
    mod = importlib.import_module(module_name)
    for obj in vars(mod).values():
        if isinstance(obj, type) and issubclass(obj, Stage) and getattr(obj, "name", None) == name:
            return obj
    raise UnknownStageError(f"module {module_name} defines no stage named {name!r}")


def stage_target(cls: type[Stage]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


@cache
def resolve_target(target: str) -> type[Stage]:
    module_name, _, qualname = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Stage)):
        raise UnknownStageError(f"{target} is not a Stage")
    return obj
