"""Train, calibrate, validate and document the crisis detector's linear model.

    python -m ai.safety.crisis_detection.train [--data DIR] [--out DIR] [--seed N]

1. Load the suicide-labelled development sources (SDCNL, the Kaggle tweet set, laxmimerit) and the
   distressed negatives (dreaddit, counsel-chat questions, ESConv seeker text) from ``shared/data``;
   group near-duplicates across sources; split each source 70/15/15 by group (SDCNL by author).
   Everyday, counselling and supportive text joins the training negatives: EmpatheticDialogues speaker
   turns, ESConv seeker turns one by one, AnnoMI client utterances, and second-person support
   (counsel-chat answers, ESConv supporter turns).
2. Fit hashed-n-gram logistic regressions for a few regularisation strengths on the training portion.
3. Calibrate, on validation only, one threshold per unit and length domain:
   - *post* (``detect``): per domain (short: tweets, dialogue turns; long: forum posts), the highest
     threshold that keeps sensitivity >= the target on every development source with enough positives
     in that domain (pattern hits count as positives whatever the threshold);
   - *person* (``detect_conversation``): per domain, the post threshold raised where needed so that at
     most ``FALSE_ALARM_BUDGET`` of the validation EmpatheticDialogues dialogues (everyday emotional talk)
     in that domain are flagged. Noisy tweet labels force the short post threshold into the range of everyday talk, and a
     person's record gives every such phrase a chance to fire.
   Keep the strength with the best mean validation specificity.
4. Measure on the held-back test portions: per-source ROC, AUC and the operating points with bootstrap
   CIs, specificity per negative source, flag rates on everyday dialogue, people (SDCNL authors, and
   test positives planted into held-out dialogues), and cross-source AUC (trained without a source).
5. Write the weights (.npz, no pickle), metadata (.json) and MODEL_CARD.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve

from ai.safety.crisis_detection.corpora import (
    DEVELOPMENT_SOURCES,
    SOURCE_ORDER,
    Example,
    PersonTexts,
    authors_posts,
    dialogue_turns,
    load_development_corpus,
    read_annomi_client_turns,
    read_empathetic_dialogues,
    read_esconv_dialogues,
    read_support_replies,
)
from ai.safety.crisis_detection.evaluate import evaluate_scores
from ai.safety.crisis_detection.features import N_FEATURES, NGRAM_RANGE, HashedNgrams
from ai.safety.crisis_detection.model_card import render_model_card
from ai.safety.crisis_detection.production_crisis_detector import (
    DOMAINS,
    MODEL_DIR,
    MODEL_NAME,
    CrisisDetector,
    LinearCrisisModel,
    ModelView,
    pattern_floor,
    rescale,
)
from ai.safety.training_cli import training_parser

DEFAULT_DATA = (
    Path(os.environ.get("SHARED_DATA_DIR", Path(__file__).resolve().parents[4] / "shared" / "data"))
    / "crisis"
)
REGULARISATION = (0.5, 1.0, 2.0)
MODEL_VERSION = "2.0.0"
# About 50 words: tweets and dialogue turns fall below, forum posts above (SDCNL's median is 107 words).
SHORT_MAX_NGRAMS = 100
MIN_CALIBRATION_POSITIVES = 30  # fewer validation positives in a domain cannot set its threshold
# The person threshold may flag at most this share of validation everyday dialogues. Only everyday talk
# sets it: distressed people who are not suicidal (ESConv seekers, dreaddit, r/depression) are what the
# thresholds are measured against, not tuned on, like the held-out sets.
FALSE_ALARM_BUDGET = 0.02
BUDGET_SOURCE = "empathetic_dialogues"
EVERYDAY_SOURCES = ("empathetic_dialogues", "esconv")
_TRAINING_ONLY_NEGATIVES = ("ed_turn", "esconv_turn", "support")


def main(argv: list[str] | None = None) -> int:
    parser = training_parser(__doc__, DEFAULT_DATA, MODEL_DIR, data_help="the shared/data/crisis folder")
    parser.add_argument("--target-sensitivity", type=float, default=0.975)
    args = parser.parse_args(argv)
    report = train(args.data, args.out, seed=args.seed, target=args.target_sensitivity, n_boot=args.n_boot)
    print(json.dumps({"thresholds": report["thresholds"], "people": report["people"]}, indent=2))
    return 0


def train(data_dir: Path, out_dir: Path, seed: int = 0, target: float = 0.975, n_boot: int = 1000) -> dict:
    started = time.monotonic()
    corpus = load_corpus(data_dir, seed)
    featurizer = HashedNgrams(N_FEATURES, NGRAM_RANGE)
    training = corpus["train"]
    x_train = featurizer.transform([e.text for e in training])
    y_train = np.array([e.label for e in training])
    keep = _frequent_features(x_train, min_df=2)
    weights = _source_balanced_weights(training)

    best: dict[str, Any] | None = None
    for c in REGULARISATION:
        model = _fit(x_train, y_train, weights, keep, c)
        candidate = _write_and_calibrate(out_dir, model, keep, corpus, target)
        print(
            f"C={c:g}: thresholds={candidate['thresholds']} mean validation specificity="
            f"{candidate['specificity']:.3f}"
        )
        if best is None or candidate["specificity"] > best["specificity"]:
            best = {**candidate, "c": c, "model": model}
    assert best is not None  # nosec B101  # REGULARISATION is not empty, so a model was fitted

    meta = _metadata(best, keep, corpus, target, seed)
    _write_artifact(out_dir, best["model"], keep, meta)
    detector = CrisisDetector(model=LinearCrisisModel(out_dir))
    meta["test"] = _post_metrics(detector, corpus["test"], n_boot, seed)
    meta["people"] = _people_metrics(detector, corpus, n_boot, seed)
    meta["cross_source"] = _cross_source_auc(featurizer, training, corpus["test"], best["c"])
    meta["training_seconds"] = round(time.monotonic() - started)
    (out_dir / f"{MODEL_NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (out_dir / "MODEL_CARD.md").write_text(render_model_card(meta), encoding="utf-8")
    return meta


def load_corpus(data_dir: Path, seed: int) -> dict[str, Any]:
    """Posts by split, plus the dialogues and people the person-level threshold and checks use."""
    conversations = data_dir.parent / "conversations"
    examples, dedup = load_development_corpus(data_dir, seed=seed)
    everyday = read_empathetic_dialogues(conversations, seed) + read_esconv_dialogues(conversations)
    extra = dialogue_turns([d for d in everyday if d.source == "esconv"], "esconv_turn")
    extra += dialogue_turns([d for d in everyday if d.source != "esconv"], "ed_turn")
    extra += read_support_replies(conversations)
    extra += read_annomi_client_turns(conversations, seed)
    corpus: dict[str, Any] = {"dedup": dedup, "everyday": everyday, "examples": examples}
    for split in ("train", "validation", "test"):
        corpus[split] = [e for e in examples if e.split == split]
    corpus["train"] += [e for e in extra if e.split == "train"]
    corpus["extra_counts"] = _counts(extra)
    return corpus


def _fit(x: csr_matrix, y: np.ndarray, weights: np.ndarray, keep: np.ndarray, c: float) -> LogisticRegression:
    model = LogisticRegression(C=c, solver="liblinear", max_iter=2000)
    return model.fit(x[:, keep], y, sample_weight=weights)


def _frequent_features(x: csr_matrix, min_df: int) -> np.ndarray:
    """Columns seen in at least ``min_df`` training texts: rarer hashes are noise and bloat the artifact."""
    document_frequency = np.bincount(x.indices, minlength=x.shape[1])
    return np.flatnonzero(document_frequency >= min_df)


def _source_balanced_weights(examples: list[Example]) -> np.ndarray:
    """Positives and negatives weigh the same in total, and within each every source weighs the same,
    so the 56k everyday dialogue turns do not drown the suicide-labelled sources, nor the 6k laxmimerit
    tweets the long SDCNL posts."""
    cells: dict[tuple[str, int], list[int]] = {}
    for index, example in enumerate(examples):
        cells.setdefault((example.source, example.label), []).append(index)
    per_label = {label: sum(1 for _, lab in cells if lab == label) for label in (0, 1)}
    weights = np.ones(len(examples))
    for (_, label), members in cells.items():
        weights[members] = len(examples) / (2 * per_label[label] * len(members))
    return weights


def _write_and_calibrate(
    out_dir: Path, model: LogisticRegression, keep: np.ndarray, corpus: dict, target: float
) -> dict[str, Any]:
    """Thresholds from the validation portion, through the detector's own scoring path."""
    placeholder = {"post": dict.fromkeys(DOMAINS, 0.5), "person": dict.fromkeys(DOMAINS, 0.5)}
    _write_artifact(out_dir, model, keep, _artifact_meta(placeholder))
    detector = CrisisDetector(model=LinearCrisisModel(out_dir))
    validation = corpus["validation"]
    posts = _view(detector.evidence([[e.text] for e in validation], "post"))
    post = {domain: _post_threshold(validation, posts, domain, target) for domain in DOMAINS}
    dialogues = [d for d in corpus["everyday"] if d.split == "validation" and d.source == BUDGET_SOURCE]
    people = _view(detector.evidence([list(d.messages) for d in dialogues], "person"))
    person = {domain: max(post[domain], _budget_threshold(people, domain)) for domain in DOMAINS}
    thresholds = {"post": post, "person": person}
    flagged = _flags(posts, thresholds["post"])
    return {"thresholds": thresholds, "specificity": _mean_specificity(validation, flagged)}


