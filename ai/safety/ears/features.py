"""Features of a (client text, reply) pair, shared by training and inference.

Three blocks side by side in one sparse row:

1. the reply's word 1-2-grams, hashed (``HashedNgrams`` from the crisis detector: no vocabulary to ship
   and no scikit-learn at inference);
2. the same n-grams of the reply with every word that mirrors the client's content (same 5-letter stem
   as a content word of the client text) replaced by the token ``echo``, so "so you're worried about
   echo" generalises across topics: the model learns what a reflection looks like around the client's
   own words, which a phrase list of stock empathy cannot fake;
3. a few dense pair features: how much of the client's content the reply mirrors and how focused on it
   the reply is, length, question marks, person, and which rubric rules matched (their weights are
   learned, never set by hand).
"""

from __future__ import annotations

import math
import re

import numpy as np
from scipy.sparse import csr_matrix, hstack

from ai.safety.crisis_detection.features import HashedNgrams, with_bigrams
from ai.safety.ears.rules import RULE_NAMES, content_stems, rubric_rules

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


class PairFeaturizer:
    """(client texts, replies) -> CSR matrix with ``n_columns`` columns."""

    def __init__(self, n_features: int = N_FEATURES) -> None:
        self.n_features = int(n_features)
        self.ngrams = HashedNgrams(self.n_features, (1, 2))
        self.rules = rubric_rules()
        self.n_columns = 2 * self.n_features + len(DENSE_NAMES)

    def transform(
        self, clients: list[str], replies: list[str], rule_hits: list[set[str]] | None = None
    ) -> csr_matrix:
        """``rule_hits`` (the rubric rules matching each reply) may be passed in when already known."""
        if len(clients) != len(replies):
            raise ValueError(f"{len(clients)} client texts for {len(replies)} replies")
        if rule_hits is None:
            rule_hits = [self.rules.matching(reply) for reply in replies]
        echoed, dense = [], np.zeros((len(replies), len(DENSE_NAMES)), dtype=np.float32)
        for row, (client, reply) in enumerate(zip(clients, replies, strict=True)):
            marked, dense[row] = _pair_view(client, reply, rule_hits[row])
            echoed.append(with_bigrams(marked))
        return hstack(
            [self.ngrams.transform(replies), self.ngrams.transform_grams(echoed), csr_matrix(dense)],
            format="csr",
            dtype=np.float32,
        )


def _pair_view(client: str, reply: str, hits: set[str]) -> tuple[list[str], np.ndarray]:
    """The reply's tokens with mirrored words marked (as the model's tokenizer would read the marked
    text: apostrophes dropped), and the dense features of the pair."""
    client_stems = content_stems(client)
    words = _WORD.findall(reply.lower())
    reply_stems = content_stems(reply)
    shared = client_stems & reply_stems
    n_words = max(1, len(words))
    values = [
        min(len(shared), 6) / 6.0,
        float(bool(shared)),
        min(1.0, 2.0 * len(shared) / max(1, len(reply_stems))),
        len(shared) / max(1, len(client_stems)),
        min(1.0, math.log1p(len(words)) / 6.0),
        float("?" in reply),
        sum(map(_SECOND_PERSON.__contains__, words)) / n_words,
        sum(map(_FIRST_PERSON.__contains__, words)) / n_words,
        float(not client.strip()),
        *(float(name in hits) for name in RULE_NAMES),
    ]
    # The model's tokenizer drops apostrophes; words hold no spaces, so one translate of the joined
    # words gives each word's token.
    tokens = " ".join(words).translate(_NO_APOSTROPHE).split(" ") if words else []
    marked = [
        ECHO if len(w) >= 4 and w[:5] in client_stems else t for w, t in zip(words, tokens, strict=True)
    ]
    return marked, np.array(values, dtype=np.float32)
