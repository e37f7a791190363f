"""Readers for general chat formats, containers, auto-detection and bad input."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from ai.core.config import SourceConfig
from ai.core.records import Conversation
from ai.core.stage import Rejection
from ai.sourcing.datasets import DatasetError, InvalidUtf8Warning, UnknownFormatError, read_source

OPENAI_ROW = {
    "id": "row-1",
    "messages": [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "I can't sleep."},
        {"role": "assistant", "content": "That sounds exhausting."},
    ],
    "metadata": {"topic": "Insomnia"},
}
SHAREGPT_ROW = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}


def read(tmp_path: Path, path: str, **fields) -> list[Conversation | Rejection]:
    return list(read_source(SourceConfig(name="src", path=path, **fields), tmp_path))


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def conversations(items: list) -> list[Conversation]:
    return [i for i in items if isinstance(i, Conversation)]


def rejections(items: list) -> list[Rejection]:
    return [i for i in items if isinstance(i, Rejection)]


def test_openai_jsonl_maps_roles_and_keeps_provenance(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "chat.jsonl", [OPENAI_ROW])
    [conv] = read(tmp_path, "chat.jsonl", license="MIT", category="therapeutic")
    assert [t.role for t in conv.turns] == ["system", "client", "therapist"]
    assert conv.source.kind == "dataset" and conv.source.name == "src" and conv.source.license == "MIT"
    assert conv.source.uri == str(tmp_path / "chat.jsonl")
    assert conv.source.locator == {"file_line": f"{tmp_path / 'chat.jsonl'}:1", "row": 0}
    assert conv.source_id == "row-1"
    assert conv.tags == ["topic:insomnia"]
    assert conv.id.startswith("c_") and conv.group == conv.id


def test_openai_content_parts_are_joined(tmp_path: Path) -> None:
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": "ok"},
        ]
    }
    write_jsonl(tmp_path / "parts.jsonl", [row])
    [conv] = read(tmp_path, "parts.jsonl")
    assert conv.turns[0].text == "a\nb"


def test_ids_are_content_hashes_independent_of_file(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", [OPENAI_ROW])
    write_jsonl(tmp_path / "b.jsonl", [{**OPENAI_ROW, "id": "other"}])
    [a], [b] = read(tmp_path, "a.jsonl"), read(tmp_path, "b.jsonl")
    assert a.id == b.id and a.source.uri != b.source.uri


def test_sharegpt_json_array_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "sg.json").write_text(json.dumps([SHAREGPT_ROW, {**SHAREGPT_ROW, "system": "sys"}], indent=2))
    write_jsonl(tmp_path / "sg.jsonl", [SHAREGPT_ROW])
    array = read(tmp_path, "sg.json")
    assert [len(c.turns) for c in array] == [2, 3]
    assert array[1].turns[0].role == "system"
    assert array[1].source.locator["file_line"].endswith("sg.json:14")
    [line] = read(tmp_path, "sg.jsonl")
    assert [t.role for t in line.turns] == ["client", "therapist"]


def test_alpaca_joins_instruction_and_input(tmp_path: Path) -> None:
    rows = [
        {"instruction": "Respond kindly.", "input": "I failed my exam.", "output": "That hurts."},
        {"instruction": "Hi", "input": "", "output": ""},
    ]
    write_jsonl(tmp_path / "alpaca.jsonl", rows)
    items = read(tmp_path, "alpaca.jsonl")
    [conv] = conversations(items)
    assert (
        conv.turns[0].text == "Respond kindly.\n\nI failed my exam." and conv.turns[1].text == "That hurts."
    )
    assert [r.reason for r in rejections(items)] == ["empty_conversation"]


def test_malformed_lines_are_quarantined_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(OPENAI_ROW) + "\n{broken\n[1, 2]\n\n" + json.dumps({"messages": "x"}) + "\n")
    items = read(tmp_path, "bad.jsonl")
    assert len(conversations(items)) == 1
    bad = rejections(items)
    assert [(r.reason, r.locator) for r in bad] == [
        ("malformed_json", f"{path}:2"),
        ("malformed_record", f"{path}:3"),
        ("malformed_record", f"{path}:5"),
    ]
    assert bad[0].raw == "{broken" and bad[0].stage == "ingest" and str(path) in bad[0].message


def test_invalid_utf8_in_jsonl_is_quarantined_by_default(tmp_path: Path) -> None:
    good = json.dumps(OPENAI_ROW).encode()
    (tmp_path / "enc.jsonl").write_bytes(good + b"\n" + good.replace(b"sleep", b"sl\xffeep") + b"\n")
    items = read(tmp_path, "enc.jsonl")
    [bad] = rejections(items)
    assert bad.reason == "invalid_utf8" and bad.locator.endswith("enc.jsonl:2") and "\ufffd" in bad.raw
    assert len(conversations(items)) == 1


def test_invalid_utf8_replace_warns_once_naming_the_file(tmp_path: Path) -> None:
    good = json.dumps(OPENAI_ROW).encode()
    (tmp_path / "enc.jsonl").write_bytes(good.replace(b"sleep", b"sl\xffeep") + b"\n" + good + b"\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = read(tmp_path, "enc.jsonl", options={"on_invalid_utf8": "replace"})
    assert len(conversations(items)) == 2 and "sl\ufffdeep" in items[0].turns[1].text
    [warning] = [w.message for w in caught if isinstance(w.message, InvalidUtf8Warning)]
    assert warning.file.endswith("enc.jsonl") and warning.rows == 1 and "enc.jsonl:1" in str(warning)


def test_bad_utf8_policy_is_a_config_error(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "x.jsonl", [OPENAI_ROW])
    with pytest.raises(DatasetError, match="on_invalid_utf8"):
        read(tmp_path, "x.jsonl", options={"on_invalid_utf8": "ignore"})


def test_csv_with_column_mapping(tmp_path: Path) -> None:
    (tmp_path / "qa.csv").write_text(
        'qid,question,answer,topic,views\n7,"I feel\nalone",You are not alone.,Loneliness,12\n8,short\n',
        encoding="utf-8",
    )
    columns = {
        "prompt": "question",
        "response": "answer",
        "id": "qid",
        "group": "qid",
        "tags": ["topic"],
        "meta": ["views"],
    }
    items = read(tmp_path, "qa.csv", options={"columns": columns})
    [conv] = conversations(items)
    assert conv.turns[0].text == "I feel\nalone" and conv.source_id == "7" and conv.group == "src:7"
    assert conv.tags == ["topic:loneliness"] and conv.meta == {"views": "12", "source_dialogue_id": conv.id}
    assert conv.source.locator["file_line"].endswith("qa.csv:2")
    [bad] = rejections(items)
    assert bad.reason == "malformed_csv" and bad.locator.endswith("qa.csv:4") and bad.raw == "8,short\n"


def test_tsv_and_missing_mapped_column(tmp_path: Path) -> None:
    (tmp_path / "qa.tsv").write_text("q\ta\nhello\tworld\n", encoding="utf-8")
    [conv] = read(tmp_path, "qa.tsv", options={"columns": {"prompt": "q", "response": "a"}})
    assert conv.turns[1].text == "world"
    [bad] = read(tmp_path, "qa.tsv", options={"columns": {"prompt": "question", "response": "a"}})
    assert bad.reason == "malformed_record" and "question" in bad.message


def test_parquet_with_messages_column(tmp_path: Path) -> None:
    table = pa.table({"conv": [json.dumps(OPENAI_ROW["messages"]), "not json"], "lang": ["en", "en"]})
    pq.write_table(table, tmp_path / "d.parquet")
    items = read(tmp_path, "d.parquet", options={"columns": {"messages": "conv", "meta": "lang"}})
    [conv] = conversations(items)
    assert len(conv.turns) == 3 and conv.meta == {"lang": "en", "source_dialogue_id": conv.id}
    assert conv.source.locator["file_line"] == f"{tmp_path / 'd.parquet'}#row=0"
    [bad] = rejections(items)
    assert bad.reason == "malformed_json" and bad.locator.endswith("#row=1")


def test_parquet_auto_detects_openai_rows(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist([OPENAI_ROW]), tmp_path / "o.parquet")
    [conv] = read(tmp_path, "o.parquet")
    assert [t.role for t in conv.turns] == ["system", "client", "therapist"]


def test_utterance_rows_grouped_ordered_and_deduplicated(tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text(
        "dialog,turn,who,text,annotator\n"
        "a,10,therapist,Tell me more.,1\na,2,client,I drink too much.,1\na,2,client,I drink too much.,2\n"
        "b,0,client,Hello,1\nb,1,therapist,Hi there,1\n",
        encoding="utf-8",
    )
    columns = {"conversation": "dialog", "order": "turn", "role": "who", "text": "text"}
    first, second = read(tmp_path, "u.csv", options={"columns": columns})
    assert [t.text for t in first.turns] == ["I drink too much.", "Tell me more."]
    assert first.group == "src:a" and first.source_id == "a" and first.source.locator["rows"] == 3
    assert second.group == "src:b"


def test_windowing_shares_group_and_starts_on_client(tmp_path: Path) -> None:
    turns = []
    for i in range(10):
        turns += [{"role": "user", "content": f"c{i}"}, {"role": "assistant", "content": f"t{i}"}]
    write_jsonl(tmp_path / "long.jsonl", [{"messages": turns}])
    windows = read(tmp_path, "long.jsonl", options={"max_turns": 6, "stride": 4})
    assert len(windows) == 5
    assert len({w.group for w in windows}) == 1 and len({w.id for w in windows}) == 5
    assert all(w.turns[0].role == "client" and w.turns[-1].role == "therapist" for w in windows)
    assert [w.source.locator["turn_start"] for w in windows] == [0, 4, 8, 12, 16]
    assert windows[-1].turns[-1].text == "t9"


def test_compressed_gzip_and_zstd(tmp_path: Path) -> None:
    payload = (json.dumps(OPENAI_ROW) + "\n").encode()
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(payload))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(payload))
    assert len(conversations(read(tmp_path, "a.jsonl.gz"))) == 1
    assert len(conversations(read(tmp_path, "b.jsonl.zst"))) == 1


def test_truncated_gzip_ends_in_an_unreadable_file_rejection(tmp_path: Path) -> None:
    payload = gzip.compress(("".join(json.dumps(OPENAI_ROW) + "\n" for _ in range(200))).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(payload[: len(payload) // 2])
    items = read(tmp_path, "cut.jsonl.gz")
    assert rejections(items)[-1].reason == "unreadable_file"


def test_directory_and_glob_skip_notes_and_quarantine_unknown_members(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    write_jsonl(data / "a.jsonl", [OPENAI_ROW])
    write_jsonl(data / "sub" / "b.jsonl", [SHAREGPT_ROW])
    (data / "README.txt").write_text("not data")
    (data / "labels.json").write_text('["a", "b"]')
    items = read(tmp_path, "data")
    assert len(conversations(items)) == 2
    assert [r.reason for r in rejections(items)] == ["malformed_record", "malformed_record"]
    write_jsonl(data / "c.jsonl", [{"foo": 1}])
    globbed = read(tmp_path, "data/*.jsonl")
    assert len(conversations(globbed)) == 1
    [unknown] = rejections(globbed)
    assert (
        unknown.reason == "unknown_format"
        and "Tried: counsel_chat" in unknown.message
        and "openai:" in unknown.message
    )


def test_unknown_format_of_a_named_file_lists_formats_tried(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "odd.jsonl", [{"foo": 1, "bar": 2}])
    with pytest.raises(UnknownFormatError) as err:
        read(tmp_path, "odd.jsonl")
    message = str(err.value)
    assert "odd.jsonl" in message and "foo, bar" in message
    for name in (
        "counsel_chat",
        "esconv",
        "esconv_original",
        "psyqa",
        "annomi",
        "openai",
        "sharegpt",
        "alpaca",
        "mapped",
    ):
        assert name in message
    (tmp_path / "x.bin").write_bytes(b"\x00\x01binary")
    with pytest.raises(UnknownFormatError, match=r"x\.bin"):
        read(tmp_path, "x.bin")


def test_config_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        read(tmp_path, "missing.jsonl")
    with pytest.raises(DatasetError, match="matched no files"):
        read(tmp_path, "*.nothing")
    write_jsonl(tmp_path / "x.jsonl", [OPENAI_ROW])
    with pytest.raises(UnknownFormatError, match="unknown format 'weird'"):
        read(tmp_path, "x.jsonl", format="weird")
    with pytest.raises(DatasetError, match="unknown option"):
        read(tmp_path, "x.jsonl", options={"colums": {}})
    with pytest.raises(DatasetError, match=r"options\.columns must map"):
        read(tmp_path, "x.jsonl", options={"columns": {"id": "id"}})


def test_explicit_format_overrides_detection(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "x.jsonl", [SHAREGPT_ROW])
    [bad] = read(tmp_path, "x.jsonl", format="openai")
    assert bad.reason == "malformed_record"
    (tmp_path / "x.txt").write_text(json.dumps(SHAREGPT_ROW) + "\n")
    [conv] = read(tmp_path, "x.txt", format="jsonl")
    assert isinstance(conv, Conversation)


def test_role_overrides_and_unknown_roles(tmp_path: Path) -> None:
    row = {"conversations": [{"from": "Patient", "value": "a"}, {"from": "Coach", "value": "b"}]}
    write_jsonl(tmp_path / "r.jsonl", [row])
    [conv] = read(tmp_path, "r.jsonl")
    assert [t.role for t in conv.turns] == ["client", "Coach"]
    [conv] = read(tmp_path, "r.jsonl", options={"roles": {"coach": "therapist"}, "tags": ["origin:test"]})
    assert [t.role for t in conv.turns] == ["client", "therapist"] and conv.tags == ["origin:test"]


def test_text_only_mapping_makes_single_turn_records(tmp_path: Path) -> None:
    (tmp_path / "posts.csv").write_text("id,body,sub\n1,I am stressed,anxiety\n2,,ptsd\n", encoding="utf-8")
    items = read(tmp_path, "posts.csv", options={"columns": {"text": "body", "id": "id", "tags": "sub"}})
    conv, empty = items
    assert conv.turns == [conv.turns[0]] and conv.turns[0].role == "client" and conv.tags == ["sub:anxiety"]
    assert empty.reason == "empty_conversation"


def test_csv_invalid_utf8_is_repaired_by_default_and_quarantined_on_request(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_bytes(b"q,a\nfine,ok\nbad \xa6 byte,ok\n")
    mapping = {"columns": {"prompt": "q", "response": "a"}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = read(tmp_path, "p.csv", options=mapping)
    assert [c.turns[0].text for c in items] == ["fine", "bad \ufffd byte"]
    assert any(isinstance(w.message, InvalidUtf8Warning) for w in caught)
    items = read(tmp_path, "p.csv", options={**mapping, "on_invalid_utf8": "quarantine"})
    assert [type(i).__name__ for i in items] == ["Conversation", "Rejection"]
    assert items[1].reason == "invalid_utf8" and items[1].locator.endswith("p.csv:3")


def test_plain_qa_tables_are_detected_by_column_names(tmp_path: Path) -> None:
    (tmp_path / "amod.csv").write_text(
        'Context,Response\n"I can\'t cope.","Let\'s talk about it."\n"",x\n', encoding="utf-8"
    )
    conv, empty = read(tmp_path, "amod.csv")
    assert [(t.role, t.text) for t in conv.turns] == [
        ("client", "I can't cope."),
        ("therapist", "Let's talk about it."),
    ]
    assert empty.reason == "empty_conversation"
    write_jsonl(
        tmp_path / "qa.jsonl", [{"question": "q?", "answer": "a.", "topic": "Grief"}, {"question": "only"}]
    )
    conv, bad = read(tmp_path, "qa.jsonl")
    assert conv.tags == ["topic:grief"] and bad.reason == "malformed_record"
