"""The EARS judge: how well does a reply empathize, acknowledge, reflect and support the client?

    judge = EarsJudge()
    judge.score_response(client_text, reply)          # one reply, 0..1
    judge.score_conversation(messages)                # OpenAI-format messages, 0..1
    judge.judge_conversations([messages, ...], explain=True)   # per reply parts, evidence, safety steps

Each EARS part is a logistic regression over (client text, reply) features (``features.py``) fitted on
human labels (``corpora.py``; ``python -m ai.safety.ears.train`` rebuilds the artifact and its model
card). A reply's score is

    engagement x (weighted mean of the four part probabilities) x (1 - penalty x P(directive)) x 0.5^cues

where P(directive) is the learned probability that the reply advises without permission, directs, warns
or confronts (MI-inconsistent), and ``engagement`` runs from 0.15 (the reply takes up none of the
client's own content words) to 1 (two or more). Engagement is what keeps stock empathy down: "that
sounds really hard, would you like to explore this together?" says all the right things to nobody in
particular, and a reply that refers to nothing the client said keeps only a sixth of its credit,
however warm its wording. (The floor is not 0 because short supportive turns, "that must be hard",
are still better than dismissive ones.) ``cues`` counts the kinds of dismissal the rubric rules find
(minimising: "you'll be fine", "get over it"; judgement: "you're overreacting"): the labelled sets hold
too few of these for a model to learn, and each halves what the reply earns.

A conversation's score is the engagement-weighted mean of its replies (those answering a client turn:
the sum of reply scores over the sum of engagements, or over 1 when the engagements add up to less)
times the session's MI consistency, MISC 2.1's %MI-consistent = MICO / (MICO + MIIN) computed from the
learned parts summed over the replies (empathize, acknowledge, reflect, support are MI-consistent;
directive is not), starting from a prior worth one MI-consistent reply. Short acknowledgements ("Mm-hmm", "Okay") then neither lift nor sink a session; the
replies that take up what the client said decide its EARS, and a session that keeps advising without
permission loses in proportion. A reply's engagement counts every client turn so far (a reflection
often takes up something said several turns earlier). The rubric rules quote the words behind each
part as evidence, and find the safety step a crisis conversation needs; they do not set the score.

The judge knows nothing of pipeline records or configs: the EARS stage hands it messages.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ai.safety.ears.corpora import ALL_COMPONENTS, COMPONENTS
from ai.safety.ears.features import PairBatch, PairFeaturizer
from ai.safety.ears.rules import content_stems, quote

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_NAME = "ears_linear"
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "empathize": 0.25,
    "acknowledge": 0.25,
    "reflect": 0.25,
    "support": 0.25,
}
DEFAULT_DIRECTIVE_PENALTY = 0.5
# Shared content words (5-letter stems) with the client's text at which a reply counts as fully engaged,
# and the engagement of a reply that shares none.
ENGAGEMENT_WORDS = 2
ENGAGEMENT_FLOOR = 0.15
# Rubric rules that mark a dismissive reply, and what each kind found leaves of the reply's score.
DISMISSAL_RULES = ("minimising", "judgement")
DISMISSAL_FACTOR = 0.5
# A conversation scoring below this fails the EARS gate (see the model card for the pass rates of real
# counselling at this value; every shipped config uses it).
DEFAULT_THRESHOLD = 0.03
# The MI consistency of a conversation starts from one MI-consistent reply's worth of evidence: its four
# parts at 0.5 each and directive at 0.1 (set by hand, not fitted; see conversation_scores).
PRIOR_MICO = 2.0
PRIOR_MIIN = 0.1

# The rules quoted as evidence for each part, and the cues a reviewer should see against a reply.
EVIDENCE_RULES: Mapping[str, tuple[str, ...]] = {
    "empathize": ("empathy_framed", "emotion"),
    "acknowledge": ("acknowledge",),
    "reflect": ("reflection_stem",),
    "support": ("open_question", "autonomy", "next_step", "safety_step"),
    "directive": ("prescriptive", "hotline"),
}

Message = Mapping[str, Any]


class EarsModelError(RuntimeError):
    """The EARS model artifact is missing or unreadable."""


@dataclass(slots=True)
class ReplyJudgement:
    score: float
    components: dict[str, float]  # probability of each part, and of "directive"
    engagement: float = 0.0  # share of the client's content the reply takes up (see the module doc)
    turn: int = -1  # index of the reply among the conversation's messages
    safety_step: bool = False  # the reply offers a collaborative safety step (rubric rule)
    evidence: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ConversationJudgement:
    score: float
    replies: list[ReplyJudgement]  # empty unless the judge was asked for details
    mi_consistency: float = 0.0  # (prior + MICO) / (prior + MICO + MIIN) of the replies (conversation_scores)
    n_replies: int = 0  # replies that answer a client turn
    safety_turns: list[int] = field(default_factory=list)  # replies offering a safety step

    def safety_step_after(self, turn: int) -> bool:
        return any(t > turn for t in self.safety_turns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "mi_consistency": self.mi_consistency,
            "replies": [
                {
                    "turn": r.turn,
                    "score": r.score,
                    "components": r.components,
                    "engagement": r.engagement,
                    "evidence": r.evidence,
                }
                for r in self.replies
            ],
        }


class ScoredReplies(NamedTuple):
    """A batch of scored replies as arrays: what ``EarsJudge.score_replies`` returns."""

    probabilities: np.ndarray  # replies x parts, in ALL_COMPONENTS order
    engagement: np.ndarray
    scores: np.ndarray
    hits: list[set[str]]  # the rubric rules matching each reply
    reply_stems: list[frozenset[str]]


class LinearEarsModel:
    """One logistic regression per part over the pair features, stored as ``<name>.npz`` + ``<name>.json``:
    the weights of the feature columns the training data used (``columns``), one column per part."""

    def __init__(
        self, meta: dict[str, Any], columns: np.ndarray, weights: np.ndarray, intercepts: np.ndarray
    ):
        self.meta = meta
        self.components = tuple(meta["components"])
        if self.components != ALL_COMPONENTS or weights.shape != (columns.size, len(self.components)):
            raise EarsModelError(f"the EARS model does not hold weights for the parts {ALL_COMPONENTS}")
        self.featurizer = PairFeaturizer(int(meta["n_features"]))
        if columns.size and (columns.min() < 0 or columns.max() >= self.featurizer.n_columns):
            raise EarsModelError(
                f"the EARS model's columns do not fit the {self.featurizer.n_columns} features of this "
                "version (an artifact from another feature layout: retrain it)"
            )
        self.weights = np.zeros((self.featurizer.n_columns, len(self.components)), dtype=np.float32)
        self.weights[columns] = weights
        self.intercepts = intercepts.astype(np.float32)
        self.version = str(meta.get("version", ""))

    @classmethod
    def load(cls, model_dir: Path = MODEL_DIR, name: str = MODEL_NAME) -> LinearEarsModel:
        meta_path, weights_path = model_dir / f"{name}.json", model_dir / f"{name}.npz"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(weights_path, allow_pickle=False) as arrays:
                return cls(meta, arrays["columns"], arrays["weights"], arrays["intercepts"])
        except (OSError, KeyError, ValueError) as exc:
            raise EarsModelError(f"EARS model artifact in {model_dir} is unreadable: {exc}") from exc

    def probabilities(
        self, clients: list[str], replies: list[str], rule_hits: list[set[str]] | None = None
    ) -> np.ndarray:
        """(n replies, n parts) probabilities."""
        if not replies:
            return np.zeros((0, len(self.components)), dtype=np.float32)
        hashed, dense = self.featurizer.blocks(clients, replies, rule_hits)
        return self.probabilities_of(hashed, dense)

    def probabilities_of(self, hashed: Any, dense: np.ndarray) -> np.ndarray:
        """Probabilities from the featurizer's two blocks (one matrix product each)."""
        n_hashed = self.featurizer.n_features
        logits = hashed @ self.weights[:n_hashed] + dense @ self.weights[n_hashed:] + self.intercepts
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))


