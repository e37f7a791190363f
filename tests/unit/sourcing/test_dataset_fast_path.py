"""The OpenAI-messages JSON Lines fast path gives exactly what the general path gives, line for line."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ai.core.config import SourceConfig
from ai.core.records import Conversation, Turn, content_hash, conversation_id, encode, normalise_for_hash
from ai.core.stage import Rejection
from ai.sourcing.datasets import read_source
from ai.sourcing.datasets.build import ReadContext
from ai.sourcing.datasets.chat import OpenAILineDecoder, OpenAIMessages


def msgs(*pairs: tuple[object, object]) -> list[dict[str, object]]:
    return [{"role": role, "content": content} for role, content in pairs]


PLAIN = msgs(("system", "Be kind."), ("user", "I can't sleep."), ("assistant", "That sounds hard."))
# Lines in JSON text form, each exercising one thing the general path treats specially.
EDGE_LINES = [
    json.dumps({"messages": PLAIN}),
    json.dumps({"id": "row-7", "messages": PLAIN}),
    json.dumps({"id": 42, "messages": PLAIN}),
    json.dumps({"id": True, "messages": PLAIN}),
    json.dumps({"id": None, "messages": PLAIN}),
    json.dumps({"id": 1.5, "messages": PLAIN}),
    json.dumps({"id": "", "messages": PLAIN}),
    json.dumps({"messages": PLAIN, "metadata": {"topic": "Sleep", "id": "meta-id", "tags": ["a", 3, None]}}),
    json.dumps({"messages": PLAIN, "tags": ["x", "y"], "emotion_type": "Anxiety", "quality": 4}),
    json.dumps({"messages": PLAIN, "metadata": "not a dict", "label": "N/A"}),
    json.dumps({"messages": PLAIN, "unrelated": {"deep": [1, 2]}}),
    json.dumps({"messages": msgs(("user", [{"type": "text", "text": "parts"}]), ("assistant", "ok"))}),
    json.dumps({"messages": msgs(("user", None), ("assistant", "only the reply"))}),
    json.dumps({"messages": msgs(("user", "   "), ("assistant", "  padded reply \n"))}),
    json.dumps({"messages": msgs(("user", ""), ("assistant", " "))}),
    json.dumps({"messages": msgs(("  ", "blank role"), ("assistant", "x"))}),
    json.dumps({"messages": msgs((None, "no role"), ("assistant", "x"))}),
    json.dumps({"messages": msgs(("Coach", "unknown role"), ("HUMAN", "shouting role"))}),
    json.dumps(
        {"messages": [{"from": "user", "value": "sharegpt keys"}, {"role": "assistant", "content": "x"}]}
    ),
    json.dumps({"messages": [{"role": "user", "content": "extra keys", "name": "a", "weight": 1}]}),
    json.dumps({"messages": ["not an object"]}),
    json.dumps({"messages": []}),
    json.dumps({"messages": "not a list"}),
    '{"messages": [{"role": "user", "content": "a"}], "messages": [{"role": "user", "content": "dup"}]}',
    '{"messages": [{"role": "user", "content": "nan id"}], "id": NaN}',
    '{"messages": [{"role": "user", "content": "big"}], "id": 123456789012345678901234567890}',
    '{"messages": [{"role": "user", "content": "lone \\ud800 surrogate"}]}',
    json.dumps(
        {"messages": msgs(("user", "Ünïcödé ＦＵＬＬ width ß"), ("assistant", "e\u0301"))}, ensure_ascii=False
    ),
    json.dumps({"messages": msgs(("user", "tabs\tand\nnewlines  and   runs"), ("assistant", "x\x1fy"))}),
    '{"messages": [{"role": "user", "content": "truncated"}',
    "[1, 2, 3]",
    "   ",
    "",
]


def read_both(tmp_path: Path, lines: list[str], **fields: object) -> tuple[list[bytes], list[bytes]]:
    """Encoded output of the fast path, then of the general path, for the same file."""
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read_encoded_both(SourceConfig(name="src", path="chat.jsonl", **fields), tmp_path)  # type: ignore[arg-type]


def read_encoded_both(source: SourceConfig, base_dir: Path) -> tuple[list[bytes], list[bytes]]:
    fast = read_encoded(source, base_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OpenAIMessages, "line_decoder", lambda self, ctx: None)
        general = read_encoded(source, base_dir)
    return fast, general


def read_encoded(source: SourceConfig, base_dir: Path) -> list[bytes]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [encode(item) for item in read_source(source, base_dir)]
    return items + [str(w.message).encode() for w in caught]


def test_fast_path_matches_general_path_on_edge_lines(tmp_path: Path) -> None:
    fast, general = read_both(tmp_path, EDGE_LINES)
    assert fast == general
    assert len(fast) == len([line for line in EDGE_LINES if line.strip()])


@pytest.mark.parametrize(
    "options",
    [
        {"tags": ["static"], "language": "en"},
        {"roles": {"coach": "therapist", "human": "system"}},
        {"max_turns": 2, "stride": 1},
    ],
)
def test_fast_path_matches_general_path_with_source_options(tmp_path: Path, options: dict) -> None:
    fast, general = read_both(tmp_path, EDGE_LINES, options=options, category="crisis_support", license="MIT")
    assert fast == general


@pytest.mark.parametrize("policy", ["quarantine", "replace"])
def test_fast_path_matches_general_path_with_invalid_utf8(tmp_path: Path, policy: str) -> None:
    good = json.dumps({"messages": PLAIN}).encode()
    bad = b'{"messages": [{"role": "user", "content": "caf\xe9"}]}'
    (tmp_path / "chat.jsonl").write_bytes(b"\xef\xbb\xbf" + good + b"\r\n" + bad + b"\r\n" + good + b"\n")
    source = SourceConfig(name="src", path="chat.jsonl", options={"on_invalid_utf8": policy})
    fast, general = read_encoded_both(source, tmp_path)
    assert fast == general
    expected = [b"invalid_utf8"] if policy == "quarantine" else [b"U+FFFD"]
    assert [marker for marker in expected if any(marker in item for item in fast)] == expected


def test_decoder_builds_usual_lines_and_declines_unusual_ones() -> None:
    ctx = ReadContext.for_source(SourceConfig(name="src", path="x.jsonl", license="MIT"))
    decode = OpenAILineDecoder(ctx)
    [record] = decode(json.dumps({"id": 9, "messages": PLAIN}), "x.jsonl", 4, 2) or []
    assert isinstance(record, Conversation)
    assert [t.role for t in record.turns] == ["system", "client", "therapist"]
    assert record.source_id == "9" and record.group == record.id
    assert record.source.locator == {"file_line": "x.jsonl:4", "row": 2}
    content_parts = {"messages": msgs(("user", [{"type": "text", "text": "hi"}]))}
    assert decode(json.dumps(content_parts), "x.jsonl", 1, 0) is None
    assert decode(json.dumps({"messages": msgs(("user", " "))}), "x.jsonl", 1, 0) is None
    assert decode("{not json", "x.jsonl", 1, 0) is None


def test_read_source_uses_the_fast_path_for_openai_jsonl(tmp_path: Path) -> None:
    (tmp_path / "chat.jsonl").write_text("\n".join(json.dumps({"messages": PLAIN}) for _ in range(3)) + "\n")
    calls: list[int] = []
    original = OpenAILineDecoder.__call__

    def counting(self: OpenAILineDecoder, text: str, display: str, number: int, index: int) -> object:
        calls.append(number)
        return original(self, text, display, number, index)

    OpenAILineDecoder.__call__ = counting  # type: ignore[method-assign]
    try:
        items = list(read_source(SourceConfig(name="src", path="chat.jsonl"), tmp_path))
    finally:
        OpenAILineDecoder.__call__ = original  # type: ignore[method-assign]
    assert all(isinstance(i, Conversation) for i in items) and len(items) == 3
    assert calls == [2, 3]  # the first line was parsed generally to detect the format


def reference_id(turns: list[Turn]) -> str:
    return "c_" + content_hash([f"{t.role}\x1f{normalise_for_hash(t.text)}" for t in turns])


TEXT = st.text(
    alphabet=st.sampled_from("ab AZ.\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0éÉßİΣ\u2028\u3000e\u0301")
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["client", "therapist", "Client", "x y"]), TEXT), max_size=5))
def test_conversation_id_equals_the_normalised_hash(pairs: list[tuple[str, str]]) -> None:
    turns = [Turn(role, text) for role, text in pairs]
    assert conversation_id(turns) == reference_id(turns)


def test_conversation_id_ignores_case_and_whitespace_runs() -> None:
    plain = [Turn("client", "i feel low"), Turn("therapist", "tell me more")]
    noisy = [Turn("client", "  I  feel\tLOW "), Turn("therapist", "Tell me\nmore")]
    assert conversation_id(plain) == conversation_id(noisy) == reference_id(plain)
    assert conversation_id(plain) != conversation_id([Turn("therapist", "i feel low"), plain[1]])


def test_rejections_keep_their_file_and_line(tmp_path: Path) -> None:
    lines = [json.dumps({"messages": PLAIN}), '{"messages": [', json.dumps({"messages": []})]
    fast, general = read_both(tmp_path, lines)
    assert fast == general
    items = list(read_source(SourceConfig(name="src", path="chat.jsonl"), tmp_path))
    kinds = [(type(i).__name__, getattr(i, "reason", "")) for i in items]
    assert kinds == [
        ("Conversation", ""),
        ("Rejection", "malformed_json"),
        ("Rejection", "empty_conversation"),
    ]
    assert [i.locator for i in items if isinstance(i, Rejection)] == [
        f"{tmp_path / 'chat.jsonl'}:2",
        f"{tmp_path / 'chat.jsonl'}:3",
    ]


@pytest.mark.parametrize("name", ["chat.jsonl", "chat.json"])
def test_escaped_unpaired_surrogates_follow_the_utf8_policy(tmp_path: Path, name: str) -> None:
    lone = '{"messages": [{"role": "user", "content": "bad \\udc9f here"}], "id": "x\\ud800"}'
    pair = '{"messages": [{"role": "user", "content": "emoji \\ud83d\\ude00 ok"}]}'
    text = f"[{lone}, {pair}]" if name.endswith(".json") else f"{lone}\n{pair}\n"
    (tmp_path / name).write_text(text, encoding="utf-8")
    quarantined = list(read_source(SourceConfig(name="src", path=name), tmp_path))
    assert [getattr(i, "reason", "kept") for i in quarantined] == ["invalid_utf8", "kept"]
    assert "unpaired surrogate" in quarantined[0].message and quarantined[0].locator.endswith(":1")
    assert quarantined[1].turns[0].text == "emoji \U0001f600 ok"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = SourceConfig(name="src", path=name, options={"on_invalid_utf8": "replace"})
        replaced = list(read_source(source, tmp_path))
    assert replaced[0].turns[0].text == "bad \ufffd here" and replaced[0].source_id == "x\ufffd"
    assert all(encode(item) for item in replaced)
    assert len(caught) == 1
