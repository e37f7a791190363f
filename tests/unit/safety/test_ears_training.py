"""EARS training steps on a small hand-written sample: folds, fitting, cross-source figures, artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ai.safety.ears import train
from ai.safety.ears.corpora import ALL_COMPONENTS, LabelledConversation, PairExample
from ai.safety.ears.features import PairFeaturizer
from ai.safety.ears.judge import PRIOR_MICO, PRIOR_MIIN, EarsJudge, LinearEarsModel

REFLECTIONS = [
    "so you feel {w} about it",
    "it sounds like the {w} weighs on you",
    "you're saying {w} matters",
]
OTHERS = ["take a walk every day", "here is some information", "the clinic opens at nine"]
WORDS = ["work", "sleep", "family", "money", "school", "health", "drinking", "smoking"]


def sample() -> list[PairExample]:
    examples = []
    for i, word in enumerate(WORDS * 3):
        client = f"I worry about my {word} lately"
        for source in ("annomi", "epitome"):
            group = f"{source}:{i}"
            for template in REFLECTIONS:
                labels = {part: 1 for part in ALL_COMPONENTS}
                labels["directive"] = 0
                detail = "complex" if "sounds" in template else "simple"
                examples.append(PairExample(client, template.format(w=word), source, group, labels, detail))
            for text in OTHERS:
                labels = {part: 0 for part in ALL_COMPONENTS}
                labels["directive"] = 1
                examples.append(PairExample(client, text, source, group, labels))
    return examples


def test_folds_keep_groups_together_and_fitting_learns_the_labels(tmp_path: Path) -> None:
    examples = sample()
    featurizer = PairFeaturizer(2**12)
    features = featurizer.transform([e.client for e in examples], [e.reply for e in examples])
    folds = train._group_folds(examples, seed=0)
    for group in {e.group for e in examples}:
        assert len({folds[i] for i, e in enumerate(examples) if e.group == group}) == 1
    keep = train._used_columns(features, featurizer.n_columns)
    assert keep[-1] == featurizer.n_columns - 1  # dense columns are always kept
    features = features[:, keep]
    sources = np.array([e.source for e in examples])

    predicted = train._out_of_fold(features, examples, sources, folds, "reflect", 1.0)
    assert train._mean_source_auc(examples, sources, predicted, "reflect") > 0.9
    per_source = train._per_source_auc(examples, sources, predicted, "reflect", n_boot=20, seed=0)
    assert set(per_source) == {"annomi", "epitome"} and per_source["annomi"]["n"] == len(examples) // 2
    cross = train._leave_one_source_out(
        features, examples, sources, dict.fromkeys(ALL_COMPONENTS, 1.0), 20, 0
    )
    assert cross["reflect"]["epitome"]["auc"] > 0.9
    assert train._complex_vs_simple(examples, predicted, 20, 0)["n"] == len(WORDS) * 3 * 3

    models = {
        part: train._fit(features, examples, sources, np.arange(len(examples)), part, 1.0)
        for part in ALL_COMPONENTS
    }
    meta = {"components": list(ALL_COMPONENTS), "n_features": featurizer.n_features, "version": "t"}
    train._write_artifact(tmp_path, keep, models, meta)
    judge = EarsJudge(model=LinearEarsModel.load(tmp_path))
    in_memory = EarsJudge(model=train._in_memory_model(keep, models, featurizer))
    client, reply = "I worry about my work lately", "so you feel work about it"
    assert judge.score_response(client, reply) == in_memory.score_response(client, reply)
    assert judge.score_response(client, reply) > judge.score_response(client, "the clinic opens at nine")


def test_out_of_fold_sessions_score_transcripts_like_the_judge() -> None:
    examples = [
        PairExample("", "Hello.", "annomi", "annomi:0", {"reflect": 0}),
        PairExample(
            "I drink too much", "You drink more than you'd like.", "annomi", "annomi:0", {"reflect": 1}
        ),
    ]
    transcript = LabelledConversation(
        [
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "I drink too much"},
            {"role": "assistant", "content": "You drink more than you'd like."},
        ],
        "annomi",
        "annomi:0",
        1.0,
    )
    judge = EarsJudge()
    oof = np.full((2, len(ALL_COMPONENTS)), 0.5)
    [[score, consistency]] = train._out_of_fold_sessions(judge, examples, oof, [transcript])
    # One reply answers a client; its parts are the out-of-fold ones, not the shipped model's:
    # MI consistency = (prior + 4 x 0.5) / (prior + 4 x 0.5 + prior + 0.5).
    [reply] = judge.judge_replies(
        ["I drink too much"], ["You drink more than you'd like."], probabilities=oof[:1]
    )
    expected = (PRIOR_MICO + 2.0) / (PRIOR_MICO + 2.0 + PRIOR_MIIN + 0.5)
    assert consistency == pytest.approx(expected, abs=1e-4)
    assert score == pytest.approx(reply.score * expected, abs=1e-4)


def test_counts_and_digest_describe_the_pairs() -> None:
    examples = sample()
    counts = train._counts(examples)
    assert counts["annomi"]["reflect"] == f"{len(WORDS) * 9} positive / {len(WORDS) * 9} negative"
    assert train._digest(examples) == train._digest(list(examples))
    assert train._digest(examples) != train._digest(examples[1:])
