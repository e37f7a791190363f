"""Training-package tooling: standalone extraction CLIs over ai.sourcing."""
