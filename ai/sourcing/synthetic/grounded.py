"""Grounded conversations written by a language model, each reply judged against the passage it cites.

1. Material: the passages that are about mental health (``knowledge.select_knowledge``), plus the
   papers the journal trigger fetches when ``journal_trigger`` is on (``research.research_knowledge``),
   and *client threads*: substantive client turns of real conversations (``client_threads``).
2. Grounding (``matching.GroundingMatcher``): a thread may cite a passage only when both are about the
   same condition topic and their semantic similarity reaches ``min_similarity``. A thread with no such
   passage gets no conversation (it is counted, not generated).
3. Writing: the model behind ``generation`` (``ai.sourcing.generation.ChatEndpoint``: a local llama.cpp
   server by default, any OpenAI-compatible endpoint by config) replies to the client's words with the
   passage's most related sentences in the prompt (``prompts.py``). Requests are cached, so a resumed
   run asks nothing twice.
4. Judging: the groundedness judge (``ai.safety.groundedness``, handed in by the run's context) holds every factual claim of the reply
   to the cited passage; a failing reply becomes an ingest Rejection (``ungrounded_claim`` or
   ``passage_unused``) that keeps the generated text, so the quarantine shows what the model got wrong.
   The rest go to the run's gates (crisis, content, EARS, quality) until each stratum's quota passes.

``work/synthetic/<source>/generation.json`` records what the endpoint did (requests, cache hits, tokens,
server starts) and what the judge and the gates decided.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from ai.core.atomic import append_lines_durably, atomic_write_json
from ai.core.config import ConfigError, SourceConfig
from ai.core.context import GroundingJudge, SourceContext
from ai.core.records import (
    Conversation,
    Passage,
    PassageRef,
    Provenance,
    Turn,
    encode,
    make_conversation,
    normalise_for_hash,
)
from ai.core.stage import Rejection
from ai.sourcing.generation import ChatEndpoint, ChatRequest, Completion, EndpointError, ServerError
from ai.sourcing.synthetic.knowledge import KnowledgePassage
from ai.sourcing.synthetic.matching import GroundingMatcher, Match, grounding_taxonomy
from ai.sourcing.synthetic.options import GroundedOptions
from ai.sourcing.synthetic.prompts import (
    TEMPLATE_VERSION,
    echoes_instructions,
    grounded_reply_messages,
    spoken_source,
)
from ai.sourcing.synthetic.quota import QuotaReport, budget_for, gated
from ai.sourcing.synthetic.research import grounding_knowledge
from ai.sourcing.synthetic.text import (
    CLIENT_ROLES,
    looks_like_contact_or_link,
    mentions_crisis,
    normalise_space,
    reflectable_clauses,
    spread_by_group,
)

STAGE = "ingest"
Transport = Callable[[list[ChatRequest]], list[Completion | EndpointError]]
SUMMARY_FILE = "generation.json"
GATE_REJECTED_FILE = "gate_rejected.jsonl"
EXCERPT_SENTENCES = 2  # passage sentences put in the prompt: the ones most related to the client
EXCERPT_WORDS = 45  # ... within this many words


class GenerationPlanWarning(UserWarning):
    """What a generating source is about to ask of its endpoint: requests, tokens, cost and time."""


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
    workdir = Path(context.run_dir) / "work" / "synthetic" / source.name
    endpoint = ChatEndpoint.from_options(options.generation, workdir)
    generator = GroundedGenerator(
        source,
        options,
        knowledge,
        threads,
        context.seed,
        endpoint,
        context.groundedness_judge(),
        transport(options, endpoint, workdir),
    )
    announce_plan(source.name, options, endpoint)
    gates = KeepGateRejections(context, workdir / GATE_REJECTED_FILE)
    try:
        with endpoint:
            for stratum, quota in options.strata().items():
                report = QuotaReport(source.name, stratum, quota, budget_for(quota, options.budget))
                candidates = generator.candidates(stratum, report.budget)
                yield from gated(candidates, report, gates, options.batch_size)
                generator.reports.append(report)
    except ServerError as exc:
        raise ConfigError(f"source {source.name!r}: {exc}") from exc
    finally:
        generator.write_summary(workdir / SUMMARY_FILE)


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
    """Pairs client threads with passages that fit them, asks the model for replies, judges them."""

    def __init__(
        self,
        source: SourceConfig,
        options: GroundedOptions,
        knowledge: list[KnowledgePassage],
        threads: list[ClientThread],
        seed: int,
        endpoint: ChatEndpoint,
        judge: GroundingJudge,
        ask: Transport | None = None,
    ) -> None:
        self.source = source
        self.options = options
        self.knowledge = knowledge
        self.threads = threads
        self.seed = seed
        self.endpoint = endpoint
        self.ask: Transport = ask or endpoint.complete_many
        self.judge = judge
        self.rng = random.Random(f"{seed}:{source.name}:grounded")  # nosec B311  # seeded for reproducible data, not security
        taxonomy = grounding_taxonomy(options.taxonomy, options.extra_topics)
        self.matcher = GroundingMatcher(taxonomy, self.judge.embed, options.min_similarity)
        self.matches = self.matcher.candidates([t.text for t in threads], [k.passage.text for k in knowledge])
        self.passage_uses: Counter[int] = Counter()
        self.emitted: set[str] = set()
        self.reports: list[QuotaReport] = []
        self.outcomes: Counter[str] = Counter()
        self.generation_seconds = 0.0  # wall time spent waiting for answers (resumed runs: ~0)

    def candidates(self, stratum: str, limit: int) -> Iterator[Conversation | Rejection]:
        """Judged candidates, ``samples_per_pair`` tries per (thread, passage) pair at most, and no more
        than ``limit`` requests in all (the stratum's budget: a round never asks beyond it).

        Pairs are taken a window at a time; each round asks one more sample (another seed) of every pair
        in the window that has no accepted reply yet, so a pair stops costing requests once the judge
        accepts one of its replies. Every rejected sample is yielded with its reason and text.
        """
        window = max(1, self.options.generation.concurrency * 2)
        pairs = self._pairs(stratum)
        while limit > 0:
            open_pairs = [pair for _, pair in zip(range(min(window, limit)), pairs, strict=False)]
            if not open_pairs:
                return
            for sample in range(self.options.samples_per_pair):
                open_pairs = open_pairs[:limit]
                limit -= len(open_pairs)
                requests = [self._request(row, match, sample) for row, match in open_pairs]
                started = time.monotonic()
                answers = self.ask([r for r, _ in requests])
                self.generation_seconds += time.monotonic() - started
                still_open = []
                for pair, (_, excerpt), answer in zip(open_pairs, requests, answers, strict=True):
                    candidate = self._candidate(*pair, excerpt, answer, stratum)
                    yield candidate
                    if not isinstance(candidate, Conversation):
                        still_open.append(pair)
                open_pairs = still_open
                if not open_pairs or limit <= 0:
                    break

    def _pairs(self, stratum: str) -> Iterator[tuple[int, Match]]:
        """(thread, passage) pairs in a seeded order: one thread per source dialog before a second from
        any; each time a thread comes round it gets the least-used of its best-fitting passages that it
        has not had yet, up to ``max_uses_per_thread`` passages per thread."""
        allowed = {i for i, k in enumerate(self.knowledge) if stratum in ("all", k.kind)}
        fitting = [[m for m in matches if m.passage_index in allowed][:4] for matches in self.matches]
        self.outcomes[f"threads_without_fitting_passage:{stratum}"] = sum(1 for f in fitting if not f)
        order = spread_by_group([t.origin.group or t.origin.id for t in self.threads], self.rng)
        had: dict[int, set[int]] = {}
        for _ in range(self.options.max_uses_per_thread):
            for row in order:
                fresh = [m for m in fitting[row] if m.passage_index not in had.setdefault(row, set())]
                if not fresh:
                    continue
                choice = min(fresh, key=lambda m: (self.passage_uses[m.passage_index], -m.similarity))
                had[row].add(choice.passage_index)
                self.passage_uses[choice.passage_index] += 1
                yield row, choice

    def _request(self, row: int, match: Match, sample: int = 0) -> tuple[ChatRequest, str]:
        client = self.threads[row].text
        passage = self.knowledge[match.passage_index]
        excerpt = self._excerpt(client, passage)
        topic = self.matcher.taxonomy.topics[match.topics[0]].label if match.topics else "mental health"
        journal = str(passage.passage.source.locator.get("journal", "")).strip()
        messages = grounded_reply_messages(client, excerpt, spoken_source(passage.kind, topic, journal))
        seed = _request_seed(self.seed, self.source.name, client, passage.id, sample)
        return ChatRequest(messages, seed=seed), excerpt

    def _excerpt(self, client: str, passage: KnowledgePassage) -> str:
        """The one or two quotable sentences of the passage (``knowledge.quotable_sentences``: whole,
        10-40 words, no figures, no first person) most related to the client, in passage order, within
        ``EXCERPT_WORDS`` words. A small model loses itself in a long passage and copies a short one
        faithfully; the judge still checks the reply against the whole passage."""
        quotes = list(passage.quotes)
        related = self.judge.embed(quotes) @ self.judge.embed([client])[0]
        ranked = [int(i) for i in np.argsort(-related, kind="stable")]
        keep = ranked[:1]
        for index in ranked[1:EXCERPT_SENTENCES]:
            if sum(len(quotes[i].split()) for i in [*keep, index]) <= EXCERPT_WORDS:
                keep.append(index)
        return " ".join(quotes[i] for i in sorted(keep))

    def _candidate(
        self, row: int, match: Match, excerpt: str, answer: Completion | EndpointError, stratum: str
    ) -> Conversation | Rejection:
        thread, passage = self.threads[row], self.knowledge[match.passage_index]
        locator = f"{self.source.name}:{passage.id}:{thread.origin.id}"
        if isinstance(answer, EndpointError):
            self.outcomes[answer.reason] += 1
            return Rejection(
                stage=STAGE,
                reason="generation_failed",
                message=f"{self.source.name}: the endpoint gave no reply ({answer.reason}): {answer.message}",
                locator=locator,
            )
        client = thread.text
        reply = finished_sentences(answer.text) if answer.finish_reason == "length" else answer.text
        record = make_conversation(
            [Turn("client", client), Turn("therapist", reply)],
            self._provenance(thread, passage),
            category="grounded",
            language="en",
            tags=["synthetic:grounded", f"passage:{passage.kind}", *(f"topic:{t}" for t in match.topics)],
            grounding=[PassageRef(passage.id, excerpt)],
            group=thread.origin.group or thread.origin.id,
            meta={
                "synthetic": {
                    "mode": "grounded",
                    "engine": self.options.engine,
                    "stratum": stratum,
                    "topics": list(match.topics),
                    "similarity": match.similarity,
                    "finish_reason": answer.finish_reason,
                }
            },
        )
        if record.id in self.emitted:
            self.outcomes["duplicate_reply"] += 1
            return self._rejection(
                record, "duplicate_reply", "the model wrote a reply it had already written"
            )
        self.emitted.add(record.id)
        problem = self._judge(record, reply, passage, client)
        self.outcomes[problem.reason if problem else "judge_passed"] += 1
        return problem or record

    def _judge(
        self, record: Conversation, reply: str, passage: KnowledgePassage, client: str
    ) -> Rejection | None:
        shape = reply_shape_problem(reply)
        if shape is not None:
            return self._rejection(record, *shape)
        verdict = self.judge.judge(reply, passage.passage.text, [client])
        record.meta["synthetic"]["groundedness"] = verdict.weakest
        if verdict.passed:
            return None
        assert verdict.reason is not None
        return self._rejection(record, verdict.reason, verdict.explain())

    def _rejection(self, record: Conversation, reason: str, message: str) -> Rejection:
        return Rejection(
            stage=STAGE,
            reason=reason,
            message=f"{self.source.name}: {message}",
            record=record,
            record_id=record.id,
            locator=f"{self.source.name}:{record.source.locator['passage_id']}",
        )

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
                "generation": {**self.endpoint.provenance(), "template": TEMPLATE_VERSION},
            },
        )

    def write_summary(self, path: Path) -> None:
        stats = self.endpoint.stats
        atomic_write_json(
            path,
            {
                "source": self.source.name,
                "generation": {**self.endpoint.provenance(), "template": TEMPLATE_VERSION},
                "endpoint": {
                    "requests": stats.requests,
                    "completions": stats.completions,
                    "cache_hits": stats.cache_hits,
                    "retries": stats.retries,
                    "failures": dict(stats.by_reason),
                    "prompt_tokens": stats.prompt_tokens,
                    "completion_tokens": stats.completion_tokens,
                    "seconds_waiting": round(stats.seconds, 2),
                    "generation_wall_seconds": round(self.generation_seconds, 2),
                    "server_starts": stats.server_starts,
                    "server_running_after": self.endpoint.server_running,
                },
                "judge": dict(sorted(self.outcomes.items())),
                "strata": [r.as_dict() for r in self.reports],
            },
        )


def finished_sentences(text: str) -> str:
    """A reply cut off by ``max_tokens`` without its unfinished last sentence (empty if none ended)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]].strip() if ends else ""


