"""Small corpus writers and run helpers shared by the pipeline tests."""

from __future__ import annotations

import csv
import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

TOPICS = [
    ("work", "my manager keeps piling deadlines on me", "the deadlines at work"),
    ("sleep", "I lie awake until three in the morning replaying everything", "those sleepless nights"),
    ("grief", "my grandmother died last month and the house feels empty", "losing your grandmother"),
    ("exams", "my final exams start next week and my mind goes blank", "the exams coming up"),
    ("lonely", "since moving to this city I have no one to talk to", "feeling alone in a new city"),
    ("breakup", "my partner ended things after six years together", "the end of a six-year relationship"),
    ("panic", "my heart races in the supermarket and I have to leave", "those racing-heart moments"),
    ("parent", "caring for my dad with dementia is wearing me down", "caring for your dad"),
]
WORDS = [
    "morning",
    "evening",
    "week",
    "friend",
    "family",
    "job",
    "coffee",
    "walk",
    "train",
    "phone",
    "email",
    "meeting",
    "weekend",
    "garden",
    "music",
    "book",
    "kitchen",
    "city",
    "river",
    "bus",
    "lunch",
    "dinner",
    "holiday",
    "neighbour",
    "colleague",
    "sister",
    "brother",
    "class",
    "project",
    "plan",
]


def conversation(i: int, rng: random.Random) -> dict[str, Any]:
    _topic, concern, theme = TOPICS[i % len(TOPICS)]
    detail = " ".join(rng.choice(WORDS) for _ in range(12))
    detail2 = " ".join(rng.choice(WORDS) for _ in range(10))
    return {
        "id": f"t-{i:06d}",
        "messages": [
            {
                "role": "user",
                "content": f"Lately {concern}. It started around the {detail} and I feel stuck.",
            },
            {
                "role": "assistant",
                "content": f"It sounds like {theme} has been really heavy for you, and feeling stuck makes sense. "
                f"You mentioned the {detail2}. What would feel like one small, doable step this week?",
            },
            {
                "role": "user",
                "content": f"Maybe talking to someone about the {rng.choice(WORDS)} would help.",
            },
            {
                "role": "assistant",
                "content": "That sounds like a thoughtful idea. Would you like to think together about who "
                "you could reach out to, and what you might say?",
            },
        ],
    }


def write_openai_jsonl(path: Path, n: int, seed: int = 0, defects: bool = True) -> dict[str, int]:
    """Write ``n`` varied conversations; with defects, also one malformed line and one invalid UTF-8 line."""
    rng = random.Random(seed)
    lines = [json.dumps(conversation(i, rng)).encode() for i in range(n)]
    if defects:
        lines.insert(3, b'{"id": "broken", "messages": [')
        bad = json.dumps(conversation(n + 1, rng)).encode().replace(b"Lately", b"Lat\xe9ly", 1)
        lines.insert(5, bad)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return {"good": n, "malformed_line": 4, "invalid_utf8_line": 6}


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cli(*args: str) -> int:
    """Run the ``dataset-pipeline`` CLI in this process; its exit code."""
    from ai.pipelines.orchestrator import main_orchestrator

    try:
        main_orchestrator.main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def load_academic_replay() -> ModuleType:
    """``tests/integration/fixtures/academic_replay.py`` (the loopback PubMed/S2 replay server), once."""
    name = "academic_replay_fixture"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).parent / "integration" / "fixtures" / "academic_replay.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
