"""Ready-to-train packages built from the sources."""
