"""Recall of dedup, of the split and of the contamination check on planted near-duplicate pairs of real text.

    uv run python benchmarks/bench_contamination.py [--data ../shared/data] [--pairs 300] [--background 1500]

For each of four real corpora (ESConv, counsel-chat, AnnoMI in windows of 20 utterances, EmpatheticDialogues;
see /work/shared/data/conversations/PROVENANCE.md: EmpatheticDialogues is CC BY-NC 4.0, non-commercial) it
takes ``--pairs`` conversations, plants one altered copy of each (one kind of alteration per condition) and
adds ``--background`` other conversations of the same sources, so the planted pairs sit among distinct
conversations on the same topics. Planted copies get no ``group`` (the background keeps the groups the readers
give: answers to one counsel-chat question, windows of one AnnoMI session), so only similarity can keep a pair
together.
Then ``dedup`` -> ``split`` -> ``contamination`` run as in the pipeline (default options), and for each
condition it prints the share of pairs that

- dedup removed (one copy rejected as a near duplicate),
- end in one split without the contamination check (dedup, then the splitter's own near-duplicate groups),
- end in one split with it (the issue-23 target: >= 0.98 at 10% edited words),

with a 95% bootstrap interval over pairs. False positives: on the background alone (no planted pairs), the
share of conversations the check ties to another one, and the flagged pairs with both excerpts so a person
can judge whether they are real duplicates in the source data.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ai.core.records import Conversation, Provenance, Turn  # noqa: E402
from ai.pipelines.orchestrator.contamination import (  # noqa: E402
    ContaminationStage,
    confirmed_pairs,
    summary_table,
)
from ai.pipelines.orchestrator.data_splitter import SplitStage  # noqa: E402
from ai.pipelines.orchestrator.dedup import DedupStage  # noqa: E402

FILLERS = ("um", "uh", "you know", "like", "I mean", "so", "yeah")
ANNOMI_WINDOW = 20
Dialogue = tuple[str, str, list[Turn]]  # (topic, group, turns); group "" when the dialogue is its own


def esconv(folder: Path) -> list[Dialogue]:
    dialogues = []
    with (folder / "esconv_hf_train.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            data = json.loads(line)
            turns = [
                Turn("client" if u["speaker"] == "usr" else "therapist", u["text"].strip())
                for u in data["dialog"]
                if u["text"].strip()
            ]
            dialogues.append((str(data.get("problem_type", "")), "", turns))
    return dialogues


def counsel_chat(folder: Path) -> list[Dialogue]:
    with (folder / "counselchat_20200325_counsel_chat.csv").open(encoding="utf-8", newline="") as handle:
        return [
            (
                row["topic"],
                # Answers to one question share a group, keyed by its title as the pipeline's reader does
                # (the same question appears under several ids).
                "counsel-chat:" + " ".join(row["questionTitle"].split()).casefold(),
                [Turn("client", row["questionText"].strip()), Turn("therapist", row["answerText"])],
            )
            for row in csv.DictReader(handle)
            if row["questionText"].strip() and row["answerText"].strip()
        ]


def annomi(folder: Path) -> list[Dialogue]:
    transcripts: dict[str, tuple[str, list[Turn]]] = {}
    with (folder / "annomi_AnnoMI-simple.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            role = "therapist" if row["interlocutor"] == "therapist" else "client"
            _, turns = transcripts.setdefault(row["transcript_id"], (row["topic"], []))
            turns.append(Turn(role, row["utterance_text"].strip()))
    return [
        (topic, f"annomi:{transcript}", turns[start : start + ANNOMI_WINDOW])
        for transcript, (topic, turns) in transcripts.items()
        for start in range(0, len(turns) - ANNOMI_WINDOW // 2, ANNOMI_WINDOW)
    ]


def empathetic_dialogues(folder: Path) -> list[Dialogue]:
    dialogues: dict[str, tuple[str, list[Turn]]] = {}
    for path in sorted((folder / "empatheticdialogues" / "annotated").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["Type"] != "utterance":
                    continue
                role = "client" if row["Actor"] == "speaker" else "therapist"
                _, turns = dialogues.setdefault(row["Dialog_ID"], (row["Label"], []))
                turns.append(Turn(role, row["Text"].strip()))
    return [(label, "", turns) for label, turns in dialogues.values() if len(turns) >= 2]


SOURCES: dict[str, Callable[[Path], list[Dialogue]]] = {
    "esconv": esconv,
    "counsel-chat": counsel_chat,
    "annomi": annomi,
    "empatheticdialogues": empathetic_dialogues,
}


def edit_words(rate: float) -> Callable[[list[Turn], random.Random, list[str]], list[Turn]]:
    """Each word of each turn is, with probability ``rate``, replaced, deleted or preceded by a new word."""

    def alter(turns: list[Turn], rng: random.Random, vocabulary: list[str]) -> list[Turn]:
        out = []
        for turn in turns:
            words: list[str] = []
            for word in turn.text.split():
                roll = rng.random()
                if roll >= rate:
                    words.append(word)
                elif roll < rate * 0.5:
                    words.append(rng.choice(vocabulary))
                elif roll < rate * 0.75:
                    words += [rng.choice(vocabulary), word]
                # else: the word is deleted
            out.append(Turn(turn.role, " ".join(words) or turn.text))
        return out

    return alter


def reorder_turns(turns: list[Turn], rng: random.Random, vocabulary: list[str]) -> list[Turn]:
    """Two client-therapist exchanges swap places (or two turns, in a conversation of one exchange)."""
    out = list(turns)
    if len(out) >= 4:
        first = rng.randrange(0, len(out) // 2 - 1) * 2
        out[first : first + 4] = out[first + 2 : first + 4] + out[first : first + 2]
    else:
        out.reverse()
    return out


def drop_turn(turns: list[Turn], rng: random.Random, vocabulary: list[str]) -> list[Turn]:
    if len(turns) <= 2:
        # Two turns: the answer's last sentence goes instead (dropping a whole turn would leave one).
        return (
            [*turns[:1], Turn(turns[1].role, turns[1].text.rsplit(".", 1)[0])] if len(turns) == 2 else turns
        )
    out = list(turns)
    del out[rng.randrange(len(out))]
    return out


def add_turn(turns: list[Turn], rng: random.Random, vocabulary: list[str]) -> list[Turn]:
    out = list(turns)
    words = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(6, 14)))
    out.insert(
        rng.randrange(len(out) + 1), Turn(rng.choice(("client", "therapist")), words.capitalize() + ".")
    )
    return out


def retranscribe(turns: list[Turn], rng: random.Random, vocabulary: list[str]) -> list[Turn]:
    """Fillers before ~8% of words, punctuation dropped or changed, casing lowered or raised."""
    out = []
    for turn in turns:
        words = []
        for word in turn.text.split():
            if rng.random() < 0.08:
                words.append(rng.choice(FILLERS) + ",")
            stripped = word.rstrip(".,!?;:")
            if stripped != word and rng.random() < 0.6:
                word = stripped + rng.choice(("", ",", ".", " -", "..."))
            words.append(word.lower() if rng.random() < 0.7 else word.capitalize())
        out.append(Turn(turn.role, " ".join(words)))
    return out


CONDITIONS: dict[str, Callable[[list[Turn], random.Random, list[str]], list[Turn]]] = {
    "3% words edited": edit_words(0.03),
    "10% words edited": edit_words(0.10),
    "20% words edited": edit_words(0.20),
    "exchanges reordered": reorder_turns,
    "one turn dropped": drop_turn,
    "one turn added": add_turn,
    "re-transcribed (fillers, punctuation, casing)": retranscribe,
}


def record(source: str, key: str, topic: str, turns: list[Turn], group: str = "") -> Conversation:
    return Conversation(
        id=key,
        turns=turns,
        group=group,
        source=Provenance(kind="dataset", name=source),
        tags=[f"topic:{topic}"],
    )


def run_stages(records: list[Conversation]) -> tuple[set[str], dict[str, str], dict[str, str]]:
    """Ids dedup removed, and each surviving id's split before and after the contamination check."""
    deduped = DedupStage(seed=0).process(records)
    removed = {r.record_id for r in deduped.rejected}
    split = SplitStage(seed=0).process(deduped.kept).kept
    checked = ContaminationStage(seed=0).process(split).kept
    return removed, {r.id: r.split for r in split}, {r.id: r.split for r in checked}


