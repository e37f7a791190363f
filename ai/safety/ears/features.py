"""Features of (client text, reply) pairs, shared by training and inference.

Two blocks side by side in one sparse row:

1. the reply's word 1-2-grams with every word that mirrors the client's content (its first five letters
   are a content stem of the client text, see ``rules.content_stems``) replaced by the token ``echo``,
   hashed into ``n_features`` buckets (binary presence, rows scaled to unit length), so "so youre
   worried about echo" generalises across topics: the model learns what a reflection looks like around
   the client's own words, which a phrase list of stock empathy cannot fake;
2. a few dense pair features: how much of the client's content the reply mirrors and how focused on it
   the reply is, length, question marks, person, and which rubric rules matched (their weights are
   learned, never set by hand).

Speed (model version 3): a batch is tokenised once in Python (a byte-table translate and a split per
text) and everything after is array arithmetic. Words, 5-letter stems and n-grams are MurmurHash3
values (a bigram's bucket mixes its two words' hashes), and "does this reply word mirror the client"
is a sorted-key lookup over the whole batch instead of a set test per word. Version 2 also had a block
of the reply's plain n-grams; the echo block holds the same n-grams wherever the reply does not mirror
the client, and dropping it moved the validation AUCs by at most 0.01.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.sparse import csr_matrix, hstack

from ai.safety.crisis_detection.features import binary_l2_rows
from ai.safety.ears.rules import RULE_NAMES, STOPWORDS, rubric_rules

N_FEATURES = 2**18
ECHO = "echo"
DENSE_NAMES = (
    "shared_content_words",
    "mirrors_any",
    "focus_on_client_words",
    "client_words_mirrored",
    "reply_length",
    "question_mark",
    "second_person",
    "first_person",
    "no_client_text",
    *(f"rule_{name}" for name in RULE_NAMES),
)

_RULE_COLUMN = {name: DENSE_NAMES.index(f"rule_{name}") for name in RULE_NAMES}
# Byte tables for the batch's text: letters a-z stay, the text separator (NUL) stays, every other byte
# becomes a space; the reply table also drops the ASCII apostrophe (the typographic one is removed
# from the text before encoding).
_SEPARATOR = 0
_CONTENT_TABLE = bytes(c if 97 <= c <= 122 or c == _SEPARATOR else 32 for c in range(256))
_BASE = np.uint64(27)
_STEM_LETTERS = 5
# Odd 64-bit multipliers that mix a bigram's two word codes into one (wrapping uint64 arithmetic).
_LEFT, _RIGHT = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)


class Words(NamedTuple):
    """Every word of a batch of texts, in order, as numbers."""

    rows: np.ndarray  # int64: the text each word is in
    lengths: np.ndarray  # int64: letters
    codes: np.ndarray  # uint64: sum of letter (a=1..z=26) x 27^position, wrapping: exact up to 13 letters
    stems: np.ndarray  # int64: the code of the first five letters (exact; below 27^5 < 2^24)


def words_of(texts: list[str], drop_apostrophes: bool = False) -> Words:
    """The runs of letters a-z of each lower-cased text (``rules.letter_runs``), or with
    ``drop_apostrophes`` the runs once apostrophes (' and ’) are removed ("you're" = "youre"), for the whole
    batch at once: one join, one encode, one byte translate, then numpy."""
    joined = "\0".join(texts)
    if joined.count("\0") != max(0, len(texts) - 1):
        joined = "\0".join(text.replace("\0", " ") for text in texts)
    lowered = joined.lower()
    if drop_apostrophes and not lowered.isascii():
        lowered = lowered.replace("’", "")
    data = lowered.encode("utf-8", "replace").translate(_CONTENT_TABLE, b"'" if drop_apostrophes else b"")
    text = np.frombuffer(data, dtype=np.uint8)
    letter = text >= 97
    begins = letter.copy()
    begins[1:] &= ~letter[:-1]
    starts = np.flatnonzero(begins)
    letters_at = np.flatnonzero(letter)
    if not starts.size:
        empty = np.zeros(0, dtype=np.int64)
        return Words(empty, empty, empty.astype(np.uint64), empty)
    first_letter = np.flatnonzero(begins[letters_at])  # where each word's letters begin among all letters
    lengths = np.diff(np.append(first_letter, letters_at.size))
    offsets = np.arange(letters_at.size, dtype=np.int64) - np.repeat(first_letter, lengths)
    terms = (text[letters_at] - 96).astype(np.uint64) * _powers(int(lengths.max()))[offsets]
    codes = np.add.reduceat(terms, first_letter)
    stems = np.add.reduceat(np.where(offsets < _STEM_LETTERS, terms, np.uint64(0)), first_letter)
    rows = np.searchsorted(np.flatnonzero(text == _SEPARATOR), starts)
    return Words(rows.astype(np.int64), lengths.astype(np.int64), codes, stems.astype(np.int64))


def _powers(n: int) -> np.ndarray:
    powers = np.ones(max(1, n), dtype=np.uint64)
    powers[1:] = _BASE
    return np.cumprod(powers)


def _codes(words: list[str]) -> np.ndarray:
    return np.sort(words_of([" ".join(words)]).codes)


_STOPWORD_CODES = _codes(sorted(STOPWORDS))
_ECHO_CODE = _codes([ECHO])[0]
_SECOND_PERSON = _codes(["you", "your", "youre", "yours", "yourself"])
_FIRST_PERSON = _codes(["i", "im", "me", "my", "ive", "myself"])
_EXACT_LETTERS = 13  # 27^13 < 2^64: codes of words this long or shorter never collide


def stem_keys(texts: list[str]) -> np.ndarray:
    """Sorted distinct keys ``text index << 32 | stem code`` for every content stem of every text:
    ``rules.content_stems`` of the whole batch at once (4+ letters, not a stopword, first five)."""
    words = words_of(texts)
    stopword = contains(_STOPWORD_CODES, words.codes) & (words.lengths <= _EXACT_LETTERS)
    keep = (words.lengths >= 4) & ~stopword
    return _distinct((words.rows[keep] << 32) | words.stems[keep])


def _distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique hashes first, several times slower here)."""
    keys = np.sort(keys)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if keys.size else keys


def contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which of ``keys`` are in ``sorted_keys`` (sorted, distinct)."""
    if not sorted_keys.size:
        return np.zeros(keys.size, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[at] == keys


class PairBatch(NamedTuple):
    """Features of a batch of replies, and the stems they were built from."""

    hashed: csr_matrix  # the echo n-gram block
    dense: np.ndarray  # float32, one column per DENSE_NAMES
    reply_stems: np.ndarray  # stem_keys of the replies (reply index << 32 | stem)
    client_stems: np.ndarray  # stem_keys of the client turns (client turn index << 32 | stem)


class PairFeaturizer:
    """(client texts, replies) -> features with ``n_columns`` columns: ``n_features`` hashed n-gram
    columns, then the ``DENSE_NAMES`` columns."""

    def __init__(self, n_features: int = N_FEATURES) -> None:
        if n_features < 2:
            raise ValueError(f"n_features must be at least 2, got {n_features}")
        self.n_features = int(n_features)
        self.rules = rubric_rules()
        self.n_columns = self.n_features + len(DENSE_NAMES)

    def transform(
        self, clients: list[str], replies: list[str], rule_hits: list[set[str]] | None = None
    ) -> csr_matrix:
        """One CSR matrix (what training fits on). ``rule_hits`` (the rubric rules matching each reply)
        may be passed in when already known."""
        hashed, dense = self.blocks(clients, replies, rule_hits)
        return hstack([hashed, csr_matrix(dense)], format="csr", dtype=np.float32)

    def blocks(
        self, clients: list[str], replies: list[str], rule_hits: list[set[str]] | None = None
    ) -> tuple[csr_matrix, np.ndarray]:
        """The hashed n-gram block (CSR) and the dense block (float32 array) of the pairs."""
        if len(clients) != len(replies):
            raise ValueError(f"{len(clients)} client texts for {len(replies)} replies")
        batch = self.encode(clients, np.arange(len(replies), dtype=np.int64), replies, rule_hits)
        return batch.hashed, batch.dense

    def encode(
        self,
        client_turns: list[str],
        answered_by: np.ndarray,
        replies: list[str],
        rule_hits: list[set[str]] | None = None,
    ) -> PairBatch:
        """Features of each reply against the client turns it answers: ``client_turns[i]`` is answered
        by ``replies[answered_by[i]]`` (a reply's client text is all the turns it answers, in order)."""
        n = len(replies)
        if len(client_turns) != answered_by.size:
            raise ValueError(f"{answered_by.size} answering replies for {len(client_turns)} client turns")
        if rule_hits is None:
            rule_hits = [self.rules.matching(reply) for reply in replies]
        client_stems = stem_keys(client_turns)
        # The stems of the client text each reply answers: keys reply index << 32 | stem.
        answered = _distinct((answered_by[client_stems >> 32] << 32) | (client_stems & _LOW32))
        reply_stems = stem_keys(replies)
        shared = np.bincount(reply_stems[contains(answered, reply_stems)] >> 32, minlength=n)
        said = np.array([bool(t.strip()) for t in client_turns], dtype=bool)
        spoken = np.bincount(answered_by[said], minlength=n)

        tokens = words_of(replies, drop_apostrophes=True)
        rows = tokens.rows
        # A word of 4+ letters mirrors the client when its first five letters are a client stem.
        long_at = np.flatnonzero(tokens.lengths >= 4)
        echoed = tokens.codes.copy()
        echoed[long_at[contains(answered, (rows[long_at] << 32) | tokens.stems[long_at])]] = _ECHO_CODE
        person = tokens.lengths <= _EXACT_LETTERS
        table = np.column_stack(
            (
                np.bincount(rows, minlength=n),
                shared,
                np.bincount(reply_stems >> 32, minlength=n),
                np.bincount(answered >> 32, minlength=n),
                [("?" in reply) for reply in replies],
                np.bincount(rows[person & contains(_SECOND_PERSON, tokens.codes)], minlength=n),
                np.bincount(rows[person & contains(_FIRST_PERSON, tokens.codes)], minlength=n),
                spoken == 0,
            )
        ).astype(np.float64)
        return PairBatch(self._hashed(echoed, rows, n), _dense(table, rule_hits), reply_stems, client_stems)

    def _hashed(self, codes: np.ndarray, rows: np.ndarray, n: int) -> csr_matrix:
        """Unigram buckets, and each adjacent pair of words of one reply mixed into a bigram bucket."""
        pair = rows[1:] == rows[:-1]
        bigrams = codes[:-1][pair] * _LEFT + codes[1:][pair] * _RIGHT
        columns = _mix(np.concatenate((codes, bigrams))) % np.uint64(self.n_features)
        return binary_l2_rows(
            np.concatenate((rows, rows[1:][pair])), columns.astype(np.int64), n, self.n_features
        )


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves the low bits the buckets are taken from."""
    values = values ^ (values >> np.uint64(30))
    values *= np.uint64(0xBF58476D1CE4E5B9)
    values ^= values >> np.uint64(27)
    values *= np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


_LOW32 = np.int64(0xFFFFFFFF)


def _dense(table: np.ndarray, rule_hits: list[set[str]]) -> np.ndarray:
    """``DENSE_NAMES`` from the per-pair counts (words, shared stems, reply stems, client stems,
    question mark, second-person words, first-person words, no client text) and the rules matched."""
    words, shared, reply_stems, client_stems = table[:, 0], table[:, 1], table[:, 2], table[:, 3]
    n_words = np.maximum(1.0, words)
    dense = np.zeros((table.shape[0], len(DENSE_NAMES)), dtype=np.float32)
    dense[:, 0] = np.minimum(shared, 6.0) / 6.0
    dense[:, 1] = shared > 0
    dense[:, 2] = np.minimum(1.0, 2.0 * shared / np.maximum(1.0, reply_stems))
    dense[:, 3] = shared / np.maximum(1.0, client_stems)
    dense[:, 4] = np.minimum(1.0, np.log1p(words) / 6.0)
    dense[:, 5] = table[:, 4]
    dense[:, 6] = table[:, 5] / n_words
    dense[:, 7] = table[:, 6] / n_words
    dense[:, 8] = table[:, 7]
    for name, column in _RULE_COLUMN.items():
        dense[:, column] = [name in hits for hits in rule_hits]
    return dense
