"""Words and meaning vectors shared by training and inference, so the two cannot drift apart.

*Lexical* support is word containment: the share of a claim's content words found in a passage
sentence. *Semantic* support is the cosine of two LSA vectors (TF-IDF projected onto components
learned from counselling text), so "ruminate" and "dwell on it" or "insomnia" and "can't sleep" land
near each other even without shared words. The LSA space is a small matrix (``model/lsa.npz``) plus its
vocabulary (``model/groundedness.json``); inference needs numpy only.
"""

from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"[a-z][a-z']+")
_APOSTROPHES = re.compile(r"[’`´]")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”']?\s+(?=[\"“'A-Z0-9])")
NEGATIONS = frozenset(
    {"not", "no", "never", "rarely", "none", "nothing", "cannot", "without", "neither", "nor"}
)


def words(text: str) -> list[str]:
    """Lower-cased words, ``n't`` kept as the word "not" so negation survives."""
    text = _APOSTROPHES.sub("'", text.lower()).replace("n't", " not")
    return _WORD.findall(text)


def stem(word: str) -> str:
    # A light plural/tense folding is enough to match "feelings" to "feeling" and "worried" to "worry".
    word = word.strip("'")
    for suffix, repl in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


def content_words(text: str, stopwords: frozenset[str]) -> list[str]:
    """Stemmed words that carry meaning (not stopwords, at least three letters)."""
    return [stem(w) for w in words(text) if len(w) > 2 and w not in stopwords]


def negated(text: str) -> bool:
    return any(w in NEGATIONS for w in words(text))


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


class LsaSpace:
    """TF-IDF (sublinear tf, learned idf, l2) projected onto LSA components, then l2-normalised."""

    def __init__(
        self, vocabulary: list[str], idf: np.ndarray, components: np.ndarray, stopwords: frozenset[str]
    ):
        self.index = {w: i for i, w in enumerate(vocabulary)}
        self.idf = idf.astype(np.float32)
        self.rows = np.ascontiguousarray(components.T, dtype=np.float32)  # (vocabulary, k)
        self.stopwords = stopwords

    def embed(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text (a zero vector when no word of the text is in the vocabulary)."""
        vectors = np.zeros((len(texts), self.rows.shape[1]), dtype=np.float32)
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for word in content_words(text, self.stopwords):
                column = self.index.get(word)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            if not counts:
                continue
            columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
            tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
            weights = tf * self.idf[columns]
            # The tf-idf vector's own l2 norm would cancel in the final normalisation, so it is skipped.
            vectors[row] = weights @ self.rows[columns]
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
