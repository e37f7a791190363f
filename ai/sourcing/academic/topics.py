"""Therapeutic topics and the budgeted academic search that grounds them.

- ``Taxonomy`` (the bundled ``taxonomy.yaml`` or a file of the same shape) detects which topics a text
  mentions (``insomnia``, ``cbt`` ...) and builds a PubMed or plain query per topic.
- ``run_trigger(topic_counts, passages_by_topic, options, search)`` searches, once per run, for the
  topics that conversations mention but that have fewer grounding passages than ``min_passages``,
  most-mentioned first, within ``max_queries`` and ``max_passages``. Responses are cached on disk by
  the academic clients, so a rerun costs no requests. The passages carry full provenance and a topic tag.

The ``journal_trigger`` stage (ai/journal_dataset_research/trigger.py) and grounded generation
(ai/sourcing/synthetic/research.py) both use this; it lives here so sourcing never imports journal research.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from ai.core.config import ConfigError
from ai.core.records import Conversation, Passage
from ai.core.stage import Rejection, StageOptions
from ai.sourcing.academic.academic_sourcing import AcademicOptions, AcademicSearch

BUNDLED_TAXONOMY = Path(__file__).with_name("taxonomy.yaml")
STAGE_NAME = "journal_trigger"


class Topic(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: Literal["modality", "condition"] = "condition"
    label: str = ""
    phrases: list[str] = msgspec.field(default_factory=list)
    mesh: list[str] = msgspec.field(default_factory=list)
    search: list[str] = msgspec.field(default_factory=list)


class TaxonomyFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: int = 1
    pubmed_filter: str = ""
    condition_focus: str = ""
    topics: dict[str, Topic] = msgspec.field(default_factory=dict)


class TriggerOptions(StageOptions, kw_only=True):
    """``stages.journal_trigger`` options: the tagging stage and the once-per-run search share them."""

    taxonomy: str = ""  # a YAML file like taxonomy.yaml; empty: the bundled one
    extra_topics: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    tag_prefix: str = "topic:"
    min_passages: int = 20  # topics with fewer grounding passages than this are searched
    min_conversations: int = 1  # ... if at least this many conversations mention them
    max_queries: int = 8  # per-run budget of searches
    max_results_per_query: int = 20
    max_passages: int = 400  # per-run cap on passages fetched
    backend: Literal["pubmed", "semantic_scholar"] = "pubmed"
    source_name: str = "journal_trigger"
    # AcademicOptions for the clients: pubmed_url, s2_url, email, cache_dir, requests_per_second ...
    academic: dict[str, Any] = msgspec.field(default_factory=dict)


# --- taxonomy ----------------------------------------------------------------------------------------


class Taxonomy:
    """The topics, their detection patterns and their queries."""

    def __init__(self, data: TaxonomyFile) -> None:
        self.data = data
        self.topics = data.topics
        self._patterns = {name: _phrase_pattern(topic.phrases) for name, topic in self.topics.items()}

    @classmethod
    def load(cls, path: str = "", extra_topics: Mapping[str, Mapping[str, Any]] | None = None) -> Taxonomy:
        data = _read_taxonomy(path or str(BUNDLED_TAXONOMY))
        if extra_topics:
            try:
                extra = msgspec.convert(dict(extra_topics), dict[str, Topic])
            except msgspec.ValidationError as exc:
                raise ConfigError(f"{STAGE_NAME}.extra_topics: {exc}") from None
            data = msgspec.structs.replace(data, topics={**data.topics, **extra})
        return cls(data)

    def detect_conversation(self, conversation: Conversation) -> list[str]:
        return self.detect("\n".join(turn.text for turn in conversation.turns))

    def detect(self, text: str) -> list[str]:
        """Names of the topics the text mentions, in taxonomy order."""
        normalised = text.replace("\u2019", "'").replace("\u2018", "'")
        return [name for name, pattern in self._patterns.items() if pattern and pattern.search(normalised)]

    def pubmed_query(self, name: str) -> str:
        topic = self.topics[name]
        terms = [f'"{m}"[MeSH Terms]' for m in topic.mesh]
        terms += [f'"{s}"[Title/Abstract]' for s in topic.search or [topic.label or name]]
        query = "(" + " OR ".join(terms) + ")"
        if topic.kind == "condition" and self.data.condition_focus:
            query += f" AND {self.data.condition_focus}"
        if self.data.pubmed_filter:
            query += f" AND {self.data.pubmed_filter}"
        return query

    def plain_query(self, name: str) -> str:
        topic = self.topics[name]
        label = topic.label or name.replace("_", " ")
        return label if topic.kind == "modality" else f"{label} psychotherapy"


@functools.lru_cache(maxsize=16)
def _read_taxonomy(path: str) -> TaxonomyFile:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"taxonomy file not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable YAML taxonomy ({exc})") from None
    try:
        return msgspec.convert(raw or {}, TaxonomyFile)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    parts = [
        r"\s+".join(re.escape(w) for w in p.replace("\u2019", "'").split()) for p in phrases if p.strip()
    ]
    if not parts:
        return None
    # Longest first so "panic attacks" wins over "panic" in alternation; whole words only.
    parts.sort(key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(parts) + r")(?![\w-])", re.IGNORECASE)


def count_topics(conversations: Iterable[Conversation], prefix: str = "topic:") -> Counter[str]:
    """Conversations per topic, from the tags the stage added."""
    return Counter(t.removeprefix(prefix) for c in conversations for t in set(c.tags) if t.startswith(prefix))


def count_passages_by_topic(passages: Iterable[Passage], prefix: str = "topic:") -> Counter[str]:
    return Counter(t.removeprefix(prefix) for p in passages for t in set(p.tags) if t.startswith(prefix))


def detect_topics(conversations: Iterable[Conversation], taxonomy: Taxonomy) -> Counter[str]:
    """Conversations per topic, read from their text (for records no ``journal_trigger`` stage tagged)."""
    counts: Counter[str] = Counter()
    for conversation in conversations:
        counts.update(taxonomy.detect_conversation(conversation))
    return counts


def grounding_counts(passages: Iterable[Passage], taxonomy: Taxonomy, prefix: str = "topic:") -> Counter[str]:
    """Passages per topic: their topic tags, or else what their text is about."""
    passages = list(passages)
    counts = count_passages_by_topic(passages, prefix)
    for passage in passages:
        if not any(t.startswith(prefix) for t in passage.tags):
            counts.update(taxonomy.detect(f"{passage.title}\n{passage.text}"))
    return counts


# --- the once-per-run search -------------------------------------------------------------------------


class PlannedQuery(msgspec.Struct):
    topic: str
    query: str
    conversations: int
    passages_before: int
    max_results: int
    passages_found: int = 0
    status: str = "planned"  # planned | done | failed | skipped_budget


class TriggerResult(msgspec.Struct):
    passages: list[Passage]
    queries: list[PlannedQuery]
    rejections: list[Rejection]
    over_budget: list[str]  # topics that needed passages but did not fit in the budget
    requests: int = 0  # HTTP requests made (0 when everything came from the cache)


def plan_queries(
    topic_counts: Mapping[str, int],
    passages_by_topic: Mapping[str, int],
    options: TriggerOptions,
    taxonomy: Taxonomy,
) -> tuple[list[PlannedQuery], list[str]]:
    """Queries for under-grounded topics, most-mentioned first, and the topics left over the budget."""
    needy = [
        name
        for name, n in topic_counts.items()
        if name in taxonomy.topics
        and n >= options.min_conversations
        and passages_by_topic.get(name, 0) < options.min_passages
    ]
    needy.sort(key=lambda name: (-topic_counts[name], name))
    planned = []
    for name in needy[: max(0, options.max_queries)]:
        have = passages_by_topic.get(name, 0)
        query = taxonomy.pubmed_query(name) if options.backend == "pubmed" else taxonomy.plain_query(name)
        planned.append(
            PlannedQuery(
                topic=name,
                query=query,
                conversations=topic_counts[name],
                passages_before=have,
                max_results=max(1, min(options.max_results_per_query, options.min_passages - have)),
            )
        )
    return planned, needy[len(planned) :]


def academic_options(options: TriggerOptions) -> AcademicOptions:
    """The clients' options the trigger's ``academic`` mapping and ``backend`` describe."""
    return msgspec.convert({**options.academic, "backend": options.backend}, AcademicOptions, strict=False)


def run_trigger(
    topic_counts: Mapping[str, int],
    passages_by_topic: Mapping[str, int],
    options: TriggerOptions,
    search: AcademicSearch | None = None,
) -> TriggerResult:
    """Search for the topics that need grounding; failures become rejections, never exceptions."""
    taxonomy = Taxonomy.load(options.taxonomy, options.extra_topics)
    planned, over_budget = plan_queries(topic_counts, passages_by_topic, options, taxonomy)
    own_search = search is None
    if search is None:
        try:
            search = AcademicSearch(academic_options(options))
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{STAGE_NAME}.academic: {exc}") from None
    passages: dict[str, Passage] = {}
    rejections: list[Rejection] = []
    requests_before = search.requests_made()
    try:
        for plan in planned:
            room = options.max_passages - len(passages)
            if room <= 0:
                plan.status = "skipped_budget"
                over_budget.append(plan.topic)
                continue
            found = _run_query(search, plan, min(plan.max_results, room), options, rejections)
            for passage in found:
                passages.setdefault(passage.id, passage)
    finally:
        requests = search.requests_made() - requests_before
        if own_search:
            search.close()
    return TriggerResult(
        passages=list(passages.values()),
        queries=planned,
        rejections=rejections,
        over_budget=over_budget,
        requests=requests,
    )


def _run_query(
    search: AcademicSearch,
    plan: PlannedQuery,
    max_results: int,
    options: TriggerOptions,
    rejections: list[Rejection],
) -> list[Passage]:
    tag = options.tag_prefix + plan.topic
    found: list[Passage] = []
    failed = False
    for item in search.passages_or_rejections(plan.query, max_results, options.source_name, tags=(tag,)):
        if isinstance(item, Passage):
            item.meta["topic"] = plan.topic
            found.append(item)
            continue
        failed = failed or item.locator == f"query:{plan.query}"
        rejections.append(msgspec.structs.replace(item, stage=STAGE_NAME))
    plan.passages_found = len(found)
    plan.status = "failed" if failed else "done"
    return found
