"""Extract every subtitle/transcript file under a directory (and optional YouTube videos) into JSONL.

    python ai/training/ready_packages/scripts/extract_all_youtube_transcripts.py DIR --out passages.jsonl

Writes one passage a line (speaker-labelled transcripts also go to ``--conversations`` when given),
prints a quarantine summary on stderr, and exits non-zero only for usage errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ai.sourcing.extraction_output import print_summary
from ai.sourcing.youtube import YouTubeOptions, extract_transcripts_to_jsonl

USAGE_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.inputs and not args.video and not args.playlist:
        parser.error("give at least one DIR/file, --video or --playlist")
    missing = [str(p) for p in args.inputs if not p.exists()]
    if missing:
        parser.error(f"not found: {', '.join(missing)}")
    try:
        options = YouTubeOptions(
            target_chars=args.target_chars,
            overlap_chars=args.overlap_chars,
            languages=args.language or ["en"],
            videos=args.video,
            playlists=args.playlist,
            cache_dir=str(args.cache_dir or ""),
            requests_per_second=args.requests_per_second,
            keep_sound_tags=args.keep_sound_tags,
        )
    except ValueError as exc:
        parser.error(str(exc))
    summary = extract_transcripts_to_jsonl(
        args.inputs, args.out, options, args.conversations, args.quarantine
    )
    print_summary(summary)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Extract subtitle files and YouTube transcripts into passage JSONL."
    )
    parser.add_argument("inputs", nargs="*", type=Path, help="subtitle files or directories")
    parser.add_argument("--out", required=True, type=Path, help="output JSONL (one passage a line)")
    parser.add_argument(
        "--conversations", type=Path, help="write speaker-labelled transcripts as conversations here"
    )
    parser.add_argument("--quarantine", type=Path, help="also write the rejections to this JSONL file")
    parser.add_argument("--video", action="append", default=[], help="YouTube video id or URL (repeatable)")
    parser.add_argument(
        "--playlist", action="append", default=[], help="YouTube playlist id or URL (repeatable)"
    )
    parser.add_argument(
        "--language", action="append", help="preferred transcript language (repeatable; default en)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="transcript cache (default $DATASET_PIPELINE_HOME/cache/youtube)"
    )
    parser.add_argument("--requests-per-second", type=float, default=0.5)
    parser.add_argument("--target-chars", type=int, default=1000)
    parser.add_argument("--overlap-chars", type=int, default=150)
    parser.add_argument("--keep-sound-tags", action="store_true", help="keep [Music]-style tags")
    return parser


if __name__ == "__main__":
    sys.exit(main())
