"""How well the PII scrubber does on whole conversations: planted items that survive, and clean text it changes.

Two measures, both at the level a reader of the exported data sees:

- recall on planted items: a conversation with known PII goes through the scrubber; an item *survived* when
  its text is still in the output, and *leaked in part* when a distinctive piece of it is (``[NAME_1]Shawn``,
  ``Williams-Carter`` left after ``DeShawn``) or a placeholder is glued to a letter or digit;
- precision on clean text: texts without PII go through the scrubber; every span it replaces is a false
  positive, so the figure is the share of texts left exactly as they were, and the spans it took.

Confidence intervals are percentile bootstraps over conversations (or texts), seeded, so reruns agree.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ai.pipelines.orchestrator.pii import PiiScrubber

# A placeholder with a letter or digit directly before or after it: a replacement that cut a word.
_GLUED_PLACEHOLDER = re.compile(r"[^\W_]\[[A-Z]+_\d+\]|\[[A-Z]+_\d+\][^\W_]")
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
# Pieces of an item that say nothing about the person: mail hosts, street words, spelled separators.
_GENERIC_PIECES_TEXT = """
    at dot com org net co uk gmail yahoo outlook hotmail icloud mail the and of de la le du des del rue calle
    via street road avenue apt suite unit number mr mrs ms dr oh
"""
_GENERIC_PIECES = frozenset(_GENERIC_PIECES_TEXT.split())


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def evaluate_planted(
    conversations: Iterable[dict[str, Any]], scrubber: PiiScrubber | None = None, seed: int = 0
) -> dict[str, Any]:
    """Items surviving and leaking in part, over ``{"turns": [{"text": ...}], "items": [{"type", "text"}]}``."""
    scrubber = scrubber or PiiScrubber()
    per_conversation: list[tuple[int, int]] = []  # (items, items caught whole)
    by_type: Counter[str] = Counter()
    missed_by_type: Counter[str] = Counter()
    survived: list[dict[str, str]] = []
    partial: list[dict[str, str]] = []
    for conversation in conversations:
        texts = [turn["text"] for turn in conversation["turns"]]
        output = "\n".join(scrubber.scrub(texts).texts)
        items = list(dict.fromkeys((i["type"], i["text"]) for i in conversation["items"]))
        context_tokens = _tokens(_without_items("\n".join(texts), [text for _, text in items]))
        glued = _GLUED_PLACEHOLDER.findall(output)
        caught = 0
        for kind, text in items:
            by_type[kind] += 1
            outcome = _item_outcome(text, output, context_tokens)
            if outcome == "caught":
                caught += 1
                continue
            missed_by_type[kind] += 1
            entry = {"conversation": conversation.get("id", ""), "type": kind, "text": text}
            (survived if outcome == "survived" else partial).append(entry)
        partial += [{"conversation": conversation.get("id", ""), "type": "GLUED", "text": g} for g in glued]
        per_conversation.append((len(items), caught - len(glued)))
    items_total = sum(n for n, _ in per_conversation)
    recall = sum(c for _, c in per_conversation) / items_total if items_total else 1.0
    return {
        "conversations": len(per_conversation),
        "items": items_total,
        "survived": survived,
        "partial": partial,
        "recall": round(recall, 4),
        "recall_ci95": _ratio_ci(per_conversation, seed),
        "by_type": {
            kind: {
                "items": n,
                "missed": missed_by_type[kind],
                "recall": round(1 - missed_by_type[kind] / n, 4),
            }
            for kind, n in sorted(by_type.items())
        },
    }


def evaluate_clean(
    texts: Sequence[str], scrubber: PiiScrubber | None = None, seed: int = 0
) -> dict[str, Any]:
    """Share of PII-free texts the scrubber leaves unchanged, and the spans it took from the others."""
    scrubber = scrubber or PiiScrubber()
    spans: list[dict[str, str]] = []
    unchanged = []
    for text in texts:
        entities = scrubber.scrub([text]).entities[0]
        unchanged.append((1, 0 if entities else 1))
        spans += [{"type": e.type, "text": e.text, "in": text[:160]} for e in entities]
    share = sum(u for _, u in unchanged) / len(unchanged) if unchanged else 1.0
    return {
        "texts": len(unchanged),
        "texts_changed": sum(1 for _, u in unchanged if not u),
        "unchanged": round(share, 4),
        "unchanged_ci95": _ratio_ci(unchanged, seed),
        "spans_by_type": dict(Counter(s["type"] for s in spans).most_common()),
        "spans": spans,
    }


def _item_outcome(text: str, output: str, context_tokens: set[str]) -> str:
    if text in output:
        return "survived"
    pieces = [t for t in _tokens(text) if _distinctive(t) and t not in context_tokens]
    output_tokens = _tokens(output)
    return "partial" if any(p in output_tokens for p in pieces) else "caught"


def _tokens(text: str) -> set[str]:
    return set(_TOKEN.findall(text))


def _distinctive(token: str) -> bool:
    if token.casefold() in _GENERIC_PIECES:
        return False
    return len(token) >= 4 if token.isdigit() else len(token) >= 3


def _without_items(text: str, items: list[str]) -> str:
    for item in sorted(items, key=len, reverse=True):
        text = text.replace(item, " ")
    return text


def _ratio_ci(pairs: list[tuple[int, int]], seed: int, rounds: int = 2000) -> list[float]:
    """95% percentile bootstrap of sum(hits) / sum(totals), resampling the units the pairs stand for."""
    if not pairs:
        return [1.0, 1.0]
    totals = np.array([t for t, _ in pairs], dtype=float)
    hits = np.array([h for _, h in pairs], dtype=float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(pairs), size=(rounds, len(pairs)))
    ratios = hits[draws].sum(axis=1) / np.maximum(totals[draws].sum(axis=1), 1.0)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]
