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
        yield from read_grounded(source, resolve_trigger_paths(options, base_dir), context)
    elif isinstance(options, CounterfactualOptions):
        yield from read_counterfactual(source, options, context)
    elif isinstance(options, PreferenceOptions):
        yield from read_preference_pairs(source, options, context)
