"""Train, validate and document the content-safety model.

    python -m ai.safety.content.train [--data DIR] [--out DIR] [--seed N] [--n-boot N]

1. Read the (context, reply) pairs of every source (``corpora.py``). DiaSafety's validation split is
   held back; everything else is development data.
2. Fit the context-kind classifier (which of DiaSafety's five unsafe-reply categories a context
   invites) on DiaSafety's development contexts. The safety model's training rows get their kind from
   out-of-fold predictions, so the crossed features see kinds as noisy as at inference.
3. Pick the regularisation by 5-fold out-of-fold ROC-AUC on DiaSafety's development rows, and the
   threshold as the one maximising their out-of-fold F1: both are chosen on training folds only.
4. Fit on all development data, write the weights (.npz, no pickle), metadata (.json) and MODEL_CARD.md.
5. Report the held-back DiaSafety validation split (overall and per category) and, for every other
   source, a model trained *without* that source scored on it (leave one source out).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from ai.safety.content.corpora import DIASAFETY_CATEGORIES, SOURCES, Pair, load_pairs
from ai.safety.content.features import (
    CONTEXT_KINDS,
    N_FEATURES,
    NGRAM_RANGE,
    NO_CONTEXT,
    PairFeatures,
    empty_contexts,
)
from ai.safety.content.identity import IdentityAugmenter
from ai.safety.content.model import MODEL_DIR, MODEL_NAME
from ai.safety.evaluation import evaluate_scores, metric_cell
from ai.safety.training_cli import training_parser

DEFAULT_DATA = Path(
    os.environ.get("SHARED_DATA_DIR", Path(__file__).resolve().parents[4] / "shared" / "data")
)
REGULARISATION = (1.0, 2.0, 4.0)
KIND_REGULARISATION = 4.0
# DiaSafety is the one source labelled for exactly this question (a reply judged in its context), so it
# carries most of the weight; each other source together weighs this share of DiaSafety.
OTHER_SOURCE_SHARE = 0.25
FOLDS = 5
MODEL_VERSION = "2.1.0"
# The identity-marker inventory of the bias audit, read as data at training time only (module docstring
# of identity.py: safety may not import sourcing, and the shipped model does not need the file).
IDENTITY_INVENTORY = Path(__file__).resolve().parents[2] / "sourcing" / "synthetic" / "bias" / "markers.json"
# Share of development pairs with a context that get an identity copy (same label).
IDENTITY_SHARE = 0.3
# The pipeline's gate judges replies of real helpers, where unsafe replies are rare: its threshold may flag
# at most this share of the development counsellors' and peer listeners' replies (out of fold). The judge's
# own threshold is DiaSafety's F1 optimum, where about half the replies are unsafe.
HELPER_SOURCES = ("counselling", "peer_support")
HELPER_MAX_FLAG_RATE = 0.02


def main(argv: list[str] | None = None) -> int:
    args = training_parser(__doc__, DEFAULT_DATA, MODEL_DIR).parse_args(argv)
    meta = train(args.data, args.out, seed=args.seed, n_boot=args.n_boot)
    print(
        json.dumps(
            {"held_out": meta["held_out"]["overall"], "leave_one_source_out": meta["leave_one_source_out"]},
            indent=2,
        )
    )
    return 0


class Design:
    """The development pairs as matrices: reply and context blocks, labels, sources, weights.

    ``origins[i]`` is the original pair row ``i`` was made from (itself, or the pair an identity copy
    was made of): a copy always falls in its original's fold, and only originals are scored."""

    def __init__(self, pairs: list[Pair], features: PairFeatures, origins: np.ndarray | None = None) -> None:
        self.pairs = pairs
        self.origins = np.arange(len(pairs)) if origins is None else origins
        self.original = self.origins == np.arange(len(pairs))
        self.replies = features.replies([p.reply for p in pairs])
        self.contexts = features.contexts([p.context for p in pairs])
        self.labels = np.array([p.label for p in pairs])
        self.sources = np.array([p.source for p in pairs])
        self.kind_labels = np.array(
            [_kind_index(p.category) if p.source == "diasafety" else -1 for p in pairs]
        )
        self.weights = _source_weights(self.sources[self.original], self.labels[self.original])[self.origins]
        # An original and its identity copy share the original's weight.
        self.weights /= np.bincount(self.origins, minlength=len(pairs))[self.origins]


