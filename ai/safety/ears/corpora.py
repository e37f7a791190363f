"""Human-labelled replies the EARS judge learns from, and the conversations it is validated on.

Training pairs (client text, reply) with a label per EARS part, where the source has one:

| source | empathize | acknowledge | reflect | support | directive |
|---|---|---|---|---|---|
| EPITOME (Reddit, 3,084 pairs) | emotional reactions >= 1 | | interpretations >= 1 | explorations >= 1 | |
| AnnoMI (therapist utterances, with the client turns before) | | | reflection coded | open question | advice |
| MI gold (1,681 peer-support sentences, no client text) | MI "Support" | Affirm | simple/complex reflection | open question, advise with permission, emphasize autonomy | advise without permission, confront, direct, warn |
| MI advise pairs (240 rewrites) | | | | "with permission" rewrite | the original "without permission" advice |

Validation conversations (never trained on): AnnoMI transcripts with their high/low MI-quality label,
ESConv dialogues with the seeker's empathy rating, counsel-chat answers, EmpatheticDialogues listener turns.
Messages are OpenAI-format dicts (``{"role": "user" | "assistant", "content": ...}``).

Licences: EPITOME (Althoff academic licence: non-commercial research), MI gold and advise pairs (CC BY-NC-SA
3.0), AnnoMI (no licence stated), ESConv (CC BY-NC 4.0), EmpatheticDialogues (CC BY-NC 4.0), counsel-chat
(MIT; scraped text). A model fitted on them is for non-commercial research use.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

COMPONENTS = ("empathize", "acknowledge", "reflect", "support")
# Learned like a component, but it counts against a reply: MI-inconsistent directing and confronting.
PENALTY_COMPONENTS = ("directive",)
ALL_COMPONENTS = COMPONENTS + PENALTY_COMPONENTS

DEFAULT_DATA = Path(
    os.environ.get("SHARED_DATA_DIR", Path(__file__).resolve().parents[4] / "shared" / "data")
)

_MI_LABELS: dict[str, dict[str, int]] = {
    "Support": {"empathize": 1},
    "Affirm": {"acknowledge": 1},
    "Simple Reflection": {"reflect": 1},
    "Complex Reflection": {"reflect": 1},
    "Open Question": {"support": 1},
    "Advise with Permission": {"support": 1},
    "Emphasize Autonomy": {"support": 1},
    "Advise without Permission": {"directive": 1},
    "Confront": {"directive": 1},
    "Direct": {"directive": 1},
    "Warn": {"directive": 1},
}
_MI_COMPONENTS = ("empathize", "acknowledge", "reflect", "support", "directive")


class CorpusError(ValueError):
    """A data file is missing or lacks the columns the loader needs."""


@dataclass(frozen=True, slots=True)
class PairExample:
    client: str
    reply: str
    source: str
    group: str  # examples sharing a group land on the same side of every split
    labels: dict[str, int]
    detail: str = ""  # e.g. AnnoMI's reflection subtype (simple/complex)


@dataclass(slots=True)
class LabelledConversation:
    """A validation conversation: OpenAI-format messages and what people said of it."""

    messages: list[dict[str, str]]
    source: str
    group: str
    label: float | None = None  # AnnoMI: 1 high / 0 low MI quality; ESConv: seeker empathy 1-5
    meta: dict[str, str] = field(default_factory=dict)


def load_training_pairs(data_dir: Path = DEFAULT_DATA) -> list[PairExample]:
    quality = data_dir / "quality"
    return [
        *read_epitome(quality / "epitome_reddit"),
        *read_annomi_pairs(data_dir / "conversations" / "annomi_AnnoMI-full.csv"),
        *read_mi_gold(quality / "mi_welivita_pu_2023" / "mi_gold_test_with_ground_truth_and_predictions.csv"),
        *read_mi_advise_pairs(quality / "mi_welivita_pu_2023" / "PP_template"),
    ]


def read_epitome(folder: Path) -> list[PairExample]:
    """The three EPITOME files hold the same pairs in the same order, one mechanism each."""
    mechanisms = {
        "empathize": "emotional-reactions-reddit.csv",
        "reflect": "interpretations-reddit.csv",
        "support": "explorations-reddit.csv",
    }
    tables = {name: _read_csv(folder / file) for name, file in mechanisms.items()}
    rows = tables["empathize"]
    for name, table in tables.items():
        if len(table) != len(rows) or any(a["rp_id"] != b["rp_id"] for a, b in zip(table, rows, strict=True)):
            raise CorpusError(f"EPITOME {mechanisms[name]} does not list the same pairs as the others")
    return [
        PairExample(
            client=row["seeker_post"],
            reply=row["response_post"],
            source="epitome",
            group=f"epitome:{row['sp_id']}",
            labels={name: int(int(tables[name][i]["level"]) >= 1) for name in mechanisms},
        )
        for i, row in enumerate(rows)
    ]


def read_annomi_pairs(path: Path) -> list[PairExample]:
    """Therapist utterances with the client turns since the previous therapist turn.

    Seven transcripts were coded by ten annotators each: an utterance is a reflection (or an open question)
    when most of its annotators said so.
    """
    utterances = _annomi_utterances(path)
    examples: list[PairExample] = []
    for transcript, turns in utterances.items():
        client: list[str] = []
        for turn in turns:
            if turn["interlocutor"] == "client":
                client.append(turn["text"])
                continue
            examples.append(
                PairExample(
                    client="\n".join(client),
                    reply=turn["text"],
                    source="annomi",
                    group=f"annomi:{transcript}",
                    labels={
                        "reflect": turn["reflection"],
                        "support": turn["open_question"],
                        "directive": turn["advice"],
                    },
                    detail=turn["reflection_subtype"],
                )
            )
            client = []
    return examples


def read_mi_gold(path: Path) -> list[PairExample]:
    """Human-coded MI sentences; every sentence is a negative for the parts its code does not name."""
    examples = []
    for i, row in enumerate(_read_csv(path)):
        code = row.get("Ground truth", "")
        positives = _MI_LABELS.get(code, {})
        labels = {name: positives.get(name, 0) for name in _MI_COMPONENTS}
        examples.append(PairExample("", row["Text"], "mi_gold", f"mi_gold:{i}", labels, detail=code))
    return examples


def read_mi_advise_pairs(folder: Path) -> list[PairExample]:
    """Advice given without permission and the same advice rewritten to ask it (ParlAI text format)."""
    examples = []
    for part, path, line_no, line in _split_lines(folder, "advise_{}.txt"):
        fields = dict(f.split(":", 1) for f in line.split("\t") if ":" in f)
        if "text" not in fields or "labels" not in fields:
            raise CorpusError(f"{path}:{line_no}: expected text:... and labels:... fields")
        group = f"mi_advise:{part}:{line_no}"
        examples.append(PairExample("", fields["text"], "mi_advise", group, {"directive": 1, "support": 0}))
        examples.append(PairExample("", fields["labels"], "mi_advise", group, {"directive": 0, "support": 1}))
    return examples


def read_annomi_transcripts(path: Path) -> list[LabelledConversation]:
    """Each AnnoMI transcript as one conversation, labelled 1 for high and 0 for low MI quality."""
    rows = _read_csv(path)
    quality = {row["transcript_id"]: row["mi_quality"] for row in rows}
    conversations = []
    for transcript, turns in _annomi_utterances(path).items():
        messages = [_message(t["interlocutor"] == "client", t["text"]) for t in turns]
        label = 1.0 if quality[transcript] == "high" else 0.0
        conversations.append(LabelledConversation(messages, "annomi", f"annomi:{transcript}", label))
    return conversations


def read_esconv(conversations_dir: Path) -> list[LabelledConversation]:
    """ESConv dialogues (all three HF splits) with the seeker's empathy rating where there is one."""
    dialogues = []
    for part, path, line_no, line in _split_lines(conversations_dir, "esconv_hf_{}.jsonl"):
        try:
            dialogue = json.loads(line)
            messages = [_message(t["speaker"] == "usr", t["text"]) for t in dialogue["dialog"]]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CorpusError(f"{path}:{line_no}: not an ESConv dialogue ({exc})") from exc
        rating = _esconv_rating(dialogue)
        dialogues.append(LabelledConversation(messages, "esconv", f"esconv:{part}:{line_no}", rating))
    return dialogues