def _view(view: ModelView) -> dict[str, np.ndarray]:
    return {
        "p": view.probabilities,
        "long": view.long,
        "floor": np.array([pattern_floor(hits) for hits in view.hits]),
    }


def _flags(view: dict[str, np.ndarray], thresholds: dict[str, float]) -> np.ndarray:
    t = np.where(view["long"], thresholds["long"], thresholds["short"])
    return (view["p"] >= t) | (view["floor"] >= 0.5)


def _post_threshold(
    examples: list[Example], view: dict[str, np.ndarray], domain: str, target: float
) -> float:
    """The highest threshold keeping sensitivity >= target on every development source that has enough
    validation positives in ``domain``; when none has, on every source's positives of either length."""
    in_domain = view["long"] == (domain == "long")
    thresholds = _per_source_thresholds(examples, view, in_domain, target, MIN_CALIBRATION_POSITIVES)
    if not thresholds:
        thresholds = _per_source_thresholds(examples, view, np.ones_like(in_domain), target, 1)
    if not thresholds:
        raise ValueError("no development source has validation positives to calibrate the threshold on")
    return float(np.clip(min(thresholds), 1e-4, 0.99))


def _per_source_thresholds(
    examples: list[Example], view: dict[str, np.ndarray], among: np.ndarray, target: float, min_positives: int
) -> list[float]:
    thresholds = []
    for source in DEVELOPMENT_SOURCES:
        mask = among & np.array([e.source == source and e.label == 1 for e in examples])
        if mask.sum() < min_positives:
            continue
        caught_by_patterns = view["floor"][mask] >= 0.5
        needed = int(np.ceil(target * mask.sum())) - int(caught_by_patterns.sum())
        model_only = np.sort(view["p"][mask][~caught_by_patterns])[::-1]
        if needed <= 0:
            thresholds.append(0.99)
        else:
            thresholds.append(float(model_only[min(needed, model_only.size) - 1]) - 1e-6)
    return thresholds


