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

from ai.safety.crisis_detection.features import TOKEN_PATTERN, HashedNgrams, binary_l2_rows

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
_TOKEN = re.compile(TOKEN_PATTERN)
# Every ASCII character that is neither a token character nor "_" becomes a space, except NUL: inside the
# separator it is a piece of its own. What is left between spaces is a run of [a-z0-9_] and non-ASCII
# characters. (One character to one character: str.translate's fast path.)
_ASCII_BREAKS = str.maketrans(
    {chr(code): " " for code in range(1, 128) if not (chr(code).isalnum() or chr(code) == "_")}
)


def batch_ngrams(texts: list[str], n_features: int) -> csr_matrix:
    """The binary, l2-normalised hashed word 1-2-gram matrix of ``texts`` (what ``HashedNgrams(n_features,
    (1, 2)).transform`` returns), with every distinct unigram and bigram of the batch hashed once.

    Per-text hashing spent most of the content stage's time building bigram strings and hashing each
    occurrence; a batch of conversations repeats most of its words and many of its word pairs.
    """
    if any("\x00" in text for text in texts):
        return HashedNgrams(n_features, (1, 2)).transform(texts)
    words, ids = _token_ids(normalise_fast(_SEPARATOR.join(texts)))
    separator = ids == words.index("\x00")
    # Slot 2j holds the column of token j's unigram and slot 2j+1 that of the bigram it starts, so each
    # text's grams are one run of slots (no sort across the batch). Distinct grams are hashed once.
    columns = np.zeros(2 * ids.size, dtype=np.int64)
    used = np.zeros(2 * ids.size, dtype=bool)
    columns[0::2] = _buckets(np.fromiter(map(mmh3.hash, words), np.int64, len(words)), n_features)[ids]
    used[0::2] = ~separator
    pair_ok = ~separator[:-1] & ~separator[1:]
    distinct, inverse = np.unique(ids[:-1][pair_ok] * len(words) + ids[1:][pair_ok], return_inverse=True)
    first, second = np.divmod(distinct, len(words))
    pair_hashes = np.fromiter(
        (mmh3.hash(f"{words[a]} {words[b]}") for a, b in zip(first.tolist(), second.tolist(), strict=True)),
        np.int64,
        distinct.size,
    )
    bigram_slots = 2 * np.flatnonzero(pair_ok) + 1
    columns[bigram_slots] = _buckets(pair_hashes, n_features)[inverse]
    used[bigram_slots] = True
    text_of_slot = np.repeat(np.cumsum(separator), 2)[used]  # separators before a slot = its text
    return binary_l2_rows(text_of_slot, columns[used], len(texts), n_features)


_APOSTROPHES = str.maketrans("", "", "'’`´")
_MOJIBAKE_APOSTROPHE = "â\x80\x99"  # U+2019 read as Latin-1, as one training set stores it
_HANDLES = re.compile(r"@\w+|https?://\S+")


def normalise_fast(text: str) -> str:
    """``normalise_for_model(text)``, without its two regex passes when they cannot change anything:
    apostrophes go by ``str.translate`` (none of them is part of the mojibake form, so removing that
    first gives the same text), and handles and links are only looked for when "@" or "http" occurs."""
    text = text.lower().replace(_MOJIBAKE_APOSTROPHE, "").translate(_APOSTROPHES)
    return _HANDLES.sub(" ", text) if "@" in text or "http" in text else text


def _token_ids(text: str) -> tuple[list[str], np.ndarray]:
    """The distinct tokens of ``text`` (``TOKEN_PATTERN`` matches, and the NUL separator) and the token
    sequence as indices into them.

    The regex costs most of the hashing time, so it only reads the pieces that need it: after ASCII
    punctuation becomes space, a piece of ASCII letters and digits is one token (the spaces are the word
    boundaries the pattern asks for), and any other piece (with "_" or non-ASCII characters, where the
    pattern's unicode word boundaries decide) is tokenised by the pattern itself, once per distinct piece.
    """
    pieces = text.translate(_ASCII_BREAKS).split()
    distinct = list({"\x00", *pieces})
    piece_index = {piece: i for i, piece in enumerate(distinct)}
    tokens_of = [
        [piece] if piece == "\x00" or (piece.isascii() and piece.isalnum()) else _TOKEN.findall(piece)
        for piece in distinct
    ]
    words = list(dict.fromkeys(token for tokens in tokens_of for token in tokens))
    word_index = {word: i for i, word in enumerate(words)}
    lengths = np.fromiter(map(len, tokens_of), np.int64, len(tokens_of))
    flat = np.fromiter((word_index[t] for tokens in tokens_of for t in tokens), np.int64, int(lengths.sum()))
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    sequence = np.fromiter(map(piece_index.__getitem__, pieces), np.int64, len(pieces))
    # Each piece expands to its tokens: piece k of the sequence covers flat[starts[k] : starts[k] + len].
    if np.all(lengths == 1):  # every piece is one token (ASCII words only)
        return words, flat[sequence]
    counts = lengths[sequence]
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return words, flat[np.repeat(starts[sequence], counts) + offsets]


def _buckets(hashes: np.ndarray, n_features: int) -> np.ndarray:
    """scikit-learn's FeatureHasher column of each signed MurmurHash3 (as ``HashedNgrams`` computes it):
    the one hash whose absolute value overflows int32 has its own bucket."""
    return np.where(
        hashes == -(2**31), (2**31 - 1 - (n_features - 1)) % n_features, np.abs(hashes) % n_features
    )
