"""Preference pairs for bias mitigation: a culturally responsive reply (chosen) against the same reply with one
documented stereotype said in it (rejected), every sentence written by the generation endpoint, both checked.

The prompt is a real client message (counsel-chat, ESConv, EmpatheticDialogues, ...) into which an
identity marker of ``bias/markers.json`` is worked, in the way a counterfactual probe does it. For each
prompt one stereotype of ``bias/stereotypes.json`` that targets the marker is chosen, then:

1. the endpoint is asked, up to ``stereotype_attempts`` times, to tell this client the stereotype in one
   sentence of its own (one phrasing of the inventory is the example); the first sentence that the
   stereotype's check finds it in, that is not talk about the task and that adds words of its own to the
   phrasing is the *stereotyped sentence*. A small model (SmolLM2-135M) follows a one-sentence request far
   more often than "rewrite this reply and work in X", which it ignored;
2. the endpoint writes the chosen reply with the client's identity in view: reflect, acknowledge what
   the client said about themselves without assuming anything from it, ask one open question;
3. the rejected reply is the chosen reply with its sentence before the closing question replaced by the
   stereotyped sentence (inserted there when the reply has two sentences or fewer), so the two replies
   differ in that respect only;
4. the pair is checked: the stereotype is stated in the rejected reply and no stereotype in the chosen
   one, neither reply repeats itself or talks about the task, the lengths are similar, the replies share
   their topic, and neither repeats an earlier pair's. A pair that fails comes out as a ``Rejection``
   (quarantined with every reason), and the chosen reply then still has to pass every per-record gate of
   the run (``gated``).

Each pair is a two-turn conversation (prompt, chosen) with the pair in ``meta["dpo"]`` as
``{prompt, chosen, rejected, bias_type}`` (``bias_type`` is the stereotype id), which the DPO exporter reads.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ai.core.config import SourceConfig
from ai.core.context import SourceContext
from ai.core.records import Conversation, Provenance, Turn, make_conversation, normalise_for_hash
from ai.core.stage import Rejection
from ai.sourcing.generation import ChatEndpoint, Completion, EndpointError, EndpointOptions, ServerError
from ai.sourcing.synthetic.counterfactual import insert_sentence
from ai.sourcing.synthetic.demographics import PLACEMENTS, Frame, detect_markers, marker_inventory
from ai.sourcing.synthetic.options import PreferenceOptions
from ai.sourcing.synthetic.quota import QuotaReport, budget_for, gated
from ai.sourcing.synthetic.stereotypes import Stereotype, sentences, stereotype_inventory, stereotypes_in
from ai.sourcing.synthetic.text import CLIENT_ROLES, content_tokens, mentions_crisis, spread_by_group

STAGE = "preference_pairs"
# Endpoint answers that will not change on the next request (wrong key, wrong model, budget spent).
ENDPOINT_REFUSALS = frozenset(
    {"endpoint_http_401", "endpoint_http_403", "endpoint_http_404", "token_budget_spent"}
)
PROMPT_VERSION = "bias-pairs-2"
# Client messages that look as if they could hold personal data (names mid-sentence, digits, addresses,
# links) are not used: ``meta`` is not scrubbed by the PII stage.
_MAYBE_PERSONAL = re.compile(r"\d|@|https?://|www\.|(?<=[a-z,;] )(?!I\b|I')[A-Z][a-z]+")
_SPEAKER_PREFIX = re.compile(
    r"^\s*(?:the\s+)?(?:counsell?or(?:'s reply)?|therapist|assistant|reply|rewritten reply|new reply)\s*:\s*",
    re.I,
)

# Short, plain instructions: the offline default is a 135M-parameter model.
CHOSEN_SYSTEM = (
    "You are a kind counsellor. Answer in two or three short sentences. Say back how the person feels. "
    'They told you: "{identity}" Respect it and do not guess anything from it. '
    "End with one open question."
)
STEREOTYPE_REQUEST = "{prompt}\n\nAnswer me in one sentence. Tell me that {belief}."
# A generated sentence that talks about the request instead of to the client ("Here's a revised version",
# "This sentence conveys", "The counsellor believes") is not a reply.
_META_TALK = re.compile(
    r"\b(?:sentences?|rewrit\w*|revised|rephras\w*|counsell?or'?s?|therapist|the (?:person|client|user|speaker)"
    r"|this person|statement|smollm|as an ai|language model|in your own words|here'?s|implies|conveys?"
    r"|(?:the|this|my) (?:response|answer|reply)|the idea that)\b",
    re.I,
)
_QUOTED = re.compile(r"[\"\u201c]([^\"\u201c\u201d]{20,})[\"\u201d]?")
_REPEATED_NGRAM = 4  # words; a reply that says the same 4 words three times is looping
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s|$)")
_WORD = re.compile(r"[a-z']+")


def read_preference_pairs(
    source: SourceConfig, options: PreferenceOptions, context: SourceContext, client: ChatClient | None = None
) -> Iterator[Conversation | Rejection]:
    """Pairs until ``options.target`` pass the checks and the run's gates (or the budget is spent)."""
    wanted = set(options.from_categories)
    conversations = [c for c in context.conversations() if not wanted or c.category in wanted]
    report = QuotaReport(source.name, STAGE, options.target, budget_for(options.target, options.budget))
    planner = PairPlanner(options.dimensions, f"{context.seed}:{source.name}")
    checks = PairOptions(
        options.max_length_ratio, options.min_topic_overlap, options.min_words, options.stereotype_attempts
    )
    endpoint = client or open_endpoint(
        options.generation, context.run_dir / "work" / "generation" / source.name
    )
    writer = PairWriter(endpoint, source.name, source.license or "", checks)
    candidates = _written(planner.prompts(conversations), writer, context.seed)
    with endpoint:  # type: ignore[attr-defined]
        yield from gated(candidates, report, context, options.batch_size)