def _budget_threshold(view: dict[str, np.ndarray], domain: str) -> float:
    """The lowest threshold flagging at most FALSE_ALARM_BUDGET of the validation dialogues in
    ``domain`` (pattern hits are flagged whatever the threshold, so they use up the budget first)."""
    in_domain = view["long"] == (domain == "long")
    if in_domain.sum() < 1 / FALSE_ALARM_BUDGET:
        return 0.0
    by_patterns = view["floor"][in_domain] >= 0.5
    allowed = int(np.floor(FALSE_ALARM_BUDGET * in_domain.sum())) - int(by_patterns.sum())
    model_only = np.sort(view["p"][in_domain][~by_patterns])[::-1]
    if allowed <= 0:
        return float(np.clip(model_only[0] + 1e-6, 1e-4, 0.99)) if model_only.size else 0.0
    return float(np.clip(model_only[min(allowed, model_only.size - 1)] + 1e-6, 1e-4, 0.99))


def _mean_specificity(examples: list[Example], flagged: np.ndarray) -> float:
    values = []
    for source in SOURCE_ORDER:
        mask = np.array([e.source == source and e.label == 0 for e in examples])
        if mask.any():
            values.append(1.0 - flagged[mask].mean())
    return float(np.mean(values))


def _post_metrics(detector: CrisisDetector, examples: list[Example], n_boot: int, seed: int) -> dict:
    """Per source: metrics at the post operating point with CIs, the ROC curve and AUC, also by domain."""
    view = _view(detector.evidence([[e.text] for e in examples], "post"))
    thresholds = np.where(
        view["long"], detector.thresholds["post"]["long"], detector.thresholds["post"]["short"]
    )
    scores = np.maximum(rescale(view["p"], thresholds), view["floor"])
    results: dict[str, Any] = {}
    for source in SOURCE_ORDER:
        mask = np.array([e.source == source for e in examples])
        labels = np.array([e.label == 1 for e in examples])[mask]
        results[source] = evaluate_scores(labels, scores[mask], n_boot=n_boot, seed=seed)
        results[source]["roc"] = _roc_points(labels, scores[mask])
        results[source]["long_share"] = round(float(view["long"][mask].mean()), 3) if mask.any() else None
    return results


