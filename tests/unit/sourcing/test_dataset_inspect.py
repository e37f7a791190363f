"""The dataset inspection helper (per-file format and counts) and its command line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pipeline_helpers import cli

from ai.core.config import SourceConfig
from ai.sourcing.datasets import DatasetError
from ai.sourcing.datasets.inspect import inspect_dataset, print_inspection
from ai.sourcing.datasets.reader import detect_format

ROW = {
    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    "topic": "x",
}


def make_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text(json.dumps(ROW) + "\n{oops\n")
    (data / "b.json").write_text(json.dumps({"foo": 1}))
    (data / "c.jsonl").write_text("")
    return data


def test_inspect_reports_format_counts_and_errors_per_file(tmp_path: Path) -> None:
    data = make_dir(tmp_path)
    a, b, c = inspect_dataset([str(data)])
    assert (a.container, a.format, a.records, a.turns) == ("jsonl", "openai", 1, 2)
    assert a.rejected == {"malformed_json": 1} and a.tags == {"topic:x": 1} and len(a.groups) == 1
    assert "unknown format" in b.error and b.records == 0
    assert (c.format, c.records) == ("", 0)
    out = io.StringIO()
    print_inspection([a, b, c], out)
    text = out.getvalue()
    assert "format: openai in jsonl" in text and "rejected: 1 (malformed_json 1)" in text
    assert "error:" in text and "format: (no rows) in jsonl" in text and "top tags: topic:x (1)" in text


def test_detect_format_follows_config(tmp_path: Path) -> None:
    data = make_dir(tmp_path)
    source = SourceConfig(name="s", options={"columns": {"text": "foo"}})
    assert detect_format(data / "b.json", source) == ("json", "mapped")


def test_inspect_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown option"):
        inspect_dataset([str(tmp_path)], options={"nope": 1})


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_dir(tmp_path)
    assert cli("inspect", str(data / "a.jsonl")) == 0
    assert "records: 1" in capsys.readouterr().out
    assert cli("inspect", str(data)) == 1  # b.json has an unknown format
    assert cli("inspect", str(data / "missing.jsonl")) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli("inspect", str(data), "--options", "{not json") == 2
