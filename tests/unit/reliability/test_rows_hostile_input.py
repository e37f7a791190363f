"""Issue 21 rows 5, 8, 9 and 13: hostile input is quarantined with file:line, and the run goes on."""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ai.core.config import SourceConfig
from ai.core.records import Conversation
from ai.core.stage import Rejection
from ai.pipelines.orchestrator.ingest import Ingestor
from ai.pipelines.orchestrator.logger import RunLogger
from ai.sourcing.datasets import read_source
from ai.sourcing.datasets.inspect import inspect_dataset
from ai.sourcing.datasets.rows import MAX_RAW_CHARS

GOOD = (
    '{"id": "%s", "messages": [{"role": "user", "content": "I cannot sleep before exams."}, '
    '{"role": "assistant", "content": "That sounds exhausting. What keeps you awake at night?"}]}'
)


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """A reader that blocks on a named pipe fails the test instead of hanging the suite."""

    def expire(*_: object) -> None:
        raise TimeoutError("reading blocked for 20 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _read(path: Path, **options: object) -> tuple[list[Conversation], list[Rejection]]:
    items = list(read_source(SourceConfig(name="t", path=str(path), options=dict(options)), path.parent))
    return (
        [i for i in items if isinstance(i, Conversation)],
        [i for i in items if isinstance(i, Rejection)],
    )


def test_row05_deeply_nested_json_line_is_quarantined_and_reading_goes_on(tmp_path: Path) -> None:
    deep = '{"messages": ' + "[" * 1000 + "]" * 1000 + "}"
    lines = [GOOD % "a", deep, "[" * 5000 + "]" * 5000, GOOD % "b"]
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join(lines) + "\n")
    kept, rejected = _read(path)
    assert [c.source_id for c in kept] == ["a", "b"]
    assert [(r.reason, r.locator) for r in rejected] == [
        ("malformed_json", f"{path}:2"),
        ("malformed_json", f"{path}:3"),
    ]
    assert "nested too deeply" in rejected[0].message


def test_row05_deeply_nested_json_document_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"a": ' + "[" * 5000 + "]" * 5000 + "}")
    kept, rejected = _read(path)
    assert not kept and [r.reason for r in rejected] == ["malformed_json"]
    array = tmp_path / "deep_array.json"
    array.write_text("[" + GOOD % "a" + ", " + "[" * 5000 + "]" * 5000 + "]")
    kept, rejected = _read(array)
    assert len(kept) == 1 and [r.reason for r in rejected] == ["malformed_json"]


