"""Topic-matched grounding on a labelled sample: which passage may ground a reply to which client.

``tests/data/grounding_pairs.jsonl``: 30 client messages written for this project, each labelled with
the passages (of the 8 in the groundedness judge's labelled set) that are about the client's problem;
6 clients have no fitting passage. The default rule (topic agreement + LSA floor 0.10) is measured here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ai.safety.groundedness import GroundednessJudge
from ai.safety.groundedness.train import LABELLED, read_labelled
from ai.sourcing.synthetic.matching import GroundingMatcher, grounding_taxonomy
from ai.sourcing.synthetic.options import GroundedOptions

PAIRS = Path(__file__).resolve().parents[2] / "data" / "grounding_pairs.jsonl"


@pytest.fixture(scope="module")
def sample() -> tuple[list[dict[str, object]], dict[str, str], GroundednessJudge]:
    clients = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    passages, _ = read_labelled(LABELLED)
    return clients, passages, GroundednessJudge.load()


def _precision_recall(chosen: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    true_positive = float((chosen & gold).sum())
    return true_positive / max(float(chosen.sum()), 1.0), true_positive / float(gold.sum())


def test_topic_agreement_with_the_default_floor_picks_the_right_passages(sample) -> None:  # type: ignore[no-untyped-def]
    clients, passages, judge = sample
    names = list(passages)
    floor = GroundedOptions(mode="grounded").min_similarity
    matcher = GroundingMatcher(grounding_taxonomy(), judge.embed, floor)
    matches = matcher.candidates([str(c["client"]) for c in clients], [passages[n] for n in names])
    chosen = np.array(
        [[any(m.passage_index == j for m in row) for j in range(len(names))] for row in matches]
    )
    gold = np.array([[n in c["grounds"] for n in names] for c in clients])  # type: ignore[operator]
    precision, recall = _precision_recall(chosen, gold)
    assert precision >= 0.9 and recall >= 0.8, (precision, recall)
    # Clients whose problem no passage covers get no citation at all.
    assert not chosen[~gold.any(axis=1)].any()

    # The similarity floor alone, at the same recall, would cite the wrong passage most of the time.
    similarity = (
        judge.embed([str(c["client"]) for c in clients]) @ judge.embed([passages[n] for n in names]).T
    )
    alone = similarity >= np.quantile(similarity[gold], 1 - recall)
    assert _precision_recall(alone, gold)[0] < 0.5


def test_a_passage_is_about_its_main_topics_not_every_word_it_mentions(sample) -> None:  # type: ignore[no-untyped-def]
    _, passages, judge = sample
    matcher = GroundingMatcher(grounding_taxonomy(), judge.embed, 0.1)
    assert matcher.passage_topics(passages["grief"]) == {"grief"}  # mentions anger once
    assert matcher.topics("I lose my temper and then my grief comes back") == {"anger", "grief"}
    assert not matcher.agrees("My boss gives me too much work.", passages["panic"])


def test_relationship_and_family_topics_catch_how_clients_say_it_but_not_academic_usage(sample) -> None:  # type: ignore[no-untyped-def]
    _, _, judge = sample
    matcher = GroundingMatcher(grounding_taxonomy(), judge.embed, 0.1)
    assert matcher.topics("My ex keeps texting me since we broke up and I feel jealous.") == {"relationships"}
    assert matcher.topics("My stepdad and I argue about custody of my little brother.") == {"family_conflict"}
    assert "relationships" in matcher.topics("Our relationship changed after my fiance cheated.")
    # Papers say "relationship" for any association; that is no relationship problem.
    assert not matcher.topics("We examined the relationship between inflammatory pain and sleep quality.")
    assert not matcher.topics("The sample was separated into a couple of groups by age.")
