"""Fit the groundedness judge's LSA space and choose its weight and threshold on labelled claims.

    uv run python -m ai.safety.groundedness.train [--data DIR] [--out DIR] [--seed N]

1. LSA space: TF-IDF over the content words of counsel-chat questions and answers (MIT; both scrapes
   in ``shared/data/conversations``), truncated SVD to ``--components`` dimensions.
2. Labelled claims (``labelled_claims.jsonl``, written for this project: 8 passages on different
   topics, 4 supported and 4 unsupported claims each, the unsupported ones invented, exaggerated or
   contradicting): for each lexical weight of a small grid and each fold of a leave-two-topics-out
   split, the threshold with the best balanced accuracy on the other six topics is applied to the two
   held-out topics. The weight with the best pooled held-out balanced accuracy wins; its threshold is
   refitted on all topics. Held-out figures get bootstrap 95% intervals (claims resampled).
3. Writes ``model/lsa.npz`` (no pickle), ``model/groundedness.json`` and ``model/MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from ai.safety.groundedness.features import LsaSpace, content_words
from ai.safety.groundedness.judge import MODEL_DIR, MODEL_FILE, VECTORS_FILE, GroundednessJudge

DEFAULT_DATA = (
    Path(os.environ.get("SHARED_DATA_DIR", Path(__file__).resolve().parents[4] / "shared" / "data"))
    / "conversations"
)
LABELLED = Path(__file__).parent / "labelled_claims.jsonl"
CORPUS_FILES = ("counselchat_20200325_counsel_chat.csv", "counselchat_counselchat-data.csv")
LEXICAL_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
MODEL_VERSION = "1.0.0"
STOPWORDS = frozenset(ENGLISH_STOP_WORDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the shared/data/conversations folder"
    )
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--components", type=int, default=96)
    parser.add_argument("--max-words", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    corpus = read_corpus(args.data)
    vocabulary, idf, components = fit_lsa(corpus, args.components, args.max_words, args.seed)
    space = LsaSpace(vocabulary, idf, components, STOPWORDS)
    passages, claims = read_labelled(LABELLED)
    choice = choose_weight_and_threshold(space, passages, claims, args.seed)
    write_model(args.out, vocabulary, idf, components, choice, len(corpus), args)
    print(json.dumps({k: v for k, v in choice.items() if k != "per_claim"}, indent=2))
    return 0


def read_corpus(folder: Path) -> list[str]:
    csv.field_size_limit(1 << 30)
    texts: list[str] = []
    for name in CORPUS_FILES:
        with open(folder / name, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                texts.extend(t for t in (row.get("questionText"), row.get("answerText")) if t and t.strip())
    return list(dict.fromkeys(texts))


def fit_lsa(texts: list[str], k: int, max_words: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    vectorizer = TfidfVectorizer(
        analyzer=lambda text: content_words(text, STOPWORDS),
        sublinear_tf=True,
        min_df=3,
        max_features=max_words,
    )
    matrix = vectorizer.fit_transform(texts)
    svd = TruncatedSVD(n_components=k, random_state=seed).fit(matrix)
    return list(vectorizer.get_feature_names_out()), vectorizer.idf_, svd.components_


def read_labelled(path: Path) -> tuple[dict[str, str], list[dict[str, Any]]]:
    passages: dict[str, str] = {}
    claims: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["type"] == "passage":
            passages[row["id"]] = row["text"]
        else:
            claims.append(row)
    return passages, claims


def choose_weight_and_threshold(
    space: LsaSpace, passages: dict[str, str], claims: list[dict[str, Any]], seed: int
) -> dict[str, Any]:
    topics = sorted(passages)
    labels = np.array([c["supported"] for c in claims])
    best: dict[str, Any] | None = None
    by_weight: dict[str, float] = {}
    for weight in LEXICAL_WEIGHTS:
        judge = GroundednessJudge(space, 0.0, weight)
        scored = [judge.claim_support(c["claim"], passages[c["passage"]]) for c in claims]
        scores = np.array([s.support for s in scored])
        usable = np.array([not s.contradicted for s in scored])
        predicted = np.zeros(len(claims), dtype=bool)
        for fold in range(0, len(topics), 2):
            held = set(topics[fold : fold + 2])
            test = np.array([c["passage"] in held for c in claims])
            threshold = best_threshold(scores[~test], labels[~test], usable[~test])
            predicted[test] = (scores[test] >= threshold) & usable[test]
        held_out = balanced_accuracy(labels, predicted)
        by_weight[str(weight)] = held_out
        if best is None or held_out > best["held_out_balanced_accuracy"]:
            best = {
                "lexical_weight": weight,
                "threshold": round(best_threshold(scores, labels, usable), 3),
                "held_out_balanced_accuracy": held_out,
                "predicted": predicted,
            }
    assert best is not None
    predicted = best.pop("predicted")
    best.update(held_out_metrics(labels, predicted, seed))
    best["held_out_balanced_accuracy_by_lexical_weight"] = by_weight
    return best


def best_threshold(scores: np.ndarray, labels: np.ndarray, usable: np.ndarray) -> float:
    candidates = np.unique(np.round(scores, 3))
    accuracy = [balanced_accuracy(labels, (scores >= t) & usable) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    sensitivity = float(np.mean(predicted[labels])) if labels.any() else 0.0
    specificity = float(np.mean(~predicted[~labels])) if (~labels).any() else 0.0
    return round((sensitivity + specificity) / 2, 4)


def held_out_metrics(
    labels: np.ndarray, predicted: np.ndarray, seed: int, rounds: int = 2000
) -> dict[str, Any]:
    """Pooled held-out figures with bootstrap 95% intervals over claims."""
    rng = np.random.default_rng(seed)

    def figures(lab: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
        supported_kept = float(np.mean(pred[lab])) if lab.any() else np.nan
        unsupported_caught = float(np.mean(~pred[~lab])) if (~lab).any() else np.nan
        return supported_kept, unsupported_caught, (supported_kept + unsupported_caught) / 2

    point = figures(labels, predicted)
    samples = []
    for _ in range(rounds):
        index = rng.integers(0, len(labels), len(labels))
        samples.append(figures(labels[index], predicted[index]))
    low, high = np.nanpercentile(np.array(samples), [2.5, 97.5], axis=0)
    names = ("supported_accepted", "unsupported_rejected", "balanced_accuracy")
    return {
        "held_out": {
            name: {"value": round(point[i], 4), "ci95": [round(low[i], 4), round(high[i], 4)]}
            for i, name in enumerate(names)
        },
        "claims": len(labels),
        "supported_claims": int(labels.sum()),
    }


def write_model(
    out: Path,
    vocabulary: list[str],
    idf: np.ndarray,
    components: np.ndarray,
    choice: dict[str, Any],
    documents: int,
    args: argparse.Namespace,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / VECTORS_FILE, idf=idf.astype(np.float32), components=components.astype(np.float16)
    )
    meta = {
        "name": "groundedness-lsa",
        "version": MODEL_VERSION,
        "threshold": choice["threshold"],
        "lexical_weight": choice["lexical_weight"],
        "training": {
            "corpus": list(CORPUS_FILES),
            "documents": documents,
            "components": args.components,
            "max_words": args.max_words,
            "seed": args.seed,
        },
        "evaluation": {k: v for k, v in choice.items() if k not in ("threshold", "lexical_weight")},
        "stopwords": sorted(STOPWORDS),
        "vocabulary": vocabulary,
    }
    (out / MODEL_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
