"""The two standalone CLIs: ``python SCRIPT DIR --out FILE.jsonl``."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ai.core.records import decode_passage
from ai.training.ready_packages.scripts import extract_all_books_to_training as books_cli
from ai.training.ready_packages.scripts import extract_all_youtube_transcripts as youtube_cli

REPO = Path(__file__).resolve().parents[3]


def _subtitles(tmp_path: Path) -> Path:
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "session.vtt").write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nTHERAPIST: What brings you here?\n\n"
        "00:00:03.000 --> 00:00:06.000\nCLIENT: I keep waking up at night.\n"
    )
    (folder / "broken.srt").write_text("some text\n")
    return folder


def test_youtube_cli_writes_passages_conversations_and_quarantine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, conversations, quarantine = tmp_path / "p.jsonl", tmp_path / "c.jsonl", tmp_path / "q.jsonl"
    code = youtube_cli.main(
        [
            str(_subtitles(tmp_path)),
            "--out",
            str(out),
            "--conversations",
            str(conversations),
            "--quarantine",
            str(quarantine),
        ]
    )
    assert code == 0
    [passage] = [decode_passage(line) for line in out.read_bytes().splitlines()]
    assert passage.source.locator["file"] == "session.vtt" and "waking up" in passage.text
    [conversation] = [json.loads(line) for line in conversations.read_text().splitlines()]
    assert [turn[0] for turn in conversation["turns"]] == ["therapist", "client"]
    reasons = [json.loads(line)["reason"] for line in quarantine.read_text().splitlines()]
    assert reasons == ["missing_timing", "empty_transcript"]
    err = capsys.readouterr().err
    assert "wrote 1 passages and 1 conversations; quarantined 2" in err
    assert "empty_transcript" in err and "broken.srt" in err


def test_youtube_cli_usage_errors_exit_non_zero(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as missing:
        youtube_cli.main([str(tmp_path / "nope"), "--out", str(tmp_path / "o.jsonl")])
    assert missing.value.code == 2
    with pytest.raises(SystemExit) as nothing:
        youtube_cli.main(["--out", str(tmp_path / "o.jsonl")])
    assert nothing.value.code == 2
    with pytest.raises(SystemExit) as bad_sizes:
        youtube_cli.main([str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--target-chars", "10"])
    assert bad_sizes.value.code == 2


def _epub(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr(
            "META-INF/container.xml",
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>',
        )
        archive.writestr(
            "content.opf",
            '<package xmlns="http://www.idpf.org/2007/opf" version="2.0"><metadata '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Small Book</dc:title></metadata>'
            '<manifest><item id="c" href="c.xhtml" media-type="application/xhtml+xml"/></manifest>'
            '<spine><itemref idref="c"/></spine></package>',
        )
        archive.writestr("c.xhtml", "<html><body><h1>One</h1><p>A calm first chapter.</p></body></html>")
    return path


def test_books_cli_as_a_script(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    folder.mkdir()
    _epub(folder / "small.epub")
    (folder / "fake.pdf").write_bytes(b"not a pdf at all")
    out = tmp_path / "books.jsonl"
    script = REPO / "ai/training/ready_packages/scripts/extract_all_books_to_training.py"
    done = subprocess.run(
        [sys.executable, str(script), str(folder), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [passage] = [decode_passage(line) for line in out.read_bytes().splitlines()]
    assert passage.title == "Small Book" and passage.section == "One"
    assert "quarantined 1" in done.stderr and "corrupt_pdf" in done.stderr


def test_books_cli_function_and_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _epub(tmp_path / "b.epub")
    monkeypatch.setenv("BOOKS_PDF_PASSWORD", "from-env")
    assert books_cli._parser().parse_args([str(tmp_path), "--out", "x"]).password == "from-env"
    assert books_cli.main([str(tmp_path / "b.epub"), "--out", str(tmp_path / "o.jsonl"), "--no-isolate"]) == 0
    assert len((tmp_path / "o.jsonl").read_bytes().splitlines()) == 1
    with pytest.raises(SystemExit) as missing:
        books_cli.main([str(tmp_path / "nope"), "--out", str(tmp_path / "o.jsonl")])
    assert missing.value.code == 2
    with pytest.raises(SystemExit) as bad:
        books_cli.main([str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--overlap-chars", "5000"])
    assert bad.value.code == 2
