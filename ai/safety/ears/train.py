"""Train, validate across sources and document the EARS judge.

    python -m ai.safety.ears.train [--data DIR] [--out DIR] [--seed N] [--n-boot N]

1. Load the human-labelled (client text, reply) pairs of ``corpora.py`` and build their features once.
2. Split the pairs into 5 folds by group (an AnnoMI transcript, an EPITOME seeker post, ...). For each
   part and each regularisation strength, fit on four folds and predict the fifth; keep the strength with
   the best mean out-of-fold AUC over the part's sources.
3. Cross-source figures: fit each part without one source and measure it on that source; score AnnoMI
   transcripts (high vs low MI quality) from out-of-fold reply scores, and again from a model that never
   saw AnnoMI; score ESConv dialogues against the seekers' empathy ratings (never trained on ESConv).
4. Fit every part on all pairs, write the weights (.npz, no pickle), metadata (.json) and MODEL_CARD.md,
   then measure the shipped judge: pass rates of real counselling at the default threshold and the
   circularity guard (stock empathy phrases against real counsel-chat answers).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

from ai.safety.ears.corpora import (
    ALL_COMPONENTS,
    DEFAULT_DATA,
    LabelledConversation,
    PairExample,
    load_training_pairs,
    read_annomi_transcripts,
)
from ai.safety.ears.evaluate import auc_interval
from ai.safety.ears.features import DENSE_NAMES, N_FEATURES, PairFeaturizer
from ai.safety.ears.judge import (
    MODEL_DIR,
    MODEL_NAME,
    EarsJudge,
    LinearEarsModel,
    answered_replies,
    conversation_scores,
)
from ai.safety.ears.model_card import render_model_card
from ai.safety.ears.validation import validate_judge
from ai.safety.training_cli import training_parser

REGULARISATION = (1.0, 4.0)
N_FOLDS = 5
MODEL_VERSION = "3.0.0"


def main(argv: list[str] | None = None) -> int:
    args = training_parser(__doc__, DEFAULT_DATA, MODEL_DIR).parse_args(argv)
    meta = train(args.data, args.out, seed=args.seed, n_boot=args.n_boot)
    print(json.dumps({k: meta[k] for k in ("cross_validation", "sessions", "shipped")}, indent=2))
    return 0


def train(data_dir: Path, out_dir: Path, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    examples = load_training_pairs(data_dir)
    featurizer = PairFeaturizer(N_FEATURES)
    features = featurizer.transform([e.client for e in examples], [e.reply for e in examples])
    folds = _group_folds(examples, seed)
    keep = _used_columns(features, featurizer.n_columns)
    features = features[:, keep]
    sources = np.array([e.source for e in examples])

    chosen, out_of_fold, cv = {}, {}, {}
    for part in ALL_COMPONENTS:
        best = None
        for c in REGULARISATION:
            predicted = _out_of_fold(features, examples, sources, folds, part, c)
            score = _mean_source_auc(examples, sources, predicted, part)
            print(f"{part}: C={c:g} mean out-of-fold AUC over sources {score:.3f}", flush=True)
            if best is None or score > best[0]:
                best = (score, c, predicted)
        assert best is not None  # nosec B101  # REGULARISATION is not empty
        chosen[part], out_of_fold[part] = best[1], best[2]
        cv[part] = _per_source_auc(examples, sources, best[2], part, n_boot, seed)

    meta: dict[str, Any] = {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "components": list(ALL_COMPONENTS),
        "n_features": N_FEATURES,
        "dense_features": list(DENSE_NAMES),
        "regularisation": chosen,
        "seed": seed,
        "training_pairs": _counts(examples),
        "data_sha256": _digest(examples),
        "cross_validation": cv,
        "cross_source": _leave_one_source_out(features, examples, sources, chosen, n_boot, seed),
        "complex_vs_simple_reflection": _complex_vs_simple(examples, out_of_fold["reflect"], n_boot, seed),
    }
    meta["sessions"] = _session_figures(
        data_dir, examples, features, sources, keep, featurizer, out_of_fold, chosen, n_boot, seed
    )
    final = {
        part: _fit(features, examples, sources, np.arange(len(examples)), part, chosen[part])
        for part in ALL_COMPONENTS
    }
    _write_artifact(out_dir, keep, final, meta)
    judge = EarsJudge(model=LinearEarsModel.load(out_dir))
    meta["shipped"] = validate_judge(judge, data_dir, n_boot=n_boot, seed=seed)
    (out_dir / f"{MODEL_NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (out_dir / "MODEL_CARD.md").write_text(render_model_card(meta), encoding="utf-8")
    return meta


def _group_folds(examples: list[PairExample], seed: int) -> np.ndarray:
    groups = sorted({e.group for e in examples})
    order = np.random.default_rng(seed).permutation(len(groups))
    fold_of = {groups[i]: rank % N_FOLDS for rank, i in enumerate(order)}
    return np.array([fold_of[e.group] for e in examples])


def _used_columns(features: csr_matrix, n_columns: int) -> np.ndarray:
    """Hashed columns seen in at least two training replies (rarer ones are noise and bloat the
    artifact), and every dense column."""
    frequency = np.bincount(features.indices, minlength=n_columns)
    dense = np.arange(n_columns - len(DENSE_NAMES), n_columns)
    return np.union1d(np.flatnonzero(frequency >= 2), dense)


def _labels(examples: list[PairExample], rows: np.ndarray, part: str) -> np.ndarray:
    return np.array([examples[i].labels[part] for i in rows])


def _labelled(examples: list[PairExample], part: str) -> np.ndarray:
    return np.array([part in e.labels for e in examples])


def _fit(
    features: csr_matrix,
    examples: list[PairExample],
    sources: np.ndarray,
    rows: np.ndarray,
    part: str,
    c: float,
) -> LogisticRegression:
    """Each (source, label) cell weighs the same in total, so the 4,900 AnnoMI utterances do not drown
    EPITOME's Reddit replies or the MI sentences."""
    rows = rows[_labelled(examples, part)[rows]]
    labels = _labels(examples, rows, part)
    weights = np.ones(rows.size)
    cells = {(s, y) for s, y in zip(sources[rows], labels, strict=True)}
    for source, label in cells:
        members = (sources[rows] == source) & (labels == label)
        weights[members] = rows.size / (len(cells) * members.sum())
    model = LogisticRegression(C=c, solver="liblinear", max_iter=2000)
    model.fit(features[rows], labels, sample_weight=weights)
    return model


