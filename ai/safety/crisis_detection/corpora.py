"""The labelled development corpora in ``shared/data/crisis``, de-duplicated across sources and split.

Sources overlap (the PROVENANCE notes 72 texts shared by laxmimerit and SDCNL, 143 by laxmimerit and the
Kaggle set), so near-duplicates are grouped first: two texts join a group when they share three or more
word 8-grams, or are identical after normalisation. Each group keeps one representative, and the whole
group lands in one split, so a test text never has a twin in training. A group is positive when any of
its suicide-labelled members is positive (a safety detector errs towards crisis).

dreaddit (a stress corpus) and counsel-chat questions carry no suicide labels: their posts serve as
distressed negatives, except those in which the pattern layer finds the writer's own suicidal ideation
or worse (such posts would be wrong negatives).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from ai.safety.crisis_detection.patterns import LEVEL_RANK, PatternLayer

# Suicide-labelled sources first: a duplicate group is assigned to the earliest source in this order.
SOURCE_ORDER = ("sdcnl", "kaggle", "laxmimerit", "dreaddit", "counselchat", "esconv")
DEVELOPMENT_SOURCES = ("sdcnl", "kaggle", "laxmimerit")
SPLIT_FRACTIONS = (("train", 0.70), ("validation", 0.15), ("test", 0.15))

_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int
    source: str
    locator: str  # file:row, for the model card and error analysis
    split: str = ""
    author: str = ""  # who wrote it, where the source says (SDCNL): the unit of the per-person checks


@dataclass(frozen=True, slots=True)
class PersonTexts:
    """All the messages one person wrote (a dialogue's client turns, or a user's posts), labelled."""

    messages: tuple[str, ...]
    label: int
    source: str
    locator: str
    split: str


def load_development_corpus(crisis_dir: Path, seed: int = 0) -> tuple[list[Example], dict[str, int]]:
    """All sources, de-duplicated and split per source; also returns the de-duplication counts.

    counsel-chat questions and ESConv seeker turns (``../conversations``) join as in-domain negatives:
    they are what the pipeline's client text looks like, and without them every long distressed text
    reads as a crisis. They keep the splits their releases give them. (DiaSafety's Reddit chit-chat was
    tried as further negatives and dropped: it lowered sensitivity on the tweet sets without making
    everyday text score lower.)
    """
    raw = [*_read_sdcnl(crisis_dir), *_read_kaggle(crisis_dir), *_read_laxmimerit(crisis_dir)]
    raw += _without_own_ideation(_read_dreaddit(crisis_dir))
    raw += _without_own_ideation(_read_counselchat(crisis_dir.parent / "conversations"))
    raw += _without_own_ideation(_read_esconv(crisis_dir.parent / "conversations"))
    raw = [e for e in raw if e.text.strip()]
    groups = group_near_duplicates([e.text for e in raw])
    examples, stats = _one_per_group(raw, groups)
    stats["raw"] = len(raw)
    return [e if e.split else _with_split(e, seed) for e in examples], stats


def group_near_duplicates(texts: list[str], shingle: int = 8, min_shared: int = 3) -> list[int]:
    """A group id per text (union-find over exact matches and shared word 8-grams)."""
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first_with_key: dict[str, int] = {}
    by_shingle: dict[int, list[int]] = defaultdict(list)
    for index, text in enumerate(texts):
        tokens = _TOKEN.findall(text.lower())
        key = " ".join(tokens)
        if key in first_with_key:
            union(first_with_key[key], index)
            continue
        first_with_key[key] = index
        for start in range(len(tokens) - shingle + 1):
            by_shingle[hash(" ".join(tokens[start : start + shingle]))].append(index)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for members in by_shingle.values():
        unique = sorted(set(members))
        if 1 < len(unique) <= 50:  # very common 8-grams are boilerplate, not evidence of a copy
            for other in unique[1:]:
                shared[(unique[0], other)] += 1
    for (a, b), count in shared.items():
        if count >= min_shared:
            union(a, b)
    return [find(i) for i in range(len(texts))]


def _one_per_group(raw: list[Example], groups: list[int]) -> tuple[list[Example], dict[str, int]]:
    members: dict[int, list[Example]] = defaultdict(list)
    for example, group in zip(raw, groups, strict=True):
        members[group].append(example)
    kept: list[Example] = []
    stats = {"groups_merged": 0, "cross_source_groups": 0, "label_conflicts": 0}
    for group in sorted(members):
        items = sorted(members[group], key=lambda e: SOURCE_ORDER.index(e.source))
        representative = items[0]
        labelled = [e.label for e in items if e.source in DEVELOPMENT_SOURCES] or [representative.label]
        if len(items) > 1:
            stats["groups_merged"] += 1
            stats["cross_source_groups"] += len({e.source for e in items}) > 1
            stats["label_conflicts"] += len(set(labelled)) > 1
        kept.append(replace(representative, label=max(labelled)))
    stats["unique"] = len(kept)
    return kept, stats


def _with_split(example: Example, seed: int) -> Example:
    """A split by hash; an author's posts share one, so a person is never in training and test both."""
    return replace(example, split=split_of(f"{example.source}\x1f{example.author or example.text}", seed))