class EarsJudge:
    """Scores replies and conversations; ``weights`` and ``directive_penalty`` combine the parts."""

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        directive_penalty: float = DEFAULT_DIRECTIVE_PENALTY,
        model: LinearEarsModel | None = None,
    ) -> None:
        weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        unknown = set(weights) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown EARS parts {sorted(unknown)}; use {COMPONENTS}")
        if sum(weights.values()) <= 0 or min(weights.values()) < 0:
            raise ValueError("EARS weights must be non-negative and add up to more than 0")
        self.model = model or LinearEarsModel.load()
        total = sum(weights.values())
        self._part_weights = np.array([weights.get(c, 0.0) / total for c in COMPONENTS], dtype=np.float32)
        self.directive_penalty = float(directive_penalty)
        self.rules = self.model.featurizer.rules
        self.version = self.model.version

    def score_response(self, client_text: str, therapist_text: str) -> float:
        return self.judge_replies([client_text], [therapist_text])[0].score

    def score_conversation(self, messages: Sequence[Message]) -> float:
        return self.judge_conversations([messages])[0].score

    def judge_replies(
        self,
        clients: list[str],
        replies: list[str],
        explain: bool = False,
        client_words: list[frozenset[str]] | None = None,
        probabilities: np.ndarray | None = None,
    ) -> list[ReplyJudgement]:
        """Each reply against the client text it answers. Engagement is measured against
        ``client_words`` (the content stems of all client text so far; by default those of ``clients``).
        ``probabilities`` (replies x parts) replaces the model's, for training to score replies with
        held-out folds."""
        words = [content_stems(c) for c in clients] if client_words is None else client_words
        scored = self.score_replies(clients, replies, words, probabilities)
        judgements = []
        for row, reply in enumerate(replies):
            components = {
                c: round(float(p), 4) for c, p in zip(ALL_COMPONENTS, scored.probabilities[row], strict=True)
            }
            judgement = ReplyJudgement(
                round(float(scored.scores[row]), 4), components, round(float(scored.engagement[row]), 4)
            )
            judgement.safety_step = "safety_step" in scored.hits[row]
            if explain:
                shared = words[row] & scored.reply_stems[row]
                judgement.evidence = self._evidence(
                    reply, scored.hits[row], components, shared, scored.engagement[row]
                )
            judgements.append(judgement)
        return judgements

    def score_replies(
        self,
        clients: list[str],
        replies: list[str],
        client_words: list[frozenset[str]],
        probabilities: np.ndarray | None = None,
    ) -> ScoredReplies:
        """The batch's reply scores and what they are made of, as arrays (no per-reply objects)."""
        hits = [self.rules.matching(reply) for reply in replies]
        stems = [content_stems(reply) for reply in replies]
        if probabilities is None:
            probabilities = self.model.probabilities(clients, replies, hits)
        mirrored = [len(w & s) for w, s in zip(client_words, stems, strict=True)]
        return self._scored(probabilities, np.array(mirrored, dtype=np.float32), hits, stems)

    def _scored(
        self,
        probabilities: np.ndarray,
        mirrored: np.ndarray,
        hits: list[set[str]],
        stems: list[frozenset[str]],
    ) -> ScoredReplies:
        engagement = ENGAGEMENT_FLOOR + (1.0 - ENGAGEMENT_FLOOR) * np.minimum(
            1.0, mirrored / ENGAGEMENT_WORDS
        )
        cues = np.array([len(found & _DISMISSAL) for found in hits], dtype=np.float32)
        scores = self.combine(probabilities, engagement, DISMISSAL_FACTOR**cues)
        return ScoredReplies(probabilities, engagement.astype(np.float32), scores, hits, stems)

    def combine(
        self, probabilities: np.ndarray, engagement: np.ndarray, dismissal: np.ndarray | float = 1.0
    ) -> np.ndarray:
        """Reply scores from part probabilities (n x parts, in ``ALL_COMPONENTS`` order), engagement and
        the factor left by dismissive cues."""
        parts = probabilities[:, : len(COMPONENTS)] @ self._part_weights
        directive = probabilities[:, ALL_COMPONENTS.index("directive")]
        return engagement * parts * np.clip(1.0 - self.directive_penalty * directive, 0.0, 1.0) * dismissal

    def judge_conversations(
        self, conversations: Sequence[Sequence[Message]], explain: bool = False, details: bool = True
    ) -> list[ConversationJudgement]:
        """All replies of all conversations are scored in one batch (one feature matrix, one product).
        ``details=False`` leaves out the per-reply judgements (``replies`` stays empty; ``n_replies`` and
        ``safety_turns`` are set): what the stage asks for, and much cheaper."""
        with gc_paused():
            return self._judge_conversations(conversations, explain, details)

    def _judge_conversations(
        self, conversations: Sequence[Sequence[Message]], explain: bool, details: bool
    ) -> list[ConversationJudgement]:
        if not details:
            return self._score_conversations(conversations)
        owners, answered = [], []
        for owner, messages in enumerate(conversations):
            for reply in answered_replies(messages):
                owners.append(owner)
                answered.append(reply)
        clients = [a.client for a in answered]
        replies = [a.reply for a in answered]
        words = [a.client_words for a in answered]
        scored = self.score_replies(clients, replies, words)
        scores = conversation_scores(np.array(owners, dtype=np.int64), len(conversations), scored)
        judged = [ConversationJudgement(float(score), [], float(ratio)) for score, ratio in scores]
        for row, (owner, reply) in enumerate(zip(owners, answered, strict=True)):
            judged[owner].n_replies += 1
            if "safety_step" in scored.hits[row]:
                judged[owner].safety_turns.append(reply.turn)
        if details:
            per_reply = self.judge_replies(clients, replies, explain, words, scored.probabilities)
            for owner, reply, judgement in zip(owners, answered, per_reply, strict=True):
                judgement.turn = reply.turn
                judged[owner].replies.append(judgement)
        return judged

    def _score_conversations(self, conversations: Sequence[Sequence[Message]]) -> list[ConversationJudgement]:
        """The scores of ``judge_conversations`` without per-reply judgements, from one pass over the
        batch's words with numpy (``PairFeaturizer.encode``); the same scores as the detailed path
        (tested), which takes the client's words up as Python sets."""
        owners, turns, replies, client_turns, answered_by = [], [], [], [], []
        for owner, messages in enumerate(conversations):
            pending: list[str] = []
            for index, message in enumerate(messages):
                role = message.get("role")
                if role == "user":
                    pending.append(str(message.get("content") or ""))
                elif role == "assistant" and pending:
                    answered_by += [len(replies)] * len(pending)
                    client_turns += pending
                    owners.append(owner)
                    turns.append(index)
                    replies.append(str(message.get("content") or ""))
                    pending = []
        hits = [self.rules.matching(reply) for reply in replies]
        by = np.array(answered_by, dtype=np.int64)
        owner_of = np.array(owners, dtype=np.int64)
        if replies:
            batch = self.model.featurizer.encode(client_turns, by, replies, hits)
            probabilities = self.model.probabilities_of(batch.hashed, batch.dense)
            mirrored = _mirrored_so_far(batch, by, owner_of, len(replies))
        else:
            probabilities = np.zeros((0, len(ALL_COMPONENTS)), dtype=np.float32)
            mirrored = np.zeros(0, dtype=np.float32)
        scored = self._scored(probabilities, mirrored, hits, [])
        scores = conversation_scores(owner_of, len(conversations), scored)
        judged = [ConversationJudgement(float(score), [], float(ratio)) for score, ratio in scores]
        for row, owner in enumerate(owners):
            judged[owner].n_replies += 1
            if "safety_step" in hits[row]:
                judged[owner].safety_turns.append(turns[row])
        return judged

    def _evidence(
        self, reply: str, hits: set[str], components: dict[str, float], shared: set[str], engagement: float
    ) -> list[str]:
        mirrored = (
            f"mirrors {', '.join(sorted(shared)[:5])}" if shared else "mirrors none of the client's words"
        )
        evidence = [f"engagement {engagement:.2f}: {mirrored}"]
        for name in DISMISSAL_RULES:
            if name in hits:
                evidence.append(
                    f"dismissal x{DISMISSAL_FACTOR}: {name} {quote(self.rules, name, reply, 60)!r}"
                )
        for part, rules in EVIDENCE_RULES.items():
            quoted = [f"{name} {quote(self.rules, name, reply, 60)!r}" for name in rules if name in hits]
            if quoted or components[part] >= 0.5:
                evidence.append(
                    f"{part} {components[part]:.2f}: {'; '.join(quoted) or 'learned from wording'}"
                )
        return evidence


