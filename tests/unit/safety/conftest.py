"""Fixtures for the safety tests: the de-duplicated crisis development corpus, loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai.safety.crisis_detection.corpora import Example, load_development_corpus


@pytest.fixture(scope="session")
def crisis_corpus(shared_data: Path) -> tuple[list[Example], dict[str, int]]:
    return load_development_corpus(shared_data / "crisis")
