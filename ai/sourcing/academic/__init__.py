"""Academic sourcing: PubMed, PMC and Semantic Scholar papers as grounding passages."""

from ai.sourcing.academic.academic_sourcing import read_source

__all__ = ["read_source"]