def conversation_scores(owners: np.ndarray, n_conversations: int, scored: ScoredReplies) -> np.ndarray:
    """(score, MI consistency) of every conversation (``owners``: the conversation of each reply), as an
    array of shape (n_conversations, 2); a conversation without replies scores 0.

    score = EARS x MI consistency. EARS is the engagement-weighted mean of the replies' quality (a
    reply's score is already its engagement times its quality; the sum is divided by the sum of
    engagements, or by 1 when they add up to less). MI consistency is MISC 2.1's %MI-consistent,
    MICO / (MICO + MIIN), from the learned parts summed over the replies: empathize (Support),
    acknowledge (Affirm), reflect and support (open questions, autonomy, advice with permission) are
    MI-consistent; directive (advice without permission, confront, direct, warn) is not. It is a session
    measure, so it starts from a prior worth one MI-consistent reply (``PRIOR_MICO``, ``PRIOR_MIIN``):
    a single answer that gives some advice is not judged as a whole session of advising would be.
    """
    total = np.bincount(owners, weights=scored.scores, minlength=n_conversations)
    engaged = np.bincount(owners, weights=scored.engagement, minlength=n_conversations)
    parts = scored.probabilities.astype(np.float64)
    consistent = PRIOR_MICO + np.bincount(
        owners, weights=parts[:, : len(COMPONENTS)].sum(axis=1), minlength=n_conversations
    )
    inconsistent = PRIOR_MIIN + np.bincount(
        owners, weights=parts[:, len(COMPONENTS)], minlength=n_conversations
    )
    ratio = consistent / (consistent + inconsistent)
    return np.round(np.column_stack((total / np.maximum(1.0, engaged) * ratio, ratio)), 4)


