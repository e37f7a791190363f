"""The prompt that asks a model for a grounded counselling reply, versioned.

``TEMPLATE_VERSION`` is recorded in every generated record's provenance and is part of every request
(so of the response cache key): change the wording, bump the version.
"""

from __future__ import annotations

TEMPLATE_VERSION = "grounded-reply/1"

SYSTEM = (
    "You are a warm, careful counsellor. You answer in plain English, in the second person, "
    "without diagnosing and without medical or medication advice."
)
USER = """A client wrote:
\"\"\"{client}\"\"\"

A passage from {attribution}:
\"\"\"{excerpt}\"\"\"

Write your reply to the client in 3 to 5 sentences. Name the feeling you hear, reflect what the client \
said in your own words, share one idea from the passage and say it comes from {attribution}, and end \
with one open question about what the client would like to try. State no fact that the passage does \
not state."""


def grounded_reply_messages(client: str, excerpt: str, attribution: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": USER.format(client=client, excerpt=excerpt, attribution=attribution)},
    ]


def echoes_instructions(reply: str, span: int = 6) -> bool:
    """Whether a reply repeats ``span`` consecutive words of the instructions (a model that parrots
    its prompt instead of answering the client)."""
    instructions = (SYSTEM + " " + USER.split('"""')[-1]).lower().split()
    grams = {" ".join(instructions[i : i + span]) for i in range(len(instructions) - span + 1)}
    words = reply.lower().split()
    return any(" ".join(words[i : i + span]) in grams for i in range(len(words) - span + 1))
