"""Standalone CLIs: ``python SCRIPT DIR --out FILE.jsonl``."""