_DISMISSAL = frozenset(DISMISSAL_RULES)


class AnsweredReply(NamedTuple):
    turn: int  # index of the reply among the messages
    client: str  # client text since the previous reply
    reply: str
    client_words: frozenset[str]  # content stems of all client text so far


def _mirrored_so_far(batch: PairBatch, answered_by: np.ndarray, owners: np.ndarray, n: int) -> np.ndarray:
    """How many of each reply's content stems its client said at or before the turns it answers, in
    the same conversation (the engagement count; replies are numbered in conversation order)."""
    stems = batch.client_stems & _MASK32
    answer = answered_by[batch.client_stems >> 32]
    # Client turns are in conversation order, so the first occurrence of (conversation, stem) comes
    # with the earliest reply that could take it up.
    keys, first = np.unique((owners[answer] << 32) | stems, return_index=True)
    rows = batch.reply_stems >> 32
    wanted = (owners[rows] << 32) | (batch.reply_stems & _MASK32)
    if not keys.size:
        return np.zeros(n, dtype=np.float32)
    at = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    taken_up = (keys[at] == wanted) & (answer[first][at] <= rows)
    return np.bincount(rows[taken_up], minlength=n).astype(np.float32)


_MASK32 = np.int64(0xFFFFFFFF)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block. A batch allocates hundreds of thousands of
    small containers (word lists, stem sets) that hold no reference cycles; with the collector on,
    their allocation sets off collections that walk every tracked object of the process (the shard's
    records too): a quarter of the stage's CPU time on the benchmark corpus. The debt is paid once,
    at the next collection after the block."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def answered_replies(messages: Sequence[Message]) -> list[AnsweredReply]:
    """Each assistant message that answers at least one user message; system messages neither answer
    nor count as client text."""
    pairs, pending = [], []
    words: frozenset[str] = frozenset()
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "user":
            text = str(message.get("content") or "")
            pending.append(text)
            # Stems of joined text are the union of each part's: words never cross a line break.
            stems = content_stems(text)
            if not stems <= words:
                words = words | stems
        elif role == "assistant" and pending:
            client = pending[0] if len(pending) == 1 else "\n".join(pending)
            pairs.append(AnsweredReply(index, client, str(message.get("content") or ""), words))
            pending = []
    return pairs
