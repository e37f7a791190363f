"""Extract every PDF and EPUB under a directory into passage JSONL.

    python ai/training/ready_packages/scripts/extract_all_books_to_training.py DIR --out passages.jsonl

Writes one passage a line, prints a quarantine summary on stderr, and exits non-zero only for usage
errors (a missing input, bad options): unreadable books are quarantined, not fatal.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ai.sourcing.books import BookOptions, extract_books_to_jsonl
from ai.sourcing.extraction_output import print_summary

USAGE_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.inputs if not p.exists()]
    if missing:
        parser.error(f"not found: {', '.join(missing)}")
    try:
        options = BookOptions(
            target_chars=args.target_chars,
            overlap_chars=args.overlap_chars,
            password=args.password,
            timeout_seconds=args.timeout,
            isolate=not args.no_isolate,
            max_pages=args.max_pages,
        )
    except ValueError as exc:
        parser.error(str(exc))
    summary = extract_books_to_jsonl(
        args.inputs, args.out, options, args.quarantine, args.source_name, args.license
    )
    print_summary(summary)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Extract PDF/EPUB books into passage JSONL.")
    parser.add_argument("inputs", nargs="+", type=Path, help="book files or directories")
    parser.add_argument("--out", required=True, type=Path, help="output JSONL (one passage a line)")
    parser.add_argument("--quarantine", type=Path, help="also write the rejections to this JSONL file")
    parser.add_argument("--target-chars", type=int, default=1200)
    parser.add_argument("--overlap-chars", type=int, default=200)
    parser.add_argument(
        "--password",
        default=os.environ.get("BOOKS_PDF_PASSWORD", ""),
        help="password tried on encrypted PDFs (default: $BOOKS_PDF_PASSWORD)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per file")
    parser.add_argument("--max-pages", type=int, default=5000)
    parser.add_argument(
        "--no-isolate", action="store_true", help="extract in this process (no per-file child)"
    )
    parser.add_argument("--source-name", default="books")
    parser.add_argument("--license", default="")
    return parser


if __name__ == "__main__":
    sys.exit(main())
