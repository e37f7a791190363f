"""Journal research trigger: therapeutic topics in conversations become budgeted academic searches.

Two parts here, the search they share in ai/sourcing/academic/topics.py:
- ``JournalTriggerStage`` (``journal_trigger``) tags each conversation with the topics it mentions
  (``topic:insomnia``, ``topic:cbt`` ...) from a taxonomy file; it is pure and never rejects.
- once per run, ``run_trigger`` (ai/sourcing/academic/topics.py, with the taxonomy and the options)
  searches PubMed / Semantic Scholar for the topics conversations mention but hardly ground.
- ``journal_trigger_cli(...)`` runs the same thing over a conversations JSONL file; the command line is
  ``dataset-pipeline journal-trigger``.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from ai.core.config import ConfigError
from ai.core.records import Conversation, Passage, Provenance, Turn, decode_passage, encode, make_conversation
from ai.core.stage import Rejection, Stage, StageOptions, StageResult
from ai.sourcing.academic.topics import (
    STAGE_NAME,
    Taxonomy,
    TriggerOptions,
    TriggerResult,
    count_topics,
    grounding_counts,
    run_trigger,
)

# --- the stage ---------------------------------------------------------------------------------------


class JournalTriggerStage(Stage):
    """Tags conversations with the therapeutic topics they mention; keeps every record."""

    name: ClassVar[str] = STAGE_NAME
    version: ClassVar[str] = "1"
    Options: ClassVar[type[StageOptions]] = TriggerOptions
    enabled_by_default: ClassVar[bool] = False

    def __init__(self, options: StageOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        if not isinstance(self.options, TriggerOptions):
            raise ConfigError(
                f"{STAGE_NAME}: options must be TriggerOptions, got {type(self.options).__name__}"
            )
        # Loading the taxonomy is reading configuration, done once here; process() stays pure.
        self.taxonomy = Taxonomy.load(self.options.taxonomy, self.options.extra_topics)

    def process(self, batch: list[Conversation]) -> StageResult:
        prefix = self.options.tag_prefix
        kept, counts = [], Counter()
        for conversation in batch:
            topics = self.taxonomy.detect_conversation(conversation)
            counts.update(topics)
            new_tags = [prefix + t for t in topics if prefix + t not in conversation.tags]
            kept.append(msgspec.structs.replace(conversation, tags=[*conversation.tags, *new_tags]))
        stats: dict[str, float] = {f"topic.{name}": float(n) for name, n in sorted(counts.items())}
        stats["conversations_with_topics"] = float(
            sum(1 for c in kept if any(t.startswith(prefix) for t in c.tags))
        )
        return StageResult(kept=kept, stats=stats)


# --- CLI ---------------------------------------------------------------------------------------------


def journal_trigger_cli(
    conversations: Path,
    out: Path,
    existing_passages: Path | None = None,
    options: TriggerOptions | None = None,
    stream: Any = None,
) -> int:
    """Detect topics in a conversations JSONL, search for the under-grounded ones, write passages JSONL.

    ``conversations`` holds canonical records or ``{"messages": [{"role", "content"}]}`` lines;
    ``existing_passages`` (passages JSONL) counts as grounding already at hand. Prints a table of
    topics, queries and results; rejections go to ``<out>.rejected.jsonl``. Returns passages written.
    """
    stream = stream or sys.stdout
    options = options or TriggerOptions()
    stage = JournalTriggerStage(options)
    batch, unreadable = _read_conversations(conversations)
    tagged = stage.process(batch).kept
    topic_counts = count_topics(tagged, options.tag_prefix)
    have: Counter[str] = Counter()
    if existing_passages:
        have = grounding_counts(_read_passages(existing_passages), stage.taxonomy, options.tag_prefix)
    result = run_trigger(topic_counts, have, options)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(encode(p) + b"\n" for p in result.passages))
    rejected = [*unreadable, *result.rejections]
    if rejected:
        out.with_name(out.name + ".rejected.jsonl").write_bytes(b"".join(encode(r) + b"\n" for r in rejected))
    _print_summary(stream, len(batch), topic_counts, result, out, len(rejected))
    return len(result.passages)


def _read_passages(path: Path) -> list[Passage]:
    passages = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            passages.append(decode_passage(line))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ConfigError(f"{path}:{number}: not a passage record ({exc})") from None
    return passages


def _read_conversations(path: Path) -> tuple[list[Conversation], list[Rejection]]:
    conversations, rejections = [], []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            conversations.append(_conversation_from_json(msgspec.json.decode(line), f"{path}:{number}"))
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError) as exc:
            rejections.append(
                Rejection(
                    stage=STAGE_NAME,
                    reason="unreadable_conversation",
                    message=f"{path}:{number}: not a conversation record ({exc})",
                    raw=line.decode("utf-8", "replace")[:2000],
                    locator=f"{path}:{number}",
                )
            )
    return conversations, rejections


def _conversation_from_json(obj: Any, locator: str) -> Conversation:
    if isinstance(obj, dict) and "messages" in obj and "turns" not in obj:
        role = {"user": "client", "assistant": "therapist", "system": "system"}
        turns = [Turn(role=role.get(m["role"], m["role"]), text=str(m["content"])) for m in obj["messages"]]
        return make_conversation(
            turns, Provenance(kind="dataset", name="cli", locator={"file_line": locator})
        )
    return msgspec.convert(obj, Conversation)


def _print_summary(
    stream: Any, n: int, topic_counts: Counter[str], result: TriggerResult, out: Path, rejected: int
) -> None:
    print(f"journal trigger: {n} conversations, topics: {dict(topic_counts.most_common())}", file=stream)
    for plan in result.queries:
        print(
            f"  {plan.topic:<26} {plan.conversations:>5} conv  {plan.passages_before:>4} had  "
            f"{plan.passages_found:>4} found  [{plan.status}]  {plan.query}",
            file=stream,
        )
    if result.over_budget:
        print(f"  over budget (not searched): {', '.join(result.over_budget)}", file=stream)
    print(
        f"journal trigger: {len(result.passages)} passages -> {out} ({result.requests} requests, "
        f"{rejected} rejected)",
        file=stream,
    )
