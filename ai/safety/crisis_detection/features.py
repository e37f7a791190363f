"""Text features shared by training and inference, so the two can never drift apart.

The model sees lower-cased word unigrams and bigrams hashed into a fixed number of buckets. Hashing
keeps the artifact to a weight vector (no vocabulary to ship) and needs no fitting, so a model trained
here is loaded anywhere by rebuilding the same vectorizer from the few numbers in the model metadata.

Training uses scikit-learn's ``HashingVectorizer`` (``make_vectorizer``). Inference uses
``HashedNgrams``, which builds the very same matrix (same MurmurHash3 columns, same sorted indices,
same float32 values; tests compare them element for element) without importing scikit-learn: that
import costs about 3.5 s in every worker process (it pulls in pandas and scipy.stats), longer than
scoring 100,000 conversations' worth of one shard.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING

import mmh3
import numpy as np
from scipy.sparse import csr_matrix

if TYPE_CHECKING:
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
    from sklearn.feature_extraction.text import HashingVectorizer

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
    return with_bigrams(_TOKEN.findall(normalise_for_model(text)))


def with_bigrams(tokens: list[str]) -> list[str]:
    """The tokens, then each adjacent pair joined by a space (scikit-learn's order)."""
    return tokens + list(map(" ".join, itertools.pairwise(tokens)))


def word_ngrams(text: str, ngram_range: tuple[int, int] = NGRAM_RANGE) -> list[str]:
    """The model's n-grams of ``text`` (scikit-learn's word n-grams over our tokens)."""
    if tuple(ngram_range) == (1, 2):
        return unigrams_and_bigrams(text)
    tokens = _TOKEN.findall(normalise_for_model(text))
    low, high = ngram_range
    grams: list[str] = []
    for n in range(low, high + 1):
        grams += tokens if n == 1 else [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return grams


class HashedNgrams:
    """``make_vectorizer(n_features, ngram_range).transform`` without scikit-learn.

    Binary presence of each hashed n-gram, rows scaled to unit length, float32, CSR with sorted
    column indices: exactly what ``HashingVectorizer(binary=True, norm="l2", alternate_sign=False)``
    returns, so the model's scores are bit for bit the ones it was calibrated with.
    """

    def __init__(self, n_features: int = N_FEATURES, ngram_range: tuple[int, int] = NGRAM_RANGE) -> None:
        if n_features < 1:
            raise ValueError(f"n_features must be positive, got {n_features}")
        self.n_features = int(n_features)
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))

    def column(self, gram: str) -> int:
        """The bucket of one n-gram: scikit-learn's FeatureHasher index of its signed MurmurHash3."""
        return self._columns(np.array([mmh3.hash(gram)], dtype=np.int64))[0].item()

    def transform(self, texts: list[str]) -> csr_matrix:
        return self.transform_grams([word_ngrams(text, self.ngram_range) for text in texts])

    def transform_grams(self, grams_per_text: list[list[str]]) -> csr_matrix:
        """The matrix of texts given as their n-grams (for callers that have tokenised already)."""
        n_texts = len(grams_per_text)
        hashes: list[int] = []
        lengths = np.empty(n_texts, dtype=np.int64)
        for row, grams in enumerate(grams_per_text):
            hashes.extend(map(mmh3.hash, grams))
            lengths[row] = len(grams)
        columns = self._columns(np.array(hashes, dtype=np.int64))
        rows = np.repeat(np.arange(n_texts, dtype=np.int64), lengths)
        return binary_l2_rows(rows, columns, n_texts, self.n_features)

    def _columns(self, hashes: np.ndarray) -> np.ndarray:
        n = self.n_features
        # FeatureHasher maps the one hash whose absolute value overflows int32 to its own bucket.
        return np.where(hashes == -(2**31), (2**31 - 1 - (n - 1)) % n, np.abs(hashes) % n)


def binary_l2_rows(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int) -> csr_matrix:
    """CSR matrix with 1 at each (row, column) pair given (repeats count once), each row scaled to unit
    length, float32, sorted column indices: scikit-learn's ``binary=True, norm="l2"`` output."""
    # One sort gives each row's distinct columns in increasing order (binary=True: presence only).
    keys = np.sort(rows.astype(np.int64) * n_columns + columns)
    if keys.size:  # np.unique is several times slower than sort-and-mask here
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    rows, columns = np.divmod(keys, n_columns)
    per_row = np.bincount(rows, minlength=n_rows)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(per_row, out=indptr[1:])
    # norm="l2" divides each 1.0 by the row's length in double precision and stores float32.
    data = (1.0 / np.sqrt(per_row[rows].astype(np.float64))).astype(np.float32)
    return csr_matrix((data, columns.astype(np.int32), indptr), shape=(n_rows, n_columns))