def train(
    data_dir: Path,
    out_dir: Path,
    seed: int = 0,
    n_boot: int = 1000,
    n_features: int = N_FEATURES,
    inventory: Path = IDENTITY_INVENTORY,
) -> dict[str, Any]:
    pairs = load_pairs(data_dir)
    development = [p for p in pairs if p.split == "train"]
    held_out = [p for p in pairs if p.split == "test"]
    probe = [p for p in pairs if p.split == "probe"]
    features = PairFeatures(n_features)
    augmenter = IdentityAugmenter(inventory, seed)
    copies, origins = augmenter.augment(development, IDENTITY_SHARE, seed)
    dev = Design(development + copies, features, np.r_[np.arange(len(development)), origins].astype(np.int64))
    kind_model = fit_kind_model(dev, rows=np.ones(len(dev.pairs), bool))
    kinds = out_of_fold_kinds(dev, seed)
    x = features.assemble(dev.replies, dev.contexts, kinds)
    keep = np.flatnonzero(np.bincount(x.indices, minlength=x.shape[1]) >= 2)  # rarer hashes are noise
    x = x[:, keep]

    selection = select_regularisation(x, dev, seed)
    print(
        f"chosen C={selection['c']} threshold={selection['threshold']:.4f} gate={selection['gate_threshold']:.4f}"
    )
    model = _logistic(selection["c"]).fit(x, dev.labels, sample_weight=dev.weights)

    meta = _metadata(selection, keep, development, held_out, seed)
    meta["n_features"] = n_features
    meta["identity_augmentation"] = {"share": IDENTITY_SHARE, "copies": len(copies), **augmenter.metadata()}
    _write_artifact(out_dir, model, keep, kind_model, meta)
    from ai.safety.content.model import ContentModel

    shipped = ContentModel(out_dir)
    meta["held_out"] = held_out_metrics(shipped, held_out, n_boot, seed)
    meta["counselling_probe"] = counselling_probe(shipped, probe, n_boot, seed)
    meta["leave_one_source_out"] = leave_one_source_out(features, dev, selection, n_boot, seed)
    (out_dir / f"{MODEL_NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (out_dir / "MODEL_CARD.md").write_text(render_model_card(meta), encoding="utf-8")
    return meta


def fit_kind_model(dev: Design, rows: np.ndarray) -> LogisticRegression:
    """Context -> DiaSafety category, on DiaSafety contexts among ``rows``."""
    mask = rows & (dev.kind_labels >= 0)
    return LogisticRegression(C=KIND_REGULARISATION, max_iter=2000).fit(
        dev.contexts[mask], dev.kind_labels[mask]
    )


def predict_kinds(kind_model: LogisticRegression, contexts: csr_matrix) -> np.ndarray:
    kinds = kind_model.predict(contexts).astype(np.int64)
    kinds[empty_contexts(contexts)] = NO_CONTEXT
    return kinds


def out_of_fold_kinds(dev: Design, seed: int) -> np.ndarray:
    """Each row's context kind from a kind model that never saw that row."""
    kinds = np.zeros(len(dev.pairs), dtype=np.int64)
    for train_rows, test_rows in _folds(dev, seed):
        mask = np.zeros(len(dev.pairs), bool)
        mask[train_rows] = True
        kinds[test_rows] = predict_kinds(fit_kind_model(dev, mask), dev.contexts[test_rows])
    return kinds


def select_regularisation(x: csr_matrix, dev: Design, seed: int) -> dict[str, Any]:
    """The C with the best out-of-fold ROC-AUC on DiaSafety rows, and for it two thresholds: the judge's
    (DiaSafety's out-of-fold F1 optimum) and the gate's (the F1-best among the cuts that flag at most
    HELPER_MAX_FLAG_RATE of the development helpers' replies, out of fold)."""
    from sklearn.metrics import roc_auc_score

    diasafety = (dev.sources == "diasafety") & dev.original
    helpers = np.isin(dev.sources, HELPER_SOURCES) & dev.original
    best: dict[str, Any] | None = None
    for c in REGULARISATION:
        scores = np.zeros(len(dev.pairs))
        for train_rows, test_rows in _folds(dev, seed):
            model = _logistic(c).fit(
                x[train_rows], dev.labels[train_rows], sample_weight=dev.weights[train_rows]
            )
            scores[test_rows] = model.predict_proba(x[test_rows])[:, 1]
        auc = float(roc_auc_score(dev.labels[diasafety], scores[diasafety]))
        threshold, f1 = best_f1_threshold(dev.labels[diasafety], scores[diasafety])
        floor = helper_floor(scores[helpers], HELPER_MAX_FLAG_RATE)
        gate, gate_f1 = best_f1_threshold(dev.labels[diasafety], scores[diasafety], max(floor, threshold))
        rates = [float(np.mean(scores[helpers] >= t)) if helpers.any() else 0.0 for t in (threshold, gate)]
        print(
            f"C={c:g}: out-of-fold DiaSafety ROC-AUC={auc:.4f} F1={f1:.4f} at {threshold:.4f} (helpers "
            f"flagged {rates[0]:.4f}); gate F1={gate_f1:.4f} at {gate:.4f} (helpers flagged {rates[1]:.4f})"
        )
        if best is None or auc > best["oof_auc"]:
            best = {
                "c": c,
                "oof_auc": auc,
                "oof_f1": f1,
                "threshold": threshold,
                "oof_helper_flag_rate": rates[0],
                "gate_threshold": gate,
                "oof_gate_f1": gate_f1,
                "oof_gate_helper_flag_rate": rates[1],
            }
    assert best is not None  # nosec B101  # REGULARISATION is not empty
    return best


def helper_floor(scores: np.ndarray, max_rate: float) -> float:
    """The lowest cut that flags at most ``max_rate`` of ``scores`` (flag when score >= cut)."""
    if scores.size == 0:
        return 0.0
    ranked = np.sort(scores)[::-1]
    allowed = int(np.floor(max_rate * scores.size))
    return float(np.nextafter(ranked[allowed], 1.0)) if allowed < scores.size else 0.0


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray, floor: float = 0.0) -> tuple[float, float]:
    """The score cut >= ``floor`` with the highest F1 (flag when score >= cut); ``floor`` itself when no
    distinct score reaches it."""
    order = np.argsort(-scores, kind="stable")
    ranked, ranked_scores = labels[order].astype(bool), scores[order]
    tp = np.cumsum(ranked)
    fp = np.cumsum(~ranked)
    f1 = 2 * tp / (tp + fp + ranked.sum())
    # Only cut between distinct scores, so ties fall on one side.
    last_of_tie = np.r_[ranked_scores[1:] != ranked_scores[:-1], True]
    f1 = np.where(last_of_tie & (ranked_scores >= floor), f1, -1.0)
    best = int(np.argmax(f1))
    if f1[best] < 0:
        return floor, 0.0
    return float(ranked_scores[best]), float(f1[best])


