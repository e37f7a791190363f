"""What the shipped EARS judge does on real counselling, and the model card that reports it.

- ESConv: conversation score against the seeker's empathy rating (Spearman, bootstrap CI).
- Pass rates at the default threshold per source: counsel-chat answers, ESConv and AnnoMI 8-turn windows
  (the shape ``configs/real_data.yaml`` feeds the stage) and whole dialogues, EmpatheticDialogues chats.
- Circularity guard: replies built from stock empathy phrases, with no reference to what the client
  said, against the real counsel-chat answers to the same question.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ai.safety.ears.corpora import (
    LabelledConversation,
    read_annomi_transcripts,
    read_counsel_chat,
    read_empathetic_dialogues,
    read_esconv,
)
from ai.safety.ears.evaluate import auc_interval, spearman_interval
from ai.safety.ears.judge import DEFAULT_THRESHOLD, EarsJudge

# Built from the phrases the old word-matching rubric rewarded (and a template composer produced):
# each names a feeling, validates and offers a next step, and none refers to anything the client said.
STOCK_REPLIES = (
    "It sounds like you're feeling really overwhelmed right now. That makes sense, and it's okay to feel "
    "this way. Thank you for sharing. Would you like to explore together what might help?",
    "I hear you. That sounds really hard, and you're not alone. What would feel like one small step "
    "forward this week?",
    "I'm so sorry you're going through this. Your feelings are valid. When you're ready, we can work on "
    "this together, one small step at a time.",
)
WINDOW = {"annomi": (8, 4), "esconv": (8, 3)}  # (turns, stride) as in configs/real_data.yaml


def validate_judge(judge: EarsJudge, data_dir: Path, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    conversations = data_dir / "conversations"
    esconv = read_esconv(conversations)
    annomi = read_annomi_transcripts(conversations / "annomi_AnnoMI-full.csv")
    counsel = read_counsel_chat(conversations / "counselchat_20200325_counsel_chat.csv")
    empathetic = read_empathetic_dialogues(conversations / "empatheticdialogues")
    rated = [c for c in esconv if c.label is not None]
    rated_scores = _scores(judge, rated)
    annomi_scores = _scores(judge, annomi)
    sets = {
        "counsel-chat answers": counsel,
        "ESConv dialogues": esconv,
        "ESConv 8-turn windows": windows(esconv, *WINDOW["esconv"]),
        "AnnoMI transcripts": annomi,
        "AnnoMI 8-turn windows": windows(annomi, *WINDOW["annomi"]),
        "EmpatheticDialogues chats": empathetic,
    }
    return {
        "threshold": DEFAULT_THRESHOLD,
        "esconv_empathy": spearman_interval(
            np.array([c.label for c in rated]), rated_scores, n_boot=n_boot, seed=seed
        ),
        "annomi_sessions": auc_interval(
            np.array([c.label == 1.0 for c in annomi]), annomi_scores, n_boot=n_boot, seed=seed
        ),
        "pass_rates": {name: score_distribution(_scores(judge, convs)) for name, convs in sets.items()},
        "circularity": circularity_guard(judge, counsel),
    }


def score_distribution(scores: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    quantiles = np.percentile(scores, [5, 25, 50, 75]) if scores.size else [None] * 4
    return {
        "n": int(scores.size),
        "pass_rate": round(float(np.mean(scores >= threshold)), 4) if scores.size else None,
        **{
            f"p{q}": None if v is None else round(float(v), 4)
            for q, v in zip((5, 25, 50, 75), quantiles, strict=True)
        },
    }


def circularity_guard(judge: EarsJudge, counsel: list[LabelledConversation]) -> dict[str, Any]:
    """For each counsel-chat question with at least two answers: does each stock reply score below the
    median real answer to that question?"""
    by_question: dict[str, list[LabelledConversation]] = defaultdict(list)
    for conversation in counsel:
        by_question[conversation.group].append(conversation)
    questions = [answers for answers in by_question.values() if len(answers) >= 2]
    real = _scores(judge, [a for answers in questions for a in answers])
    stock_conversations = [
        [answers[0].messages[0], {"role": "assistant", "content": reply}]
        for answers in questions
        for reply in STOCK_REPLIES
    ]
    stock = np.array(
        [c.score for c in judge.judge_conversations(stock_conversations, details=False)]
    ).reshape(len(questions), len(STOCK_REPLIES))
    medians, start = [], 0
    for answers in questions:
        medians.append(float(np.median(real[start : start + len(answers)])))
        start += len(answers)
    below = stock < np.array(medians)[:, None]
    return {
        "questions": len(questions),
        "stock_below_median_real": {
            f"stock_{i + 1}": round(float(below[:, i].mean()), 4) for i in range(len(STOCK_REPLIES))
        },
        "stock_mean_score": [round(float(v), 4) for v in stock.mean(axis=0)],
        "real_median_score": round(float(np.median(real)), 4),
    }


def windows(conversations: list[LabelledConversation], size: int, stride: int) -> list[LabelledConversation]:
    """Windows of ``size`` messages every ``stride``, each trimmed to start on a client message and end
    on a reply (what the pipeline's ESConv and AnnoMI readers emit)."""
    result = []
    for conversation in conversations:
        messages = conversation.messages
        for start in range(0, max(1, len(messages) - 1), stride):
            window = messages[start : start + size]
            while window and window[0]["role"] != "user":
                window = window[1:]
            while window and window[-1]["role"] != "assistant":
                window = window[:-1]
            if window:
                result.append(LabelledConversation(window, conversation.source, conversation.group))
    return result


def _scores(judge: EarsJudge, conversations: list[LabelledConversation]) -> np.ndarray:
    judged = judge.judge_conversations([c.messages for c in conversations], details=False)
    return np.array([c.score for c in judged])
