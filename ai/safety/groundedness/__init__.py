"""The groundedness judge: is every factual claim of a reply supported by the passage it cites?

    judge = GroundednessJudge.load()
    verdict = judge.judge(reply, passage_text, client_turns)
    verdict.passed, verdict.reason ("ungrounded_claim" | "passage_unused" | None), verdict.explain()

Model, training command and measured figures: ``model/MODEL_CARD.md``; method: ``judge.py``.
"""

from ai.safety.groundedness.judge import ClaimSupport, GroundednessJudge, Verdict, claim_texts

__all__ = ["ClaimSupport", "GroundednessJudge", "Verdict", "claim_texts"]
