"""The source and stage registries name modules that hold what they promise."""

from __future__ import annotations

import importlib
import typing

from ai.core.config import SOURCE_KINDS, SourceKind
from ai.core.stage import Stage
from ai.pipelines.orchestrator.registry import GATE_STAGES, STAGE_ORDER, STAGES, stage_class
from ai.sourcing.registry import DERIVED_KINDS, SOURCES


def test_every_source_kind_has_a_reader_and_the_config_accepts_exactly_those() -> None:
    assert typing.get_args(SourceKind) == SOURCE_KINDS
    for entry in SOURCES:
        assert callable(importlib.import_module(entry.reader).read_source), entry.kind
    assert {"synthetic"} == DERIVED_KINDS


def test_every_stage_entry_names_a_stage_of_that_name_in_its_module() -> None:
    assert [entry.name for entry in STAGES] == STAGE_ORDER
    for entry in STAGES:
        cls = stage_class(entry.name)
        assert issubclass(cls, Stage) and cls.name == entry.name and cls.__module__ == entry.module


def test_the_report_gate_table_shows_the_safety_and_quality_gates_in_run_order() -> None:
    assert GATE_STAGES == ("licence", "crisis", "content", "ears", "quality", "contamination")