def _roc_points(labels: np.ndarray, scores: np.ndarray, points: int = 12) -> list[list[float]]:
    """A few (false-positive rate, sensitivity, score) points of the ROC curve, for the card."""
    if labels.all() or not labels.any():
        return []
    fpr, tpr, thresholds = roc_curve(labels, scores)
    chosen = np.unique(np.searchsorted(fpr, np.linspace(0, 1, points), side="left").clip(0, fpr.size - 1))
    return [
        [round(float(fpr[i]), 3), round(float(tpr[i]), 3), round(float(min(thresholds[i], 1.0)), 3)]
        for i in chosen
    ]


def _people_metrics(detector: CrisisDetector, corpus: dict, n_boot: int, seed: int) -> dict[str, Any]:
    """Person-level checks on held-back data, all through ``detect_conversations``."""
    test_dialogues = [d for d in corpus["everyday"] if d.split == "test"]
    results: dict[str, Any] = {}
    for source in EVERYDAY_SOURCES:
        people = [d for d in test_dialogues if d.source == source]
        results[f"{source}_flag_rate"] = _flag_rate(detector, people, n_boot, seed)
    authors = [p for p in authors_posts(corpus["examples"]) if p.split == "test"]
    results["sdcnl_authors"] = _person_eval(detector, authors, n_boot, seed)
    results["sdcnl_authors"]["several_posts"] = sum(len(p.messages) > 1 for p in authors)
    planted = _planted_dialogues(corpus["test"], [d for d in test_dialogues if d.source != "esconv"], seed)
    for source in DEVELOPMENT_SOURCES:
        people = [p for p in planted if p.source == source]
        results[f"planted_{source}"] = _person_eval(detector, people, n_boot, seed)
    return results


def _flag_rate(detector: CrisisDetector, people: list[PersonTexts], n_boot: int, seed: int) -> dict:
    results = detector.detect_conversations([list(p.messages) for p in people])
    flagged = np.array([r.is_crisis for r in results], dtype=bool)
    if not flagged.size:
        return {"n": 0, "flagged": 0, "rate": None, "ci95": [None, None], "by_pattern": 0, "examples": []}
    rng = np.random.default_rng(seed)
    resampled = [flagged[rng.integers(0, flagged.size, flagged.size)].mean() for _ in range(n_boot)]
    low, high = np.percentile(resampled, [2.5, 97.5]) if n_boot else (None, None)
    return {
        "n": int(flagged.size),
        "flagged": int(flagged.sum()),
        "rate": round(float(flagged.mean()), 4),
        "ci95": [
            None if low is None else round(float(low), 4),
            None if high is None else round(float(high), 4),
        ],
        "by_pattern": sum(any(not e.discount for e in r.evidence) for r in results),
        "examples": [
            {"messages": [m[:160] for m in p.messages][:4], "score": r.score, "level": r.level}
            for p, r in zip(people, results, strict=True)
            if r.is_crisis
        ][:5],
    }


