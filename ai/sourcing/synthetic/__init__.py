"""Synthetic sources: grounded conversations, counterfactual demographic variants and preference pairs.

``read_source`` is the pipeline entry for ``kind: synthetic``. These sources run after every other
source and build on what they produced, through the ``SourceContext`` the orchestrator hands in
(passages, conversations, and the run's per-record gates). ``options.mode`` selects what is made;
see ``ai.sourcing.synthetic.options`` for every option and docs/SYNTHETIC.md for the design.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ai.core.config import ConfigError, SourceConfig
from ai.core.context import SourceContext
from ai.core.records import Conversation
from ai.core.stage import Rejection
from ai.sourcing.synthetic.audit import bias_audit
from ai.sourcing.synthetic.context import MaterialContext
from ai.sourcing.synthetic.counterfactual import read_counterfactual
from ai.sourcing.synthetic.grounded import read_grounded
from ai.sourcing.synthetic.options import (
    CounterfactualOptions,
    GroundedOptions,
    PreferenceOptions,
    parse_options,
)
from ai.sourcing.synthetic.preference import read_preference_pairs
from ai.sourcing.synthetic.research import resolve_trigger_paths

__all__ = ["MaterialContext", "bias_audit", "parse_options", "read_source"]


def read_source(
    source: SourceConfig, base_dir: Path, context: SourceContext | None = None
) -> Iterator[Conversation | Rejection]:
    options = parse_options(source)
    if context is None:
        raise ConfigError(
            f"source {source.name!r} (synthetic) builds on the run's other sources; "
            "it can only run inside a pipeline run or with a MaterialContext"
        )
    if isinstance(options, GroundedOptions):
        options = resolve_trigger_paths(options, base_dir)
        if _uses_data_designer(source, options):
            from ai.sourcing.synthetic.data_designer import read_data_designer

            yield from read_data_designer(source, options, context)
        else:
            yield from read_grounded(source, options, context)
    elif isinstance(options, CounterfactualOptions):
        yield from read_counterfactual(source, options, context)
    elif isinstance(options, PreferenceOptions):
        yield from read_preference_pairs(source, options, context)


def _uses_data_designer(source: SourceConfig, options: GroundedOptions) -> bool:
    if options.engine == "data_designer" and options.data_designer is None:
        raise ConfigError(
            f"sources[{source.name}].options: engine data_designer needs a data_designer section"
        )
    return options.engine == "data_designer" or (
        options.engine == "auto" and options.data_designer is not None
    )