def _written(
    prompts: Iterator[PairPrompt], writer: PairWriter, seed: int
) -> Iterator[Conversation | Rejection]:
    """Pairs for the planned prompts; an endpoint that cannot start ends the source with one clear rejection
    (the rest of the run goes on: the counterfactual sources do not need it)."""
    for n, planned in enumerate(prompts):
        try:
            written = writer.write(planned, seed=seed + n)
            yield written
            if isinstance(written, Rejection) and written.reason in ENDPOINT_REFUSALS:
                return  # every later request would be refused the same way
        except ServerError as exc:
            yield Rejection(
                STAGE,
                "endpoint_unavailable",
                f"no preference pairs: the generation endpoint could not start ({exc})",
            )
            return


def open_endpoint(options: EndpointOptions, workdir: Path) -> ChatClient:
    """The generation endpoint the options describe, its answers cached under ``workdir``."""
    return ChatEndpoint.from_options(options, workdir=workdir)


class ChatClient(Protocol):
    """What the pairs need of the generation endpoint (``ChatEndpoint``): completions, and provenance."""

    def complete(
        self, messages: list[dict[str, str]], seed: int = 0, **params: Any
    ) -> Completion | EndpointError: ...

    def provenance(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PairOptions:
    max_length_ratio: float = 1.8  # longer reply words / shorter reply words
    min_topic_overlap: float = 0.2  # shared content words / content words of the shorter reply
    min_words: int = 12
    stereotype_attempts: int = 4  # one-sentence requests per pair before it is given up


@dataclass(frozen=True)
class PairPrompt:
    prompt: str
    origin: Conversation
    stereotype: Stereotype
    frame: Frame
    value: str
    placement: str


def usable_prompt(text: str) -> bool:
    return 60 <= len(text) <= 900 and not mentions_crisis(text) and not _MAYBE_PERSONAL.search(text)


def first_client_message(conversation: Conversation) -> str:
    return next((t.text.strip() for t in conversation.turns if t.role.strip().lower() in CLIENT_ROLES), "")


class PairPlanner:
    """Chooses for each real client message a stereotype, a marker value it targets and a frame to state it,
    so that every stereotype, value and frame is used evenly."""

    def __init__(self, dimensions: Sequence[str], seed: str | int) -> None:
        self.stereotypes = [s for s in stereotype_inventory().values() if s.dimension in set(dimensions)]
        if not self.stereotypes:
            raise ValueError(f"no stereotype in the inventory targets the dimensions {list(dimensions)}")
        self.rng = random.Random(f"{seed}:preference")  # nosec B311  # seeded for reproducible data, not security
        self.use: Counter[str] = Counter()

    def prompts(self, conversations: Sequence[Conversation]) -> Iterator[PairPrompt]:
        messages = [(first_client_message(c), c) for c in conversations]
        messages = [(m, c) for m, c in messages if usable_prompt(m)]
        seen: set[str] = set()
        for index in spread_by_group([c.group or c.id for _, c in messages], self.rng):
            message, origin = messages[index]
            planned = self.plan(message, origin)
            if planned is not None and normalise_for_hash(planned.prompt) not in seen:
                seen.add(normalise_for_hash(planned.prompt))
                yield planned

    def plan(self, message: str, origin: Conversation) -> PairPrompt | None:
        present = detect_markers(message)
        fitting = [s for s in self.stereotypes if s.dimension not in present]
        if not fitting:
            return None
        stereotype = self._least_used(fitting, lambda s: s.id)
        options = [
            (frame, value)
            for frame in marker_inventory().frames(stereotype.dimension, frozenset({"name"}))
            for value in frame.values
            if value in stereotype.applies_to
        ]
        if not options:
            return None
        frame, value = self._least_used(options, lambda o: f"{stereotype.id}:{o[0].id}:{o[1]}")
        placement = self.rng.choice(PLACEMENTS)
        prompt = insert_sentence(message, frame.sentences[value], placement)
        return PairPrompt(prompt, origin, stereotype, frame, value, placement)

    def _least_used(self, options: list, key):  # type: ignore[no-untyped-def]
        fewest = min(self.use[key(o)] for o in options)
        choice = self.rng.choice([o for o in options if self.use[key(o)] == fewest])
        self.use[key(choice)] += 1
        return choice


class PairWriter:
    """Asks the endpoint for the stereotyped sentence and the chosen reply of a planned pair, and checks them."""

    def __init__(
        self, client: ChatClient, source_name: str, license: str, options: PairOptions | None = None
    ):
        self.client = client
        self.source_name = source_name
        self.license = license
        self.options = options or PairOptions()
        self.chosen_seen: set[str] = set()
        self.rejected_seen: set[str] = set()

    def write(self, planned: PairPrompt, seed: int) -> Conversation | Rejection:
        said = self._stereotyped_sentence(planned, seed)
        if isinstance(said, Rejection):
            return said
        sentence, belief, attempts = said
        chosen = self._ask(chosen_messages(planned.prompt, planned.frame.sentences[planned.value]), seed)
        if isinstance(chosen, Rejection):
            return chosen
        rejected, splice = splice_sentence(chosen, sentence)
        problems = check_pair(planned, chosen, rejected, self.options)
        problems += self._repeats(chosen, rejected)
        record = self._record(planned, chosen, rejected, belief, {"splice": splice, "attempts": attempts})
        if problems:
            reasons = ",".join(sorted({reason for reason, _ in problems}))
            message = "; ".join(text for _, text in problems)
            return Rejection(
                STAGE, reasons, f"preference pair not kept: {message}", record=record, record_id=record.id
            )
        self.chosen_seen.add(normalise_for_hash(chosen))
        self.rejected_seen.add(normalise_for_hash(rejected))
        return record

    def _stereotyped_sentence(self, planned: PairPrompt, seed: int) -> tuple[str, str, int] | Rejection:
        """(sentence, phrasing asked for, attempts used), or the rejection naming why every attempt failed."""
        stereotype = planned.stereotype
        failures: Counter[str] = Counter()
        last = ""
        for attempt in range(self.options.stereotype_attempts):
            belief = stereotype.beliefs[(seed + attempt) % len(stereotype.beliefs)]
            answer = self._ask(stereotype_messages(planned.prompt, belief), seed * 31 + attempt)
            if isinstance(answer, Rejection):
                return answer
            last = answer
            verdict = stereotyped_sentence(answer, planned)
            if isinstance(verdict, str):
                return verdict, belief, attempt + 1
            failures[verdict[0]] += 1
        return Rejection(
            STAGE,
            ",".join(sorted({"stereotype_not_stated", *failures})),
            f"in {self.options.stereotype_attempts} one-sentence answers the endpoint did not state "
            f"{stereotype.id} usably ({dict(failures)}); last answer: {last[:200]!r}",
        )

    def _ask(self, messages: list[dict[str, str]], seed: int) -> str | Rejection:
        result = self.client.complete(messages, seed=seed)
        if isinstance(result, EndpointError):
            return Rejection(STAGE, result.reason, f"the generation endpoint failed: {result.message}")
        return clean_reply(result.text)

    def _repeats(self, chosen: str, rejected: str) -> list[tuple[str, str]]:
        problems = []
        if normalise_for_hash(chosen) in self.chosen_seen:
            problems.append(("duplicate_chosen", "the chosen reply repeats an earlier pair's chosen reply"))
        if normalise_for_hash(rejected) in self.rejected_seen:
            problems.append(
                ("duplicate_rejected", "the rejected reply repeats an earlier pair's rejected reply")
            )
        return problems

    def _record(
        self, planned: PairPrompt, chosen: str, rejected: str, belief: str, how: dict[str, Any]
    ) -> Conversation:
        origin = planned.origin
        stereotype = planned.stereotype
        return make_conversation(
            [Turn("client", planned.prompt), Turn("therapist", chosen)],
            Provenance(
                kind="synthetic",
                name=self.source_name,
                uri=origin.source.uri,
                # The prompt is the client's own words: their licence travels with the pair.
                license=origin.source.license or self.license,
                locator={
                    "client_source": origin.source.name,
                    "client_conversation": origin.id,
                    "client_locator": origin.source.locator,
                },
            ),
            category="bias",
            language="en",
            tags=["synthetic:preference_pair", f"bias:{stereotype.dimension}", f"stereotype:{stereotype.id}"],
            group=origin.group or origin.id,
            meta={
                "dpo": {
                    "prompt": planned.prompt,
                    "chosen": chosen,
                    "rejected": rejected,
                    "bias_type": stereotype.id,
                },
                "preference": {
                    "stereotype": stereotype.id,
                    "stereotype_kind": stereotype.kind,
                    "stereotype_source": stereotype.source,
                    "belief": belief,
                    "dimension": stereotype.dimension,
                    "value": planned.value,
                    "frame": planned.frame.id,
                    "placement": planned.placement,
                    "rejected_cues": stereotype.found_in(rejected),
                    **how,
                    "prompt_version": PROMPT_VERSION,
                    "generator": self.client.provenance(),
                },
            },
        )


def chosen_messages(prompt: str, identity: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": CHOSEN_SYSTEM.format(identity=identity)},
        {"role": "user", "content": prompt},
    ]


def stereotype_messages(prompt: str, belief: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": STEREOTYPE_REQUEST.format(prompt=prompt, belief=belief)}]


def stereotyped_sentence(answer: str, planned: PairPrompt) -> str | tuple[str, str]:
    """The sentence of ``answer`` that states the planned stereotype to the client, or (reason, why not).

    A quoted part of the answer is taken as the sentence meant ("Here's one: \"...\""). The sentence
    must be one the stereotype's check finds it stated in, must speak to the client rather than about
    the request, and must add at least two content words of its own to the inventory's phrasings: the
    rejected reply is the model's words, not the inventory's sentence handed back.
    """
    quoted = _QUOTED.search(answer)
    text = quoted.group(1) if quoted else answer
    stated = planned.stereotype.stated_in(text)
    if stated is None:
        return "not_stated", "the stereotype's check does not find it stated"
    sentence = stated[0].strip(' "\u201c\u201d')
    if _META_TALK.search(sentence):
        return "meta_talk", "the sentence talks about the request, not to the client"
    phrasings = set().union(*(content_tokens(b) for b in planned.stereotype.beliefs))
    if len(content_tokens(sentence) - phrasings) < 2:
        return "copies_phrasing", "the sentence only repeats the inventory's phrasing"
    return sentence if sentence[-1] in ".!?" else sentence + "."


def splice_sentence(reply: str, sentence: str) -> tuple[str, str]:
    """``reply`` with the sentence before its last replaced by ``sentence`` (inserted before the last one
    when the reply has two sentences or fewer), and which of the two was done."""
    parts = sentences(reply)
    if len(parts) >= 3:
        return " ".join([*parts[:-2], sentence, parts[-1]]), "replaced"
    return " ".join([*parts[:-1], sentence, *parts[-1:]]), "inserted"


def clean_reply(text: str) -> str:
    """The reply without a speaker label, wrapping quotes, or a last sentence cut off by the token limit."""
    text = _SPEAKER_PREFIX.sub("", text.strip())
    if len(text) > 1 and text[0] == text[-1] == '"':
        text = text[1:-1]
    text = " ".join(text.split())
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]] if ends and ends[-1] < len(text) else text


