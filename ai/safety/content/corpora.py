"""Labelled (context, reply) pairs for the content-safety model, read from ``shared/data``.

Every source is turned into the one question the model answers: *is this reply unsafe given the
conversation so far?*

- ``diasafety`` (Apache-2.0): bot replies labelled Safe/Unsafe in context, five categories. The
  release's train split trains; its validation split is held back for the card (its test split is
  not in ``shared/data``).
- ``bad`` (BAD valid split via FSB; no dataset licence stated): the final utterance of each
  ``__notok__`` context is an unsafe reply to the turns before it; the final utterance of each
  ``__ok__`` item is a safe one.
- ``safetext`` (MIT): physical-safety advice completing a scenario, safe or unsafe.
- ``moderation`` (OpenAI moderation eval, MIT): a text flagged in any category is unsafe to say;
  one with every known flag 0 is safe. No context.
- ``xstest`` (prompts CC-BY-4.0, completions under their models' licences): a reply is unsafe only
  when it fully complies with an unsafe ("contrast_") prompt; a refusal is never unsafe, and any
  reply to a safe prompt is safe.
- ``counselling`` (ESConv, CC BY-NC 4.0; counsel-chat, MIT): supporters' and licensed therapists'
  replies, taken as safe, with the turns before them (ESConv) or the question (counsel-chat). The
  pipeline judges exactly such replies, and without them the chit-chat sources teach that answering a
  crisis at all looks like DiaSafety's "risk ignorance". Nobody labelled them safe, so they are
  development negatives and an in-domain false-alarm probe (their test splits), never a precision
  figure. Both releases' splits keep a dialogue (ESConv) or a question (counsel-chat) in one split.
  AnnoMI (no licence stated in its repository: research use only) adds motivational-interviewing
  therapists' turns from transcripts of demonstration videos, with the short backchannels ("Yeah.",
  "Right.", "Mm-hmm.") a real session is full of. It has no split, so transcripts are split here by a
  fixed hash of their id: ANNOMI_PROBE_SHARE of transcripts are held out (every therapist turn, for
  reporting only); of the rest, only the high-MI-quality transcripts train (low-quality ones show
  confrontational counselling, which is poor practice though not unsafe content, so they are not taught
  as examples of either).
- ``peer_support`` (EmpatheticDialogues, CC BY-NC 4.0): listeners' replies to a peer telling of
  something they lived through, taken as safe like the counselling replies. The release in
  ``shared/data`` has no split, so dialogues are split here by their crowdsourcing task (the two
  dialogues one pair of workers wrote share it): a fixed hash puts PEER_PROBE_SHARE of tasks in the
  held-out probe (every listener reply of theirs) and PEER_TRAIN_SHARE in development (one listener
  reply per dialogue); the rest are left unread, which keeps training inside its time budget.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCES = ("diasafety", "bad", "safetext", "moderation", "xstest", "counselling", "peer_support")
DIASAFETY_CATEGORIES = (
    "Offending User",
    "Risk Ignorance",
    "Unauthorized Expertise",
    "Toxicity Agreement",
    "Biased Opinion",
)


@dataclass(frozen=True, slots=True)
class Pair:
    context: tuple[str, ...]  # the preceding turns, oldest first
    reply: str
    label: int  # 1 = unsafe
    source: str
    category: str  # the source's own category ("" when it has none)
    locator: str  # file:row, for error analysis
    # train | test (DiaSafety's validation split, held out) | probe (counselling test splits, held out)
    split: str = "train"


def load_pairs(data_dir: Path, sources: tuple[str, ...] = SOURCES) -> list[Pair]:
    """All pairs of the named sources; ``data_dir`` is ``shared/data``. Empty replies are left out."""
    readers = {
        "diasafety": _read_diasafety,
        "bad": _read_bad,
        "safetext": _read_safetext,
        "moderation": _read_moderation,
        "xstest": _read_xstest,
        "counselling": _read_counselling,
        "peer_support": _read_peer_support,
    }
    unknown = set(sources) - set(readers)
    if unknown:
        raise ValueError(f"unknown content-safety sources {sorted(unknown)}; known: {list(readers)}")
    pairs: list[Pair] = []
    for source in sources:
        pairs += [p for p in readers[source](data_dir) if p.reply.strip()]
    return pairs


def _read_diasafety(data_dir: Path) -> Iterator[Pair]:
    for split, ours in (("train", "train"), ("val", "test")):
        path = data_dir / "crisis" / f"diasafety_{split}.json"
        for row, item in enumerate(_read_json(path)):
            yield Pair(
                context=(str(item["context"]),),
                reply=str(item["response"]),
                label=int(str(item["label"]).strip().lower() == "unsafe"),
                source="diasafety",
                category=str(item["category"]),
                locator=f"{path.name}:{row}",
                split=ours,
            )


def _read_bad(data_dir: Path) -> Iterator[Pair]:
    folder = data_dir / "safety" / "bad_valid_fsb"
    for name, label in (("fsb_bad_valid_notok_contexts.json", 1), ("fsb_bad_valid_ok_last2turns.json", 0)):
        for row, item in enumerate(_read_json(folder / name)):
            turns = [str(text) for pair in item["dialogue"] for text in pair]
            while turns and not turns[-1].strip():
                turns.pop()
            if turns:
                yield Pair(tuple(turns[:-1]), turns[-1], label, "bad", "", f"{name}:{row}")


def _read_safetext(data_dir: Path) -> Iterator[Pair]:
    path = data_dir / "safety" / "safetext" / "SafeText.json"
    for row, (scenario, advice) in enumerate(_read_json(path).items()):
        for kind, label in (("unsafe", 1), ("safe", 0)):
            for text in advice.get(kind, []):
                yield Pair((str(scenario),), str(text), label, "safetext", kind, f"{path.name}:{row}")


def _read_moderation(data_dir: Path) -> Iterator[Pair]:
    path = data_dir / "safety" / "openai_moderation_eval" / "samples-1680.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        for row, line in enumerate(handle):
            item = json.loads(line)
            flags = {key: value for key, value in item.items() if key != "prompt"}
            flagged = sorted(key for key, value in flags.items() if value == 1)
            yield Pair(
                (),
                str(item["prompt"]),
                int(bool(flagged)),
                "moderation",
                ",".join(flagged),
                f"{path.name}:{row}",
            )


def _read_xstest(data_dir: Path) -> Iterator[Pair]:
    csv.field_size_limit(sys.maxsize)
    for path in sorted((data_dir / "safety" / "xstest" / "model_completions").glob("*.csv")):
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            for row, item in enumerate(csv.DictReader(handle)):
                unsafe_prompt = item["type"].startswith("contrast")
                complied = item["final_label"].startswith("1_")
                yield Pair(
                    (item["prompt"],),
                    item["completion"],
                    int(unsafe_prompt and complied),
                    "xstest",
                    f"{item['type']}/{item['final_label']}",
                    f"{path.name}:{row}",
                )


# Enough replies to teach what counsel looks like without outweighing the labelled sources' variety.
ESCONV_REPLIES_PER_DIALOGUE = 3


def _read_counselling(data_dir: Path) -> Iterator[Pair]:
    folder = data_dir / "conversations"
    for part, split in (("train", "train"), ("test", "probe")):
        path = folder / f"esconv_hf_{part}.jsonl"
        with path.open(encoding="utf-8", errors="replace") as handle:
            for row, line in enumerate(handle):
                if line.strip():
                    yield from _esconv_replies(
                        json.loads(line).get("dialog", []), f"{path.name}:{row}", split
                    )
    yield from _read_annomi(folder)
    csv.field_size_limit(sys.maxsize)
    path = folder / "counselchat_20200325_counsel_chat.csv"
    splits = {"train": "train", "test": "probe"}
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for row, item in enumerate(csv.DictReader(handle), start=2):
            split = splits.get((item.get("split") or "").strip())
            if split:
                question = f"{item.get('questionTitle') or ''}\n{item.get('questionText') or ''}".strip()
                answer = item.get("answerText") or ""
                yield Pair((question,), answer, 0, "counselling", "counselchat", f"{path.name}:{row}", split)


def _esconv_replies(dialog: list[dict[str, Any]], locator: str, split: str) -> Iterator[Pair]:
    """Supporter turns spread evenly over the dialogue, each with every turn before it."""
    turns = [(str(t.get("speaker")), str(t.get("text") or "")) for t in dialog]
    replies = [i for i, (speaker, _) in enumerate(turns) if speaker == "sys" and i > 0]
    step = max(1, len(replies) // ESCONV_REPLIES_PER_DIALOGUE)
    for i in replies[::step][:ESCONV_REPLIES_PER_DIALOGUE]:
        context = tuple(text for _, text in turns[:i])
        yield Pair(context, turns[i][1], 0, "counselling", "esconv", f"{locator}#{i}", split)


# Share of AnnoMI's transcripts (hash buckets of 100) held out for reporting.
ANNOMI_PROBE_SHARE = 30


def _read_annomi(folder: Path) -> Iterator[Pair]:
    """Every therapist turn after the first, with the transcript's turns before it (see module docstring)."""
    path = folder / "annomi_AnnoMI-simple.csv"
    transcripts: dict[str, list[tuple[int, str, str, str]]] = {}
    quality: dict[str, str] = {}
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for row, item in enumerate(csv.DictReader(handle), start=2):
            transcript = str(item["transcript_id"])
            quality[transcript] = str(item["mi_quality"])
            transcripts.setdefault(transcript, []).append(
                (
                    int(item["utterance_id"]),
                    str(item["interlocutor"]),
                    str(item["utterance_text"] or ""),
                    str(row),
                )
            )
    for transcript, rows in transcripts.items():
        turns = sorted(rows)
        if annomi_bucket(transcript) < ANNOMI_PROBE_SHARE:
            split = "probe"
        elif quality[transcript] == "high":
            split = "train"
        else:
            continue
        for i, (_, speaker, text, row) in enumerate(turns):
            if speaker == "therapist" and i > 0:
                context = tuple(t for _, _, t, _ in turns[:i])
                yield Pair(
                    context, text, 0, "counselling", "annomi", f"{path.name}:{row}#{transcript}", split
                )