def _out_of_fold(
    features: csr_matrix,
    examples: list[PairExample],
    sources: np.ndarray,
    folds: np.ndarray,
    part: str,
    c: float,
) -> np.ndarray:
    """Each pair's probability from the model fitted on the other folds (every pair, labelled or not,
    gets one: AnnoMI sessions need all four parts of each reply)."""
    predicted = np.zeros(len(examples))
    for fold in range(N_FOLDS):
        model = _fit(features, examples, sources, np.flatnonzero(folds != fold), part, c)
        held = np.flatnonzero(folds == fold)
        predicted[held] = model.predict_proba(features[held])[:, 1]
    return predicted


def _mean_source_auc(
    examples: list[PairExample], sources: np.ndarray, predicted: np.ndarray, part: str
) -> float:
    labelled = _labelled(examples, part)
    values = []
    for source in sorted(set(sources[labelled])):
        rows = np.flatnonzero(labelled & (sources == source))
        values.append(auc_interval(_labels(examples, rows, part), predicted[rows], n_boot=0)["auc"])
    return float(np.mean(values))


def _per_source_auc(
    examples: list[PairExample], sources: np.ndarray, predicted: np.ndarray, part: str, n_boot: int, seed: int
) -> dict[str, Any]:
    labelled = _labelled(examples, part)
    return {
        source: auc_interval(_labels(examples, rows, part), predicted[rows], n_boot=n_boot, seed=seed)
        for source in sorted(set(sources[labelled]))
        for rows in [np.flatnonzero(labelled & (sources == source))]
    }