def read_counsel_chat(path: Path) -> list[LabelledConversation]:
    """One two-message conversation per therapist answer; answers to one question share a group."""
    conversations = []
    for row in _read_csv(path):
        question = f"{row['questionTitle']}\n{row['questionText']}".strip()
        answer = row["answerText"].strip()
        if question and answer:
            messages = [_message(True, question), _message(False, answer)]
            group = f"counsel-chat:{row['questionID']}"
            conversations.append(LabelledConversation(messages, "counsel-chat", group))
    return conversations


def read_empathetic_dialogues(folder: Path, limit: int = 0) -> list[LabelledConversation]:
    """EmpatheticDialogues (speaker/listener crowd-worker chats), one conversation per Dialog_ID."""
    turns: dict[str, list[dict[str, str]]] = defaultdict(list)
    for path in sorted((folder / "annotated").glob("*.csv")):
        for row in _read_csv(path):
            if row.get("Type") == "utterance" and row.get("Actor") in ("speaker", "listener"):
                dialog = row["Dialog_ID"].removesuffix("(1)").strip()
                turns[dialog].append(_message(row["Actor"] == "speaker", row["Text"]))
    ids = sorted(turns)[:limit] if limit else sorted(turns)
    return [LabelledConversation(turns[i], "empatheticdialogues", f"ed:{i}") for i in ids]


