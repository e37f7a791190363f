"""Grounded conversations from the offline composer: real client words, passage-backed therapist turns.

1. Material: the passages that are about mental health (``knowledge.select_knowledge``), plus the
   papers the journal trigger fetches when ``journal_trigger`` is on (``research.research_knowledge``),
   and *client threads*, one or two consecutive substantive client turns of one real conversation.
2. Matching: TF-IDF over both; a thread goes to its most similar passage of the stratum, preferring the
   least-used of its top matches so one passage does not ground everything.
3. Composing: a two-exchange conversation (reflective first reply, then the grounded reply) or a
   single exchange, via ``EarsComposer``; the quote is chosen among the passage's quotable sentences
   by overlap with what the client said.
4. Checking: the groundedness check; a failing candidate becomes an ingest Rejection
   (``ungrounded_claim``), the rest go to the run's gates until each stratum's quota passes.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from ai.core.config import SourceConfig
from ai.core.context import SourceContext
from ai.core.records import Conversation, PassageRef, Provenance, Turn, make_conversation, normalise_for_hash
from ai.core.stage import Rejection
from ai.sourcing.synthetic.composer import EarsComposer, Psychoeducation
from ai.sourcing.synthetic.groundedness import check_groundedness
from ai.sourcing.synthetic.knowledge import KnowledgePassage, is_mental_health_text
from ai.sourcing.synthetic.options import GroundedOptions
from ai.sourcing.synthetic.quota import QuotaReport, budget_for, gated
from ai.sourcing.synthetic.research import grounding_knowledge
from ai.sourcing.synthetic.text import (
    CLIENT_ROLES,
    content_tokens,
    looks_like_contact_or_link,
    mentions_crisis,
    normalise_space,
    reflectable_clauses,
    spread_by_group,
)

STAGE = "ingest"


@dataclass(frozen=True)
class ClientThread:
    """Consecutive substantive client turns of one real conversation."""

    utterances: tuple[str, ...]
    origin: Conversation

    @property
    def text(self) -> str:
        return " ".join(self.utterances)


def read_grounded(
    source: SourceConfig, options: GroundedOptions, context: SourceContext
) -> Iterator[Conversation | Rejection]:
    knowledge, rejections = grounding_knowledge(source.name, options, context)
    yield from rejections
    threads = client_threads(context.conversations(), options.from_categories)
    if not knowledge or not threads:
        missing = "passages about mental health" if not knowledge else "client turns to build on"
        yield Rejection(
            stage=STAGE,
            reason="no_grounding_material",
            message=f"source {source.name!r}: the run's earlier sources produced no {missing}",
            locator=source.name,
        )
        return
    generator = GroundedGenerator(source, options, knowledge, threads, context.seed)
    for stratum, quota in options.strata().items():
        report = QuotaReport(source.name, stratum, quota, budget_for(quota, options.budget))
        yield from gated(generator.candidates(stratum), report, context, options.batch_size)
        generator.reports.append(report)


def client_threads(conversations: Iterable[Conversation], categories: list[str]) -> list[ClientThread]:
    """Distinct threads of one or two consecutive substantive client turns, in input order."""
    wanted = set(categories)
    seen: set[str] = set()
    threads: list[ClientThread] = []
    for conversation in conversations:
        if wanted and conversation.category not in wanted:
            continue
        utterances = _client_utterances(conversation)
        usable = [_usable(u) for u in utterances]
        index = 0
        while index < len(utterances):
            if not usable[index]:
                index += 1
                continue
            pair = index + 1 < len(utterances) and usable[index + 1]
            chosen = tuple(utterances[index : index + (2 if pair else 1)])
            key = "\x1e".join(normalise_for_hash(u) for u in chosen)
            if key not in seen:
                seen.add(key)
                threads.append(ClientThread(chosen, conversation))
            index += 2 if pair else 1
    return threads


def _client_utterances(conversation: Conversation) -> list[str]:
    """Client turns with consecutive client messages merged (as the roles stage would merge them)."""
    merged: list[str] = []
    previous_client = False
    for turn in conversation.turns:
        is_client = turn.role.strip().lower() in CLIENT_ROLES
        if is_client and previous_client:
            merged[-1] = merged[-1] + " " + turn.text.strip()
        elif is_client:
            merged.append(turn.text.strip())
        previous_client = is_client
    return [normalise_space(u) for u in merged]


# Pleasantries and thanks close a conversation; they give a grounded reply nothing to work with.
_PLEASANTRY = re.compile(
    r"\b(?:thanks?|thank you|bye|goodbye|nice talking|talking to you|appreciate|advice|helpful|you too)\b",
    re.IGNORECASE,
)


def _usable(utterance: str) -> bool:
    n = len(utterance.split())
    return (
        8 <= n <= 180
        and not _PLEASANTRY.search(utterance)
        and not looks_like_contact_or_link(utterance)
        and not mentions_crisis(utterance)
        and bool(reflectable_clauses(utterance))
    )


class GroundedGenerator:
    """Matches threads to passages and composes candidates, stratum by stratum."""

    def __init__(
        self,
        source: SourceConfig,
        options: GroundedOptions,
        knowledge: list[KnowledgePassage],
        threads: list[ClientThread],
        seed: int,
    ) -> None:
        self.source = source
        self.options = options
        self.knowledge = knowledge
        self.threads = threads
        self.rng = random.Random(f"{seed}:{source.name}:grounded")  # nosec B311  # seeded for reproducible data, not security
        self.composer = EarsComposer(self.rng)
        self.similarity = _similarity(threads, knowledge)
        self.thread_uses: Counter[int] = Counter()
        self.passage_uses: Counter[int] = Counter()
        self.quote_uses: Counter[str] = Counter()
        self.emitted: set[str] = set()
        self.reports: list[QuotaReport] = []

    def candidates(self, stratum: str) -> Iterator[Conversation | Rejection]:
        columns = [i for i, k in enumerate(self.knowledge) if stratum in ("all", k.kind)]
        if not columns:
            return
        groups = [t.origin.group or t.origin.id for t in self.threads]
        for round_ in range(self.options.max_uses_per_thread):
            order = spread_by_group(groups, self.rng)
            for row in order:
                if self.thread_uses[row] > round_:
                    continue
                column = self._pick_passage(row, columns)
                if column is None:
                    continue
                self.thread_uses[row] += 1
                self.passage_uses[column] += 1
                candidate = self._compose(self.threads[row], self.knowledge[column], stratum, row, column)
                if candidate is not None:
                    yield candidate

    def _pick_passage(self, row: int, columns: list[int]) -> int | None:
        scores = self.similarity[row, columns]
        top = np.argsort(-scores)[:4]
        good = [columns[i] for i in top if scores[i] >= self.options.min_similarity]
        if not good:
            return None
        return min(good, key=lambda c: (self.passage_uses[c], -self.similarity[row, c]))

    def _compose(
        self, thread: ClientThread, passage: KnowledgePassage, stratum: str, row: int, column: int
    ) -> Conversation | Rejection | None:
        last = thread.utterances[-1]
        point = Psychoeducation(passage.id, self._pick_quote(passage, thread.text), passage.attribution)
        turns: list[Turn] = []
        two_exchanges = len(thread.utterances) == 2 and self.rng.random() < self.options.two_exchange_share
        if two_exchanges:
            turns += [
                Turn("client", thread.utterances[0]),
                Turn("therapist", self.composer.first_reply(thread.utterances[0])),
            ]
        turns += [Turn("client", last), Turn("therapist", self.composer.grounded_reply(last, point))]
        record = make_conversation(
            turns,
            self._provenance(thread, passage),
            category="grounded",
            language="en",
            tags=["synthetic:grounded", f"passage:{passage.kind}"],
            grounding=[PassageRef(passage.id, point.quote)],
            group=thread.origin.group or thread.origin.id,
            meta={
                "synthetic": {
                    "mode": "grounded",
                    "engine": "offline",
                    "stratum": stratum,
                    "similarity": round(float(self.similarity[row, column]), 4),
                }
            },
        )
        if record.id in self.emitted:
            return None
        self.emitted.add(record.id)
        result = check_groundedness(
            [t.text for t in turns if t.role == "therapist"],
            [passage.passage.text],
            [t.text for t in turns if t.role == "client"],
            self.options.groundedness_threshold,
        )
        record.meta["synthetic"]["groundedness"] = min((c.support for c in result.claims), default=1.0)
        if not result.passed:
            return Rejection(
                stage=STAGE,
                reason="ungrounded_claim",
                message=f"{self.source.name}: {result.explain()}",
                record=record,
                record_id=record.id,
                locator=f"{self.source.name}:{passage.id}",
            )
        return record

    def _pick_quote(self, passage: KnowledgePassage, client_text: str) -> str:
        words = content_tokens(client_text)
        ranked = sorted(
            passage.quotes,
            key=lambda q: (-len(words & content_tokens(q)), self.quote_uses[q], q),
        )
        best = min(ranked[:3], key=lambda q: self.quote_uses[q])
        self.quote_uses[best] += 1
        return best

    def _provenance(self, thread: ClientThread, passage: KnowledgePassage) -> Provenance:
        origin, ref = thread.origin, passage.passage.source
        licences = [self.source.license] if self.source.license else [origin.source.license, ref.license]
        return Provenance(
            kind="synthetic",
            name=self.source.name,
            uri=ref.uri,
            license="; ".join(dict.fromkeys(x for x in licences if x)),
            locator={
                "passage_id": passage.id,
                "passage_source": ref.name,
                "passage_kind": passage.kind,
                "passage_locator": ref.locator,
                "client_source": origin.source.name,
                "client_conversation": origin.id,
                "client_locator": origin.source.locator,
            },
        )


def _similarity(threads: list[ClientThread], knowledge: list[KnowledgePassage]) -> np.ndarray:
    """Cosine similarity (threads x passages) of TF-IDF vectors fitted on both."""
    texts = [k.passage.text for k in knowledge] + [t.text for t in threads]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2, max_features=60000)
    matrix = vectorizer.fit_transform(texts)
    passages, clients = matrix[: len(knowledge)], matrix[len(knowledge) :]
    return np.asarray((clients @ passages.T).todense(), dtype=np.float32)


__all__ = ["ClientThread", "GroundedGenerator", "client_threads", "is_mental_health_text", "read_grounded"]
