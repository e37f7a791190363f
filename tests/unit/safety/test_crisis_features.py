"""The model's fast analyzer must give exactly scikit-learn's features (the model was trained on them)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

from ai.safety.crisis_detection.features import (
    N_FEATURES,
    NGRAM_RANGE,
    TOKEN_PATTERN,
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
