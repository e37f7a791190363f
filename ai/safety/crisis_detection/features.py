"""Text features shared by training and inference, so the two can never drift apart.

The model sees lower-cased word unigrams and bigrams hashed into a fixed number of buckets. Hashing
keeps the artifact to a weight vector (no vocabulary to ship) and needs no fitting, so a model trained
here is loaded anywhere by rebuilding the same vectorizer from the few numbers in the model metadata.
"""

from __future__ import annotations

import itertools
import re

from sklearn.feature_extraction.text import HashingVectorizer

N_FEATURES = 2**18
NGRAM_RANGE = (1, 2)
TOKEN_PATTERN = r"(?u)\b[a-z0-9]+\b"  # nosec B105  # a tokenizer regex, not a password

# Apostrophes are dropped rather than split on so "don't" and the scraped "dont" are the same token;
# the mojibake form of U+2019 appears in one of the training sets.
_APOSTROPHES = re.compile(r"['’`´]|â\x80\x99")
_HANDLES = re.compile(r"@\w+|https?://\S+")
_TOKEN = re.compile(TOKEN_PATTERN)


def normalise_for_model(text: str) -> str:
    return _HANDLES.sub(" ", _APOSTROPHES.sub("", text.lower()))


def make_vectorizer(
    n_features: int = N_FEATURES, ngram_range: tuple[int, int] = NGRAM_RANGE
) -> HashingVectorizer:
    # For unigrams + bigrams our own analyzer yields exactly scikit-learn's n-grams, a third faster.
    fast = {"analyzer": unigrams_and_bigrams} if tuple(ngram_range) == (1, 2) else {}
    return HashingVectorizer(
        n_features=n_features,
        ngram_range=ngram_range,
        token_pattern=TOKEN_PATTERN,
        lowercase=False,  # normalise_for_model already did it, once
        preprocessor=normalise_for_model,
        alternate_sign=False,
        binary=True,  # presence, not counts: long Reddit posts and short tweets then score alike
        norm="l2",
        dtype="float32",
        **fast,
    )


def unigrams_and_bigrams(text: str) -> list[str]:
    """The model's tokens, then each adjacent pair joined by a space (scikit-learn's order)."""
    tokens = _TOKEN.findall(normalise_for_model(text))
    return tokens + list(map(" ".join, itertools.pairwise(tokens)))
