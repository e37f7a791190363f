"""Features of a (client text, reply) pair, shared by training and inference.

Two blocks side by side in one sparse row:

1. the reply's word 1-2-grams with every word that mirrors the client's content (same 5-letter stem as
   a content word of the client text) replaced by the token ``echo``, hashed into ``n_features``
   buckets (binary presence, rows scaled to unit length), so "so you're worried about echo" generalises
   across topics: the model learns what a reflection looks like around the client's own words, which a
   phrase list of stock empathy cannot fake;
2. a few dense pair features: how much of the client's content the reply mirrors and how focused on it
   the reply is, length, question marks, person, and which rubric rules matched (their weights are
   learned, never set by hand).

Version 3 of the model dropped the block of the reply's plain n-grams (the echo block holds the same
n-grams wherever the reply does not mirror the client; with it the validation AUCs moved by at most
0.01) and hashes a bigram from its two words' MurmurHash3 values with numpy instead of hashing the
joined string: the whole batch is tokenised in Python once and everything after is array arithmetic.
"""

from __future__ import annotations

import re

import mmh3
import numpy as np
from scipy.sparse import csr_matrix, hstack

from ai.safety.crisis_detection.features import binary_l2_rows
from ai.safety.ears.rules import RULE_NAMES, content_stems, letter_runs, rubric_rules

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

_WORD = re.compile(r"[a-z]+(?:['’][a-z]+)?")
_NO_APOSTROPHE = str.maketrans("", "", "'’")
_SECOND_PERSON = frozenset(("you", "your", "you're", "youre", "yours", "yourself", "you’re"))
_FIRST_PERSON = frozenset(("i", "i'm", "im", "me", "my", "i’m", "i've", "i’ve", "myself"))
_RULE_COLUMN = {name: DENSE_NAMES.index(f"rule_{name}") for name in RULE_NAMES}
# Odd 64-bit multipliers that mix a bigram's two word hashes into one (wrapping uint64 arithmetic).
_LEFT, _RIGHT = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)
_MASK32 = np.int64(0xFFFFFFFF)


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
        self,
        clients: list[str],
        replies: list[str],
        rule_hits: list[set[str]] | None = None,
        reply_stems: list[frozenset[str]] | None = None,
    ) -> tuple[csr_matrix, np.ndarray]:
        """The hashed n-gram block (CSR) and the dense block (float32 array) of the pairs;
        ``reply_stems`` (``content_stems`` of each reply) may be passed in when already known."""
        n = len(replies)
        if len(clients) != n:
            raise ValueError(f"{len(clients)} client texts for {n} replies")
        if rule_hits is None:
            rule_hits = [self.rules.matching(reply) for reply in replies]
        if reply_stems is None:
            reply_stems = [content_stems(reply) for reply in replies]
        tokens: list[str] = []
        counts = []
        for client, reply, stems in zip(clients, replies, reply_stems, strict=True):
            client_stems = content_stems(client)
            words = reply_words(reply)
            tokens += mark_echoes(words, client_stems)
            counts.append(
                (
                    len(words),
                    len(client_stems & stems),
                    len(stems),
                    len(client_stems),
                    "?" in reply,
                    sum(map(_SECOND_PERSON.__contains__, words)),
                    sum(map(_FIRST_PERSON.__contains__, words)),
                    not client.strip(),
                )
            )
        table = np.array(counts, dtype=np.float64).reshape(n, 8)
        return self._hashed(tokens, table[:, 0].astype(np.int64)), _dense(table, rule_hits)

    def _hashed(self, tokens: list[str], lengths: np.ndarray) -> csr_matrix:
        n = lengths.size
        if tokens:  # the model's tokenizer drops apostrophes ("don't" = "dont"); words hold no NUL
            tokens = "\0".join(tokens).translate(_NO_APOSTROPHE).split("\0")
        hashes = np.fromiter(map(mmh3.hash, tokens), dtype=np.int64, count=len(tokens)) & _MASK32
        rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
        pair = rows[1:] == rows[:-1]
        unsigned = hashes.astype(np.uint64)
        bigrams = unsigned[:-1][pair] * _LEFT + unsigned[1:][pair] * _RIGHT
        bigrams ^= bigrams >> np.uint64(29)
        columns = np.concatenate(
            (hashes % self.n_features, (bigrams % np.uint64(self.n_features)).astype(np.int64))
        )
        return binary_l2_rows(np.concatenate((rows, rows[1:][pair])), columns, n, self.n_features)


def reply_words(reply: str) -> list[str]:
    """The reply's words: runs of letters a-z joined by at most one apostrophe ("you're"), in order."""
    lowered = reply.lower()
    if not lowered.isascii():
        return _WORD.findall(lowered)
    # Every match of _WORD lies inside a run of letters and apostrophes, so matching run by run finds
    # the same words; a run without an apostrophe is one word.
    return [w for run in letter_runs(lowered) for w in (_WORD.findall(run) if "'" in run else (run,))]


def mark_echoes(words: list[str], client_stems: frozenset[str]) -> list[str]:
    """The reply's words with each that mirrors the client's content (a word of 4+ letters whose first
    five letters are a content stem of the client text) replaced by ``echo``."""
    return [ECHO if len(w) >= 4 and w[:5] in client_stems else w for w in words]


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