def held_out_metrics(model: Any, held_out: list[Pair], n_boot: int, seed: int) -> dict[str, Any]:
    """DiaSafety validation (never trained or tuned on), overall and per category."""
    scores = model.score([p.reply for p in held_out], [p.context for p in held_out]).probabilities
    labels = np.array([p.label == 1 for p in held_out])
    categories = np.array([p.category for p in held_out])
    report = {
        "overall": evaluate_scores(labels, scores, model.threshold, n_boot, seed),
        "gate": evaluate_scores(labels, scores, model.gate_threshold, n_boot, seed),
        "by_category": {},
    }
    for category in DIASAFETY_CATEGORIES:
        mask = categories == category
        report["by_category"][category] = evaluate_scores(
            labels[mask], scores[mask], model.threshold, n_boot, seed
        )
    return report


def counselling_probe(model: Any, probe: list[Pair], n_boot: int, seed: int) -> dict[str, dict[str, Any]]:
    """Share of held-back real helpers' replies (ESConv and counsel-chat test splits, the held-out AnnoMI
    transcripts and EmpatheticDialogues tasks) called unsafe at the judge's and at the gate's threshold, with bootstrap
    95% CIs over replies."""
    scores = model.score([p.reply for p in probe], [p.context for p in probe]).probabilities
    report: dict[str, dict[str, Any]] = {}
    for corpus in sorted({p.category for p in probe}):
        mask = np.array([p.category == corpus for p in probe])
        report[corpus] = {"replies": int(mask.sum())}
        for name, threshold in (("judge", model.threshold), ("gate", model.gate_threshold)):
            report[corpus][name] = flag_rate(scores[mask], threshold, n_boot, seed)
    return report


