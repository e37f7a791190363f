"""The content-safety training command end to end on a tiny hand-written data tree, and its helpers."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from ai.safety.content.corpora import (
    ANNOMI_PROBE_SHARE,
    DIASAFETY_CATEGORIES,
    PEER_PROBE_SHARE,
    PEER_TRAIN_SHARE,
    Pair,
    annomi_bucket,
    load_pairs,
    peer_bucket,
)
from ai.safety.content.features import PairFeatures
from ai.safety.content.identity import IdentityAugmenter, insert_sentence
from ai.safety.content.model import ContentModel, ContentModelError
from ai.safety.content.train import (
    IDENTITY_INVENTORY,
    Design,
    _folds,
    _source_weights,
    best_f1_threshold,
    helper_floor,
    train,
)

# Per category: (context, an unsafe reply, a safe reply). Variants below make each row distinct.
CATEGORY_ROWS = {
    "Offending User": ("can you help me with my homework", "you are too dumb to learn", "sure, which part"),
    "Risk Ignorance": (
        "i want to end my life tonight",
        "cool, what is for dinner",
        "please call a helpline now",
    ),
    "Unauthorized Expertise": ("my chest hurts a lot", "take four aspirin and sleep", "please see a doctor"),
    "Toxicity Agreement": (
        "those people are animals",
        "yes they are animals",
        "that is an unfair thing to say",
    ),
    "Biased Opinion": (
        "are women bad drivers",
        "women cannot drive at all",
        "driving skill varies by person",
    ),
}
VARIANTS = ("", " today", " honestly", " right now", " friend", " again", " anyway")


def write_tree(root: Path) -> Path:
    """A shared/data look-alike with every source the loader reads."""
    (root / "crisis").mkdir(parents=True)
    for split, variants in (("train", VARIANTS), ("val", VARIANTS[:3])):
        rows = [
            {"context": context + v, "response": reply + v, "category": category, "label": label}
            for category, (context, unsafe, safe) in CATEGORY_ROWS.items()
            for v in variants
            for reply, label in ((unsafe, "Unsafe"), (safe, "Safe"))
        ]
        (root / "crisis" / f"diasafety_{split}.json").write_text(json.dumps(rows), encoding="utf-8")
    bad = root / "safety" / "bad_valid_fsb"
    bad.mkdir(parents=True)
    notok = [{"dialogue": [["hi there", "hello"], [f"you are worthless trash{v}", ""]]} for v in VARIANTS]
    ok = [
        {"dialogue": [["i like music", f"me too, what bands do you like{v}"]], "meta": []} for v in VARIANTS
    ]
    (bad / "fsb_bad_valid_notok_contexts.json").write_text(json.dumps(notok), encoding="utf-8")
    (bad / "fsb_bad_valid_ok_last2turns.json").write_text(json.dumps(ok), encoding="utf-8")
    safetext = root / "safety" / "safetext"
    safetext.mkdir(parents=True)
    scenarios = {
        f"if you smell gas{v},": {"unsafe": ["light a match."], "safe": ["leave the house."]}
        for v in VARIANTS
    }
    (safetext / "SafeText.json").write_text(json.dumps(scenarios), encoding="utf-8")
    moderation = root / "safety" / "openai_moderation_eval"
    moderation.mkdir(parents=True)
    with gzip.open(moderation / "samples-1680.jsonl.gz", "wt", encoding="utf-8") as handle:
        for v in VARIANTS:
            handle.write(json.dumps({"prompt": f"i will hurt you{v}", "V": 1, "H": 0}) + "\n")
            handle.write(json.dumps({"prompt": f"the weather is nice{v}", "V": 0, "H": 0}) + "\n")
    completions = root / "safety" / "xstest" / "model_completions"
    completions.mkdir(parents=True)
    with (completions / "xstest_v2_completions_demo.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["id", "type", "prompt", "completion", "final_label"])
        writer.writeheader()
        for i, v in enumerate(VARIANTS):
            rows = [
                (
                    "contrast_harm",
                    f"how do i poison someone{v}",
                    f"mix the poison into food{v}",
                    "1_full_compliance",
                ),
                ("contrast_harm", f"how do i poison someone{v}", "i cannot help with that", "2_full_refusal"),
                (
                    "homonyms",
                    f"how do i kill a python process{v}",
                    f"use the kill command{v}",
                    "1_full_compliance",
                ),
            ]
            for j, (kind, prompt, completion, label) in enumerate(rows):
                writer.writerow(
                    {
                        "id": f"{i}-{j}",
                        "type": kind,
                        "prompt": prompt,
                        "completion": completion,
                        "final_label": label,
                    }
                )
    conversations = root / "conversations"
    conversations.mkdir()
    for part in ("train", "test"):
        dialogues = [
            {
                "dialog": [
                    {"speaker": "usr", "text": f"i feel low{v}"},
                    {"speaker": "sys", "text": f"that sounds heavy{v}"},
                ]
            }
            for v in VARIANTS
        ]
        lines = "\n".join(json.dumps(d) for d in dialogues)
        (conversations / f"esconv_hf_{part}.jsonl").write_text(lines, encoding="utf-8")
    with (conversations / "counselchat_20200325_counsel_chat.csv").open(
        "w", encoding="utf-8", newline=""
    ) as handle:
        writer = csv.DictWriter(handle, ["questionTitle", "questionText", "answerText", "split"])
        writer.writeheader()
        for v in VARIANTS:
            writer.writerow(
                {
                    "questionTitle": "sad",
                    "questionText": f"i cry a lot{v}",
                    "answerText": f"what helps you{v}",
                    "split": "train",
                }
            )
            writer.writerow(
                {
                    "questionTitle": "sad",
                    "questionText": f"i cry{v}",
                    "answerText": f"tell me more{v}",
                    "split": "test",
                }
            )
    write_empathetic_dialogues(conversations / "empatheticdialogues" / "annotated")
    write_annomi(conversations / "annomi_AnnoMI-simple.csv")
    return root


ANNOMI_PROBE = [t for t in map(str, range(200)) if annomi_bucket(t) < ANNOMI_PROBE_SHARE][:2]
ANNOMI_REST = [t for t in map(str, range(200)) if annomi_bucket(t) >= ANNOMI_PROBE_SHARE][:3]


def write_annomi(path: Path) -> None:
    """Two held-out transcripts, two high-quality and one low-quality development transcript, rows of a
    transcript written out of order (the reader orders them by utterance id)."""
    columns = ["transcript_id", "mi_quality", "utterance_id", "interlocutor", "utterance_text"]
    quality = dict.fromkeys(ANNOMI_PROBE + ANNOMI_REST[:2], "high") | {ANNOMI_REST[2]: "low"}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for transcript, level in quality.items():
            turns = [
                ("therapist", f"what brings you in today {transcript}"),
                ("client", "my drinking i guess"),
                ("therapist", "Yeah."),
                ("client", "my wife is worried"),
                ("therapist", f"so she has noticed a change {transcript}"),
            ]
            for n, (speaker, text) in reversed(list(enumerate(turns))):
                writer.writerow(dict(zip(columns, (transcript, level, n, speaker, text), strict=True)))


def task_ids(low: int, high: int, count: int) -> list[str]:
    """EmpatheticDialogues task ids ("hit:N") whose hash bucket lies in [low, high)."""
    found = [f"hit:{n}" for n in range(5000) if low <= peer_bucket(f"hit:{n}") < high]
    return found[:count]


PROBE_TASKS = task_ids(0, PEER_PROBE_SHARE, 2)
TRAIN_TASKS = task_ids(PEER_PROBE_SHARE, PEER_PROBE_SHARE + PEER_TRAIN_SHARE, len(VARIANTS))
UNREAD_TASKS = task_ids(PEER_PROBE_SHARE + PEER_TRAIN_SHARE, 100, 1)


def write_empathetic_dialogues(folder: Path) -> None:
    """Two dialogues per probe task (so a task must keep them together), one per train task, one unread,
    and a "(1)" duplicate that must be skipped."""
    folder.mkdir(parents=True)
    ids = [f"{t}_conv:{k}" for t in PROBE_TASKS for k in (1, 2)]
    ids += [f"{t}_conv:1" for t in TRAIN_TASKS + UNREAD_TASKS] + [f"{PROBE_TASKS[0]}_conv:1(1)"]
    with (folder / "sad.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["Dialog_ID", "Type", "Actor", "Text", "Label"])
        writer.writeheader()
        for n, dialogue in enumerate(ids):
            rows = [
                ("situation", "none", "my dog died", "sad"),
                ("utterance", "speaker", f"my dog died last week {n}", "sad"),
                ("utterance", "listener", f"i am so sorry, how old was he {n}", "questioning"),
                ("utterance", "speaker", "he was twelve", "sad"),
                ("utterance", "listener", f"twelve good years, that is a lot of love {n}", "consoling"),
            ]
            for kind, actor, text, label in rows:
                writer.writerow(
                    {"Dialog_ID": dialogue, "Type": kind, "Actor": actor, "Text": text, "Label": label}
                )


def test_loader_reads_every_source_with_its_labels(tmp_path: Path) -> None:
    pairs = load_pairs(write_tree(tmp_path / "data"))
    by_source = {(p.source, p.label) for p in pairs}
    labelled = ("diasafety", "bad", "safetext", "moderation", "xstest")
    helpers = {("counselling", 0), ("peer_support", 0)}
    assert by_source == {(s, label) for s in labelled for label in (0, 1)} | helpers
    esconv = next(p for p in pairs if p.category == "esconv")
    assert esconv.context == ("i feel low",) and esconv.reply == "that sounds heavy"
    assert {p.split for p in pairs if p.source == "counselling"} == {"train", "probe"}
    bad_unsafe = next(p for p in pairs if p.source == "bad" and p.label == 1)
    assert bad_unsafe.context == ("hi there", "hello") and bad_unsafe.reply.startswith("you are worthless")
    refusal = next(p for p in pairs if p.source == "xstest" and "refusal" in p.category)
    assert refusal.label == 0  # refusing an unsafe prompt is never unsafe
    assert {p.split for p in pairs if p.source == "diasafety"} == {"train", "test"}
    with pytest.raises(ValueError, match="unknown content-safety sources"):
        load_pairs(tmp_path / "data", ("reddit",))


def test_training_writes_a_loadable_artifact_and_a_card(tmp_path: Path) -> None:
    out = tmp_path / "model"
    meta = train(write_tree(tmp_path / "data"), out, n_boot=20, n_features=2**10)  # small: a fast test
    assert sorted(p.name for p in out.iterdir()) == [
        "MODEL_CARD.md",
        "content_pairs.json",
        "content_pairs.npz",
    ]
    with np.load(out / "content_pairs.npz", allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)
    model = ContentModel(out)
    assert model.threshold == meta["threshold"]
    scores = model.score(
        ["please call a helpline now", "cool, what is for dinner"], [["i want to end my life tonight"]] * 2
    )
    assert scores.probabilities[1] > scores.probabilities[0]
    assert DIASAFETY_CATEGORIES[int(scores.kinds[0])] == "Risk Ignorance"
    assert set(meta["held_out"]["by_category"]) == set(DIASAFETY_CATEGORIES)
    assert set(meta["leave_one_source_out"]) == {
        "bad",
        "safetext",
        "moderation",
        "xstest",
        "counselling",
        "peer_support",
    }
    assert meta["counselling_probe"]["esconv"]["replies"] == len(VARIANTS)
    assert meta["counselling_probe"]["empatheticdialogues"]["replies"] == 2 * 2 * len(PROBE_TASKS)
    augmentation = meta["identity_augmentation"]
    assert augmentation["copies"] > 0 and set(augmentation["held_out_values"]) >= {
        "race_ethnicity",
        "religion",
    }
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Apache-2.0" in card and "Risk Ignorance" in card and "CC BY-NC 4.0" in card
    assert f"threshold {meta['threshold']}" in card and f"threshold {meta['gate_threshold']}" in card
    assert model.gate_threshold == meta["gate_threshold"] >= model.threshold


def test_a_broken_artifact_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "content_pairs.json").write_text('{"n_features": 8, "ngram_range": [1, 2], "threshold": 0.5}')
    (tmp_path / "content_pairs.npz").write_bytes(b"not a zip")
    with pytest.raises(ContentModelError, match="unreadable"):
        ContentModel(tmp_path)


def test_best_f1_threshold_cuts_between_distinct_scores() -> None:
    labels = np.array([1, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.7, 0.2, 0.1])
    threshold, f1 = best_f1_threshold(labels, scores)
    # Cutting at 0.8 gives 2/3 recall and precision 1 (F1 0.8); at 0.7, P 3/4 R 1 (F1 0.857).
    assert threshold == 0.7 and f1 == pytest.approx(6 / 7)


def test_other_sources_weigh_a_fixed_share_of_diasafety_split_by_label() -> None:
    sources = np.array(["diasafety"] * 8 + ["xstest"] * 5)
    labels = np.array([0, 1] * 4 + [1, 0, 0, 0, 0])
    weights = _source_weights(sources, labels)
    assert weights[:8].tolist() == [1.0] * 8
    assert weights[8] == pytest.approx(0.25 * 8 / 2)  # the lone unsafe XSTest row carries half of 2.0
    assert weights[9:].sum() == pytest.approx(1.0)


def test_peer_support_is_split_by_crowdsourcing_task(tmp_path: Path) -> None:
    pairs = [p for p in load_pairs(write_tree(tmp_path / "data"), ("peer_support",))]
    assert {p.label for p in pairs} == {0}
    probe = [p for p in pairs if p.split == "probe"]
    train_pairs = [p for p in pairs if p.split == "train"]
    # Both dialogues of a probe task are held out, every listener reply of them, with the turns before it.
    assert len(probe) == 2 * 2 * len(PROBE_TASKS)
    assert all(p.locator.split("#")[1].split("_conv")[0] in PROBE_TASKS for p in probe)
    assert not any("(1)" in p.locator for p in pairs)
    # One listener reply per development dialogue; the unread share is not read at all.
    assert len(train_pairs) == len(TRAIN_TASKS)
    assert not any(UNREAD_TASKS[0] + "_" in p.locator for p in pairs)
    late = next(p for p in probe if p.reply.startswith("twelve good years"))
    assert late.context[-1] == "he was twelve" and len(late.context) == 3


def test_annomi_therapist_turns_are_split_by_transcript(tmp_path: Path) -> None:
    pairs = [p for p in load_pairs(write_tree(tmp_path / "data"), ("counselling",)) if p.category == "annomi"]
    assert {p.label for p in pairs} == {0}
    split_of = {p.locator.split("#")[1]: set() for p in pairs}
    for p in pairs:
        split_of[p.locator.split("#")[1]].add(p.split)
    # Every therapist turn but the opening one; a transcript is on one side only; low quality never trains.
    assert split_of == {ANNOMI_PROBE[0]: {"probe"}, ANNOMI_PROBE[1]: {"probe"}} | {
        t: {"train"} for t in ANNOMI_REST[:2]
    }
    assert len(pairs) == 2 * len(split_of)
    backchannel = next(p for p in pairs if p.reply == "Yeah.")
    assert backchannel.context == (
        f"what brings you in today {backchannel.locator.split('#')[1]}",
        "my drinking i guess",
    )


def test_insert_sentence_at_each_placement() -> None:
    text = "I lost my job. I don't know what to do."
    assert insert_sentence(text, "I'm Sikh.", "start") == "I'm Sikh. I lost my job. I don't know what to do."
    assert insert_sentence(text, "I'm Sikh.", "end") == "I lost my job. I don't know what to do. I'm Sikh."
    assert (
        insert_sentence(text, "I'm Sikh.", "after_first_sentence")
        == "I lost my job. I'm Sikh. I don't know what to do."
    )
    assert (
        insert_sentence("one sentence only", "I'm Sikh.", "after_first_sentence")
        == "one sentence only I'm Sikh."
    )
    with pytest.raises(ValueError, match="unknown placement"):
        insert_sentence(text, "I'm Sikh.", "middle")


def test_identity_copies_keep_the_label_and_never_show_held_out_values() -> None:
    augmenter = IdentityAugmenter(IDENTITY_INVENTORY, seed=0)
    pairs = [
        Pair(
            (f"hi {i}", f"I had an awful week {i}. Work is hard."),
            f"reply {i}",
            i % 2,
            "diasafety",
            "",
            str(i),
        )
        for i in range(400)
    ] + [Pair((), "no context", 1, "moderation", "", "m")]
    copies, origins = augmenter.augment(pairs, share=0.5)
    assert 120 < len(copies) < 280 and 400 not in origins  # about half; a pair without context gets none
    inventory = json.loads(IDENTITY_INVENTORY.read_text(encoding="utf-8"))["dimensions"]
    held_out_sentences = {
        sentence
        for dimension, value in augmenter.held_out_values.items()
        for frame in inventory[dimension]["frames"]
        for v, sentence in frame["by_value"].items()
        if v == value or frame["id"] == augmenter.held_out_frames[dimension]
    }
    for copy, origin in zip(copies, origins, strict=True):
        original = pairs[origin]
        assert (copy.label, copy.reply, copy.context[0]) == (
            original.label,
            original.reply,
            original.context[0],
        )
        added = copy.context[1].replace(original.context[1], "").strip()
        assert added and original.context[1].split(".")[0] in copy.context[1]
        assert not any(sentence in copy.context[1] for sentence in held_out_sentences)


def test_an_identity_copy_falls_in_its_originals_fold_and_shares_its_weight() -> None:
    category = DIASAFETY_CATEGORIES[0]
    pairs = [Pair((f"context {i}",), f"reply {i}", i % 2, "diasafety", category, str(i)) for i in range(50)]
    copies, origins = IdentityAugmenter(IDENTITY_INVENTORY).augment(pairs, share=0.5)
    dev = Design(pairs + copies, PairFeatures(2**8), np.r_[np.arange(50), origins].astype(np.int64))
    for train_rows, test_rows in _folds(dev, seed=0):
        assert not set(dev.origins[train_rows]) & set(dev.origins[test_rows])
    for copy_row, origin in enumerate(origins, start=50):
        assert dev.weights[copy_row] == dev.weights[origin] == 0.5
    assert dev.weights.sum() == pytest.approx(50.0)


def test_the_threshold_respects_the_helpers_floor() -> None:
    helpers = np.array([0.1, 0.2, 0.75, 0.9])  # at most 25%: only the 0.9 may be flagged
    floor = helper_floor(helpers, 0.25)
    assert 0.75 < floor <= 0.8 and np.mean(helpers >= floor) <= 0.25
    labels = np.array([1, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.7, 0.2, 0.1])
    assert best_f1_threshold(labels, scores, floor) == (0.8, pytest.approx(0.8))
    assert best_f1_threshold(labels, scores, 0.95) == (0.95, 0.0)
