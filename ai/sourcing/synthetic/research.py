"""Journal research for grounded generation: papers for the topics the run's passages hardly ground.

With ``options.journal_trigger`` set on a grounded source, before any thread is matched:

1. the therapeutic topics of the material conversations are detected (``Taxonomy.detect``), and the
   knowledge passages already at hand are counted per topic;
2. ``run_trigger`` searches PubMed / Semantic Scholar for the topics under ``min_passages``, most
   mentioned first, within the ``max_queries`` / ``max_passages`` budget;
3. the fetched passages that qualify as knowledge join the pool the generator matches threads against,
   so a conversation grounded in one carries its PMID / DOI / URL in ``passage_locator``.

Failed searches become ingest Rejections (the run's quarantine). Everything lands in
``work/synthetic/<source>/``: ``journal_trigger_passages.jsonl`` (what was fetched) and
``journal_trigger.json`` (topics, queries, what was over budget, requests, rejections). A later ingest of
the same run whose plan is unchanged reuses both without a request, so a resumed run grounds exactly
what the interrupted one did; responses are also cached under ``work/cache/academic`` unless
``academic.cache_dir`` names another place.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ai.core.atomic import atomic_write_bytes, atomic_write_json
from ai.core.context import SourceContext
from ai.core.records import Passage, content_hash, decode_passage, encode
from ai.core.stage import Rejection
from ai.sourcing.academic.topics import (
    PlannedQuery,
    Taxonomy,
    TriggerOptions,
    TriggerResult,
    detect_topics,
    grounding_counts,
    plan_queries,
    run_trigger,
)
from ai.sourcing.synthetic.knowledge import KnowledgePassage, select_knowledge
from ai.sourcing.synthetic.options import GroundedOptions

STAGE = "ingest"
SUMMARY_FILE = "journal_trigger.json"
PASSAGES_FILE = "journal_trigger_passages.jsonl"
CACHE_DIR = "work/cache/academic"


class JournalTriggerWarning(UserWarning):
    """What the journal trigger of a grounded source searched, found and left over budget."""


@dataclass
class Research:
    """Knowledge the trigger added (not already at hand), the failures to quarantine, and the summary."""

    knowledge: list[KnowledgePassage] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def resolve_trigger_paths(options: GroundedOptions, base_dir: Path) -> GroundedOptions:
    """Relative ``taxonomy`` and ``academic.cache_dir`` paths resolve against the config's directory."""
    trigger = options.journal_trigger
    if trigger is None:
        return options
    changes: dict[str, Any] = {}
    if trigger.taxonomy and not Path(trigger.taxonomy).is_absolute():
        changes["taxonomy"] = str(Path(base_dir) / trigger.taxonomy)
    cache_dir = str(trigger.academic.get("cache_dir") or "")
    if cache_dir and not Path(cache_dir).expanduser().is_absolute():
        changes["academic"] = {**trigger.academic, "cache_dir": str(Path(base_dir) / cache_dir)}
    if not changes:
        return options
    return msgspec.structs.replace(options, journal_trigger=msgspec.structs.replace(trigger, **changes))


def grounding_knowledge(
    source_name: str, options: GroundedOptions, context: SourceContext
) -> tuple[list[KnowledgePassage], list[Rejection]]:
    """The passages a grounded source can ground in: the run's own that are about mental health, then
    what the journal trigger fetched (when it is on); and the trigger's failures to quarantine."""
    knowledge = select_knowledge(
        list(context.passages()), options.min_clinical_terms, options.min_term_density
    )
    research = research_knowledge(source_name, options, context, knowledge)
    return knowledge + research.knowledge, research.rejections


