"""The report of a real run, rendered by headless Chromium: the charts are drawn and titled.

Skips when Debian's ``chromium`` is not installed, unless REQUIRE_CHROMIUM=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from pipeline_helpers import cli, write_openai_jsonl

from ai.pipelines.report import write_report

CHART_TITLES = (
    "Exported records by split and category",
    "Records kept and rejected at each stage",
    "Time per stage",
    "Quarantined records by stage and reason",
    "Turns per conversation by split",
    "Conversation length by split",
    "Category mix by split",
    "Source mix by split",
    "Language mix by split",
    "EARS score distribution",
    "Split sizes: target and actual share",
)
TRAIN_BLUE = (0x4C, 0x78, 0xA8)  # the train series colour: present only if the charts were painted
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


@pytest.fixture(scope="module")
def binary() -> str:
    """Chromium's path; checked before the (slower) pipeline run so a missing browser skips at once."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        return binary
    if os.environ.get("REQUIRE_CHROMIUM") == "1":
        pytest.fail("chromium is not installed and REQUIRE_CHROMIUM=1 (apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium); REQUIRE_CHROMIUM=1 makes this fail")


def chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        timeout=180,
        check=True,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real pipeline run over a small generated corpus, and its report."""
    base = tmp_path_factory.mktemp("report")
    corpus = base / "corpus.jsonl"
    write_openai_jsonl(corpus, 150, seed=5)
    run_dir = base / "run"
    code = cli("run", "--input", str(corpus), "--output", str(run_dir), "--workers", "1", "--quiet")
    assert not code, f"the pipeline run failed with exit code {code}"
    return write_report(run_dir)


def test_chromium_draws_every_chart(binary: str, report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(binary, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,4000", report.as_uri())
    width, height, channels, pixels = decode_png(shot.read_bytes())
    assert (width, height) == (1280, 4000)
    assert pixel_stddev(pixels) > 20, "the screenshot is (nearly) blank"
    assert TRAIN_BLUE in distinct_colors(pixels, channels), "no chart bar was painted in the train colour"

    dom = chromium(binary, tmp_path / "profile-dom", "--dump-dom", report.as_uri()).stdout.decode("utf-8")
    for title in CHART_TITLES:
        assert f"<figcaption>{title}</figcaption>" in dom, title
    assert dom.count("<svg") >= len(CHART_TITLES)
    assert dom.count("<rect") > 50


def test_png_decoder_reads_all_filter_types() -> None:
    rows = [bytes([f]) + bytes(range(f * 10, f * 10 + 6)) for f in range(5)]  # filters 0..4, 2 RGB pixels
    png = png_bytes(2, 5, b"".join(rows))
    width, height, channels, pixels = decode_png(png)
    assert (width, height, channels) == (2, 5, 3)
    assert list(pixels) == [
        *range(6),  # none
        *(10, 11, 12, 23, 25, 27),  # sub: + the pixel to the left
        *(30, 32, 34, 46, 49, 52),  # up: + the pixel above
        *(45, 47, 49, 78, 82, 85),  # average of left and above
        *(85, 88, 91, 128, 132, 136),  # paeth predictor
    ]


# -- a small PNG reader (zlib + struct): no imaging library needed, ~3 s for a 1280x4000 screenshot --------
def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, channels and raw pixel bytes (RGB or RGBA, 8 bit, not interlaced) of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat = 8, []
    width = height = channels = 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        offset += 12 + length
    raw = zlib.decompress(b"".join(idat))
    return width, height, channels, unfilter(raw, width, height, channels)


def unfilter(raw: bytes, width: int, height: int, channels: int) -> bytes:
    stride = width * channels
    out = bytearray(stride * height)
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind in (1, 3, 4):
            for x in range(stride):
                left = line[x - channels] if x >= channels else 0
                up = previous[x]
                corner = previous[x - channels] if x >= channels else 0
                if kind == 1:
                    add = left
                elif kind == 3:
                    add = (left + up) // 2
                else:
                    add = paeth(left, up, corner)
                line[x] = (line[x] + add) & 0xFF
        out[y * stride : (y + 1) * stride] = line
        previous = line
    return bytes(out)


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def pixel_stddev(pixels: bytes) -> float:
    sample = pixels[::97]  # a prime stride samples every channel and column
    mean = sum(sample) / len(sample)
    return (sum((v - mean) ** 2 for v in sample) / len(sample)) ** 0.5


def distinct_colors(pixels: bytes, channels: int) -> set[tuple[int, ...]]:
    """Colours of every 7th pixel: enough to meet every chart bar, cheap in pure Python."""
    return {tuple(pixels[i : i + 3]) for i in range(0, len(pixels) - 2, channels * 7)}


def png_bytes(width: int, height: int, filtered: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(filtered))
        + chunk(b"IEND", b"")
    )
