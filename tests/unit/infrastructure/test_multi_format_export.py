"""Every export format is read back by its standard reader and compared with the records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import pytest

from ai.core.records import (
    Conversation,
    LineageEntry,
    PassageRef,
    Provenance,
    Turn,
    encode,
    make_conversation,
    to_openai,
)
from ai.infrastructure.export.multi_format import (
    EXPORT_SUMMARY,
    FORMATS,
    JSONLD_CONTEXT,
    ExportError,
    dataset_records,
    from_openai,
    render_chatml,
    write_formats,
)

ROLE = {"client": "user", "therapist": "assistant", "system": "system"}
SPLITS = ("train", "validation", "test")


def make_records() -> list[Conversation]:
    records = []
    for i in range(24):
        turns = [
            Turn(
                "client", f'I can\'t sleep, night {i}: "everything" races, and then\nI worry — ünïcode {i}.'
            ),
            Turn("therapist", f"That sounds exhausting, {i}; what helps, even a little?"),
        ]
        if i % 3 == 0:
            turns += [
                Turn("client", f"Reading helps {i}."),
                Turn("therapist", f"Let's build on reading {i}."),
            ]
        if i % 4 == 0:
            turns.insert(0, Turn("system", "You are a supportive listener."))
        records.append(
            make_conversation(
                turns,
                Provenance(
                    "dataset",
                    f"source-{i % 2}",
                    uri=f"data/s{i % 2}.jsonl",
                    license="CC-BY-4.0",
                    locator={"file_line": f"s{i % 2}.jsonl:{i + 1}"},
                ),
                category="therapeutic",
                language="en",
                tags=[f"topic:{i % 3}"] if i % 2 else [],
                scores={"quality": 0.5 + i / 100},
                split=SPLITS[i % 3],
                group=f"g{i // 2}",
                source_id=f"row-{i}",
                lineage=[LineageEntry("normalize", "1", "abc")],
                grounding=[PassageRef("p_1", "a quote")] if i == 5 else [],
            )
        )
    for i in range(4):
        prompt = f"As an older person {i}, I feel invisible at work."
        chosen = f"Feeling invisible hurts {i}; tell me more about work."
        records.append(
            make_conversation(
                [Turn("client", prompt), Turn("therapist", chosen)],
                Provenance("synthetic", "preference-pairs", license="CC-BY-4.0"),
                category="bias",
                language="en",
                split=SPLITS[i % 2],
                meta={
                    "dpo": {
                        "prompt": prompt,
                        "chosen": chosen,
                        "rejected": f"At your age {i}, just retire.",
                        "bias_type": "age_stereotype",
                    }
                },
            )
        )
    # A therapist-only record has no client->therapist exchange (alpaca skips it) and no split.
    records.append(
        make_conversation(
            [Turn("therapist", "Welcome back.")], Provenance("dataset", "source-0"), language="en"
        )
    )
    return records


RECORDS = make_records()


def stream() -> Iterator[Conversation]:
    # Fresh copies each time, as a reader of shard files would give.
    import msgspec

    for record in RECORDS:
        yield msgspec.json.decode(msgspec.json.encode(record), type=Conversation)


def by_split(records: list[Conversation]) -> dict[str, list[Conversation]]:
    out: dict[str, list[Conversation]] = {}
    for record in records:
        out.setdefault(record.split or "unsplit", []).append(record)
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    out = tmp_path_factory.mktemp("export")
    files = write_formats(out, stream, list(FORMATS), {"parquet": {"row_group_size": 5}})
    return out, files


def load_json_split(path: Path) -> list[dict[str, Any]]:
    return list(datasets.load_dataset("json", data_files=str(path), split="train"))


def test_every_format_writes_files_per_split_and_a_summary(exported):
    out, files = exported
    assert set(files) == set(FORMATS)
    for name, rels in files.items():
        assert rels, name
        for rel in rels:
            assert (out / rel).is_file(), rel
    assert files["csv"] == ["csv/test.csv", "csv/train.csv", "csv/unsplit.csv", "csv/validation.csv"]
    summary = json.loads((out / EXPORT_SUMMARY).read_text())
    assert summary["alpaca"]["skipped"] == {"no_client_therapist_exchange": 1}
    assert summary["dpo"]["skipped"] == {"not_a_preference_pair": len(RECORDS) - 4}
    assert summary["dpo"]["records"] == {"train": 2, "validation": 2}
    assert sum(summary["openai_jsonl"]["records"].values()) == len(RECORDS)
    assert summary["csv"]["rows"]["unsplit"] == 1


def test_openai_jsonl_reads_back_with_load_dataset(exported):
    out, _ = exported
    for split, records in by_split(RECORDS).items():
        rows = load_json_split(out / "openai_jsonl" / f"{split}.jsonl")
        assert [r["id"] for r in rows] == [r.id for r in records]
        for row, record in zip(rows, records, strict=True):
            assert row["messages"] == [{"role": ROLE[t.role], "content": t.text} for t in record.turns]
            assert row["metadata"]["category"] == record.category


def test_sharegpt_rows_match_records(exported):
    out, _ = exported
    names = {"client": "human", "therapist": "gpt", "system": "system"}
    for split, records in by_split(RECORDS).items():
        rows = load_json_split(out / "sharegpt" / f"{split}.jsonl")
        for row, record in zip(rows, records, strict=True):
            assert row["id"] == record.id and row["license"] == record.source.license
            assert row["conversations"] == [{"from": names[t.role], "value": t.text} for t in record.turns]


def test_alpaca_has_one_row_per_client_therapist_exchange(exported):
    out, _ = exported
    rows = load_json_split(out / "alpaca" / "train.jsonl")
    expected = []
    for record in by_split(RECORDS)["train"]:
        system = "\n\n".join(t.text for t in record.turns if t.role == "system")
        for i in range(len(record.turns) - 1):
            a, b = record.turns[i], record.turns[i + 1]
            if a.role == "client" and b.role == "therapist":
                expected.append((record.id, i, system, a.text, b.text))
    got = [(r["conversation_id"], r["turn_index"], r["system"], r["instruction"], r["output"]) for r in rows]
    assert got == expected
    assert all(r["input"] == "" for r in rows)
    assert not (out / "alpaca" / "unsplit.jsonl").exists()


def test_alpaca_first_exchange_option(tmp_path):
    write_formats(tmp_path, stream, ["alpaca"], {"alpaca": {"pairs": "first"}})
    rows = load_json_split(tmp_path / "alpaca" / "train.jsonl")
    assert len(rows) == len({r["conversation_id"] for r in rows}) == len(by_split(RECORDS)["train"])


def test_chatml_text_renders_each_turn(exported):
    out, _ = exported
    rows = load_json_split(out / "chatml" / "validation.jsonl")
    records = by_split(RECORDS)["validation"]
    assert [r["text"] for r in rows] == [render_chatml(r) for r in records]
    first = records[0]
    assert rows[0]["text"].startswith(
        f"<|im_start|>{ROLE[first.turns[0].role]}\n{first.turns[0].text}<|im_end|>"
    )


def test_parquet_has_nested_turns(exported):
    out, _ = exported
    for split, records in by_split(RECORDS).items():
        rows = list(
            datasets.load_dataset(
                "parquet", data_files=str(out / "parquet" / f"{split}.parquet"), split="train"
            )
        )
        assert [r["id"] for r in rows] == [r.id for r in records]
        for row, record in zip(rows, records, strict=True):
            assert row["messages"] == [{"role": ROLE[t.role], "content": t.text} for t in record.turns]
            assert row["tags"] == record.tags and row["group"] == record.group
            metadata = json.loads(row["metadata"])
            assert metadata["scores"] == record.scores
            assert metadata["meta"] == record.meta
            assert metadata["locator"] == record.source.locator


def test_csv_has_one_row_per_turn(exported):
    out, _ = exported
    for split, records in by_split(RECORDS).items():
        frame = pd.read_csv(out / "csv" / f"{split}.csv", keep_default_na=False, dtype={"turn_index": int})
        expected = [(r.id, i, ROLE[t.role], t.text) for r in records for i, t in enumerate(r.turns)]
        got = list(
            frame[["conversation_id", "turn_index", "role", "content"]].itertuples(index=False, name=None)
        )
        assert got == expected
        assert set(frame["split"]) == {split}


def test_hf_dataset_loads_from_disk_as_split_dict(exported):
    out, _ = exported
    loaded = datasets.load_from_disk(str(out / "hf_dataset"))
    assert isinstance(loaded, datasets.DatasetDict)
    groups = by_split(RECORDS)
    assert sorted(loaded) == sorted(groups)
    for split, records in groups.items():
        assert loaded[split]["id"] == [r.id for r in records]
        assert loaded[split][0]["messages"] == [
            {"role": ROLE[t.role], "content": t.text} for t in records[0].turns
        ]


def test_dpo_pairs_follow_the_meta_convention(exported):
    out, _ = exported
    rows = load_json_split(out / "dpo" / "train.jsonl") + load_json_split(out / "dpo" / "validation.jsonl")
    bias = [r for r in RECORDS if r.category == "bias"]
    assert sorted(r["id"] for r in rows) == sorted(r.id for r in bias)
    for row in rows:
        record = next(r for r in bias if r.id == row["id"])
        assert row["prompt"] == [{"role": "user", "content": record.turns[0].text}]
        assert row["chosen"] == [{"role": "assistant", "content": record.meta["dpo"]["chosen"]}]
        assert row["rejected"] == [{"role": "assistant", "content": record.meta["dpo"]["rejected"]}]
        assert row["bias_type"] == "age_stereotype"


SCHEMA = "https://schema.org/"
# The schema.org terms the export may use: a typo would expand to an IRI schema.org does not define.
SCHEMA_TERMS = {
    "Conversation",
    "Message",
    "Role",
    "CreativeWork",
    "PropertyValue",
    "hasPart",
    "position",
    "text",
    "sender",
    "roleName",
    "identifier",
    "genre",
    "isBasedOn",
    "additionalProperty",
    "name",
    "value",
    "url",
    "license",
    "inLanguage",
    "keywords",
}


def expand(node: Any, context: dict[str, Any]) -> Any:
    """JSON-LD expansion (the subset the export's @context uses: @vocab and an @list container).

    pyld is not a dependency; this follows the expansion algorithm for that subset: terms become
    @vocab IRIs, @type values are vocab-relative, scalars become @value objects, arrays become sets
    unless the term's container is @list.
    """
    vocab = context["@vocab"]
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "@id":
            out["@id"] = value
        elif key == "@type":
            out["@type"] = [vocab + value]
        else:
            iri = vocab + key
            items = value if isinstance(value, list) else [value]
            expanded = [expand(v, context) if isinstance(v, dict) else {"@value": v} for v in items]
            term = context.get(key)
            is_list = isinstance(term, dict) and term.get("@container") == "@list"
            out[iri] = [{"@list": expanded}] if is_list else expanded
    return out


def iris(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if not key.startswith("@"):
                found.add(key)
            if key == "@type":
                found.update(value)
            found |= iris(value)
    elif isinstance(node, list):
        for item in node:
            found |= iris(item)
    return found


def test_jsonld_expands_to_schema_org_conversations(exported):
    out, _ = exported
    for split, records in by_split(RECORDS).items():
        document = json.loads((out / "jsonld" / f"{split}.jsonld").read_text(encoding="utf-8"))
        assert document["@context"] == JSONLD_CONTEXT
        graph = [expand(node, document["@context"]) for node in document["@graph"]]
        assert iris(graph) <= {SCHEMA + term for term in SCHEMA_TERMS}
        assert len(graph) == len(records)
        for node, record in zip(graph, records, strict=True):
            assert node["@type"] == [SCHEMA + "Conversation"]
            assert node["@id"].endswith(record.id)
            messages = node[SCHEMA + "hasPart"][0]["@list"]
            assert [m[SCHEMA + "text"][0]["@value"] for m in messages] == [t.text for t in record.turns]
            assert [m[SCHEMA + "position"][0]["@value"] for m in messages] == list(range(len(record.turns)))
            roles = [m[SCHEMA + "sender"][0][SCHEMA + "roleName"][0]["@value"] for m in messages]
            assert roles == [ROLE[t.role] for t in record.turns]
            properties = {
                p[SCHEMA + "name"][0]["@value"]: p[SCHEMA + "value"][0]["@value"]
                for p in node[SCHEMA + "additionalProperty"]
            }
            assert properties["split"] == split


def test_bytes_are_identical_across_runs(exported, tmp_path):
    out, files = exported
    again = write_formats(tmp_path, stream, list(FORMATS), {"parquet": {"row_group_size": 5}})
    assert again == files
    for rels in files.values():
        for rel in rels:
            assert (tmp_path / rel).read_bytes() == (out / rel).read_bytes(), rel


def test_rewriting_replaces_files_and_leaves_no_temp_files(tmp_path):
    write_formats(tmp_path, stream, ["hf_dataset", "csv"], {})
    write_formats(tmp_path, lambda: iter(RECORDS[:3]), ["hf_dataset", "csv"], {})
    assert len(datasets.load_from_disk(str(tmp_path / "hf_dataset"))["train"]) == 1
    assert not [p for p in tmp_path.rglob(".*")]
    test_rows = pd.read_csv(tmp_path / "csv" / "test.csv", keep_default_na=False)
    assert list(test_rows["conversation_id"]) == [RECORDS[2].id] * len(RECORDS[2].turns)
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["test.csv", "train.csv", "validation.csv"]


def test_records_are_streamed_once_per_format(tmp_path):
    calls = []

    def counted() -> Iterator[Conversation]:
        calls.append(1)
        return stream()

    write_formats(tmp_path, counted, ["openai_jsonl", "csv", "openai_jsonl"], {})
    assert len(calls) == 2


def test_no_records_writes_no_files(tmp_path):
    files = write_formats(tmp_path, lambda: iter([]), ["openai_jsonl", "hf_dataset", "dpo"], {})
    assert files == {"openai_jsonl": [], "hf_dataset": [], "dpo": []}


@pytest.mark.parametrize(
    ("formats", "options", "message"),
    [
        (["yaml"], {}, "unknown format 'yaml'"),
        (["alpaca"], {"alpaca": {"pairs": "some"}}, "export.options.alpaca.pairs"),
        (["parquet"], {"parquet": {"row_group_size": 0}}, "row_group_size must be at least 1"),
        (["csv"], {"csv": {"delimiter": ";"}}, "export.options.csv"),
        (["csv"], {"xml": {}}, "export.options.xml: not a format"),
    ],
)
def test_bad_formats_and_options_fail_before_writing(tmp_path, formats, options, message):
    with pytest.raises(ExportError, match=message):
        write_formats(tmp_path / "out", stream, formats, options)
    assert not (tmp_path / "out").exists()


def test_a_split_name_that_is_not_a_file_name_is_refused(tmp_path):
    bad = make_conversation([Turn("client", "hi")], Provenance("dataset", "x"), split="../escape")
    with pytest.raises(ExportError, match="cannot be used as a file name"):
        write_formats(tmp_path, lambda: iter([bad]), ["openai_jsonl"], {})
    assert not list(tmp_path.parent.glob("escape*"))


def test_invalid_preference_pairs_are_counted_not_exported(tmp_path):
    source = Provenance("synthetic", "pairs")
    same = make_conversation(
        [Turn("client", "a"), Turn("therapist", "b")], source, meta={"dpo": {"chosen": "b", "rejected": "b"}}
    )
    no_prompt = make_conversation(
        [Turn("therapist", "b")], source, meta={"dpo": {"chosen": "b", "rejected": "c"}}
    )
    files = write_formats(tmp_path, lambda: iter([same, no_prompt]), ["dpo"], {})
    assert files == {"dpo": []}
    summary = json.loads((tmp_path / EXPORT_SUMMARY).read_text())
    assert summary["dpo"]["skipped"] == {"invalid_preference_pair": 1, "preference_pair_without_prompt": 1}


def test_openai_rows_read_back_into_the_same_records():
    for record in RECORDS:
        assert from_openai(encode(to_openai(record))) == record


def test_dataset_records_streams_split_files_in_split_order(tmp_path):
    for split, records in by_split(RECORDS).items():
        (tmp_path / f"{split}.jsonl").write_bytes(b"".join(encode(to_openai(r)) + b"\n" for r in records))
    got = list(dataset_records(tmp_path)())
    order = ["train", "validation", "test", "unsplit"]
    assert got == [r for split in order for r in by_split(RECORDS)[split]]


def test_a_broken_dataset_row_names_its_file_and_line(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(ExportError, match=r"train.jsonl:1: not a dataset row"):
        list(dataset_records(tmp_path)())


@pytest.mark.parametrize("fmt", ["openai_jsonl", "csv", "parquet", "jsonld", "hf_dataset"])
def test_a_failure_midway_keeps_the_previous_export_whole(tmp_path, fmt):
    write_formats(tmp_path, stream, [fmt], {})
    before = {p: p.read_bytes() for p in (tmp_path / fmt).rglob("*") if p.is_file()}

    def failing() -> Iterator[Conversation]:
        yield from RECORDS[:5]
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        write_formats(tmp_path, failing, [fmt], {})
    assert {p: p.read_bytes() for p in (tmp_path / fmt).rglob("*") if p.is_file()} == before
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".") or p.name.startswith("hf-export-")]
