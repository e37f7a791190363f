"""Academic sourcing: PubMed, PMC and Semantic Scholar papers as grounding passages."""
