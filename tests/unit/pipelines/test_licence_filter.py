"""Licence classes, the licence stage, and the licence mix in the manifest counts and the dataset card."""

from __future__ import annotations

import pytest

from ai.core.licences import licence_use
from ai.core.records import Provenance, Turn, make_conversation
from ai.infrastructure.production.export_to_ready_packages import licence_filter_effect, render_dataset_card
from ai.pipelines.orchestrator.licence_filter import LicenceStage
from ai.pipelines.orchestrator.run_output import DialogueCounts

ESCONV = "CC BY-NC 4.0 (thu-coai/Emotional-Support-Conversation; academic research use only)"
COUNSEL_CHAT = "MIT (nbertagnolli/counsel-chat)"
ANNOMI = "No licence stated (uccollab/AnnoMI)"


@pytest.mark.parametrize(
    ("text", "use"),
    [
        (ESCONV, "non-commercial"),
        ("CC BY-NC-SA 3.0 (anuradha1992/Boosting-with-MI-Strategy)", "non-commercial"),
        ("CC BY 4.0; research use only", "non-commercial"),
        (COUNSEL_CHAT, "commercial"),
        ("Apache-2.0", "commercial"),
        (ANNOMI, "unknown"),
        ("per book (see PROVENANCE.md)", "unknown"),
        ("", "unknown"),
    ],
)
def test_licence_use_classes(text: str, use: str) -> None:
    assert licence_use(text) == use


def record(name: str, licence: str, text: str):  # type: ignore[no-untyped-def]
    turns = [Turn("client", text), Turn("therapist", "I hear you.")]
    return make_conversation(turns, Provenance(kind="dataset", name=name, license=licence))


def test_the_stage_keeps_allowed_uses_and_licence_ids_and_quarantines_the_rest() -> None:
    batch = [
        record("esconv", ESCONV, "a"),
        record("counsel-chat", COUNSEL_CHAT, "b"),
        record("annomi", ANNOMI, "c"),
    ]
    result = LicenceStage(LicenceStage.Options(allow=["commercial"])).process(batch)
    assert [r.source.name for r in result.kept] == ["counsel-chat"]
    assert {r.reason for r in result.rejected} == {"licence_not_allowed"}
    assert "cc-by-nc-4.0, non-commercial use" in result.rejected[0].message
    assert result.stats == {"non-commercial": 1, "unknown": 1}
    by_id = LicenceStage(LicenceStage.Options(allow=["cc-by-nc-4.0", "unknown"])).process(batch)
    assert [r.source.name for r in by_id.kept] == ["esconv", "annomi"]
    assert len(LicenceStage().process(batch).kept) == 3  # on, but allowing every use


def test_unknown_allow_entries_are_refused() -> None:
    with pytest.raises(ValueError, match="allow must list uses"):
        LicenceStage.Options(allow=["free-for-all"])


def test_manifest_counts_and_card_show_records_dialogues_and_what_a_filter_removes() -> None:
    counts = DialogueCounts()
    for _ in range(5):  # one ESConv dialog cut into five windows
        counts.add("therapeutic", "esconv", ESCONV, "d_esconv_1")
    counts.add("therapeutic", "counsel-chat", COUNSEL_CHAT, "d_cc_1")
    counts.add("therapeutic", "counsel-chat", COUNSEL_CHAT, "d_cc_2")
    counts.add("emotional_support", "annomi", ANNOMI, "d_annomi_1")
    distinct = counts.to_dict()
    assert distinct["total"] == 4
    assert distinct["by_category"] == {"emotional_support": 1, "therapeutic": 3}
    assert distinct["records_by_source"]["esconv"] == 5 and distinct["by_source"]["esconv"] == 1
    assert distinct["by_licence_use"] == {"commercial": 2, "non-commercial": 1, "unknown": 1}
    manifest = {
        "run_id": "r1",
        "sources": [
            {"name": "esconv", "kind": "dataset", "license": ESCONV, "category": "therapeutic"},
            {"name": "counsel-chat", "kind": "dataset", "license": COUNSEL_CHAT, "category": "therapeutic"},
        ],
        "counts": {
            "exported": 8,
            "categories": {"therapeutic": 7, "emotional_support": 1},
            "distinct_dialogues": distinct,
        },
    }
    effect = licence_filter_effect(manifest)
    assert "would remove 6 of 8 records (75%; 2 distinct dialogues): 5 non-commercial, 1 unknown" in effect
    card = render_dataset_card(manifest, {"name": "t"}, ["en"])
    assert "## Records and distinct dialogues" in card and "| esconv | 5 | 1 |" in card
    assert "## Licence mix" in card and "| non-commercial | 5 | 1 |" in card
    assert "| esconv | dataset | therapeutic |" in card and "**non-commercial** |" in card