_SENTENCE_END = re.compile(r"[.!?][\"”')]*(?=\s|$)")
_WORD = re.compile(r"[\w']+")  # punctuation apart: "done," and "done" are the same word
_SECOND_PERSON = re.compile(r"\b(?:you|your|you're|yours|yourself)\b", re.IGNORECASE)


def reply_shape_problem(reply: str) -> tuple[str, str] | None:
    """Why a model's text is not a reply to the client at all, before anyone judges its content:
    nothing, its own instructions parroted, a loop, or text that never speaks to the client."""
    if not reply.strip():
        return "empty_reply", "the model returned no reply (or none that finished a sentence)"
    if echoes_instructions(reply):
        return "prompt_echo", "the model repeated its instructions or the worked example"
    sentences = [normalise_for_hash(s) for s in re.split(r"(?<=[.!?])\s+", reply) if s.strip()]
    if len(set(sentences)) < len(sentences) or _repeats_span(_WORD.findall(reply.lower()), REPEAT_SPAN):
        return "repetitive_reply", f"the reply repeats itself (a sentence or {REPEAT_SPAN} words in a row)"
    if not _SECOND_PERSON.search(reply):
        return "not_addressed_to_client", "the reply never speaks to the client ('you')"
    return None


REPEAT_SPAN = 8  # words: a run this long said twice is a loop, not emphasis