def interval(hits: list[bool], rng: np.random.Generator, resamples: int = 1000) -> tuple[float, float]:
    values = np.array(hits, dtype=float)
    means = rng.choice(values, size=(resamples, len(values))).mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--pairs", type=int, default=300, help="planted pairs per source and condition")
    parser.add_argument("--background", type=int, default=1500, help="distinct conversations per source")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--cost", type=int, default=0, help="only measure the CPU cost on this many records")
    parser.add_argument(
        "--cost-edits", type=float, default=0.03, help="share of words edited in --cost copies"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = args.data / "conversations"
    originals: list[Conversation] = []
    background: list[Conversation] = []
    vocabulary: dict[str, list[str]] = {}
    for source, load in SOURCES.items():
        dialogues = [d for d in load(folder) if d[2]]
        rng.shuffle(dialogues)
        vocabulary[source] = [w for *_, turns in dialogues[:500] for t in turns for w in t.text.split()]
        chosen = dialogues[: args.pairs + args.background]
        made = [
            record(source, f"{source}:{i}", topic, turns, group)
            for i, (topic, group, turns) in enumerate(chosen)
        ]
        originals += made[: args.pairs]
        background += made[args.pairs :]
        print(
            f"{source}: {len(dialogues)} conversations, {len(made[: args.pairs])} planted, "
            f"{len(made[args.pairs :])} background"
        )
    if args.cost:
        cost = measure_cost([*originals, *background], args.cost, args.cost_edits)
        print(f"\ncost on {args.cost:,} records, {args.cost_edits:.0%} edits (CPU seconds): {cost}")
        return
    results: dict[str, dict[str, float]] = {}
    bootstrap = np.random.default_rng(args.seed)
    print(f"\n{'condition':48} {'dedup':>15} {'split only':>15} {'+contamination':>22}  s")
    for name, alter in CONDITIONS.items():
        copies = [
            record(o.source.name, o.id + "~copy", "", alter(o.turns, rng, vocabulary[o.source.name]))
            for o in originals
        ]
        started = time.perf_counter()
        removed, before, after = run_stages([*originals, *copies, *background])
        seconds = time.perf_counter() - started
        row: dict[str, float] = {"seconds": round(seconds, 2)}
        cells = []
        for column, splits in (("dedup", None), ("split_only", before), ("contamination", after)):
            hits = [
                o.id in removed or c.id in removed or (splits is not None and splits[o.id] == splits[c.id])
                for o, c in zip(originals, copies, strict=True)
            ]
            low, high = interval(hits, bootstrap)
            row[column] = round(sum(hits) / len(hits), 4)
            row[column + "_ci"] = [round(low, 4), round(high, 4)]  # type: ignore[assignment]
            cells.append(f"{row[column]:.3f} [{low:.3f}, {high:.3f}]")
        results[name] = row
        print(f"{name:48} {cells[0]:>15} {cells[1]:>15} {cells[2]:>22}  {seconds:.1f}")
    false_positives = measure_false_positives(background)
    print(
        f"\nfalse positives on {len(background)} distinct conversations: {false_positives['records_flagged']} "
        f"tied to another ({false_positives['record_rate']:.4%}), {false_positives['pairs']} pairs "
        f"of {false_positives['same_topic_pairs']} same-source same-topic pairs"
    )
    for example in false_positives["examples"]:
        print(
            f"  {example['similarity']:.2f} share {example['client_turn_share']:.2f}: "
            f"{example['first'][:110]!r}\n{'':17}{example['second'][:110]!r}"
        )
    if args.json:
        args.json.write_text(json.dumps({"recall": results, "false_positives": false_positives}, indent=2))


def measure_cost(
    dialogues: list[Conversation], records: int, edit_rate: float, shard_size: int = 5000
) -> dict[str, float]:
    """CPU seconds the check adds for ``records`` conversations (real ones, cycled with ``edit_rate`` of words
    edited so that no two are identical), in shards as the pipeline runs it; dedup's summaries are made first
    and reused. With 3% edits every conversation has near copies (the worst case: hundreds of thousands of
    pairs to confirm and move); with 30% edits the copies are mostly below the threshold.
    CPU time, not wall time: the machine is shared, and process time is what the stage itself costs."""
    rng = random.Random(7)
    vocabulary = [w for r in dialogues[:500] for t in r.turns for w in t.text.split()]
    alter = edit_words(edit_rate)
    splits = ("train",) * 14 + ("validation",) * 3 + ("test",) * 3
    batch = [
        msgspec.structs.replace(
            dialogues[i % len(dialogues)],
            id=f"cost:{i}",
            turns=alter(dialogues[i % len(dialogues)].turns, rng, vocabulary),
            split=rng.choice(splits),
            group="",
        )
        for i in range(records)
    ]
    shards = [batch[i : i + shard_size] for i in range(0, len(batch), shard_size)]
    dedup = DedupStage(seed=0)
    earlier = [dedup.summarise(shard, i) for i, shard in enumerate(shards)]
    stage = ContaminationStage(seed=0)
    started = time.process_time()
    summaries = [stage.summarise(shard, i, {"dedup": earlier[i]}) for i, shard in enumerate(shards)]
    summarised = time.process_time()
    plan = stage.reduce(summaries)
    reduced = time.process_time()
    for i, shard in enumerate(shards):
        stage.apply(shard, plan, i)
    applied = time.process_time()
    return {
        "records": records,
        "summarise": round(summarised - started, 2),
        "reduce": round(reduced - summarised, 2),
        "apply": round(applied - reduced, 2),
        "total": round(applied - started, 2),
        "pairs": len(plan.pairs),
        "moved": plan.moved,
    }


def measure_false_positives(background: list[Conversation]) -> dict:
    stage = ContaminationStage(seed=0)
    table = summary_table([stage.summarise(background, 0)], stage.options.num_perm)
    # Pairs inside one group (answers to one question, windows of one session) share a split anyway.
    pairs = [
        pair
        for pair in confirmed_pairs(table, stage.options, cross_split_only=False)
        if not table.groups[pair[0]] or table.groups[pair[0]] != table.groups[pair[1]]
    ]
    flagged = {a for a, *_ in pairs} | {b for _, b, *_ in pairs}
    topics: dict[tuple[str, str], int] = defaultdict(int)
    for r in background:
        topics[(r.source.name, r.tags[0])] += 1
    same_topic = sum(n * (n - 1) // 2 for n in topics.values())
    return {
        "records": len(background),
        "records_flagged": len(flagged),
        "record_rate": len(flagged) / max(1, len(background)),
        "pairs": len(pairs),
        "same_topic_pairs": same_topic,
        "examples": [
            {
                "similarity": round(similarity, 3),
                "client_turn_share": round(share, 3),
                "first": table.excerpts[a],
                "second": table.excerpts[b],
            }
            # The least similar flagged pairs are the ones worth reading.
            for a, b, similarity, share in sorted(pairs, key=lambda p: (p[2], p[3]))[:10]
        ],
    }


if __name__ == "__main__":
    main()
