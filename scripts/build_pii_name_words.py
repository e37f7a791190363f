"""Build ``ai/pipelines/orchestrator/pii_name_words.txt``: first names that are also English words.

    uv run python scripts/build_pii_name_words.py [--data ../shared/data]

Faker's first-name lists (the US one comes from birth registers) hold ordinary words: Hope, Will, Chance,
Harm, Reason, Unknown. A name that writers of counselling text also use in lower case ("i lost hope") is a
word there, so the PII scrubber may not take it for a name without a cue. The lexicon corpus is counsel-chat
(both scrapes), AnnoMI and the ESConv training split; ESConv's validation and test splits are held out for the
precision figures in docs/PREPROCESSING.md. The output lists only such names (no text of the corpus).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ai.pipelines.orchestrator.pii import ENGLISH_NAME_LOCALES, WORLD_NAME_LOCALES, first_names_of  # noqa: E402

OUTPUT = ROOT / "ai" / "pipelines" / "orchestrator" / "pii_name_words.txt"
CSV_COLUMNS = {
    "counselchat_20200325_counsel_chat.csv": ("questionTitle", "questionText", "answerText"),
    "counselchat_counselchat-data.csv": ("questionTitle", "questionText", "answerText"),
    "annomi_AnnoMI-simple.csv": ("utterance_text",),
}
_WORD = re.compile(r"[^\W\d_]+")
# Seen in lower case only because casual writers do not capitalise names; no English word is spelled so.
# Reviewed by hand from the candidates the counts give.
_ONLY_NAMES_TEXT = """
    adam abel alejo amos ben clara dan deb debbie desean ella ema evan evita grayson gus hank herma ike indi
    isa javen jax jo kaleigh katrina kayla keith len lou luna mai maxi maye moe moises nat nereida nyla obe
    oney rae rene sean shad stoney ted tre
"""
ONLY_NAMES = frozenset(_ONLY_NAMES_TEXT.split())


def corpus_texts(data: Path) -> Iterator[str]:
    folder = data / "conversations"
    csv.field_size_limit(1 << 30)
    for name, columns in CSV_COLUMNS.items():
        with (folder / name).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                yield from (row.get(column) or "" for column in columns)
    with (folder / "esconv_hf_train.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            dialog = json.loads(line)
            yield dialog.get("situation", "")
            yield from (turn.get("text", "") for turn in dialog.get("dialog", []))


def names_used_as_words(texts: Iterator[str], names: set[str]) -> list[str]:
    """Names seen in lower case twice, or once and at least as often as capitalised."""
    lower: Counter[str] = Counter()
    capitalised: Counter[str] = Counter()
    for text in texts:
        for word in _WORD.findall(text):
            if word.islower():
                lower[word] += 1
            elif word[:1].isupper():
                capitalised[word.casefold()] += 1
    keys = {name.casefold() for name in names}
    words = {k for k in keys if lower[k] >= 2 or (lower[k] == 1 and capitalised[k] <= 1)}
    return sorted(words - ONLY_NAMES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    names = first_names_of(ENGLISH_NAME_LOCALES + WORLD_NAME_LOCALES)
    words = names_used_as_words(corpus_texts(args.data), names)
    header = "# First names that are also words; built by scripts/build_pii_name_words.py, do not edit.\n"
    OUTPUT.write_text(header + "\n".join(words) + "\n", encoding="utf-8")
    print(f"{len(words)} names written to {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
