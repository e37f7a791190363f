"""The source registry: every kind of source, the module that reads it, and whether it is derived.

One entry per kind, so adding a source kind is one reader package plus one line here (and its name in
``ai.core.config.SOURCE_KINDS``, the config vocabulary). Entries hold module names, not modules: nothing is
imported until a run uses it. Ingest reads a source with ``read_source`` from its kind's ``reader`` module;
``derived`` kinds build on what the other sources produced, so they run after them and also receive a
``SourceContext``.
"""

from __future__ import annotations

from typing import NamedTuple

from ai.core.config import SOURCE_KINDS


class SourceKindEntry(NamedTuple):
    kind: str
    reader: str  # module whose read_source(source, base_dir[, context]) yields records and rejections
    derived: bool = False  # reads what the other sources produced (runs after them, with a context)


SOURCES: tuple[SourceKindEntry, ...] = (
    SourceKindEntry("dataset", "ai.sourcing.datasets"),
    SourceKindEntry("academic", "ai.sourcing.academic"),
    SourceKindEntry("books", "ai.sourcing.books"),
    SourceKindEntry("youtube", "ai.sourcing.youtube"),
    SourceKindEntry("synthetic", "ai.sourcing.synthetic", derived=True),
)
if tuple(entry.kind for entry in SOURCES) != SOURCE_KINDS:
    raise RuntimeError("ai/sourcing/registry.py and ai.core.config.SOURCE_KINDS must list the same kinds")

SOURCE_READERS: dict[str, str] = {entry.kind: entry.reader for entry in SOURCES}
DERIVED_KINDS: frozenset[str] = frozenset(entry.kind for entry in SOURCES if entry.derived)