def _repeats_span(words: list[str], span: int) -> bool:
    seen: set[tuple[str, ...]] = set()
    for i in range(len(words) - span + 1):
        gram = tuple(words[i : i + span])
        if gram in seen:
            return True
        seen.add(gram)
    return False


class KeepGateRejections:
    """The run's context, whose gate verdicts on generated candidates are also kept on disk.

    Candidates that fail a gate are not yielded (the orchestrator would only reject them again), so
    their text and the gate's reason are appended to ``gate_rejected.jsonl`` for review instead.
    """

    def __init__(self, context: SourceContext, path: Path) -> None:
        self.context = context
        self.path = path
        path.unlink(missing_ok=True)  # this source's own file: a re-run (resume) writes it afresh
        self.seed = context.seed
        self.run_dir = context.run_dir

    def passages(self) -> Iterator[Passage]:
        return self.context.passages()

    def conversations(self) -> Iterator[Conversation]:
        return self.context.conversations()

    def gate(self, batch: list[Conversation]) -> list[Rejection | None]:
        verdicts = self.context.gate(batch)
        failed = [
            encode(msgspec.structs.replace(verdict, record=candidate, record_id=candidate.id)).decode("utf-8")
            for candidate, verdict in zip(batch, verdicts, strict=True)
            if verdict is not None
        ]
        if failed:
            append_lines_durably(self.path, failed)
        return verdicts


