"""Which treatment of identity words in the content model's contexts measures better.

    uv run python benchmarks/content_identity_ablation.py [--c 4] [--probe 1500] [--n-boot 1000]

Three variants, each fitted once at a fixed C on the same development pairs as the training command
(no regularisation search, no leave-one-source-out, in-sample context kinds: minutes, not the full
training):

- ``plain``: no identity treatment;
- ``augment``: identity copies of a share of the pairs, the shipped design (``train.IDENTITY_SHARE``);
- ``neutralise``: the identity terms below removed from every context before hashing, in training and
  in scoring.

For each it prints DiaSafety validation ROC-AUC (bootstrap 95% CI), the held-out helpers' flag rate at
the cut that flags 2% of the development helpers, and identity flip rates: held-out helpers' replies
re-scored after one audit sentence is inserted into the turn they answer, for values the augmentation
holds out and for values it shows (a flip = the decision at that cut changes). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ai.safety.content.corpora import Pair, load_pairs
from ai.safety.content.features import PairFeatures
from ai.safety.content.identity import IdentityAugmenter, insert_sentence
from ai.safety.content.train import (
    DEFAULT_DATA,
    HELPER_MAX_FLAG_RATE,
    HELPER_SOURCES,
    IDENTITY_INVENTORY,
    IDENTITY_SHARE,
    Design,
    _logistic,
    fit_kind_model,
    helper_floor,
    predict_kinds,
)
from ai.safety.evaluation import evaluate_scores, metric_cell

# The neutralise variant's identity terms: every marker value of the inventory, the first names of its
# name frames, and common plural and variant forms.
EXTRA_TERMS = [
    "latina",
    "latinx",
    "hispanic",
    "asians",
    "blacks",
    "whites",
    "muslims",
    "jews",
    "christians",
    "hindus",
    "buddhists",
    "sikhs",
    "gays",
    "lesbians",
    "bisexuals",
    "transgender",
    "queer",
    "trans",
    "women",
    "men",
    "girls",
    "boys",
    "immigrant",
    "immigrants",
    "indian",
    "chinese",
    "mexican",
    "nigerian",
    "pakistani",
    "vietnamese",
    "irish",
    "polish",
    "syrian",
    "filipino",
]


def identity_terms(inventory: Path) -> re.Pattern[str]:
    raw = json.loads(inventory.read_text(encoding="utf-8"))
    terms = set(EXTRA_TERMS)
    for spec in raw["dimensions"].values():
        terms.update(value.lower() for value in spec["values"])
        for frame in spec["frames"]:
            if frame.get("kind") == "name":
                terms.update(re.findall(r"I'm (\w+), by the way", " ".join(frame["by_value"].values())))
    words = sorted((t.lower() for t in terms), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--c", type=float, default=4.0)
    parser.add_argument("--probe", type=int, default=1500, help="held-out helper replies in the flip probe")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pairs = load_pairs(args.data)
    development = [p for p in pairs if p.split == "train"]
    diasafety_val = [p for p in pairs if p.split == "test"]
    helpers_probe = [p for p in pairs if p.split == "probe"]
    augmenter = IdentityAugmenter(IDENTITY_INVENTORY, args.seed)
    flip_pairs = flip_probe(helpers_probe, augmenter, args.probe, args.seed)
    neutral = identity_terms(IDENTITY_INVENTORY)
    results = {}
    for variant in ("plain", "augment", "neutralise"):
        rows, origins = development, np.arange(len(development))
        if variant == "augment":
            copies, copy_origins = augmenter.augment(development, IDENTITY_SHARE, args.seed)
            rows, origins = development + copies, np.r_[origins, copy_origins].astype(np.int64)
        clean = (lambda ps: [_neutralised(p, neutral) for p in ps]) if variant == "neutralise" else list
        model = Variant(clean(rows), origins, args.c)
        results[variant] = model.report(
            clean, diasafety_val, helpers_probe, flip_pairs, args.n_boot, args.seed
        )
        print(variant, json.dumps(results[variant]), flush=True)
    return 0


class Variant:
    """One fit of the shipped design (kind model, crossed features, weighted logistic regression)."""

    def __init__(self, rows: list[Pair], origins: np.ndarray, c: float) -> None:
        self.features = PairFeatures()
        self.dev = Design(rows, self.features, origins)
        self.kind_model = fit_kind_model(self.dev, np.ones(len(rows), bool))
        x = self.features.assemble(
            self.dev.replies, self.dev.contexts, predict_kinds(self.kind_model, self.dev.contexts)
        )
        self.model = _logistic(c).fit(x, self.dev.labels, sample_weight=self.dev.weights)
        helpers = np.isin(self.dev.sources, HELPER_SOURCES) & self.dev.original
        self.cut = helper_floor(self.model.predict_proba(x[helpers])[:, 1], HELPER_MAX_FLAG_RATE)

    def score(self, replies: list[str], contexts: list[tuple[str, ...]]) -> np.ndarray:
        r, c = self.features.replies(replies), self.features.contexts(contexts)
        return self.model.predict_proba(self.features.assemble(r, c, predict_kinds(self.kind_model, c)))[:, 1]

    def report(self, clean, diasafety_val, helpers_probe, flip_pairs, n_boot: int, seed: int) -> dict:
        val = clean(diasafety_val)
        val_scores = self.score([p.reply for p in val], [p.context for p in val])
        metrics = evaluate_scores(np.array([p.label == 1 for p in val]), val_scores, self.cut, n_boot, seed)
        probe = clean(helpers_probe)
        helper_rate = float(
            np.mean(self.score([p.reply for p in probe], [p.context for p in probe]) >= self.cut)
        )
        report = {
            "cut": round(self.cut, 4),
            "diasafety_val_roc_auc": metric_cell(metrics["roc_auc"]),
            "diasafety_val_f1": metric_cell(metrics["f1"]),
            "diasafety_val_precision": metric_cell(metrics["precision"]),
            "held_out_helpers_flagged": round(helper_rate, 4),
        }
        for group, items in flip_pairs.items():
            originals = clean([original for original, _ in items])
            variants = clean([variant for _, variant in items])
            before = self.score([p.reply for p in originals], [p.context for p in originals])
            after = self.score([p.reply for p in variants], [p.context for p in variants])
            flips = (before >= self.cut) != (after >= self.cut)
            report[f"flip_rate_{group}"] = _rate_with_ci(flips, n_boot, seed)
            report[f"mean_abs_gap_{group}"] = round(float(np.mean(np.abs(after - before))), 4)
        return report


def flip_probe(
    probe: list[Pair], augmenter: IdentityAugmenter, n: int, seed: int
) -> dict[str, list[tuple[Pair, Pair]]]:
    """(original, with one identity sentence) pairs from held-out helpers: one held-out value, one seen."""
    rng = random.Random(f"flip:{seed}")
    raw = json.loads(IDENTITY_INVENTORY.read_text(encoding="utf-8"))["dimensions"]
    held = [
        sentence
        for dimension, value in augmenter.held_out_values.items()
        for frame in raw[dimension]["frames"]
        for v, sentence in frame["by_value"].items()
        if v == value
    ]
    seen = [sentence for frame in augmenter.frames for sentence in frame.by_value.values()]
    chosen = rng.sample([p for p in probe if p.context], min(n, len(probe)))
    out: dict[str, list[tuple[Pair, Pair]]] = {"held_out_values": [], "seen_values": []}
    for pair in chosen:
        for group, sentences in (("held_out_values", held), ("seen_values", seen)):
            context = list(pair.context)
            context[-1] = insert_sentence(
                context[-1], rng.choice(sentences), rng.choice(augmenter.placements)
            )
            out[group].append((pair, Pair(tuple(context), pair.reply, 0, pair.source, pair.category, "")))
    return out


def _neutralised(pair: Pair, terms: re.Pattern[str]) -> Pair:
    context = tuple(terms.sub(" ", turn) for turn in pair.context)
    return Pair(context, pair.reply, pair.label, pair.source, pair.category, pair.locator, pair.split)


def _rate_with_ci(flags: np.ndarray, n_boot: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    rates = flags[rng.integers(0, flags.size, size=(n_boot, flags.size))].mean(axis=1)
    low, high = np.percentile(rates, [2.5, 97.5])
    return f"{flags.mean():.4f} [{low:.4f}, {high:.4f}] (n={flags.size})"


if __name__ == "__main__":
    raise SystemExit(main())
