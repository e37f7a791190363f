"""EARS training corpora and the validation on real counselling (shared data)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ai.safety.ears.corpora import (
    CorpusError,
    LabelledConversation,
    load_training_pairs,
    read_annomi_transcripts,
    read_counsel_chat,
    read_esconv,
    read_mi_advise_pairs,
)
from ai.safety.ears.judge import DEFAULT_THRESHOLD, EarsJudge
from ai.safety.ears.validation import STOCK_REPLIES, circularity_guard, score_distribution, windows

JUDGE = EarsJudge()


def test_training_pairs_come_from_every_labelled_source(shared_data: Path) -> None:
    examples = load_training_pairs(shared_data)
    by_source = Counter(e.source for e in examples)
    assert by_source["epitome"] == 3084 and by_source["mi_gold"] == 1681 and by_source["mi_advise"] == 480
    assert by_source["annomi"] > 4000
    annomi = [e for e in examples if e.source == "annomi"]
    assert {e.detail for e in annomi if e.labels["reflect"]} >= {"simple", "complex"}
    # AnnoMI replies carry the client turns before them; MI sentences have no client text.
    assert sum(bool(e.client) for e in annomi) > 0.9 * len(annomi)
    assert all(e.client == "" for e in examples if e.source == "mi_gold")


def test_stock_empathy_scores_below_the_median_real_answer_to_the_same_question(shared_data: Path) -> None:
    """The circularity guard: phrases that name a feeling, validate and offer a step, addressed to no one
    in particular, must not outrank what real counsellors wrote to that client."""
    counsel = read_counsel_chat(shared_data / "conversations" / "counselchat_20200325_counsel_chat.csv")
    guard = circularity_guard(JUDGE, counsel)
    assert guard["questions"] > 300
    assert all(share > 0.5 for share in guard["stock_below_median_real"].values())
    assert max(guard["stock_mean_score"]) < guard["real_median_score"]


def test_real_counselling_passes_at_the_default_threshold(shared_data: Path) -> None:
    counsel = read_counsel_chat(shared_data / "conversations" / "counselchat_20200325_counsel_chat.csv")
    scores = np.array([c.score for c in JUDGE.judge_conversations([c.messages for c in counsel])])
    assert score_distribution(scores)["pass_rate"] > 0.9


def test_the_stage_path_scores_exactly_like_the_detailed_path(shared_data: Path) -> None:
    """``details=False`` (numpy over the batch's words) against the per-reply path (Python sets), on
    real ESConv, AnnoMI and counsel-chat conversations, several client turns per reply included."""
    folder = shared_data / "conversations"
    conversations = [
        *[c.messages for c in read_esconv(folder)[:150]],
        *[
            c.messages
            for c in windows(read_annomi_transcripts(folder / "annomi_AnnoMI-full.csv"), 8, 4)[:300]
        ],
        *[c.messages for c in read_counsel_chat(folder / "counselchat_20200325_counsel_chat.csv")[:150]],
        [
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": ""},
            {"role": "user", "content": "I'm not safe"},
            {"role": "assistant", "content": "Are you safe right now?"},
        ],
        [],
    ]
    detailed = JUDGE.judge_conversations(conversations)
    quick = JUDGE.judge_conversations(conversations, details=False)
    assert [d.score for d in detailed] == [q.score for q in quick]
    assert [d.mi_consistency for d in detailed] == [q.mi_consistency for q in quick]
    assert [len(d.replies) for d in detailed] == [q.n_replies for q in quick]
    assert [[r.turn for r in d.replies if r.safety_step] for d in detailed] == [q.safety_turns for q in quick]
    assert quick[-2].safety_turns == [3] and quick[-1].n_replies == 0


def test_windows_start_on_a_client_turn_and_end_on_a_reply() -> None:
    roles = ["assistant", "user", "assistant", "user", "user", "assistant", "user"]
    messages = [{"role": r, "content": str(i)} for i, r in enumerate(roles)]
    result = windows([LabelledConversation(messages, "t", "g")], size=4, stride=2)
    assert [[m["content"] for m in w.messages] for w in result] == [["1", "2"], ["3", "4", "5"], ["4", "5"]]
    assert all(w.group == "g" for w in result)


def test_score_distribution() -> None:
    result = score_distribution(np.array([0.0, 0.02, 0.1, 0.5]), threshold=DEFAULT_THRESHOLD)
    assert result["n"] == 4 and result["pass_rate"] == 0.5
    assert score_distribution(np.array([]))["pass_rate"] is None
    assert len(STOCK_REPLIES) == 3


def test_a_missing_or_malformed_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="file not found"):
        read_counsel_chat(tmp_path / "absent.csv")
    for part in ("train", "valid", "test"):
        (tmp_path / f"advise_{part}.txt").write_text("text:do it\tlabels:maybe try it\n", encoding="utf-8")
    assert len(read_mi_advise_pairs(tmp_path)) == 6
    (tmp_path / "advise_valid.txt").write_text("just some words\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"advise_valid\.txt:1"):
        read_mi_advise_pairs(tmp_path)