def split_of(key: str, seed: int = 0) -> str:
    digest = hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    split = SPLIT_FRACTIONS[-1][0]
    for name, share in SPLIT_FRACTIONS:
        cumulative += share
        if fraction < cumulative:
            split = name
            break
    return split


def _read_csv(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return list(csv.DictReader(handle))


def _read_sdcnl(crisis_dir: Path) -> list[Example]:
    examples = []
    for name in ("sdcnl_training-set.csv", "sdcnl_testing-set.csv"):
        for row_number, row in enumerate(_read_csv(crisis_dir / name), start=2):
            text = f"{row.get('title', '')}\n{row.get('selftext', '')}".strip()
            label = int(float(row.get("is_suicide") or 0))
            author = (row.get("author") or "").strip()
            author = "" if author in ("[deleted]", "[removed]") else author  # not one person
            examples.append(Example(text, label, "sdcnl", f"{name}:{row_number}", author=author))
    return examples


def _read_kaggle(crisis_dir: Path) -> list[Example]:
    name = "kaggle_suicidal_tweet_detection_Suicide_Ideation_Dataset_Twitter-based.csv"
    return [
        Example(
            row.get("Tweet") or "",
            int((row.get("Suicide") or "").strip() == "Potential Suicide post"),
            "kaggle",
            f"{name}:{n}",
        )
        for n, row in enumerate(_read_csv(crisis_dir / name), start=2)
    ]


def _read_laxmimerit(crisis_dir: Path) -> list[Example]:
    name = "laxmimerit_twitter-suicidal_data.csv"
    return [
        Example(row.get("tweet") or "", int(float(row.get("intention") or 0)), "laxmimerit", f"{name}:{n}")
        for n, row in enumerate(_read_csv(crisis_dir / name), start=2)
    ]


def _read_dreaddit(crisis_dir: Path) -> list[Example]:
    examples = []
    for name in ("dreaddit-train.csv", "dreaddit-test.csv"):
        rows = _read_csv(crisis_dir / name)
        examples += [
            Example(row.get("text") or "", 0, "dreaddit", f"{name}:{n}") for n, row in enumerate(rows, 2)
        ]
    return examples


def _read_counselchat(conversations_dir: Path) -> list[Example]:
    name = "counselchat_20200325_counsel_chat.csv"
    splits = {"train": "train", "val": "validation", "test": "test"}
    seen: set[str] = set()
    examples = []
    for n, row in enumerate(_read_csv(conversations_dir / name), start=2):
        question = row.get("questionID") or ""
        if question in seen:
            continue
        seen.add(question)
        text = f"{row.get('questionTitle') or ''}\n{row.get('questionText') or ''}".strip()
        split = splits.get((row.get("split") or "").strip(), "")
        examples.append(Example(text, 0, "counselchat", f"{name}:{n}", split))
    return examples


def _read_esconv(conversations_dir: Path) -> list[Example]:
    splits = {"train": "train", "valid": "validation", "test": "test"}
    examples = []
    for part, split in splits.items():
        name = f"esconv_hf_{part}.jsonl"
        texts = read_esconv_seeker_texts(conversations_dir / name)
        examples += [Example(text, 0, "esconv", f"{name}:{n}", split) for n, text in enumerate(texts, 1)]
    return examples


def _without_own_ideation(examples: list[Example]) -> list[Example]:
    """Drop unlabelled-for-suicide negatives in which the writer states ideation or worse."""
    hits = PatternLayer().scan([e.text for e in examples])
    ideation = LEVEL_RANK["ideation"]
    return [
        e
        for e, found in zip(examples, hits, strict=True)
        if not any(h.counts and LEVEL_RANK[h.level] >= ideation for h in found)
    ]


def read_esconv_seeker_texts(path: Path) -> list[str]:
    """The seeker's turns of each ESConv dialogue (HF JSON Lines format), joined per dialogue."""
    texts = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                dialog = json.loads(line).get("dialog", [])
                texts.append("\n".join(t.get("text", "") for t in dialog if t.get("speaker") == "usr"))
    return texts


def read_diasafety(crisis_dir: Path, split: str) -> list[dict[str, str]]:
    """DiaSafety rows ``{context, response, category, label}`` for ``split`` in {train, val}."""
    with (crisis_dir / f"diasafety_{split}.json").open(encoding="utf-8", errors="replace") as handle:
        return json.load(handle)


def read_empathetic_dialogues(conversations_dir: Path, seed: int = 0) -> list[PersonTexts]:
    """The speaker's turns of each EmpatheticDialogues dialogue (CC BY-NC 4.0): everyday emotional talk
    with no suicide labels, the negatives of the per-person checks. Split 70/15/15 by dialogue id; the
    nine "(1)" copies of other dialogues are skipped."""
    turns: dict[str, list[str]] = defaultdict(list)
    folder = conversations_dir / "empatheticdialogues" / "annotated"
    for path in sorted(folder.glob("*.csv")):
        for row in _read_csv(path):
            dialog = row.get("Dialog_ID") or ""
            if (
                row.get("Type") == "utterance"
                and row.get("Actor") == "speaker"
                and not dialog.endswith("(1)")
            ):
                turns[dialog].append(row.get("Text") or "")
    return [
        PersonTexts(tuple(messages), 0, "empathetic_dialogues", dialog, split_of(f"ed\x1f{dialog}", seed))
        for dialog, messages in sorted(turns.items())
    ]


def read_esconv_dialogues(conversations_dir: Path, speaker: str = "usr") -> list[PersonTexts]:
    """One side of each ESConv dialogue (CC BY-NC 4.0) in the release's splits: ``usr`` is the
    help-seeker, ``sys`` the supporter."""
    dialogues = []
    for part, split in (("train", "train"), ("valid", "validation"), ("test", "test")):
        name = f"esconv_hf_{part}.jsonl"
        with (conversations_dir / name).open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    dialog = json.loads(line).get("dialog", [])
                    messages = tuple(t.get("text", "") for t in dialog if t.get("speaker") == speaker)
                    dialogues.append(PersonTexts(messages, 0, "esconv", f"{name}:{number}", split))
    return dialogues


def read_support_replies(conversations_dir: Path) -> list[Example]:
    """Second-person support written to someone else (counsel-chat answers, MIT; ESConv supporter turns,
    CC BY-NC 4.0): it talks *about* suicide and self-harm ("please reach out", "you deserve to feel
    safe") without the writer being at risk, so it teaches the model what support looks like."""
    name = "counselchat_20200325_counsel_chat.csv"
    splits = {"train": "train", "val": "validation", "test": "test"}
    replies = [
        Example(
            row.get("answerText") or "",
            0,
            "support",
            f"{name}:{n}",
            splits.get(row.get("split", ""), "train"),
        )
        for n, row in enumerate(_read_csv(conversations_dir / name), start=2)
    ]
    for dialogue in read_esconv_dialogues(conversations_dir, speaker="sys"):
        replies += [Example(m, 0, "support", dialogue.locator, dialogue.split) for m in dialogue.messages]
    return [e for e in replies if e.text.strip()]


def dialogue_turns(dialogues: list[PersonTexts], source: str) -> list[Example]:
    """Each message of each dialogue as its own negative example (what a client turn looks like)."""
    turns = [
        Example(text, dialogue.label, source, dialogue.locator, dialogue.split)
        for dialogue in dialogues
        for text in dialogue.messages
        if text.strip()
    ]
    return _without_own_ideation(turns)


def authors_posts(examples: list[Example], min_posts: int = 1) -> list[PersonTexts]:
    """Posts grouped by author (where the source names one): a person is at risk when any post is."""
    by_author: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for example in examples:
        if example.author:
            by_author[(example.source, example.author)].append(example)
    return [
        PersonTexts(tuple(e.text for e in posts), max(e.label for e in posts), source, author, posts[0].split)
        for (source, author), posts in sorted(by_author.items())
        if len(posts) >= min_posts
    ]


def read_annomi_client_turns(conversations_dir: Path, seed: int = 0) -> list[Example]:
    """Client utterances of AnnoMI's motivational-interviewing transcripts (no licence stated; public
    YouTube demonstrations): how a client talks in a counselling session, split by transcript."""
    name = "annomi_AnnoMI-simple.csv"
    turns = [
        Example(
            row.get("utterance_text") or "",
            0,
            "annomi_turn",
            f"{name}:{n}",
            split_of(f"annomi\x1f{row.get('transcript_id', '')}", seed),
        )
        for n, row in enumerate(_read_csv(conversations_dir / name), start=2)
        if row.get("interlocutor") == "client" and (row.get("utterance_text") or "").strip()
    ]
    return _without_own_ideation(turns)
