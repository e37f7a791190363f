"""File containers: JSON documents and arrays, broken files, streaming memory bound."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest
import zstandard

from ai.core.config import SourceConfig
from ai.core.records import Conversation
from ai.core.stage import Rejection
from ai.sourcing.datasets import DatasetError, read_source
from ai.sourcing.datasets.rows import JsonArrayStream

ROW = {
    "messages": [{"role": "user", "content": "I feel low."}, {"role": "assistant", "content": "I'm here."}]
}


def read(tmp_path: Path, path: str, **fields) -> list[Conversation | Rejection]:
    return list(read_source(SourceConfig(name="src", path=path, **fields), tmp_path))


def test_single_json_object_document(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(json.dumps(ROW, indent=2))
    [conv] = read(tmp_path, "one.json")
    assert conv.source.locator["file_line"].endswith("one.json:1")
    (tmp_path / "broken.json").write_text('{\n  "messages": [')
    [bad] = read(tmp_path, "broken.json")
    assert bad.reason == "malformed_json" and bad.locator.endswith("broken.json:1")
    (tmp_path / "scalar.json").write_text('\n"just text"\n')
    [bad] = read(tmp_path, "scalar.json")
    assert bad.reason == "malformed_record"


def test_json_object_with_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "enc.json").write_bytes(
        json.dumps(ROW, indent=2).replace("low", "l\udcffow").encode("utf-8", "surrogateescape")
    )
    [bad] = read(tmp_path, "enc.json")
    assert bad.reason == "invalid_utf8"
    with pytest.warns(UserWarning, match=r"enc\.json"):
        [conv] = read(tmp_path, "enc.json", options={"on_invalid_utf8": "replace"})
    assert conv.turns[0].text == "I feel l\ufffdow."


def test_json_array_elements_with_bad_bytes_or_wrong_type(tmp_path: Path) -> None:
    good = json.dumps(ROW).encode()
    (tmp_path / "arr.json").write_bytes(b"[" + good + b",\n" + good.replace(b"low", b"l\xffow") + b",\n42]")
    items = read(tmp_path, "arr.json")
    assert [getattr(i, "reason", "ok") for i in items] == ["ok", "invalid_utf8", "malformed_record"]
    assert items[1].locator.endswith("arr.json:2") and items[2].locator.endswith("arr.json:3")
    with pytest.warns(UserWarning, match=r"arr\.json"):
        items = read(tmp_path, "arr.json", options={"on_invalid_utf8": "replace"})
    assert items[1].turns[0].text == "I feel l\ufffdow."


def test_broken_json_array_quarantines_the_rest_and_stops(tmp_path: Path) -> None:
    good = json.dumps(ROW)
    (tmp_path / "cut.json").write_text(f'[{good},\n{good},\n{{"messages": [')
    items = read(tmp_path, "cut.json")
    assert [type(i).__name__ for i in items] == ["Conversation", "Conversation", "Rejection"]
    assert items[2].reason == "malformed_json" and items[2].locator.endswith("cut.json:3")
    assert "rest of the file" in items[2].message and items[2].raw.startswith('{"messages"')
    (tmp_path / "sep.json").write_text(f"[{good} {good}]")
    items = read(tmp_path, "sep.json", format="openai")
    assert items[-1].reason == "malformed_json" and "expected ','" in items[-1].message


def test_json_array_stream_handles_chunk_boundaries() -> None:
    values = [{"n": i, "text": "x" * (i % 50)} for i in range(300)] + [12345678901234567890]
    stream = JsonArrayStream(io.StringIO(json.dumps(values)), "mem")
    stream.CHUNK = 7  # force elements and numbers to straddle reads
    parsed = [item[2] for item in stream.elements()]
    assert parsed == values
    assert [i[2] for i in JsonArrayStream(io.StringIO("  [ ]  "), "mem").elements()] == []
    [bad] = list(JsonArrayStream(io.StringIO('{"a": 1}'), "mem").elements())
    assert isinstance(bad, Rejection) and "expected a JSON array" in bad.message


def test_reading_a_json_array_keeps_memory_bounded(tmp_path: Path) -> None:
    long_turns = [{"role": "user", "content": "I feel low. " * 250}, {"role": "assistant", "content": "Yes."}]
    element = json.dumps({"messages": long_turns})
    path = tmp_path / "big.json"
    with path.open("w") as handle:
        handle.write("[\n" + ",\n".join(element for _ in range(2_000)) + "\n]")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(
            1
            for item in read_source(SourceConfig(name="big", path="big.json"), tmp_path)
            if isinstance(item, Conversation)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 2_000
    assert peak < size / 4, f"peak {peak} bytes for a {size}-byte file"


def test_corrupt_parquet_and_bad_container_option(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really parquet")
    [bad] = read(tmp_path, "bad.parquet")
    assert bad.reason == "unreadable_file" and "bad.parquet" in bad.message
    (tmp_path / "x.data").write_text(json.dumps(ROW) + "\n")
    with pytest.raises(DatasetError, match=r"options\.container"):
        read(tmp_path, "x.data", options={"container": "xml"})
    [conv] = read(tmp_path, "x.data", options={"container": "jsonl"})
    assert isinstance(conv, Conversation)
    [conv] = read(tmp_path, "x.data")  # sniffed as JSON
    assert isinstance(conv, Conversation)


def test_empty_files_yield_nothing(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("\n\n")
    (tmp_path / "e.csv").write_text("")
    assert read(tmp_path, "e.jsonl") == []
    assert read(tmp_path, "e.csv", options={"columns": {"text": "t"}}) == []


def test_mapped_options_validation(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="unknown key"):
        read(tmp_path, "x.csv", options={"columns": {"prompt": "a", "answer": "b"}})
    with pytest.raises(DatasetError, match="must be a mapping"):
        read(tmp_path, "x.csv", options={"columns": ["a", "b"]})
    with pytest.raises(DatasetError, match="column name or a list"):
        read(tmp_path, "x.csv", options={"columns": {"text": "a", "tags": 3}})
    with pytest.raises(DatasetError, match="roles"):
        read(tmp_path, "x.csv", options={"columns": {"text": "a"}, "roles": ["x"]})


def test_corrupt_zstd_ends_in_an_unreadable_file_rejection(tmp_path: Path) -> None:
    payload = zstandard.ZstdCompressor().compress(
        ("".join(json.dumps(ROW) + "\n" for _ in range(500))).encode()
    )
    (tmp_path / "cut.jsonl.zst").write_bytes(payload[:40] + b"\x00garbage" * 50)
    items = read(tmp_path, "cut.jsonl.zst")
    assert items and items[-1].reason == "unreadable_file" and "cut.jsonl.zst" in items[-1].message


def test_plain_hugging_face_dataset_from_disk(tmp_path: Path) -> None:
    import datasets

    rows = {"instruction": ["Comfort me"], "input": [""], "output": ["You matter."]}
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "ds"))
    [conv] = read(tmp_path, "ds", license="CC-BY-4.0")
    assert conv.turns[1].text == "You matter." and conv.source.license == "CC-BY-4.0"
    assert conv.source.locator["file_line"] == f"{tmp_path / 'ds'}#row=0"
    (tmp_path / "notds").mkdir()
    (tmp_path / "notds" / "state.json").write_text("{}")
    with pytest.raises(DatasetError, match="cannot load the Hugging Face dataset"):
        read(tmp_path, "notds")


def test_row_numbers_count_rejected_rows_too(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text("{bad\n\n" + json.dumps(ROW) + "\n")
    [_, conv] = read(tmp_path, "r.jsonl")
    assert conv.source.locator == {"file_line": f"{tmp_path / 'r.jsonl'}:3", "row": 1}
    (tmp_path / "r.csv").write_text("prompt,response\nonly one field\n\nhi,hello\n")
    [_, conv] = read(tmp_path, "r.csv")
    assert conv.source.locator == {"file_line": f"{tmp_path / 'r.csv'}:4", "row": 1}