def _annomi_utterances(path: Path) -> dict[str, list[dict]]:
    """Per transcript, its utterances in order with majority-vote codes."""
    votes: dict[tuple[str, int], list[dict[str, str]]] = defaultdict(list)
    for row in _read_csv(path):
        votes[(row["transcript_id"], int(row["utterance_id"]))].append(row)
    transcripts: dict[str, list[dict]] = defaultdict(list)
    for (transcript, _), rows in sorted(votes.items(), key=lambda item: (int(item[0][0]), item[0][1])):
        first = rows[0]
        subtypes = Counter(r["reflection_subtype"] for r in rows if r["reflection_exists"] == "True")
        transcripts[transcript].append(
            {
                "interlocutor": first["interlocutor"],
                "text": first["utterance_text"],
                "reflection": int(2 * sum(r["reflection_exists"] == "True" for r in rows) > len(rows)),
                "open_question": int(2 * sum(r["question_subtype"] == "open" for r in rows) > len(rows)),
                "advice": int(2 * sum(r["therapist_input_subtype"] == "advice" for r in rows) > len(rows)),
                "reflection_subtype": subtypes.most_common(1)[0][0] if subtypes else "",
            }
        )
    return transcripts


def _esconv_rating(dialogue: dict) -> float | None:
    try:
        return float(dialogue["survey_score"]["seeker"]["empathy"])
    except (KeyError, TypeError, ValueError):
        return None


def _message(from_client: bool, text: str) -> dict[str, str]:
    return {"role": "user" if from_client else "assistant", "content": text}


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise CorpusError(f"{path}: file not found (set SHARED_DATA_DIR or pass --data)")
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return list(csv.DictReader(handle))


def _split_lines(folder: Path, name: str) -> Iterator[tuple[str, Path, int, str]]:
    """(split, file, line number, line) over the non-blank lines of a set's train/valid/test files."""
    for part in ("train", "valid", "test"):
        path = folder / name.format(part)
        for line_no, line in enumerate(_read_lines(path), 1):
            yield part, path, line_no, line


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise CorpusError(f"{path}: file not found (set SHARED_DATA_DIR or pass --data)")
    return [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
