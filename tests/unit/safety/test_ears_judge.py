"""The EARS judge: learned parts, engagement with the client's content, evidence, artifact, metrics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ai.safety.crisis_detection.evaluate import EvaluationInputError
from ai.safety.ears.corpora import ALL_COMPONENTS
from ai.safety.ears.evaluate import auc, auc_interval, ears_eval, spearman_interval
from ai.safety.ears.features import DENSE_NAMES, ECHO, PairFeaturizer, stem_keys, words_of
from ai.safety.ears.judge import (
    ENGAGEMENT_FLOOR,
    MODEL_DIR,
    MODEL_NAME,
    PRIOR_MICO,
    PRIOR_MIIN,
    EarsJudge,
    EarsModelError,
    LinearEarsModel,
    ScoredReplies,
    answered_replies,
    conversation_scores,
)
from ai.safety.ears.model_card import render_model_card
from ai.safety.ears.rules import content_stems

JUDGE = EarsJudge()
CLIENT = "I've been so anxious about my exams that I can't sleep and I keep snapping at my family."
REFLECTION = (
    "You're anxious about the exams, and it's costing you sleep and some patience with your family. "
    "What has the snapping been like for you?"
)
STOCK = (
    "It sounds like you're feeling really overwhelmed right now. That makes sense, and it's okay to feel "
    "this way. Thank you for sharing. Would you like to explore together what might help?"
)
DIRECTIVE = "You need to stop complaining, study harder and go to bed earlier. Just do it."


def test_a_reply_that_mirrors_the_client_beats_stock_empathy_and_orders() -> None:
    reflection = JUDGE.score_response(CLIENT, REFLECTION)
    assert reflection > JUDGE.score_response(CLIENT, STOCK)
    assert reflection > JUDGE.score_response(CLIENT, DIRECTIVE)
    # The same stock reply earns more when it does take up the client's words.
    engaged = STOCK.replace("overwhelmed right now", "anxious about your exams and your sleep")
    assert JUDGE.score_response(CLIENT, engaged) > JUDGE.score_response(CLIENT, STOCK)


def test_stock_empathy_keeps_only_the_engagement_floor() -> None:
    [stock] = JUDGE.judge_replies([CLIENT], [STOCK])
    assert stock.engagement == pytest.approx(ENGAGEMENT_FLOOR)
    # Warm wording is recognised by the learned parts, but the score is cut to the floor's share.
    assert stock.components["empathize"] > 0.5
    assert stock.score <= ENGAGEMENT_FLOOR


def test_asking_permission_lowers_the_directive_part() -> None:
    blunt = "You should stop drinking coffee after lunch."
    asked = (
        "Would it be okay if I shared an idea? Some people find it helps to stop drinking coffee after lunch."
    )
    [b, a] = JUDGE.judge_replies(["I can't sleep, I drink coffee all day."] * 2, [blunt, asked])
    assert b.components["directive"] > a.components["directive"]
    assert a.score > b.score


def test_evidence_quotes_rules_and_the_mirrored_words() -> None:
    [result] = JUDGE.judge_replies([CLIENT], [REFLECTION], explain=True)
    assert result.evidence[0].startswith("engagement 1.00: mirrors ")
    assert "anxio" in result.evidence[0] and "exams" in result.evidence[0]
    assert any(e.startswith("support ") and "open_question" in e for e in result.evidence)
    [quiet] = JUDGE.judge_replies([CLIENT], [REFLECTION])
    assert quiet.evidence == [] and quiet.score == result.score


def test_answered_replies_pairs_each_reply_with_the_client_text_before_it() -> None:
    messages = [
        {"role": "system", "content": "be kind"},
        {"role": "assistant", "content": "Hello, what brings you here?"},
        {"role": "user", "content": "My sister moved away."},
        {"role": "user", "content": "I miss her."},
        {"role": "assistant", "content": "You miss your sister."},
        {"role": "assistant", "content": "Tell me more."},
        {"role": "user", "content": "We talked every day."},
        {"role": "assistant", "content": "Every day, and now the calls are rare?"},
    ]
    pairs = answered_replies(messages)
    assert [p.turn for p in pairs] == [4, 7]
    assert (
        pairs[0].client == "My sister moved away.\nI miss her." and pairs[0].reply == "You miss your sister."
    )
    assert pairs[1].client == "We talked every day."
    assert pairs[0].client_words == {"siste", "moved", "away", "miss"}
    assert pairs[1].client_words == pairs[0].client_words | {"talke"}


def _scored(probabilities: list[list[float]], scores: list[float], engagement: list[float]) -> ScoredReplies:
    n = len(scores)
    return ScoredReplies(
        np.array(probabilities, dtype=np.float32).reshape(n, len(ALL_COMPONENTS)),
        np.array(engagement, dtype=np.float32),
        np.array(scores, dtype=np.float32),
        [set()] * n,
        [frozenset()] * n,
    )


def test_conversation_score_is_engagement_weighted_ears_times_mi_consistency() -> None:
    owners = np.array([0, 1, 1, 2], dtype=np.int64)
    consistent = [0.5, 0.5, 0.5, 0.5, 0.0]  # MICO 2.0, MIIN 0: fully MI-consistent
    directive = [0.25, 0.25, 0.0, 0.0, 1.0]  # MICO 0.5, MIIN 1.0: a third consistent
    scored = _scored(
        [consistent, consistent, consistent, directive], [0.3, 0.4, 0.1, 0.2], [0.5, 1.0, 1.0, 1.0]
    )
    result = conversation_scores(owners, 4, scored)

    def consistency(mico: float, miin: float) -> float:
        return (PRIOR_MICO + mico) / (PRIOR_MICO + mico + PRIOR_MIIN + miin)

    # one half-engaged reply: its own (shrunk) score, times its MI consistency
    assert result[0] == pytest.approx([0.3 * consistency(2, 0), consistency(2, 0)], abs=1e-4)
    # two replies: (0.4 + 0.1) / (1 + 1)
    assert result[1] == pytest.approx([0.25 * consistency(4, 0), consistency(4, 0)], abs=1e-4)
    assert result[2] == pytest.approx([0.2 * consistency(0.5, 1), consistency(0.5, 1)], abs=1e-4)
    assert consistency(0.5, 1) < 0.75 < consistency(2, 0)  # advising lowers it, the prior keeps it from 1/3
    assert result[3, 0] == 0.0  # no reply
    messages = [{"role": "user", "content": CLIENT}, {"role": "assistant", "content": REFLECTION}]
    [judged] = JUDGE.judge_conversations([messages])
    [reply] = judged.replies
    mico = PRIOR_MICO + sum(reply.components[c] for c in ALL_COMPONENTS[:4])
    ratio = mico / (mico + PRIOR_MIIN + reply.components["directive"])
    assert judged.mi_consistency == pytest.approx(ratio, abs=2e-4)
    assert judged.score == JUDGE.score_conversation(messages)
    assert judged.score == pytest.approx(JUDGE.score_response(CLIENT, REFLECTION) * ratio, abs=2e-4)
    assert [r.turn for r in judged.replies] == [1] and judged.n_replies == 1
    assert judged.to_dict()["replies"][0]["engagement"] == 1.0
    [quick] = JUDGE.judge_conversations([messages], details=False)
    assert quick.score == judged.score and quick.replies == [] and quick.n_replies == 1
    assert JUDGE.judge_conversations([[{"role": "user", "content": "hi"}]])[0].score == 0.0


def test_a_session_that_keeps_advising_scores_below_one_that_reflects() -> None:
    client = ["I drink most nights to get to sleep.", "My wife says it's a problem.", "I don't know."]
    reflective = [
        "Drinking has become the way you get to sleep most nights.",
        "Your wife sees a problem where you are not sure you see one.",
        "You're unsure what you think about the drinking yourself. What would you like to be different?",
    ]
    advising = [
        "You need to stop drinking at night and go see your doctor.",
        "Your wife is right, you must cut down on drinking now.",
        "You should just stop drinking. Start tomorrow.",
    ]

    def session(replies: list[str]) -> list[dict[str, str]]:
        return [
            m
            for c, r in zip(client, replies, strict=True)
            for m in ({"role": "user", "content": c}, {"role": "assistant", "content": r})
        ]

    good, bad = JUDGE.judge_conversations([session(reflective), session(advising)])
    assert good.mi_consistency > bad.mi_consistency and good.score > bad.score


def test_safety_step_after_a_crisis_turn() -> None:
    messages = [
        {"role": "user", "content": "I want to end my life."},
        {"role": "assistant", "content": "I'm really glad you told me. Are you safe right now?"},
    ]
    [judged] = JUDGE.judge_conversations([messages])
    assert judged.safety_step_after(0) and not judged.safety_step_after(1)


def test_judge_options_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown EARS parts"):
        EarsJudge(weights={"empathy": 1.0})
    with pytest.raises(ValueError, match="non-negative"):
        EarsJudge(weights={"reflect": 0.0})
    only_reflect = EarsJudge(weights={"reflect": 1.0}, model=JUDGE.model)
    [r] = only_reflect.judge_replies([CLIENT], [REFLECTION])
    assert r.score == pytest.approx(r.components["reflect"] * (1 - 0.5 * r.components["directive"]), abs=1e-4)


def test_pair_features_mark_the_mirrored_words() -> None:
    client, reply = "I am worried about drinking", "So the drinking worries you?"
    featurizer = PairFeaturizer(2**10)
    hashed, dense = featurizer.blocks([client], [reply], [set()])
    # "drinking" and "worries" mirror the client (stems "drink", "worri"): read as the token ECHO.
    marked, _ = featurizer.blocks([""], [f"so the {ECHO} {ECHO} you"], [set()])
    assert (hashed != marked).nnz == 0
    unmarked, _ = featurizer.blocks(["My cat is ill"], [reply], [set()])
    assert (unmarked != hashed).nnz > 0
    values = dict(zip(DENSE_NAMES, dense[0], strict=True))
    assert values["shared_content_words"] == pytest.approx(2 / 6) and values["question_mark"] == 1.0
    assert values["client_words_mirrored"] == 1.0 and values["focus_on_client_words"] == 1.0
    assert values["no_client_text"] == 0.0 and values["second_person"] == pytest.approx(1 / 5)
    # 5 unigrams + 4 bigrams, binary and of unit length (a collision would leave fewer columns)
    assert hashed.nnz <= 9 and np.isclose((hashed.data**2).sum(), 1.0)
    features = featurizer.transform(["a", ""], ["b c", "d?"])
    assert features.shape == (2, 2**10 + len(DENSE_NAMES))
    assert features[1, 2**10 + DENSE_NAMES.index("no_client_text")] == 1.0
    with pytest.raises(ValueError, match="client texts"):
        featurizer.transform(["a"], [])


def test_batch_stems_are_the_content_stems_of_each_text() -> None:
    texts = [
        CLIENT,
        REFLECTION,
        "Don't worry, you'll be FINE. Wouldn't it?",
        "Café naïve İstanbul \u212aelvin",  # non-ASCII letters split words, as the regex does
        "",
        "a\0b drinking",  # a NUL inside a text does not start a new text
        "supercalifragilisticexpialidocious again",
    ]
    keys = stem_keys(texts)

    def code(stem: str) -> int:
        return sum((ord(c) - 96) * 27**i for i, c in enumerate(stem))

    for row, text in enumerate(texts):
        found = set((keys[(keys >> 32) == row] & 0xFFFFFFFF).tolist())
        assert found == {code(s) for s in content_stems(text.replace("\0", " "))}, text
    tokens = words_of(["You're  it’s x", "", "ok"], drop_apostrophes=True)
    assert tokens.rows.tolist() == [0, 0, 0, 2] and tokens.lengths.tolist() == [5, 3, 1, 2]


def test_bigrams_are_hashed_within_a_reply_only() -> None:
    featurizer = PairFeaturizer(2**16)
    together, _ = featurizer.blocks(["", ""], ["alpha beta", "gamma"], [set(), set()])
    apart, _ = featurizer.blocks(["", ""], ["alpha", "beta gamma"], [set(), set()])
    # 3 n-grams for "alpha beta", 1 for "gamma": no bigram straddles two replies
    assert np.diff(together.indptr).tolist() == [3, 1] and np.diff(apart.indptr).tolist() == [1, 3]
    alone, _ = featurizer.blocks([""], ["alpha beta"], [set()])
    assert (alone[0] != together[0]).nnz == 0
    empty, dense = featurizer.blocks(["x"], [""], [set()])
    assert empty.nnz == 0 and dense[0, DENSE_NAMES.index("reply_length")] == 0.0


def test_artifact_is_numpy_without_pickle_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    with np.load(MODEL_DIR / f"{MODEL_NAME}.npz", allow_pickle=False) as arrays:
        assert arrays["weights"].shape == (arrays["columns"].size, len(ALL_COMPONENTS))
    shutil.copy(MODEL_DIR / f"{MODEL_NAME}.json", tmp_path / f"{MODEL_NAME}.json")
    (tmp_path / f"{MODEL_NAME}.npz").write_bytes(b"not numpy")
    with pytest.raises(EarsModelError, match="unreadable"):
        LinearEarsModel.load(tmp_path)
    with pytest.raises(EarsModelError, match="unreadable"):
        LinearEarsModel.load(tmp_path / "missing")


def test_model_card_is_the_one_the_metadata_renders() -> None:
    meta = json.loads((MODEL_DIR / f"{MODEL_NAME}.json").read_text(encoding="utf-8"))
    assert (MODEL_DIR / "MODEL_CARD.md").read_text(encoding="utf-8") == render_model_card(meta)


def test_auc_and_intervals() -> None:
    labels = np.array([0, 0, 1, 1], dtype=bool)
    assert auc(labels, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert auc(labels, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert auc(np.array([True, True]), np.array([0.1, 0.2])) is None
    result = auc_interval(labels, np.array([0.1, 0.2, 0.3, 0.4]), n_boot=200)
    assert result["auc"] == 1.0 and result["n"] == 4 and result["positives"] == 2
    low, high = result["ci95"]
    assert low <= 1.0 == high
    rho = spearman_interval(np.arange(20.0), np.arange(20.0) ** 2, n_boot=100)
    assert rho["spearman"] == 1.0 and rho["ci95"] == [1.0, 1.0]


def test_ears_eval_on_a_labelled_file(tmp_path: Path) -> None:
    rows = [
        {"client": CLIENT, "reply": REFLECTION, "label": "good"},
        {"client": CLIENT, "reply": DIRECTIVE, "label": "poor"},
        {
            "client": "My dog died last week.",
            "reply": "Losing your dog last week, that's a real loss.",
            "label": "good",
        },
        {"client": "My dog died last week.", "reply": "Whatever. Get a new one.", "label": "poor"},
        {"client": "x", "reply": "", "label": "good"},
    ]
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    report = ears_eval(path, "client", "reply", "label", ["good"], judge=JUDGE, n_boot=50)
    assert report["auc"] == 1.0 and report["n"] == 4 and report["skipped_rows"] == 1
    assert report["judge_version"] == JUDGE.version
    with pytest.raises(EvaluationInputError, match="needs columns"):
        ears_eval(path, "question", "reply", "label", ["good"], judge=JUDGE)