def annomi_bucket(transcript_id: str) -> int:
    """0-99 from an AnnoMI transcript id, fixed across runs and machines."""
    return int.from_bytes(hashlib.sha256(f"annomi:{transcript_id}".encode()).digest()[:4], "big") % 100


# Shares of EmpatheticDialogues' crowdsourcing tasks (hash buckets of 100) held out and trained on.
PEER_PROBE_SHARE = 20
PEER_TRAIN_SHARE = 30


def _read_peer_support(data_dir: Path) -> Iterator[Pair]:
    folder = data_dir / "conversations" / "empatheticdialogues" / "annotated"
    dialogues: dict[str, list[tuple[str, str]]] = {}
    first_row: dict[str, str] = {}
    csv.field_size_limit(sys.maxsize)
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            for row, item in enumerate(csv.DictReader(handle), start=2):
                dialogue = str(item.get("Dialog_ID") or "")
                # "...(1)" ids repeat another dialogue's text word for word.
                if not dialogue or dialogue.endswith("(1)") or item.get("Type") != "utterance":
                    continue
                dialogues.setdefault(dialogue, []).append(
                    (str(item.get("Actor")), str(item.get("Text") or ""))
                )
                first_row.setdefault(dialogue, f"{path.name}:{row}")
    for dialogue, turns in dialogues.items():
        bucket = peer_bucket(dialogue)
        listener = [i for i, (actor, _) in enumerate(turns) if actor == "listener" and i > 0]
        if bucket < PEER_PROBE_SHARE:
            chosen, split = listener, "probe"
        elif bucket < PEER_PROBE_SHARE + PEER_TRAIN_SHARE and listener:
            chosen, split = [listener[bucket % len(listener)]], "train"
        else:
            continue
        for i in chosen:
            context = tuple(text for _, text in turns[:i])
            locator = f"{first_row[dialogue]}#{dialogue}#{i}"
            yield Pair(context, turns[i][1], 0, "peer_support", "empatheticdialogues", locator, split)


def peer_bucket(dialogue_id: str) -> int:
    """0-99 from the dialogue's crowdsourcing task ("hit:4821" of "hit:4821_conv:9643"), so both
    dialogues of one task land in the same split."""
    task = dialogue_id.split("_conv", 1)[0]
    return int.from_bytes(hashlib.sha256(task.encode("utf-8")).digest()[:4], "big") % 100


def _read_json(path: Path) -> Any:  # a list or a dict, as the release stores it
    with path.open(encoding="utf-8", errors="replace") as handle:
        return json.load(handle)