def research_knowledge(
    source_name: str,
    options: GroundedOptions,
    context: SourceContext,
    knowledge: list[KnowledgePassage],
) -> Research:
    """Run the journal trigger for a grounded source (nothing when it is off); see the module docstring."""
    trigger = options.research()
    if trigger is None:
        return Research()
    workdir = Path(context.run_dir) / "work" / "synthetic" / source_name
    taxonomy = Taxonomy.load(trigger.taxonomy, trigger.extra_topics)
    wanted = set(options.from_categories)
    topic_counts = detect_topics(
        (c for c in context.conversations() if not wanted or c.category in wanted), taxonomy
    )
    have = grounding_counts((k.passage for k in knowledge), taxonomy, trigger.tag_prefix)
    planned, over_budget = plan_queries(topic_counts, have, trigger, taxonomy)
    key = _plan_key(planned, over_budget, trigger)

    outcome = _load_saved(workdir, key)
    if outcome is None:
        result = run_trigger(topic_counts, have, _with_default_cache(trigger, context.run_dir))
        outcome = _Outcome(
            passages=result.passages,
            rejections=_quarantine_entries(source_name, result),
            queries=[msgspec.to_builtins(q) for q in result.queries],
            over_budget=result.over_budget,
            requests=result.requests,
        )
        atomic_write_bytes(workdir / PASSAGES_FILE, b"".join(encode(p) + b"\n" for p in outcome.passages))

    known = {k.id for k in knowledge}
    fetched = select_knowledge(
        [p for p in outcome.passages if p.id not in known],
        options.min_clinical_terms,
        options.min_term_density,
    )
    summary = {
        "source": source_name,
        "plan_key": key,
        "reused_saved_results": outcome.reused,
        "topics": dict(sorted(topic_counts.items())),
        "passages_at_hand": {t: have.get(t, 0) for t in sorted(topic_counts)},
        "queries": outcome.queries,
        "over_budget": outcome.over_budget,
        "passages_fetched": len(outcome.passages),
        "passages_usable": len(fetched),
        "requests": outcome.requests,
        "rejected": len(outcome.rejections),
        "rejections": [msgspec.to_builtins(r) for r in outcome.rejections],
        "passages_file": (workdir / PASSAGES_FILE).relative_to(Path(context.run_dir)).as_posix(),
    }
    # The summary is written last: it is what marks the saved passages as complete for this plan.
    atomic_write_json(workdir / SUMMARY_FILE, summary)
    warnings.warn(_message(summary, workdir / SUMMARY_FILE), JournalTriggerWarning, stacklevel=2)
    return Research(knowledge=fetched, rejections=outcome.rejections, summary=summary)


@dataclass
class _Outcome:
    passages: list[Passage]
    rejections: list[Rejection]
    queries: list[Any]  # PlannedQuery as plain dicts
    over_budget: list[str]
    requests: int = 0  # made by this process; 0 when saved results were reused
    reused: bool = False


def _plan_key(planned: list[PlannedQuery], over_budget: list[str], trigger: TriggerOptions) -> str:
    """What the search depends on: the planned queries and the configured trigger."""
    material = encode({"plan": planned, "over_budget": over_budget, "options": trigger}).decode("utf-8")
    return content_hash([material])


def _load_saved(workdir: Path, key: str) -> _Outcome | None:
    """What an earlier ingest of this run fetched for the same plan, or None."""
    summary_path, passages_path = workdir / SUMMARY_FILE, workdir / PASSAGES_FILE
    if not (summary_path.is_file() and passages_path.is_file()):
        return None
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if summary.get("plan_key") != key:
            return None
        return _Outcome(
            passages=[
                decode_passage(line) for line in passages_path.read_bytes().splitlines() if line.strip()
            ],
            rejections=msgspec.convert(summary["rejections"], list[Rejection]),
            queries=list(summary["queries"]),
            over_budget=list(summary["over_budget"]),
            reused=True,
        )
    except (OSError, ValueError, KeyError, TypeError, msgspec.DecodeError, msgspec.ValidationError):
        # A damaged save is not trusted: the search runs again (from the response cache).
        return None


def _with_default_cache(trigger: TriggerOptions, run_dir: Path) -> TriggerOptions:
    if trigger.academic.get("cache_dir"):
        return trigger
    academic = {**trigger.academic, "cache_dir": str(Path(run_dir) / CACHE_DIR)}
    return msgspec.structs.replace(trigger, academic=academic)


def _quarantine_entries(source_name: str, result: TriggerResult) -> list[Rejection]:
    """The trigger's rejections as ingest quarantine entries naming the source and the topic."""
    topic_of = {q.query: q.topic for q in result.queries}
    entries = []
    for rejection in result.rejections:
        query = rejection.locator.removeprefix("query:")
        failed_search = query in topic_of  # per-article problems carry "#rank" after the query
        topic = topic_of.get(query) or topic_of.get(query.rsplit("#", 1)[0], "")
        what = "search" if failed_search else "result"
        entries.append(
            Rejection(
                stage=STAGE,
                reason=rejection.reason,
                message=f"{source_name}: journal trigger {what} for topic {topic!r} failed: {rejection.message}",
                locator=f"{source_name}:journal_trigger:{rejection.locator}",
            )
        )
    return entries


def _message(summary: dict[str, Any], path: Path) -> str:
    statuses = Counter(query["status"] for query in summary["queries"])
    done = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    parts = [
        f"{summary['source']} journal trigger: {len(summary['queries'])} queries"
        + (f" ({done})" if done else ""),
        f"{summary['passages_fetched']} passages fetched, {summary['passages_usable']} usable for grounding",
        f"{summary['requests']} requests"
        + (" (saved results reused)" if summary["reused_saved_results"] else ""),
    ]
    if summary["over_budget"]:
        parts.append(f"over budget: {', '.join(summary['over_budget'])}")
    if summary["rejected"]:
        parts.append(f"{summary['rejected']} failures quarantined")
    return "; ".join(parts) + f"; details in {path}"