def _leave_one_source_out(
    features: csr_matrix,
    examples: list[PairExample],
    sources: np.ndarray,
    chosen: dict,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Each part measured on each of its sources by a model that never saw that source."""
    results: dict[str, Any] = {}
    for part in ALL_COMPONENTS:
        labelled = _labelled(examples, part)
        part_sources = sorted(set(sources[labelled]))
        if len(part_sources) < 2:
            continue
        results[part] = {}
        for held in part_sources:
            model = _fit(features, examples, sources, np.flatnonzero(sources != held), part, chosen[part])
            rows = np.flatnonzero(labelled & (sources == held))
            predicted = model.predict_proba(features[rows])[:, 1]
            results[part][held] = auc_interval(
                _labels(examples, rows, part), predicted, n_boot=n_boot, seed=seed
            )
    return results


def _complex_vs_simple(examples: list[PairExample], reflect: np.ndarray, n_boot: int, seed: int) -> dict:
    rows = np.array(
        [i for i, e in enumerate(examples) if e.source == "annomi" and e.detail in ("simple", "complex")]
    )
    labels = np.array([examples[i].detail == "complex" for i in rows])
    return auc_interval(labels, reflect[rows], n_boot=n_boot, seed=seed)


def _session_figures(
    data_dir: Path,
    examples: list[PairExample],
    features: csr_matrix,
    sources: np.ndarray,
    keep: np.ndarray,
    featurizer: PairFeaturizer,
    out_of_fold: dict[str, np.ndarray],
    chosen: dict[str, float],
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """AnnoMI transcripts, high vs low MI quality, scored as the stage scores a conversation.

    ``by_transcript``: each reply scored by the parts fitted without its transcript's fold.
    ``without_annomi``: by parts fitted on the other sources only (no AnnoMI utterance at all).
    """
    transcripts = read_annomi_transcripts(data_dir / "conversations" / "annomi_AnnoMI-full.csv")
    labels = np.array([t.label == 1.0 for t in transcripts])
    without = {
        part: _fit(features, examples, sources, np.flatnonzero(sources != "annomi"), part, chosen[part])
        for part in ALL_COMPONENTS
    }
    judge = EarsJudge(model=_in_memory_model(keep, without, featurizer))
    oof = np.column_stack([out_of_fold[p] for p in ALL_COMPONENTS])
    by_transcript = _out_of_fold_sessions(judge, examples, oof, transcripts)
    cross = judge.judge_conversations([t.messages for t in transcripts], details=False)
    cross_scores = np.array([[c.score, c.mi_consistency] for c in cross])
    figures = {}
    for name, table in (("by_transcript", by_transcript), ("without_annomi", cross_scores)):
        figures[name] = auc_interval(labels, table[:, 0], n_boot=n_boot, seed=seed)
        # The two factors of the score on their own (the shipped score is their product).
        figures[f"{name}_ears_only"] = auc_interval(
            labels, table[:, 0] / np.maximum(1e-9, table[:, 1]), n_boot=n_boot, seed=seed
        )
        figures[f"{name}_mi_consistency_only"] = auc_interval(labels, table[:, 1], n_boot=n_boot, seed=seed)
    return figures


def _out_of_fold_sessions(
    judge: EarsJudge, examples: list[PairExample], oof: np.ndarray, transcripts: list[LabelledConversation]
) -> np.ndarray:
    """(score, MI consistency) of each transcript, as ``judge`` scores them but from out-of-fold part
    probabilities: AnnoMI's training pairs are the transcripts' therapist turns, in order."""
    rows_of: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        if example.source == "annomi":
            rows_of.setdefault(example.group, []).append(i)
    scores = []
    for transcript in transcripts:
        therapist_turns = [i for i, m in enumerate(transcript.messages) if m["role"] == "assistant"]
        row_of_turn = dict(zip(therapist_turns, rows_of[transcript.group], strict=True))
        answered = answered_replies(transcript.messages)
        scored = judge.score_replies(
            [a.client for a in answered],
            [a.reply for a in answered],
            [a.client_words for a in answered],
            probabilities=oof[[row_of_turn[a.turn] for a in answered]],
        )
        scores.append(conversation_scores(np.zeros(len(answered), dtype=np.int64), 1, scored)[0])
    return np.array(scores)


def _in_memory_model(
    keep: np.ndarray, models: dict[str, LogisticRegression], featurizer: PairFeaturizer
) -> LinearEarsModel:
    meta = {"components": list(ALL_COMPONENTS), "n_features": featurizer.n_features, "version": "in-training"}
    weights = np.column_stack([models[p].coef_[0] for p in ALL_COMPONENTS]).astype(np.float32)
    intercepts = np.array([models[p].intercept_[0] for p in ALL_COMPONENTS], dtype=np.float32)
    return LinearEarsModel(meta, keep.astype(np.int32), weights, intercepts)


def _write_artifact(
    out_dir: Path, keep: np.ndarray, models: dict[str, LogisticRegression], meta: dict
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = np.column_stack([models[p].coef_[0] for p in ALL_COMPONENTS]).astype(np.float32)
    intercepts = np.array([models[p].intercept_[0] for p in ALL_COMPONENTS], dtype=np.float32)
    np.savez_compressed(
        out_dir / f"{MODEL_NAME}.npz", columns=keep.astype(np.int32), weights=weights, intercepts=intercepts
    )
    (out_dir / f"{MODEL_NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _counts(examples: list[PairExample]) -> dict[str, dict[str, str]]:
    counts: dict[str, dict[str, list[int]]] = {}
    for e in examples:
        for part, label in e.labels.items():
            counts.setdefault(e.source, {}).setdefault(part, [0, 0])[label] += 1
    return {
        s: {p: f"{pos} positive / {neg} negative" for p, (neg, pos) in parts.items()}
        for s, parts in counts.items()
    }


def _digest(examples: list[PairExample]) -> str:
    text = "\x1e".join(
        f"{e.source}\x1f{e.client}\x1f{e.reply}\x1f{sorted(e.labels.items())}" for e in examples
    )
    return hashlib.sha256(text.encode()).hexdigest()


if __name__ == "__main__":
    raise SystemExit(main())
