"""The model's fast analyzer must give exactly scikit-learn's features (the model was trained on them)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.feature_extraction.text import HashingVectorizer

from ai.safety.crisis_detection.features import (
    N_FEATURES,
    NGRAM_RANGE,
    TOKEN_PATTERN,
    HashedNgrams,
    make_vectorizer,
    normalise_for_model,
    unigrams_and_bigrams,
)


def _reference() -> HashingVectorizer:
    return HashingVectorizer(
        n_features=N_FEATURES,
        ngram_range=NGRAM_RANGE,
        token_pattern=TOKEN_PATTERN,
        lowercase=False,
        preprocessor=normalise_for_model,
        alternate_sign=False,
        binary=True,
        norm="l2",
        dtype="float32",
    )


def test_bigrams_follow_the_tokens() -> None:
    assert unigrams_and_bigrams("I DON'T want @bob to go") == [
        "i", "dont", "want", "to", "go", "i dont", "dont want", "want to", "to go",
    ]  # fmt: skip
    assert unigrams_and_bigrams("") == [] and unigrams_and_bigrams("one") == ["one"]


def test_fast_vectorizer_equals_scikit_learns_on_real_text(shared_data: Path) -> None:
    with (shared_data / "conversations" / "esconv_hf_valid.jsonl").open(encoding="utf-8") as handle:
        texts = [turn["text"] for line in handle for turn in json.loads(line)["dialog"]]
    texts += ["", "😀", "İstanbul’s ŞEHİR https://x.y/z", "don't   stop\n\nme"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = make_vectorizer().transform(texts)
    reference = _reference().transform(texts)
    assert fast.dtype == reference.dtype and fast.shape == reference.shape
    assert np.array_equal(fast.indptr, reference.indptr) and np.array_equal(fast.indices, reference.indices)
    assert np.array_equal(fast.data, reference.data)


def _same_matrix(ours, reference) -> None:  # type: ignore[no-untyped-def]
    reference.sort_indices()
    assert ours.dtype == reference.dtype == np.float32 and ours.shape == reference.shape
    assert np.array_equal(ours.indptr, reference.indptr)
    assert np.array_equal(ours.indices, reference.indices)
    assert np.array_equal(ours.data, reference.data)


def test_hashed_ngrams_build_scikit_learns_matrix_on_real_text(shared_data: Path) -> None:
    """Inference features come without scikit-learn; they must be the trained model's, bit for bit."""
    with (shared_data / "conversations" / "esconv_hf_valid.jsonl").open(encoding="utf-8") as handle:
        texts = [turn["text"] for line in handle for turn in json.loads(line)["dialog"]]
    texts += ["", "   ", "😀", "İstanbul’s ŞEHİR https://x.y/z", "don't   stop\n\nme", "go " * 5000]
    for n_features, ngram_range in [(N_FEATURES, NGRAM_RANGE), (1000, (1, 2)), (4096, (1, 3)), (997, (2, 2))]:
        ours = HashedNgrams(n_features, ngram_range).transform(texts)
        _same_matrix(ours, make_vectorizer(n_features, ngram_range).transform(texts))
    assert HashedNgrams().transform([]).shape == (0, N_FEATURES)


@given(st.lists(st.text(max_size=60), min_size=1, max_size=8))
def test_hashed_ngrams_equal_scikit_learns_on_generated_text(texts: list[str]) -> None:
    _same_matrix(HashedNgrams(512).transform(texts), make_vectorizer(512).transform(texts))


def test_hashed_column_handles_the_overflowing_hash() -> None:
    featurizer = HashedNgrams(1000)
    # FeatureHasher's rule for the one hash whose absolute value does not fit in int32.
    assert featurizer._columns(np.array([-(2**31)], dtype=np.int64)).tolist() == [(2**31 - 1 - 999) % 1000]
    assert featurizer.column("kill myself") == make_vectorizer(1000).transform(["kill myself"]).indices.max()
    with pytest.raises(ValueError, match="n_features"):
        HashedNgrams(0)


def test_inference_does_not_import_scikit_learn() -> None:
    """scikit-learn's import costs seconds per worker; the crisis stage must not need it."""
    code = (
        "import sys; from ai.pipelines.orchestrator.safety_gates import CrisisStage; "
        "CrisisStage().detector.detect_batch(['I want to end it all', 'fine']); "
        "print('sklearn' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
