"""Benchmark of the preprocessing, dedup and split stages on a generated 100k-conversation corpus.

    uv run python benchmarks/bench_preprocess.py [--n 100000] [--batch 2000] [--workers 1] [--seed 7]

The corpus imitates counselling conversations (ten topics whose sentences are assembled from shared
fragments, so conversations on one topic overlap the way real ones do) and plants known defects:
exact duplicates (some from another source), near duplicates (about 3% of the words of every turn
edited), PII, other languages, mojibake, HTML/markdown debris, many role spellings, empty turns and
one-sided conversations. It prints records/s per stage, wall time, peak memory, and the quality figures:
near-duplicate recall on the planted copies, false positives among distinct same-topic conversations,
PII precision/recall on tests/fixtures/pii_cases.jsonl.

Per-shard work (the per-record stages and the summarise/apply halves of dedup and split) runs on
``--workers`` processes; the two reduces run once in the main process, as in the orchestrator. Stage
figures are CPU seconds (the machine may be shared); ``ideal_wall_seconds_on_workers`` is what the stage
CPU time gives on ``--workers`` otherwise idle cores (per-shard work divided by workers, plus the reduces).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ai.core.records import Conversation, Provenance, Turn, make_conversation  # noqa: E402
from ai.core.stage import Stage  # noqa: E402
from ai.pipelines.orchestrator.data_splitter import SplitStage  # noqa: E402
from ai.pipelines.orchestrator.dedup import DedupStage, minhash_signatures  # noqa: E402
from ai.pipelines.orchestrator.pii import evaluate  # noqa: E402
from ai.pipelines.orchestrator.unified_preprocessing_pipeline import (  # noqa: E402
    LanguageStage,
    NormalizeStage,
    PiiStage,
    RolesStage,
)

RECORD_STAGES: list[type[Stage]] = [NormalizeStage, RolesStage, PiiStage, LanguageStage]

TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "anxiety": (
        [
            "my heart races whenever I have to speak in a meeting",
            "I keep worrying that something terrible is about to happen",
            "the panic comes out of nowhere while I am driving",
            "I avoid calling people back because my chest gets tight",
            "I check the door locks again and again before bed",
            "my thoughts spiral about every little mistake at work",
            "I feel restless and on edge most of the afternoon",
            "crowded shops make my hands shake and I leave early",
        ],
        [
            "it sounds like your body is sounding an alarm even when you are safe",
            "many people notice the worry grows stronger when they try to push it away",
            "we could try slowing your breathing when the racing starts",
            "noticing the thought without arguing with it can loosen its grip",
            "what do you usually tell yourself right before the panic rises",
            "avoidance brings relief now but tends to feed the fear later",
            "grounding through your senses can bring you back to the present moment",
            "it makes sense that you feel exhausted after being on alert all day",
        ],
    ),
    "depression": (
        [
            "I have no energy to get out of bed in the morning",
            "nothing I used to enjoy feels worth doing anymore",
            "I feel empty even when my friends are around",
            "I have stopped answering messages from my family",
            "the days blur together and I cannot remember the last good one",
            "I feel like a burden to everyone who knows me",
            "food has no taste and I skip most meals",
            "I cry in the shower so nobody can hear me",
        ],
        [
            "that heaviness you describe sounds really hard to carry alone",
            "small steps like opening the curtains can be a real start",
            "depression often tells us stories that are not the whole truth",
            "when did you last feel even a little bit of interest in something",
            "it took courage to put these feelings into words today",
            "reaching out to one person you trust could ease the isolation",
            "your worth is not measured by how productive you are right now",
            "would it help to plan one gentle activity for tomorrow",
        ],
    ),
    "grief": (
        [
            "my mother passed away three months ago and I still set her place at the table",
            "I keep replaying the last conversation I had with my brother",
            "everyone expects me to be over it by now",
            "I feel guilty when I laugh because he is gone",
            "the anniversary of her death is coming up next week",
            "I cannot bring myself to clear out his room",
            "I was not there when my grandfather died and I cannot forgive myself",
            "the house is so quiet without her voice",
        ],
        [
            "grief does not follow a timetable and there is no right way to do it",
            "the love you feel for her is still there and it shows up as this pain",
            "guilt is a very common part of grieving a sudden loss",
            "what would you want to say to him if you could",
            "anniversaries can bring the loss back as if it were new",
            "there is no rush to sort through his things before you are ready",
            "laughing again does not mean you have forgotten her",
            "it sounds like you are carrying this mostly on your own",
        ],
    ),
    "relationships": (
        [
            "my partner and I argue about money almost every night",
            "I feel like I am the only one putting effort into this relationship",
            "he checks my phone when I am not looking",
            "we have not really talked in weeks except about the kids",
            "I am scared to tell her how unhappy I have been",
            "my best friend stopped inviting me to things",
            "I always end up apologising even when it was not my fault",
            "I do not know if I should stay or leave",
        ],
        [
            "it sounds like you feel unseen in the relationship",
            "checking your phone without asking is a real breach of trust",
            "what happens inside you right before the arguments start",
            "both of you seem to be longing for connection in different ways",
            "you deserve to feel safe and respected with your partner",
            "saying sorry to keep the peace can leave your own needs unmet",
            "it is okay not to have the answer about staying or leaving yet",
            "what would a good conversation with her look like to you",
        ],
    ),
    "work": (
        [
            "my manager piles more tasks on me every Friday afternoon",
            "I have been working twelve hour days for months",
            "I dread Sunday evenings because Monday is coming",
            "I made a mistake in a report and I cannot stop thinking about it",
            "I feel like an impostor among my colleagues",
            "I was passed over for the promotion again",
            "I cannot switch off from emails even on holiday",
            "my team lead criticises me in front of everyone",
        ],
        [
            "that workload sounds unsustainable for anyone",
            "setting one boundary around your evenings could be a place to start",
            "many capable people feel like impostors despite clear evidence",
            "what would you say to a colleague who made the same mistake",
            "being criticised in public can feel humiliating",
            "it makes sense that Sunday evenings carry so much dread",
            "how much of the pressure comes from your manager and how much from inside",
            "burnout creeps up slowly and you are noticing it now",
        ],
    ),
    "sleep": (
        [
            "I lie awake until three in the morning most nights",
            "my mind starts racing the second my head touches the pillow",
            "I wake up exhausted no matter how long I sleep",
            "I have started drinking to help me fall asleep",
            "nightmares wake me up several times a week",
            "I scroll on my phone for hours in bed",
            "I nap in the afternoon and then cannot sleep at night",
            "my shift work has wrecked my sleep schedule",
        ],
        [
            "poor sleep makes everything else feel harder to cope with",
            "keeping the bed for sleep only can retrain your brain over time",
            "alcohol may help you drift off but it disrupts deeper sleep later",
            "writing your worries down before bed can quiet the racing mind",
            "nightmares are worth mentioning to your doctor as well",
            "a wind down routine without screens could be worth trying",
            "what does the hour before bed usually look like for you",
            "shift work is genuinely hard on the body clock",
        ],
    ),
    "self_esteem": (
        [
            "I hate the way I look in every photo",
            "I never feel good enough no matter what I achieve",
            "I compare myself to everyone on social media",
            "I cannot accept compliments without feeling awkward",
            "I talk to myself in a way I would never talk to a friend",
            "I feel invisible in groups of people",
            "I think people only tolerate me",
            "I gave up on drawing because others are better",
        ],
        [
            "that inner critic sounds very loud and very harsh",
            "comparison tends to pit our insides against other people's highlights",
            "what would it be like to treat yourself as you would a friend",
            "accepting a compliment can feel uncomfortable when it clashes with old beliefs",
            "where do you think that belief about yourself first came from",
            "your value does not depend on being the best at something",
            "it sounds like drawing once gave you a lot of joy",
            "noticing the critic is the first step to answering it",
        ],
    ),
    "family": (
        [
            "my parents fight constantly and I am stuck in the middle",
            "my father drinks and gets angry at all of us",
            "my sister and I have not spoken since the wedding",
            "my mother criticises every decision I make",
            "I moved back home and I feel like a child again",
            "my teenage son will not talk to me anymore",
            "the holidays with my family always end in shouting",
            "I am caring for my dad and I have no time for myself",
        ],
        [
            "being caught between your parents is a heavy place to stand",
            "living with someone who drinks and gets angry can feel unsafe",
            "family rifts can hurt even more because the bond runs so deep",
            "it sounds like you long for your mother's approval",
            "moving home can pull us back into old roles",
            "teenagers often pull away even when they still need us",
            "what would make the holidays feel more bearable this year",
            "caring for a parent is demanding and your needs matter too",
        ],
    ),
    "loneliness": (
        [
            "I moved to a new city and I do not know anyone",
            "weekends are the worst because nobody calls",
            "I eat dinner alone in front of the television every night",
            "I feel lonely even in a room full of people",
            "all my friends have partners and I feel left behind",
            "I have not had a real conversation in days",
            "I joined a club but I was too nervous to go back",
            "online friends are all I have left",
        ],
        [
            "loneliness can be painful in a very physical way",
            "starting over in a new city takes time and energy",
            "going back to the club after feeling nervous would be brave",
            "feeling lonely in a crowd often means we are missing real connection",
            "what kind of connection are you hoping for",
            "online friendships can be meaningful too",
            "is there one small way you could reach out this week",
            "you are not the only one who feels this way",
        ],
    ),
    "crisis": (
        [
            "I do not see the point in going on anymore",
            "I have been thinking that everyone would be better off without me",
            "I have started hurting myself again",
            "I wrote a letter to my family last night",
            "I feel completely trapped and hopeless",
            "I have been giving away my things",
            "I do not think I can keep myself safe tonight",
            "the pain feels like it will never end",
        ],
        [
            "I am really glad you told me and I want to help you stay safe",
            "if you are in danger right now please call 988 or your local emergency number",
            "you can also text HOME to 741741 to reach a crisis counselor",
            "are you thinking about ending your life",
            "you do not have to go through this night alone",
            "is there someone who could stay with you right now",
            "what has helped you get through moments like this before",
            "your life matters and this pain can change with support",
        ],
    ),
}
OPENERS = [
    "honestly",
    "lately",
    "to be fair",
    "I guess",
    "you know",
    "sometimes",
    "the thing is",
    "right now",
]
DETAILS = [
    "and it has been going on for a while",
    "and I do not know what to do",
    "especially at night",
    "which makes everything worse",
    "and I am tired of it",
    "even though I try my best",
    "and nobody seems to notice",
    "since the start of the year",
    "every single week",
    "and it scares me",
]
FOREIGN = {
    "de": [
        "Ich fühle mich seit Wochen sehr traurig und kann nachts nicht schlafen.",
        "Meine Familie versteht nicht, wie schwer es für mich ist.",
        "Es klingt, als ob Sie sehr viel auf einmal tragen.",
        "Was hilft Ihnen normalerweise, wenn es Ihnen so geht?",
    ],
    "es": [
        "Me siento muy ansioso cuando tengo que hablar con otras personas.",
        "No tengo energía para levantarme por la mañana.",
        "Parece que estás cargando con mucho peso tú solo.",
        "¿Qué te ayuda normalmente cuando te sientes así?",
    ],
    "fr": [
        "Je me sens très seul depuis que j'ai déménagé dans cette ville.",
        "Je n'arrive plus à dormir la nuit à cause du stress.",
        "Il semble que vous portiez beaucoup de choses en ce moment.",
        "Qu'est-ce qui vous aide habituellement dans ces moments-là ?",
    ],
}
ROLE_PAIRS = [("user", "assistant"), ("human", "gpt"), ("client", "therapist"), ("seeker", "supporter")]
SOURCES = [
    "counsel-chat",
    "empathetic-dialogues",
    "mental-health-faq",
    "reddit-support",
    "synthetic",
    "books",
]
NAMES = ["Sarah", "Daniel", "Priya", "Marcus", "Emily", "Kwame", "Jessica", "Tyler", "Aisha", "Olivia"]
EDIT_WORDS = ["really", "very", "quite", "also", "just", "still", "maybe", "often", "today", "again"]


class Truth:
    """What was planted, to score the run against."""

    def __init__(self) -> None:
        self.near_copies: dict[str, str] = {}  # copy id -> original id
        self.exact_copies: list[str] = []
        self.foreign = 0
        self.broken = 0
        self.originals: list[Conversation] = []


def generate_corpus(n: int, seed: int) -> tuple[list[Conversation], Truth]:
    rng = random.Random(seed)
    truth = Truth()
    records: list[Conversation] = []
    topics = list(TOPICS)
    while len(records) < n:
        roll = rng.random()
        if roll < 0.03 and truth.originals:
            original = rng.choice(truth.originals)
            copy = _near_copy(original, rng)
            truth.near_copies[copy.id] = original.id
            records.append(copy)
        elif roll < 0.05 and truth.originals:
            original = rng.choice(truth.originals)
            source = Provenance(kind="dataset", name=rng.choice(SOURCES), locator={"row": len(records)})
            records.append(make_conversation(list(original.turns), source, category=original.category))
            truth.exact_copies.append(original.id)
        elif roll < 0.07:
            record = _foreign_conversation(rng, len(records))
            truth.foreign += 1
            records.append(record)
        elif roll < 0.08:
            record = _broken_conversation(rng, topics, len(records))
            truth.broken += 1
            records.append(record)
        else:
            group = f"dialog-{len(records) // 4}" if rng.random() < 0.2 else ""
            record = _conversation(rng, rng.choice(topics), len(records), group)
            truth.originals.append(record)
            records.append(record)
    return records, truth


def _sentence(rng: random.Random, cores: list[str]) -> str:
    text = rng.choice(cores)
    if rng.random() < 0.4:
        text = f"{rng.choice(OPENERS)} {text}"
    if rng.random() < 0.4:
        text = f"{text} {rng.choice(DETAILS)}"
    return text[0].upper() + text[1:] + rng.choice([".", ".", ".", "!", "?"])


def _conversation(rng: random.Random, topic: str, row: int, group: str) -> Conversation:
    client_cores, therapist_cores = TOPICS[topic]
    client_role, therapist_role = rng.choice(ROLE_PAIRS)
    turns = []
    for i in range(rng.choice([2, 2, 4, 4, 6, 6, 8, 10])):
        cores = client_cores if i % 2 == 0 else therapist_cores
        text = " ".join(_sentence(rng, cores) for _ in range(rng.randint(1, 3)))
        turns.append(Turn(client_role if i % 2 == 0 else therapist_role, text))
    turns = _plant_pii_and_debris(rng, turns)
    category = (
        "crisis_support" if topic == "crisis" else rng.choice(["therapeutic"] * 6 + ["grounded", "bias"])
    )
    source = Provenance(kind="dataset", name=rng.choice(SOURCES), locator={"row": row})
    scores = {"crisis": round(rng.uniform(0.6, 1.0), 3)} if topic == "crisis" else {}
    return make_conversation(turns, source, category=category, group=group, scores=scores)


def _plant_pii_and_debris(rng: random.Random, turns: list[Turn]) -> list[Turn]:
    roll = rng.random()
    first = turns[0]
    name = rng.choice(NAMES)
    if roll < 0.04:
        first = Turn(first.role, f"Hi, my name is {name}. {first.text}")
    elif roll < 0.06:
        first = Turn(
            first.role, f"{first.text} You can email me at {name.lower()}{rng.randint(1, 99)}@gmail.com."
        )
    elif roll < 0.08:
        first = Turn(
            first.role, f"{first.text} My number is (555) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}."
        )
    elif roll < 0.09:
        first = Turn(first.role, f"<p>{first.text}</p><br>It&#39;s been <b>hard</b>.")
    elif roll < 0.10:
        first = Turn(
            first.role, f"**{first.text}** and it’s getting worse".encode().decode("cp1252", "replace")
        )
    return [first, *turns[1:]]


def _near_copy(original: Conversation, rng: random.Random) -> Conversation:
    turns = []
    for turn in original.turns:
        words = turn.text.split()
        for _ in range(max(1, round(0.03 * len(words)))):
            position = rng.randrange(len(words))
            action = rng.random()
            if action < 0.4:
                words[position] = rng.choice(EDIT_WORDS)
            elif action < 0.7 and len(words) > 3:
                del words[position]
            else:
                words.insert(position, rng.choice(EDIT_WORDS))
        turns.append(Turn(turn.role, " ".join(words)))
    source = Provenance(kind="dataset", name=original.source.name, locator={"row": -1})
    return make_conversation(turns, source, category=original.category, scores=dict(original.scores))


def _foreign_conversation(rng: random.Random, row: int) -> Conversation:
    sentences = FOREIGN[rng.choice(sorted(FOREIGN))]
    turns = [Turn("user", " ".join(rng.sample(sentences[:2], 2))), Turn("assistant", " ".join(sentences[2:]))]
    source = Provenance(kind="dataset", name=rng.choice(SOURCES), locator={"row": row})
    return make_conversation(turns, source)


def _broken_conversation(rng: random.Random, topics: list[str], row: int) -> Conversation:
    client_cores, _ = TOPICS[rng.choice(topics)]
    source = Provenance(kind="dataset", name=rng.choice(SOURCES), locator={"row": row})
    if rng.random() < 0.5:
        return make_conversation([Turn("user", _sentence(rng, client_cores))], source)
    return make_conversation([Turn("user", _sentence(rng, client_cores)), Turn("assistant", "   ")], source)


# Worker-side functions: module level so that a process pool can pickle them.
def _run_record_stages(
    shard: list[Conversation],
) -> tuple[list[Conversation], dict[str, float], Counter[str]]:
    timings: dict[str, float] = {}
    reasons: Counter[str] = Counter()
    for cls in RECORD_STAGES:
        started = time.process_time()
        result = cls(seed=7).process(shard)
        timings[cls.name] = time.process_time() - started
        reasons.update(result.rejected_by_reason())
        shard = result.kept
    return shard, timings, reasons


def _summarise(args: tuple[type[Any], list[Conversation], int]) -> tuple[Any, float]:
    cls, shard, index = args
    started = time.process_time()
    summary = cls(seed=7).summarise(shard, index)
    return summary, time.process_time() - started


def _apply(args: tuple[type[Any], list[Conversation], Any, int]) -> tuple[Any, float]:
    cls, shard, plan, index = args
    started = time.process_time()
    result = cls(seed=7).apply(shard, plan, index)
    return result, time.process_time() - started


def run(n: int, batch: int, workers: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    records, truth = generate_corpus(n, seed)
    generated = time.perf_counter() - started
    shards = [records[i : i + batch] for i in range(0, len(records), batch)]
    stage_seconds: dict[str, float] = defaultdict(float)
    stage_inputs: dict[str, int] = {}
    reasons: Counter[str] = Counter()
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    mapper = pool.map if pool else map
    wall = time.perf_counter()
    cpu = time.process_time()
    try:
        stage_inputs["normalize"] = len(records)
        outputs = list(mapper(_run_record_stages, shards))
        shards = [out for out, _, _ in outputs]
        for _, timings, rejected in outputs:
            for name, seconds in timings.items():
                stage_seconds[name] += seconds
            reasons.update(rejected)
        dedup_results, _, shards = _global_stage(DedupStage, shards, mapper, stage_seconds, stage_inputs)
        for result in dedup_results:
            reasons.update(result.rejected_by_reason())
        _, plan_split, shards = _global_stage(SplitStage, shards, mapper, stage_seconds, stage_inputs)
    finally:
        if pool:
            pool.shutdown()
    wall_seconds = time.perf_counter() - wall
    main_cpu = time.process_time() - cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    kept = [r for shard in shards for r in shard]
    rejections = [rej for result in dedup_results for rej in result.rejected]
    return {
        "records": n,
        "generated_seconds": round(generated, 2),
        "wall_seconds": round(wall_seconds, 2),
        "workers": workers,
        # CPU seconds per stage (summed over shards): on a shared machine wall time also counts waiting.
        "stage_cpu_seconds": {k: round(v, 3) for k, v in stage_seconds.items()},
        "cpu_seconds_total": round(main_cpu + children.ru_utime + children.ru_stime, 2),
        "ideal_wall_seconds_on_workers": round(
            sum(v for k, v in stage_seconds.items() if not k.endswith(".reduce")) / workers
            + sum(v for k, v in stage_seconds.items() if k.endswith(".reduce")),
            2,
        ),
        "stage_records_per_cpu_second": {
            k: round(stage_inputs.get(k.split(".")[0], n) / v) for k, v in stage_seconds.items() if v > 0
        },
        "rejected_by_reason": dict(sorted(reasons.items())),
        "kept": len(kept),
        "splits": dict(Counter(r.split for r in kept)),
        "split_report": _split_summary(SplitStage().report(plan_split)),
        "near_duplicates": _near_duplicate_quality(
            truth, rejections, records, DedupStage.Options().threshold
        ),
        "planted": {
            "near_copies": len(truth.near_copies),
            "exact_copies": len(truth.exact_copies),
            "foreign": truth.foreign,
            "broken": truth.broken,
        },
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def _global_stage(
    cls: type[Any],
    shards: list[list[Conversation]],
    mapper: Any,
    stage_seconds: dict[str, float],
    stage_inputs: dict[str, int],
) -> tuple[list[Any], Any, list[list[Conversation]]]:
    stage_inputs[cls.name] = sum(map(len, shards))
    summaries = list(mapper(_summarise, [(cls, shard, i) for i, shard in enumerate(shards)]))
    stage_seconds[f"{cls.name}.summarise"] = sum(s for _, s in summaries)
    started = time.process_time()
    plan = cls(seed=7).reduce([summary for summary, _ in summaries])
    stage_seconds[f"{cls.name}.reduce"] = time.process_time() - started
    applied = list(mapper(_apply, [(cls, shard, plan, i) for i, shard in enumerate(shards)]))
    stage_seconds[f"{cls.name}.apply"] = sum(s for _, s in applied)
    results = [result for result, _ in applied]
    return results, plan, [result.kept for result in results]


def _split_summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "passed": report["passed"],
        "message": report.get("message", ""),
        "shares": report["sizes"]["shares"],
        "max_deviation": report["sizes"]["max_deviation"],
        "largest_group": report["sizes"]["largest_group"],
        "p_values": {
            f"{t['test']} {t['variable']} {t.get('compare', '')}".strip(): round(t["p_value"], 4)
            for t in report["tests"]
            if "p_value" in t
        },
        "leakage": {k: v for k, v in report["leakage"].items() if k != "examples"},
    }


def _near_duplicate_quality(
    truth: Truth, rejections: list[Any], records: list[Conversation], threshold: float
) -> dict[str, Any]:
    """Recall on the planted (original, edited copy) pairs, three ways.

    ``removed``: at most one of the two survives dedup (what matters for training data); ``named``: one
    side was rejected naming the other (the greedy keep policy can instead drop both as duplicates of a
    third record, or drop the original for a third record and keep the copy); ``similar``: the pair's
    estimated similarity reaches the threshold.
    """
    rejected = {r.record_id: r for r in rejections}
    by_id = {r.id: r for r in records}
    pairs = list(truth.near_copies.items())
    named = sum(
        (c in rejected and o in rejected[c].message) or (o in rejected and c in rejected[o].message)
        for c, o in pairs
    )
    removed = sum(c in rejected or o in rejected for c, o in pairs)
    copies = minhash_signatures([by_id[c] for c, _ in pairs], 128, 7, 3)
    originals = minhash_signatures([by_id[o] for _, o in pairs], 128, 7, 3)
    similar = int(((copies == originals).mean(axis=1) >= threshold).sum())
    involved = set(truth.near_copies) | set(truth.near_copies.values())
    others = [r for r in rejections if r.reason == "near_duplicate" and r.record_id not in involved]
    return {
        "planted_pairs": len(pairs),
        "recall_removed": round(removed / len(pairs), 4) if pairs else None,
        "recall_named": round(named / len(pairs), 4) if pairs else None,
        "recall_similarity": round(similar / len(pairs), 4) if pairs else None,
        # The generator's short two-turn conversations sometimes coincide almost word for word.
        "unplanted_records_rejected_as_near_duplicates": len(others),
        "same_topic_pairs": _same_topic_pairs(truth, threshold=threshold),
    }


def _same_topic_pairs(truth: Truth, pairs: int = 20000, threshold: float = 0.6) -> dict[str, Any]:
    """Estimated similarity of random pairs of distinct conversations on the same topic."""
    rng = random.Random(11)
    by_topic: dict[str, list[Conversation]] = defaultdict(list)
    for record in truth.originals:
        by_topic[_topic_of(record)].append(record)
    chosen = []
    topics = [t for t, rs in by_topic.items() if len(rs) > 1]
    for _ in range(pairs):
        a, b = rng.sample(by_topic[rng.choice(topics)], 2)
        chosen.append((a, b))
    left = minhash_signatures([a for a, _ in chosen], 128, 7, 3)
    right = minhash_signatures([b for _, b in chosen], 128, 7, 3)
    similarity = (left == right).mean(axis=1)
    return {
        "pairs": pairs,
        "at_or_above_threshold": int((similarity >= threshold).sum()),
        "false_positive_rate": round(float((similarity >= threshold).mean()), 5),
        "similarity_p50": round(float(np.median(similarity)), 3),
        "similarity_p99": round(float(np.quantile(similarity, 0.99)), 3),
        "similarity_max": round(float(similarity.max()), 3),
    }


def _topic_of(record: Conversation) -> str:
    text = record.turns[0].text.lower()
    for topic, (cores, _) in TOPICS.items():
        if any(core.lower() in text for core in cores):
            return topic
    return "unknown"


def pii_quality() -> dict[str, Any]:
    path = ROOT / "tests" / "fixtures" / "pii_cases.jsonl"
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    result = evaluate(cases)
    return {"cases": len(cases), "overall": result["overall"], "by_type": result["by_type"]}


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    figures = run(args.n, args.batch, args.workers, args.seed)
    figures["pii"] = pii_quality()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
