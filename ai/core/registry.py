"""The two registries: every kind of source and every stage, with what the rest of the code needs to know.

One entry per kind of thing, so adding a source kind or a stage is one file plus one line here. The
entries hold module names, not modules: nothing is imported until a run uses it, and ``ai/core`` keeps
importing nothing of ours outside ``ai/core``.

- Ingest reads a source with ``read_source`` from its kind's ``reader`` module; ``derived`` kinds build on
  what the other sources produced, so they run after them and also receive a ``SourceContext``.
- The orchestrator runs the stages in the order of ``STAGES``; the report shows the stages marked
  ``gate`` in its pass/fail-by-reason table.
"""

from __future__ import annotations

from typing import NamedTuple


class SourceKindEntry(NamedTuple):
    kind: str
    reader: str  # module whose read_source(source, base_dir[, context]) yields records and rejections
    derived: bool = False  # reads what the other sources produced (runs after them, with a context)


class StageEntry(NamedTuple):
    name: str
    module: str  # module defining the Stage subclass whose ``name`` is this entry's name
    gate: bool = False  # a safety or quality gate: shown in the report's gate table


SOURCES: tuple[SourceKindEntry, ...] = (
    SourceKindEntry("dataset", "ai.sourcing.datasets"),
    SourceKindEntry("academic", "ai.sourcing.academic"),
    SourceKindEntry("books", "ai.sourcing.books"),
    SourceKindEntry("youtube", "ai.sourcing.youtube"),
    SourceKindEntry("synthetic", "ai.sourcing.synthetic", derived=True),
)

# Default order: preprocess -> dedup -> safety -> quality gates -> split.
STAGES: tuple[StageEntry, ...] = (
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
)

SOURCE_KINDS: tuple[str, ...] = tuple(entry.kind for entry in SOURCES)
SOURCE_READERS: dict[str, str] = {entry.kind: entry.reader for entry in SOURCES}
DERIVED_KINDS: frozenset[str] = frozenset(entry.kind for entry in SOURCES if entry.derived)
STAGE_MODULES: dict[str, str] = {entry.name: entry.module for entry in STAGES}
GATE_STAGES: tuple[str, ...] = tuple(entry.name for entry in STAGES if entry.gate)