def flag_rate(scores: np.ndarray, threshold: float, n_boot: int, seed: int) -> dict[str, Any]:
    """Flagged share of replies presumed safe (1 - specificity), with its bootstrap 95% CI."""
    specificity = evaluate_scores(np.zeros(scores.size, bool), scores, threshold, n_boot, seed)["specificity"]
    low, high = specificity["ci95"]
    flagged = int(np.sum(scores >= threshold))
    return {
        "flagged": flagged,
        "rate": round(flagged / max(1, scores.size), 4),
        "rate_ci95": [round(1 - high, 4), round(1 - low, 4)] if low is not None else [None, None],
    }


def leave_one_source_out(
    features: PairFeatures, dev: Design, selection: dict[str, Any], n_boot: int, seed: int
) -> dict[str, Any]:
    """For each source but DiaSafety: train without it (same C and threshold), score it."""
    results: dict[str, Any] = {}
    for source in SOURCES:
        if source == "diasafety":
            continue
        inside = dev.sources != source
        kind_model = fit_kind_model(dev, inside)
        kinds = predict_kinds(kind_model, dev.contexts)
        x = features.assemble(dev.replies, dev.contexts, kinds)
        model = _logistic(selection["c"]).fit(
            x[inside], dev.labels[inside], sample_weight=dev.weights[inside]
        )
        outside = ~inside & dev.original
        scores = model.predict_proba(x[outside])[:, 1]
        results[source] = evaluate_scores(
            dev.labels[outside] == 1, scores, selection["threshold"], n_boot, seed
        )
        results[source]["gate"] = evaluate_scores(
            dev.labels[outside] == 1, scores, selection["gate_threshold"], n_boot, seed
        )
        if source == "xstest":
            results[source]["refusals_flagged"] = _refusals_flagged(
                dev, outside, scores, selection["threshold"]
            )
    return results


def _refusals_flagged(dev: Design, rows: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, int]:
    """How many XSTest refusals the model calls unsafe (a refusal is never unsafe)."""
    refusals = np.array(
        [
            p.label == 0 and "refusal" in p.category
            for p, inside in zip(dev.pairs, rows, strict=True)
            if inside
        ]
    )
    return {"refusals": int(refusals.sum()), "flagged": int(np.sum(refusals & (scores >= threshold)))}


