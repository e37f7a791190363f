"""(context, reply) features shared by training and inference, so the two cannot drift apart.

Three kinds of blocks, each the crisis detector's hashed word 1-2-grams (``HashedNgrams``: binary,
l2-normalised, built without scikit-learn):

1. the reply's n-grams;
2. the context's n-grams: the turn the reply answers (the last non-empty preceding turn). What was
   just said shifts what a safe answer looks like. Reading only that turn keeps the cost at one pass
   over the conversation's text: every turn is hashed once, as a reply or as the turn a reply answers
   (reading the last 400 characters of all preceding turns cost three times as much on the benchmark
   corpus; DiaSafety's contexts are single turns anyway);
3. the reply's n-grams again, in the block of the context's *kind* (one of DiaSafety's five unsafe-reply
   categories, predicted from the context, or "no context"). A linear model over blocks 1-2 alone
   cannot express "agreeing is unsafe after a toxic message but fine after a kind one"; crossing the
   reply with the kind of context can, and it lifted held-out AUC on DiaSafety by about 0.02.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import mmh3
import numpy as np
from scipy.sparse import csr_matrix, hstack

from ai.safety.crisis_detection.features import TOKEN_PATTERN, HashedNgrams, normalise_for_model

N_FEATURES = 2**18  # per block
NGRAM_RANGE = (1, 2)
CONTEXT_KINDS = (
    "offending_user",
    "risk_ignorance",
    "unauthorized_expertise",
    "toxicity_agreement",
    "biased_opinion",
)
NO_CONTEXT = len(CONTEXT_KINDS)  # the kind index of a reply with no preceding turn
N_KINDS = NO_CONTEXT + 1


def context_text(turns: Sequence[str]) -> str:
    """The part of the preceding turns the model reads: the last one with any text."""
    return next((t for t in reversed(turns) if t and t.strip()), "")


class PairFeatures:
    """Builds the blocks above; ``assemble`` joins them into the model's input matrix."""

    def __init__(self, n_features: int = N_FEATURES, ngram_range: tuple[int, int] = NGRAM_RANGE) -> None:
        self.hasher = HashedNgrams(n_features, ngram_range)
        self.n_features = self.hasher.n_features
        self.n_columns = self.n_features * (2 + N_KINDS)

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        """``HashedNgrams.transform``, element for element; for word 1-2-grams, by ``batch_ngrams``."""
        if self.hasher.ngram_range == (1, 2):
            return batch_ngrams(list(texts), self.n_features)
        return self.hasher.transform(list(texts))

    def replies(self, replies: Sequence[str]) -> csr_matrix:
        return self.transform(replies)

    def contexts(self, contexts: Sequence[Sequence[str]]) -> csr_matrix:
        return self.transform([context_text(turns) for turns in contexts])

    def assemble(self, replies: csr_matrix, contexts: csr_matrix, kinds: np.ndarray) -> csr_matrix:
        """[reply | context | reply placed in its context kind's block]."""
        crossed = csr_matrix(
            (
                replies.data,
                replies.indices
                + np.repeat(kinds.astype(np.int64), np.diff(replies.indptr)) * self.n_features,
                replies.indptr,
            ),
            shape=(replies.shape[0], self.n_features * N_KINDS),
        )
        return hstack([replies, contexts, crossed], format="csr")


def empty_contexts(contexts: csr_matrix) -> np.ndarray:
    """Rows whose context has not a single word."""
    return contexts.getnnz(axis=1) == 0


# Texts are joined with a separator no token can contain, so the batch is normalised and tokenised in one
# pass; a text that itself contains the NUL character falls back to per-text hashing.
_SEPARATOR = "\n\x00\n"
_TOKENS_AND_SEPARATORS = re.compile(TOKEN_PATTERN + "|\x00")


def batch_ngrams(texts: list[str], n_features: int) -> csr_matrix:
    """The binary, l2-normalised hashed word 1-2-gram matrix of ``texts`` (what ``HashedNgrams(n_features,
    (1, 2)).transform`` returns), with every distinct unigram and bigram of the batch hashed once.

    Per-text hashing spent most of the content stage's time building bigram strings and hashing each
    occurrence; a batch of conversations repeats most of its words and many of its word pairs.
    """
    if any("\x00" in text for text in texts):
        return HashedNgrams(n_features, (1, 2)).transform(texts)
    tokens = _TOKENS_AND_SEPARATORS.findall(normalise_for_model(_SEPARATOR.join(texts)))
    words = list({"\x00", *tokens})
    vocabulary = {word: i for i, word in enumerate(words)}
    ids = np.fromiter(map(vocabulary.__getitem__, tokens), np.int64, len(tokens))
    word_hashes = np.fromiter(map(mmh3.hash, words), np.int64, len(words))
    separator = ids == vocabulary["\x00"]
    rows = np.cumsum(separator)  # the text each token belongs to
    # Bigrams: adjacent tokens of one text, each distinct pair hashed once.
    pair_ok = ~separator[:-1] & ~separator[1:]
    pair_keys = ids[:-1][pair_ok] * len(words) + ids[1:][pair_ok]
    distinct, inverse = np.unique(pair_keys, return_inverse=True)
    first, second = np.divmod(distinct, len(words))
    pair_hashes = np.fromiter(
        (mmh3.hash(f"{words[a]} {words[b]}") for a, b in zip(first.tolist(), second.tolist(), strict=True)),
        np.int64,
        distinct.size,
    )
    hashes = np.concatenate([word_hashes[ids[~separator]], pair_hashes[inverse]])
    gram_rows = np.concatenate([rows[~separator], rows[:-1][pair_ok]])
    columns = _buckets(hashes, n_features)
    return _binary_unit_rows(gram_rows, columns, len(texts), n_features)


def _buckets(hashes: np.ndarray, n_features: int) -> np.ndarray:
    """scikit-learn's FeatureHasher column of each signed MurmurHash3 (as ``HashedNgrams`` computes it):
    the one hash whose absolute value overflows int32 has its own bucket."""
    return np.where(
        hashes == -(2**31), (2**31 - 1 - (n_features - 1)) % n_features, np.abs(hashes) % n_features
    )


def _binary_unit_rows(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int) -> csr_matrix:
    """1 at each (row, column) given (repeats count once), rows scaled to unit length, float32."""
    cells = np.sort(rows * n_columns + columns)  # row-major order, so each row's columns come sorted
    if cells.size:
        cells = cells[np.r_[True, cells[1:] != cells[:-1]]]
    per_row = np.bincount(cells // n_columns, minlength=n_rows)
    indptr = np.r_[0, np.cumsum(per_row)]
    # norm="l2" divides each 1.0 by the row's length in double precision and stores float32.
    data = np.repeat(1.0 / np.sqrt(np.maximum(per_row, 1).astype(np.float64)), per_row).astype(np.float32)
    return csr_matrix((data, (cells % n_columns).astype(np.int32), indptr), shape=(n_rows, n_columns))