def _person_eval(detector: CrisisDetector, people: list[PersonTexts], n_boot: int, seed: int) -> dict:
    results = detector.detect_conversations([list(p.messages) for p in people])
    labels = np.array([p.label == 1 for p in people], dtype=bool)
    scores = np.array([r.score for r in results], dtype=np.float64)
    return evaluate_scores(labels, scores, n_boot=n_boot, seed=seed)


def _planted_dialogues(posts: list[Example], dialogues: list[PersonTexts], seed: int) -> list[PersonTexts]:
    """Each held-back test post of a development source said by the client somewhere in a held-out
    EmpatheticDialogues dialogue: does the person-level judgement still catch the positives, and leave
    the negatives alone, once the post is one message among everyday ones?"""
    rng = random.Random(seed)
    planted: list[PersonTexts] = []
    if not dialogues:
        return planted
    for post in posts:
        if post.source not in DEVELOPMENT_SOURCES:
            continue
        host = rng.choice(dialogues)
        messages = list(host.messages)
        messages.insert(rng.randint(0, len(messages)), post.text)
        planted.append(PersonTexts(tuple(messages), post.label, post.source, post.locator, "test"))
    return planted


def _cross_source_auc(
    featurizer: HashedNgrams, training: list[Example], test: list[Example], c: float
) -> dict[str, float | None]:
    """Model AUC on each development source's test posts when that source is left out of training."""
    results: dict[str, float | None] = {}
    for held_out in DEVELOPMENT_SOURCES:
        kept = [e for e in training if e.source != held_out]
        x = featurizer.transform([e.text for e in kept])
        keep = _frequent_features(x, min_df=2)
        model = _fit(x, np.array([e.label for e in kept]), _source_balanced_weights(kept), keep, c)
        subset = [e for e in test if e.source == held_out]
        scores = model.predict_proba(featurizer.transform([e.text for e in subset])[:, keep])[:, 1]
        labels = np.array([e.label == 1 for e in subset])
        results[held_out] = evaluate_scores(labels, scores, n_boot=0)["roc_auc"]["value"]
    return results


def _counts(examples: list[Example]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for e in examples:
        bucket = counts.setdefault(e.source, {})
        key = f"{e.split}_{'pos' if e.label else 'neg'}"
        bucket[key] = bucket.get(key, 0) + 1
    return counts


def _artifact_meta(thresholds: dict[str, dict[str, float]]) -> dict[str, Any]:
    return {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "n_features": N_FEATURES,
        "ngram_range": list(NGRAM_RANGE),
        "short_max_ngrams": SHORT_MAX_NGRAMS,
        "thresholds": {
            unit: {d: round(t, 6) for d, t in by_domain.items()} for unit, by_domain in thresholds.items()
        },
    }


def _metadata(best: dict, keep: np.ndarray, corpus: dict, target: float, seed: int) -> dict:
    examples = corpus["examples"]
    digest = hashlib.sha256("\x1e".join(f"{e.source}\x1f{e.label}\x1f{e.text}" for e in examples).encode())
    everyday = _counts([Example("", d.label, d.source, d.locator, d.split) for d in corpus["everyday"]])
    return {
        **_artifact_meta(best["thresholds"]),
        "regularisation_c": best["c"],
        "kept_features": int(keep.size),
        "validation_target_sensitivity": target,
        "false_alarm_budget": FALSE_ALARM_BUDGET,
        "seed": seed,
        "data_sha256": digest.hexdigest(),
        "deduplication": corpus["dedup"],
        "counts": _counts(examples),
        "training_only_counts": corpus["extra_counts"],
        "dialogue_counts": everyday,
    }


def _write_artifact(out_dir: Path, model: LogisticRegression, keep: np.ndarray, meta: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = model.coef_[0]
    nonzero = np.flatnonzero(np.abs(weights) > 1e-6)
    np.savez_compressed(
        out_dir / f"{MODEL_NAME}.npz",
        indices=keep[nonzero].astype(np.int32),
        weights=weights[nonzero].astype(np.float32),
        intercept=np.array([float(model.intercept_[0])]),
    )
    (out_dir / f"{MODEL_NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
