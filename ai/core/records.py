"""The canonical record model used by every part of the pipeline.

msgspec Structs are used (not pydantic) because records cross process boundaries and are written to
and read from shard files millions of times; msgspec encodes/decodes them several times faster.
Identifiers are content hashes so that a run is a pure function of its inputs, config and seed.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

import msgspec

ROLES = ("client", "therapist", "system")
# meta key of the content hash of the whole source dialog a record came from (its windows share it).
SOURCE_DIALOGUE_ID = "source_dialogue_id"
EXPORT_ROLE = {"client": "user", "therapist": "assistant", "system": "system"}
# What str.split() splits ASCII text on, besides the space.
_ASCII_CONTROL_WHITESPACE = ("\n", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")


class Provenance(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Where a record or passage came from: enough to trace an exported sample to its origin."""

    kind: str  # dataset | paper | book | transcript | synthetic | augmentation
    name: str  # the source name from config (e.g. "counsel-chat")
    uri: str = ""  # file path, URL or dataset id
    license: str = ""
    # PMID/DOI, file + line, file + page, video id + start/end, dataset row...
    locator: dict[str, Any] = msgspec.field(default_factory=dict)


class Turn(msgspec.Struct, array_like=True):
    role: str  # client | therapist | system
    text: str


class PassageRef(msgspec.Struct, omit_defaults=True):
    passage_id: str
    quote: str = ""


class LineageEntry(msgspec.Struct, array_like=True):
    stage: str
    version: str
    config_hash: str


class Passage(msgspec.Struct, omit_defaults=True):
    """A chunk of knowledge (paper abstract or section, book section, transcript window)."""

    id: str
    text: str
    source: Provenance
    title: str = ""
    section: str = ""
    tags: list[str] = msgspec.field(default_factory=list)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class Conversation(msgspec.Struct, omit_defaults=True):
    id: str
    turns: list[Turn]
    source: Provenance
    category: str = "therapeutic"  # therapeutic | grounded | bias | crisis_support | ...
    language: str = ""
    tags: list[str] = msgspec.field(default_factory=list)
    grounding: list[PassageRef] = msgspec.field(default_factory=list)
    scores: dict[str, float] = msgspec.field(default_factory=dict)
    split: str = ""
    # Records sharing a group (same dialog, document, video, book, near-duplicate cluster) never
    # land in different splits.
    group: str = ""
    source_id: str = ""  # the input record's own id, if it had one
    lineage: list[LineageEntry] = msgspec.field(default_factory=list)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


def normalise_for_hash(text: str) -> str:
    """Case-, whitespace- and Unicode-form-insensitive view of a text, used for content hashes."""
    # Hot path (every record at ingest): str.split beats a regex by ~5x, and NFC is skipped for ASCII.
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split()).casefold()


def content_hash(parts: list[str] | tuple[str, ...], length: int = 20) -> str:
    digest = hashlib.sha256("\x1e".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def conversation_id(turns: list[Turn]) -> str:
    """Stable id: a hash of the normalised turns (role and text)."""
    return "c_" + content_hash(normalised_turns(turns))


def normalised_turns(turns: list[Turn]) -> list[str]:
    """What content hashes of a conversation hash: each turn's role and normalised text."""
    if _already_normalised_ascii(" ".join([t.text for t in turns])):
        # Hot path (every record at ingest, and dedup's exact hash): for ASCII text without control
        # whitespace, runs of spaces or edge spaces, normalising is just lower-casing.
        return [f"{t.role}\x1f{t.text.lower()}" for t in turns]
    return [f"{t.role}\x1f{normalise_for_hash(t.text)}" for t in turns]


def _already_normalised_ascii(text: str) -> bool:
    """Whether ``" ".join(text.split())`` is ``text`` itself and casefolding is plain lower-casing.

    ``text`` holds every turn joined by one space, so an empty turn or a turn with an edge space shows
    up as a double space or an edge space. For ASCII, ``str.split`` splits on space, \\t \\n \\v \\f \\r
    and \\x1c-\\x1f; single-character ``in`` tests are memchr scans, far cheaper than splitting.
    """
    if not text.isascii() or "  " in text or text[:1] == " " or text[-1:] == " ":
        return False
    for char in _ASCII_CONTROL_WHITESPACE:  # noqa: SIM110  # all() over a generator costs ~1 us more here
        if char in text:
            return False
    return True


def passage_id(text: str, source: Provenance) -> str:
    locator = msgspec.json.encode(source.locator, order="sorted").decode()
    return "p_" + content_hash([source.kind, source.name, locator, normalise_for_hash(text)])


def make_conversation(turns: list[Turn], source: Provenance, **fields: Any) -> Conversation:
    return Conversation(id=conversation_id(turns), turns=turns, source=source, **fields)


_conversation_encoder = msgspec.json.Encoder(order="deterministic")
_conversation_decoder = msgspec.json.Decoder(Conversation)
_passage_decoder = msgspec.json.Decoder(Passage)


def encode(obj: Any) -> bytes:
    """Deterministic JSON bytes (sorted dict keys) for any record or plain structure."""
    return _conversation_encoder.encode(obj)


def decode_conversation(data: bytes | str) -> Conversation:
    return _conversation_decoder.decode(data)


def decode_passage(data: bytes | str) -> Passage:
    return _passage_decoder.decode(data)


def openai_messages(conv: Conversation) -> list[dict[str, str]]:
    """The turns as OpenAI-format messages (client -> user, therapist -> assistant)."""
    return [{"role": EXPORT_ROLE.get(t.role, t.role), "content": t.text} for t in conv.turns]


def dialogue_id(conv: Conversation) -> str:
    """The source dialog a record belongs to; a record without one (synthetic, derived) is its own."""
    return str(conv.meta.get(SOURCE_DIALOGUE_ID) or conv.id)


def to_openai(conv: Conversation) -> dict[str, Any]:
    """The OpenAI chat shape used by the default export."""
    metadata: dict[str, Any] = {
        "category": conv.category,
        "language": conv.language,
        "split": conv.split,
        "source": msgspec.to_builtins(conv.source),
    }
    if conv.source_id:
        metadata["source_id"] = conv.source_id
    if conv.group:
        metadata["group"] = conv.group
    if conv.tags:
        metadata["tags"] = conv.tags
    if conv.scores:
        metadata["scores"] = conv.scores
    if conv.grounding:
        metadata["grounding"] = msgspec.to_builtins(conv.grounding)
    if conv.lineage:
        metadata["lineage"] = [[e.stage, e.version, e.config_hash] for e in conv.lineage]
    if conv.meta:
        # Lifted to the top: it is what "distinct dialogues" counts, so users should not have to dig.
        meta = dict(conv.meta)
        if SOURCE_DIALOGUE_ID in meta:
            metadata[SOURCE_DIALOGUE_ID] = meta.pop(SOURCE_DIALOGUE_ID)
        if meta:
            metadata["meta"] = meta
    return {
        "id": conv.id,
        "messages": openai_messages(conv),
        "metadata": metadata,
    }
