"""The prompt that asks a model for a grounded counselling reply, versioned.

``TEMPLATE_VERSION`` is recorded in every generated record's provenance and is part of every request
(so of the response cache key): change the wording, bump the version.

Version 2 is written for small models (SmolLM2-135M): two worked exchanges before the real one show
what a reply looks like (a small model imitates an example far better than it follows a list of
rules), the passage is cut to the one or two sentences most related to the client, and the source is
named in a few plain words ("a talk on loneliness", "a paper in Psychological Medicine") rather than
by a long title, which the model would copy and which carries numbers the groundedness judge reads as
claims. The examples are written for this project in the style of counsel-chat answers; their clients,
passages and replies are not taken from any dataset; a reply that repeats their content is rejected
as an echo.
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

# The worked exchanges shown before the real one: two, with different openings, because a 135M model
# given one example copies its first sentence into replies to everyone.
EXAMPLES = (
    {
        "client": (
            "My sister calls me every night to vent and I always pick up, even when I am exhausted. If I "
            "let it ring I feel guilty for hours, but lately I dread hearing the phone."
        ),
        "source": "a talk on family conflict",
        "excerpt": (
            "Guilt after saying no is often a sign that we are changing an old pattern, not that we did "
            "something wrong. A boundary protects a relationship by keeping resentment from building up."
        ),
        "reply": (
            "It sounds like you care a lot about your sister, and the guilt and the dread are wearing you "
            "down. A talk on family conflict makes a point that fits here: guilt after saying no is often a "
            "sign that we are changing an old pattern, not that we did something wrong. What might it be "
            "like to tell your sister which evenings work for you?"
        ),
    },
    {
        "client": (
            "Since the layoffs I do the work of two people. I check email in bed and on weekends, and I snap "
            "at my kids over nothing."
        ),
        "source": "a talk on stress and burnout",
        "excerpt": (
            "Recovery from work stress depends on time in which people are mentally detached from their "
            "job. Checking messages in the evening keeps the stress response active long after work ends."
        ),
        "reply": (
            "You are carrying a heavy load, and I hear how tired and short-tempered it leaves you at home. "
            "A talk on stress and burnout says that checking messages in the evening keeps the "
            "stress response active long after work ends. Which part of your evening would you most like "
            "to get back?"
        ),
    },
)


def spoken_source(kind: str, topic: str, journal: str = "") -> str:
    """The passage's source in the few words a reply names it by: "a paper in Pain Medicine", "a talk on
    loneliness". The full attribution (title, year, PMID) stays in the record's provenance."""
    if kind == "paper":
        return f"a paper in {journal}" if journal else f"a paper on {topic}"
    noun = {"transcript": "talk", "book": "book"}.get(kind, "piece")
    return f"a {noun} on {topic}"


def grounded_reply_messages(client: str, excerpt: str, source: str) -> list[dict[str, str]]:
    """System message, the worked exchanges, then the client's words with the passage excerpt."""
    messages = [{"role": "system", "content": SYSTEM}]
    for example in EXAMPLES:
        prompt = USER.format(client=example["client"], excerpt=example["excerpt"], source=example["source"])
        messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": example["reply"]}]
    messages.append({"role": "user", "content": USER.format(client=client, excerpt=excerpt, source=source)})
    return messages


def echoes_instructions(reply: str, span: int = 6) -> bool:
    """Whether a reply repeats ``span`` consecutive words of the instructions or of a worked example's
    own content (a model that parrots its prompt instead of answering the client). The examples'
    framing ("makes a point that fits here") is what the model is meant to imitate, so only their
    client, passage and opening reflection count."""
    parts = [SYSTEM, USER.split('"""')[-1]]
    for example in EXAMPLES:
        parts += [example["client"], example["excerpt"], example["reply"].split(". ")[0]]
    words = " ".join(parts).lower().split()
    grams = {" ".join(words[i : i + span]) for i in range(len(words) - span + 1)}
    said = reply.lower().split()
    return any(" ".join(said[i : i + span]) in grams for i in range(len(said) - span + 1))