def _folds(dev: Design, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds over the original pairs; each identity copy follows its original."""
    originals = np.flatnonzero(dev.original)
    strata = np.char.add(dev.sources[originals].astype(str), dev.labels[originals].astype(str))
    splitter = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    fold_of = np.zeros(len(dev.pairs), dtype=np.int64)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(strata)), strata)):
        fold_of[originals[test]] = fold
    fold_of = fold_of[dev.origins]
    return [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)) for k in range(FOLDS)]


def _logistic(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, solver="liblinear", max_iter=2000)


def _kind_index(category: str) -> int:
    return DIASAFETY_CATEGORIES.index(category)


def _source_weights(sources: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """DiaSafety rows weigh 1; every other source totals OTHER_SOURCE_SHARE of DiaSafety, half per label
    (so 136 XSTest compliances with unsafe prompts are not drowned by 2,000 safe completions)."""
    weights = np.ones(len(sources))
    diasafety_total = float(np.sum(sources == "diasafety"))
    for source in set(sources) - {"diasafety"}:
        cells = [(source, label) for label in (0, 1) if np.any((sources == source) & (labels == label))]
        for _, label in cells:
            mask = (sources == source) & (labels == label)
            weights[mask] = OTHER_SOURCE_SHARE * diasafety_total / (len(cells) * mask.sum())
    return weights


def _metadata(
    selection: dict[str, Any], keep: np.ndarray, development: list[Pair], held_out: list[Pair], seed: int
) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {}
    for pair in development + held_out:
        bucket = counts.setdefault(pair.source, {})
        key = f"{'development' if pair.split == 'train' else 'held_out'}_{'unsafe' if pair.label else 'safe'}"
        bucket[key] = bucket.get(key, 0) + 1
    digest = hashlib.sha256()
    for pair in development + held_out:
        digest.update(f"{pair.source}\x1f{pair.label}\x1f{pair.context}\x1f{pair.reply}\x1e".encode())
    return {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "n_features": N_FEATURES,
        "ngram_range": list(NGRAM_RANGE),
        "context_kinds": list(CONTEXT_KINDS),
        "threshold": round(selection["threshold"], 6),
        "gate_threshold": round(selection["gate_threshold"], 6),
        "helper_max_flag_rate": HELPER_MAX_FLAG_RATE,
        "regularisation_c": selection["c"],
        "out_of_fold": {
            "diasafety_roc_auc": round(selection["oof_auc"], 4),
            "diasafety_f1": round(selection["oof_f1"], 4),
            "helper_flag_rate": round(selection["oof_helper_flag_rate"], 4),
            "gate_diasafety_f1": round(selection["oof_gate_f1"], 4),
            "gate_helper_flag_rate": round(selection["oof_gate_helper_flag_rate"], 4),
        },
        "other_source_share": OTHER_SOURCE_SHARE,
        "kept_features": int(keep.size),
        "seed": seed,
        "data_sha256": digest.hexdigest(),
        "counts": counts,
    }


def _write_artifact(
    out_dir: Path, model: LogisticRegression, keep: np.ndarray, kind_model: LogisticRegression, meta: dict
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = model.coef_[0]
    nonzero = np.flatnonzero(np.abs(weights) > 1e-6)
    kind_rows, kind_columns = np.nonzero(np.abs(kind_model.coef_.T) > 1e-6)
    np.savez_compressed(
        out_dir / f"{MODEL_NAME}.npz",
        indices=keep[nonzero].astype(np.int32),
        weights=weights[nonzero].astype(np.float32),
        intercept=np.array([float(model.intercept_[0])]),
        kind_rows=kind_rows.astype(np.int32),
        kind_columns=kind_columns.astype(np.int8),
        kind_values=kind_model.coef_.T[kind_rows, kind_columns].astype(np.float32),
        kind_intercepts=kind_model.intercept_.astype(np.float32),
    )
    (out_dir / f"{MODEL_NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


LICENCES = {
    "diasafety": "Apache-2.0 (thu-coai/DiaSafety)",
    "bad": "no dataset licence stated (BAD valid split via andreamad8/FSB, repo MIT)",
    "safetext": "MIT (sharonlevy/SafeText)",
    "moderation": "MIT (openai/moderation-api-release)",
    "xstest": "prompts CC-BY-4.0; completions under Meta / Mistral / OpenAI terms",
    "counselling": "ESConv CC BY-NC 4.0 (non-commercial); counsel-chat MIT; AnnoMI no licence stated (research use)",
    "peer_support": "EmpatheticDialogues CC BY-NC 4.0 (non-commercial)",
}


def render_model_card(meta: dict[str, Any]) -> str:
    """MODEL_CARD.md from the metadata, so the card always states the shipped model's numbers."""
    oof = meta["out_of_fold"]
    augmentation = meta["identity_augmentation"]
    lines = [
        f"# Content-safety model — {meta['name']} v{meta['version']}",
        "",
        "Generated by `python -m ai.safety.content.train`; do not edit by hand.",
        "",
        "## What it is",
        "",
        "The learned half of `ContentFilter` (ai/safety/content_filter.py): the probability that a reply is",
        "unsafe *given the conversation so far*. Logistic regression over hashed word 1-2-grams "
        f"({meta['n_features']:,} buckets per block, binary, l2-normalised): the reply, the turn it "
        "answers (the last preceding turn), and the reply again in the block of "
        "the context's kind (which of DiaSafety's categories the context invites, from a small "
        f"multinomial model over the context; or no context). C={meta['regularisation_c']}; "
        f"{meta['kept_features']:,} columns seen in >= 2 development pairs kept. DiaSafety rows weigh 1; "
        f"each other source totals {meta['other_source_share']} of DiaSafety's weight, half per label.",
        "",
        f"Stored as `{meta['name']}.npz` (sparse weights and the kind model; loaded with "
        f"`allow_pickle=False`) and `{meta['name']}.json` (metadata). Nothing in the artifact executes code "
        "on load; scoring needs numpy and scipy only.",
        "",
        "**Two operating points, both chosen on training folds only** (no held-out set below was looked at):",
        f"the judge's threshold {meta['threshold']}, the best out-of-fold F1 on DiaSafety's development rows "
        f"(5 folds; it flags {oof['helper_flag_rate']:.1%} of the development helpers' replies out of fold), "
        "used by `ContentFilter` and `judge-eval content`; and the pipeline gate's threshold "
        f"{meta['gate_threshold']}, the F1-best cut among those flagging at most "
        f"{meta['helper_max_flag_rate']:.0%} of the development counsellors' and peer listeners' replies "
        f"(out of fold: {oof['gate_helper_flag_rate']:.1%} flagged, DiaSafety F1 {oof['gate_diasafety_f1']}).",
        "",
        "## Intended use and limits",
        "",
        "Screening therapist / assistant turns of training data. The keyword rules in content_filter.py stay",
        "as evidence and reason codes; this score decides. English only; trained on chit-chat, Reddit-style",
        "replies, counselling and peer-support replies; its notion of an unsafe reply is DiaSafety's (see the",
        "across-sources table for how far it transfers).",
        "",
        "## Identity-marker augmentation",
        "",
        f"{augmentation['copies']:,} development pairs (a {augmentation['share']:.0%} draw of those with a "
        "context) were copied with one sentence saying who the client is inserted into the turn the reply "
        "answers (the bias audit's inventory, `ai/sourcing/synthetic/bias/markers.json`, at the start, after "
        "the first sentence or at the end), label unchanged, the copy sharing its original's weight and fold. "
        "Held out of the augmentation, to measure generalisation to identities never shown: values "
        + ", ".join(f"{d} '{v}'" for d, v in sorted(augmentation["held_out_values"].items()))
        + "; frames "
        + ", ".join(sorted(f for f in augmentation["held_out_frames"].values() if f))
        + ". docs/BIAS.md has the audit's flip rates.",
        "",
        "## Data (non-commercial terms travel with the data: check each licence)",
        "",
        "| source | licence | development safe/unsafe | held-out safe/unsafe |",
        "|---|---|---|---|",
    ]
    for source, bucket in meta["counts"].items():
        dev = f"{bucket.get('development_safe', 0)}/{bucket.get('development_unsafe', 0)}"
        held = f"{bucket.get('held_out_safe', 0)}/{bucket.get('held_out_unsafe', 0)}"
        lines.append(f"| {source} | {LICENCES.get(source, '')} | {dev} | {held} |")
    lines += [
        "",
        f"Out-of-fold on DiaSafety development rows: ROC-AUC {oof['diasafety_roc_auc']}, F1 {oof['diasafety_f1']}. "
        f"Data digest: `{meta['data_sha256'][:16]}`.",
        "",
        "## Held out: DiaSafety validation split (bootstrap 95% CI)",
        "",
        "Calling every reply unsafe scores F1 about 0.63 here, so read precision and ROC-AUC beside F1.",
        "",
        _table_header("slice"),
    ]
    held = meta["held_out"]
    lines.append(_table_row("all", held["overall"]))
    lines.append(_table_row(f"all, at the gate's {meta['gate_threshold']}", held["gate"]))
    for category, metrics in held["by_category"].items():
        lines.append(_table_row(category, metrics))
    lines += [
        "",
        "## Across sources: trained without the source, scored on it",
        "",
        "Same C and thresholds; these sources ask neighbouring questions (offensive chit-chat, physical-safety",
        "advice, moderation flags on user text, compliance with unsafe prompts; counsellors' and peer",
        "listeners' replies are safe only, so only specificity is defined), so they measure transfer. ROC-AUC",
        "does not depend on the threshold; the other columns are at the judge's, then at the gate's.",
        "",
        _table_header("source"),
    ]
    for source, metrics in meta["leave_one_source_out"].items():
        lines.append(_table_row(source, metrics))
        lines.append(_table_row(f"{source}, at the gate's", metrics["gate"]))
    lines += [
        "",
        "## In-domain false alarms: held-back real helpers' replies",
        "",
        "Supporters' (ESConv test split), therapists' (counsel-chat test split, split by question; AnnoMI,",
        "held-out transcripts: every therapist turn) and peer listeners' (EmpatheticDialogues, held-out",
        "crowdsourcing tasks: every listener reply) replies, scored in their context at both thresholds.",
        "They are presumed safe, not labelled, so this is a false-alarm ceiling, not a precision. 95% CI:",
        "bootstrap over replies.",
        "",
        "| corpus | replies | flagged at the judge's threshold [95% CI] | flagged at the gate's [95% CI] |",
        "|---|---|---|---|",
    ]
    for corpus, probe in meta["counselling_probe"].items():
        cells = [_rate_cell(probe[name]) for name in ("judge", "gate")]
        lines.append(f"| {corpus} | {probe['replies']} | {' | '.join(cells)} |")
    refusals = meta["leave_one_source_out"].get("xstest", {}).get("refusals_flagged")
    if refusals:
        lines += [
            "",
            f"XSTest over-refusal check: {refusals['flagged']} of {refusals['refusals']} refusals and partial "
            "refusals scored unsafe (a refusal is never unsafe).",
        ]
    return "\n".join(lines) + "\n"


def _rate_cell(rate: dict[str, Any]) -> str:
    low, high = rate["rate_ci95"]
    return f"{rate['flagged']} ({rate['rate']:.3f} [{low:.3f}, {high:.3f}])"


def _table_header(first: str) -> str:
    return (
        f"| {first} | n | unsafe | precision | recall | specificity | F1 | ROC-AUC | PR-AUC |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )


def _table_row(name: str, metrics: dict[str, Any]) -> str:
    keys = ("precision", "sensitivity", "specificity", "f1", "roc_auc", "pr_auc")
    cells = [metric_cell(metrics[key]) for key in keys]
    return f"| {name} | {metrics['n']} | {metrics['n_positive']} | {' | '.join(cells)} |"


if __name__ == "__main__":
    raise SystemExit(main())
