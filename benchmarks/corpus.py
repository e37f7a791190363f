"""A realistic synthetic conversation corpus for benchmarks, with planted defects.

About 7 turns and 200 words per conversation, varied vocabulary, and known fractions of exact
duplicates, near duplicates (~3% of words edited), PII, other languages and malformed lines.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

CONCERNS = [
    "work has been overwhelming and my manager keeps adding deadlines",
    "I have not been sleeping well and lie awake replaying conversations",
    "since my father died the evenings feel empty and long",
    "exams are coming and my mind goes blank when I open the books",
    "I moved to a new city and I have nobody to talk to",
    "my partner and I keep arguing about small things",
    "my heart races in crowded shops and I have to leave",
    "caring for my mother takes every hour I have",
    "I keep putting things off and then panic at the last minute",
    "I feel flat most days and nothing seems worth the effort",
    "social events make me so anxious that I cancel at the last minute",
    "I snap at my kids and then feel guilty all night",
]
FILLER = [
    "honestly",
    "sometimes",
    "really",
    "just",
    "still",
    "maybe",
    "often",
    "lately",
    "again",
    "always",
    "never",
    "quite",
    "somehow",
    "even",
    "morning",
    "evening",
    "weekend",
    "office",
    "kitchen",
    "train",
    "phone",
    "message",
    "friend",
    "sister",
    "brother",
    "neighbour",
    "colleague",
    "coffee",
    "walk",
    "garden",
    "music",
    "book",
    "project",
    "meeting",
    "email",
    "dinner",
    "holiday",
    "school",
    "doctor",
    "gym",
    "bus",
    "rain",
]
FEELINGS = [
    "overwhelmed",
    "exhausted",
    "lonely",
    "anxious",
    "frustrated",
    "sad",
    "stuck",
    "worried",
    "drained",
]
STEPS = [
    "Would it help to look at one small thing you could try this week?",
    "What feels most doable for you right now?",
    "How would you like to approach the next few days?",
    "Could we think together about who might support you with this?",
    "What has helped you a little in the past, even briefly?",
]
OTHER_LANGUAGES = [
    "Últimamente me siento muy cansado y no puedo dormir por las noches, pienso en todo lo que pasó.",
    "Je me sens très seul depuis que j'ai déménagé, je ne connais personne dans cette ville.",
    "Ich habe in letzter Zeit viel Stress bei der Arbeit und kann nachts nicht schlafen.",
]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(n))


def conversation(i: int, rng: random.Random) -> dict:
    concern = rng.choice(CONCERNS)
    feeling = rng.choice(FEELINGS)
    turns = [{"role": "system", "content": "You are a supportive, empathetic counsellor."}]
    turns.append({"role": "user", "content": f"Hi. Lately {concern}. {words(rng, 22)}. I feel {feeling}."})
    for _ in range(3):
        turns.append(
            {
                "role": "assistant",
                "content": f"It sounds like you're feeling {feeling}, and that makes sense given what you describe. "
                f"You mentioned {words(rng, 8)}. {rng.choice(STEPS)}",
            }
        )
        turns.append({"role": "user", "content": f"{words(rng, 18)}. I guess {words(rng, 6)}."})
    return {"id": f"bench-{i:07d}", "messages": turns}


def edit_words(text: str, rng: random.Random, rate: float = 0.03) -> str:
    tokens = text.split()
    for k in range(len(tokens)):
        if rng.random() < rate:
            tokens[k] = rng.choice(FILLER)
    return " ".join(tokens)


def write_corpus(path: Path, n: int, seed: int = 0) -> dict[str, int]:
    """Write ``n`` lines; returns how many of each planted kind were written."""
    rng = random.Random(seed)
    planted = {"exact_duplicate": 0, "near_duplicate": 0, "pii": 0, "other_language": 0, "malformed": 0}
    recent: list[dict] = []
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            roll = rng.random()
            if roll < 0.02 and recent:
                record = dict(rng.choice(recent), id=f"bench-{i:07d}")
                planted["exact_duplicate"] += 1
            elif roll < 0.04 and recent:
                source = rng.choice(recent)
                record = {
                    "id": f"bench-{i:07d}",
                    "messages": [
                        {
                            "role": m["role"],
                            "content": edit_words(m["content"], rng)
                            if m["role"] != "system"
                            else m["content"],
                        }
                        for m in source["messages"]
                    ],
                }
                planted["near_duplicate"] += 1
            else:
                record = conversation(i, rng)
                if roll < 0.07:
                    record["messages"][1]["content"] += (
                        f" My name is Alex Morgan, email alex.morgan{i}@example.com, phone (555) 013-{i % 10000:04d}."
                    )
                    planted["pii"] += 1
                elif roll < 0.08:
                    record["messages"][1]["content"] = rng.choice(OTHER_LANGUAGES)
                    record["messages"][3]["content"] = rng.choice(OTHER_LANGUAGES)
                    planted["other_language"] += 1
            if roll > 0.999:
                handle.write('{"id": "broken", "messages": [\n')
                planted["malformed"] += 1
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            recent.append(record)
            if len(recent) > 500:
                recent.pop(0)
    return planted