def transport(options: GroundedOptions, endpoint: ChatEndpoint, workdir: Path) -> Transport:
    """Who sends the requests: the endpoint client itself, or NeMo Data Designer (same endpoint, same cache)."""
    if options.engine == "data_designer":
        from ai.sourcing.synthetic.data_designer import DesignerTransport

        return DesignerTransport(endpoint, workdir / "data_designer")
    return endpoint.complete_many


def announce_plan(name: str, options: GroundedOptions, endpoint: ChatEndpoint) -> None:
    """Warn (the ingest log and the terminal show it) what the source may ask before it asks anything."""
    generation = options.generation
    requests = sum(budget_for(q, options.budget) for q in options.strata().values())
    tokens = requests * (PROMPT_TOKENS_ESTIMATE + generation.max_tokens)
    rate = generation.requests_per_second or LOCAL_REQUESTS_PER_SECOND
    cost = tokens / 1e6 * generation.usd_per_million_tokens
    cached = len(endpoint.cache)
    warnings.warn(
        f"{name}: target {sum(options.strata().values()):,} accepted; at most {requests:,} requests "
        f"(~{tokens:,} tokens, ~${cost:,.2f} at ${generation.usd_per_million_tokens}/M tokens, "
        f"~{requests / rate / 3600:,.1f} h at {rate:g} requests/s) to {generation.endpoint} model "
        f"{generation.model_name!r}; {cached:,} answers already cached",
        GenerationPlanWarning,
        stacklevel=2,
    )


# Measured by benchmarks/bench_generation.py (SmolLM2-135M, 2 cores): what the estimate assumes when the
# config does not say how fast its endpoint is.
LOCAL_REQUESTS_PER_SECOND = 0.2  # 0.21 on 2 cores shared with other jobs (docs/SYNTHETIC.md)
PROMPT_TOKENS_ESTIMATE = 670  # grounded-reply/2 with its two worked exchanges: 40,162 tokens / 60 requests


def _request_seed(seed: int, source: str, client: str, passage_id: str, sample: int = 0) -> int:
    material = f"{seed}\x1f{source}\x1f{normalise_for_hash(client)}\x1f{passage_id}"
    if sample:  # the first sample keeps the seed it always had
        material += f"\x1f{sample}"
    return int.from_bytes(hashlib.sha256(material.encode()).digest()[:4], "big") & 0x7FFFFFFF


__all__ = ["ClientThread", "GroundedGenerator", "client_threads", "read_grounded"]