def test_row05_inspect_reports_deep_json_instead_of_crashing(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text(GOOD % "a" + "\n" + "[" * 5000 + "]" * 5000 + "\n")
    (report,) = inspect_dataset([str(path)])
    assert report.records == 1 and report.rejected["malformed_json"] == 1


def test_row08_named_pipe_in_an_input_directory_is_quarantined_not_read(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(GOOD % "a" + "\n")
    os.mkfifo(tmp_path / "b.jsonl")
    kept, rejected = _read(tmp_path)
    assert len(kept) == 1
    assert [(r.reason, r.locator) for r in rejected] == [("not_a_regular_file", str(tmp_path / "b.jsonl"))]
    assert "named pipe" in rejected[0].message


def test_row08_named_pipe_given_by_name_or_glob_is_quarantined(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p.jsonl")
    assert [r.reason for r in _read(tmp_path / "p.jsonl")[1]] == ["not_a_regular_file"]
    glob_items = list(read_source(SourceConfig(name="t", path="*.jsonl"), tmp_path))
    assert [i.reason for i in glob_items] == ["not_a_regular_file"]  # type: ignore[union-attr]


def test_row08_inspect_does_not_hang_on_a_named_pipe(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p.jsonl")
    (report,) = inspect_dataset([str(tmp_path)])
    assert "not a regular file" in report.error


def _secret_outside(tmp_path: Path) -> tuple[Path, Path]:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "a.jsonl").write_text(GOOD % "a" + "\n")
    secret = tmp_path / "credentials.jsonl"
    secret.write_text("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\n")
    (inputs / "creds.jsonl").symlink_to(secret)
    return inputs, secret


def test_row09_symlink_leaving_the_input_root_is_not_followed(tmp_path: Path) -> None:
    inputs, _ = _secret_outside(tmp_path)
    kept, rejected = _read(inputs)
    assert len(kept) == 1
    assert [r.reason for r in rejected] == ["symlink_outside_input"]
    assert rejected[0].raw == "" and "wJalr" not in rejected[0].message


def test_row09_following_symlinks_is_an_explicit_option(tmp_path: Path) -> None:
    inputs, _ = _secret_outside(tmp_path)
    _, rejected = _read(inputs, follow_symlinks=True)
    assert [r.reason for r in rejected] == ["malformed_json"]  # read, and refused for its content
    inside = inputs / "again.jsonl"
    inside.symlink_to(inputs / "a.jsonl")  # a link that stays inside the root is followed
    kept, _ = _read(inputs)
    assert len(kept) == 2


def test_row09_quarantined_excerpts_are_scrubbed_like_content(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SERVICE_API_TOKEN", "tok-5f3a9c2e7b")
    from ai.core.config import parse_config
    from ai.pipelines.orchestrator.pipeline import Orchestrator

    line = '{"broken": "mail jane.roe@example.org, key tok-5f3a9c2e7b, call 415-555-0134"'
    (tmp_path / "in.jsonl").write_text(GOOD % "a" + "\n" + line + "\n")
    config = parse_config({"sources": [{"name": "s", "path": str(tmp_path / "in.jsonl")}]}, base_dir=tmp_path)
    orchestrator = Orchestrator(config, tmp_path / "run", executor=None, log=RunLogger())  # type: ignore[arg-type]
    ingestor = Ingestor(
        config, tmp_path / "run", RunLogger(), "h", orchestrator.gate, orchestrator._excerpt_scrubber()
    )
    ingestor.run()
    quarantined = (tmp_path / "run" / "work" / "ingest" / "shard-00000.rejected.jsonl").read_text()
    assert "malformed_json" in quarantined
    for leaked in ("jane.roe@example.org", "tok-5f3a9c2e7b", "415-555-0134"):
        assert leaked not in quarantined
    assert "[EMAIL_1]" in quarantined and "***" in quarantined


def test_row13_huge_csv_field_is_refused_before_parsing_with_a_bounded_excerpt(tmp_path: Path) -> None:
    path = tmp_path / "counsel.csv"
    size = 30_000_000
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("questionID,questionTitle,questionText,topic,answerText,upvotes\n")
        handle.write('1,Sleep,"I cannot sleep, what helps?",insomnia,"A fixed wake-up time helps.",3\n')
        handle.write('2,Huge,"' + "x" * size + '",spam,"a",1\n')
        handle.write('3,Lonely,"I moved and know nobody.",loneliness,"Small clubs help.",1\n')
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kept, rejected = _read(path, max_row_chars=1_000_000)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert len(kept) == 2
    (refused,) = rejected
    assert refused.reason == "row_too_large" and refused.locator == f"{path}:3"
    assert len(refused.raw) == MAX_RAW_CHARS and refused.raw_size > size
    assert f"{refused.raw_size:,}" in refused.message
    assert grown_mb < 100  # the 30 MB field itself was never held whole (ru_maxrss is in KiB)


def test_row13_huge_jsonl_line_is_refused_with_excerpt_and_size(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text(GOOD % "a" + "\n" + '{"id": "' + "y" * 3_000_000 + '"}\n' + GOOD % "b" + "\n")
    kept, rejected = _read(path, max_row_chars=1_000_000)
    assert len(kept) == 2
    assert [(r.reason, r.locator, r.raw_size) for r in rejected] == [
        ("row_too_large", f"{path}:2", 3_000_010)
    ]
    assert len(rejected[0].raw) == MAX_RAW_CHARS


def test_row13_row_limit_option_is_validated(tmp_path: Path) -> None:
    from ai.sourcing.datasets.errors import DatasetError

    (tmp_path / "a.jsonl").write_text(GOOD % "a" + "\n")
    with pytest.raises(DatasetError, match="max_row_chars"):
        _read(tmp_path / "a.jsonl", max_row_chars=0)


def test_row09_book_subtitle_and_paper_directory_walks_do_not_follow_links_out(tmp_path: Path) -> None:
    from ai.sourcing.academic.academic_sourcing import xml_files
    from ai.sourcing.books import find_book_files
    from ai.sourcing.youtube import find_transcript_files

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    outside = tmp_path / "secret"
    outside.mkdir()
    for name in ("a.vtt", "a.pdf", "a.xml"):
        (inputs / name).write_text("inside")
        (outside / name).write_text("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY")
        (inputs / f"link-{name}").symlink_to(outside / name)
    assert all(not name.startswith("link") for _, name in find_transcript_files(inputs, []))
    assert [name for _, name in find_book_files(inputs, [".pdf"])] == ["a.pdf"]
    assert [p.name for p in xml_files(inputs)] == ["a.xml"]