def echoes(reply: str, instructions: str, n: int = 5) -> bool:
    """True when the reply repeats ``n`` consecutive words of its instructions (a small model's habit)."""
    said = _WORD.findall(instructions.lower())
    grams = {tuple(said[i : i + n]) for i in range(len(said) - n + 1)}
    words = _WORD.findall(reply.lower())
    return any(tuple(words[i : i + n]) in grams for i in range(len(words) - n + 1))


def check_pair(
    planned: PairPrompt, chosen: str, rejected: str, options: PairOptions
) -> list[tuple[str, str]]:
    """(reason, sentence) for every way the pair falls short; empty when it is worth training on."""
    problems: list[tuple[str, str]] = []
    chosen_words, rejected_words = len(chosen.split()), len(rejected.split())
    if min(chosen_words, rejected_words) < options.min_words:
        problems.append(("reply_too_short", f"a reply has fewer than {options.min_words} words"))
    if echoes(chosen, CHOSEN_SYSTEM.format(identity="")) or echoes(
        chosen, STEREOTYPE_REQUEST.format(prompt="", belief="")
    ):
        problems.append(("echoes_instructions", "the chosen reply repeats the instructions it was given"))
    if _META_TALK.search(chosen):
        problems.append(("meta_talk", "the chosen reply talks about the request, not to the client"))
    if loops(chosen):
        problems.append(("repetitive_reply", "the chosen reply repeats itself"))
    in_chosen = stereotypes_in(chosen, planned.prompt)
    if in_chosen:
        problems.append(("chosen_carries_stereotype", f"the chosen reply carries {sorted(in_chosen)}"))
    if planned.stereotype.stated_in(rejected) is None:
        problems.append(
            (
                "stereotype_not_detected",
                f"the check for {planned.stereotype.id} does not find it stated in the rejected reply",
            )
        )
    ratio = max(chosen_words, rejected_words) / max(1, min(chosen_words, rejected_words))
    if ratio > options.max_length_ratio:
        problems.append(
            ("length_mismatch", f"reply lengths differ {ratio:.1f}x (limit {options.max_length_ratio}x)")
        )
    overlap = topic_overlap(chosen, rejected)
    if overlap < options.min_topic_overlap:
        problems.append(("topic_mismatch", f"the replies share {overlap:.2f} of their content words"))
    return problems


def loops(reply: str, n: int = _REPEATED_NGRAM) -> bool:
    """True when a sentence comes twice or the same ``n`` words three times (a small model looping)."""
    said = [normalise_for_hash(p) for p in sentences(reply)]
    words = _WORD.findall(reply.lower())
    grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return len(set(said)) < len(said) or any(count >= 3 for count in grams.values())


def topic_overlap(first: str, second: str) -> float:
    a, b = content_tokens(first), content_tokens(second)
    return len(a & b) / max(1, min(len(a), len(b)))
