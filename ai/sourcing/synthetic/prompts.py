"""The prompt that asks a model for a grounded counselling reply, versioned.

``TEMPLATE_VERSION`` is recorded in every generated record's provenance and is part of every request
(so of the response cache key): change the wording, bump the version.

Version 2 is written for small models (SmolLM2-135M): one worked exchange before the real one shows
what a reply looks like (a small model imitates an example far better than it follows a list of
rules), the passage is cut to the one or two sentences most related to the client, and the source is
named in a few plain words ("a talk on loneliness", "a paper in Psychological Medicine") rather than
by a long title, which the model would copy and which carries numbers the groundedness judge reads as
claims. The example is written for this project in the style of counsel-chat answers; its client,
passage and reply are not taken from any dataset.
"""

from __future__ import annotations

TEMPLATE_VERSION = "grounded-reply/2"

SYSTEM = (
    "You are a warm, careful counsellor. You answer the client directly, as 'you', in plain English, "
    "without diagnosing and without medical or medication advice."
)
USER = """A client wrote:
\"\"\"{client}\"\"\"

A passage from {source}:
\"\"\"{excerpt}\"\"\"

Reply to the client in three sentences. First say what you hear they are feeling. Then say that \
{source} makes a point, and give that point in the passage's own words. End with one open question."""

# The worked exchange shown before the real one.
EXAMPLE_CLIENT = (
    "My sister calls me every night to vent and I always pick up, even when I am exhausted. If I let it "
    "ring I feel guilty for hours, but lately I dread hearing the phone."
)
EXAMPLE_SOURCE = "a talk on family conflict"
EXAMPLE_EXCERPT = (
    "Guilt after saying no is often a sign that we are changing an old pattern, not that we did "
    "something wrong. A boundary protects a relationship by keeping resentment from building up."
)
EXAMPLE_REPLY = (
    "It sounds like you care a lot about your sister, and the guilt and the dread are wearing you down. "
    "A talk on family conflict makes a point that fits here: guilt after saying no is often a sign that "
    "we are changing an old pattern, not that we did something wrong. What might it be like to tell "
    "your sister which evenings work for you?"
)


def spoken_source(kind: str, topic: str, journal: str = "") -> str:
    """The passage's source in the few words a reply names it by: "a paper in Pain Medicine", "a talk on
    loneliness". The full attribution (title, year, PMID) stays in the record's provenance."""
    if kind == "paper":
        return f"a paper in {journal}" if journal else f"a paper on {topic}"
    noun = {"transcript": "talk", "book": "book"}.get(kind, "piece")
    return f"a {noun} on {topic}"


def grounded_reply_messages(client: str, excerpt: str, source: str) -> list[dict[str, str]]:
    """System message, the worked exchange, then the client's words with the passage excerpt."""
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": USER.format(client=EXAMPLE_CLIENT, excerpt=EXAMPLE_EXCERPT, source=EXAMPLE_SOURCE),
        },
        {"role": "assistant", "content": EXAMPLE_REPLY},
        {"role": "user", "content": USER.format(client=client, excerpt=excerpt, source=source)},
    ]


def echoes_instructions(reply: str, span: int = 6) -> bool:
    """Whether a reply repeats ``span`` consecutive words of the instructions or of the worked example's
    own content (a model that parrots its prompt instead of answering the client). The example's
    framing ("makes a point that fits here") is what the model is meant to imitate, so only its
    client, passage and opening reflection count."""
    prompt = " ".join([SYSTEM, USER.split('"""')[-1], EXAMPLE_CLIENT, EXAMPLE_EXCERPT, EXAMPLE_REPLY.split(". ")[0]])
    words = prompt.lower().split()
    grams = {" ".join(words[i : i + span]) for i in range(len(words) - span + 1)}
    said = reply.lower().split()
    return any(" ".join(said[i : i + span]) in grams for i in range(len(said) - span + 1))
