"""The dataset report: what it shows from a run directory, how it degrades, and that data cannot inject markup."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ai.core.records import PassageRef, Provenance, Turn, encode, make_conversation, to_openai
from ai.core.stage import Rejection
from ai.pipelines.orchestrator.quality_gates import GateReport, GateResult
from ai.pipelines.report import REPORT_FILE, ReportError, main, write_report
from ai.pipelines.report.charts import _nice_ceiling
from ai.pipelines.report.data import (
    EXAMPLES_PER_CATEGORY,
    length_bin,
    length_bin_start,
    scan_dataset,
    scan_quarantine,
)
from ai.sourcing.synthetic.audit import bias_audit

CHART_TITLES = (
    "Exported records by split and category",
    "Records kept and rejected at each stage",
    "Time per stage",
    "Gate pass/fail by reason",
    "Quarantined records by stage and reason",
    "Turns per conversation by split",
    "Conversation length by split",
    "Category mix by split",
    "Source mix by split",
    "Language mix by split",
    "Crisis level by split",
    "EARS score distribution",
    "Crisis score distribution",
    "Duplicate clusters found",
    "PII types scrubbed",
    "Split sizes: target and actual share",
)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def conversation(index: int, split: str, category: str = "therapeutic", **extra: object):
    turns = [Turn("client", f"client message {index} " + "word " * (index % 7) * 20)]
    turns += [Turn("therapist", f"reply {index}"), Turn("client", "thanks"), Turn("therapist", "take care")][
        : 1 + index % 3
    ]
    source = extra.pop("source", Provenance("dataset", f"src-{index % 10}", "/data/x.jsonl", "CC-BY-4.0"))
    return make_conversation(
        turns,
        source,
        category=category,
        language="en" if index % 5 else "de",
        split=split,
        scores={"ears": (index % 10) / 10 + 0.05, "crisis": (index % 4) / 4},
        **extra,
    )


def write_jsonl(path: Path, items: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(encode(item) + b"\n" for item in items))


def build_run(run_dir: Path) -> Path:
    """A finished run directory shaped like the orchestrator's, with every optional input present."""
    records = {"train": [], "validation": [], "test": []}
    for index in range(40):
        split = ("train", "train", "train", "validation", "test")[index % 5]
        records[split].append(conversation(index, split))
    records["train"].append(
        conversation(
            100,
            "train",
            category="grounded",
            source=Provenance("paper", "pubmed", "", "CC-BY", {"pmid": "31234567", "doi": "10.1000/xyz.1"}),
            meta={"pii_redacted": {"NAME": 2, "EMAIL": 1}},
            tags=["crisis", "crisis_level:ideation"],
        )
    )
    records["train"][-1].meta["crisis"] = {"level": "ideation"}
    records["validation"].append(
        conversation(
            101,
            "validation",
            category="grounded",
            source=Provenance("transcript", "yt", "", "CC-BY", {"video_id": "dQw4w9WgXcQ", "start": 75.5}),
        )
    )
    records["test"].append(
        conversation(
            102,
            "test",
            category="bias",
            source=Provenance("book", "books", "", "CC0", {"file": "/books/guide.pdf", "pages": [3, 4]}),
        )
    )
    synthetic = make_conversation(
        [
            Turn("client" if i % 2 == 0 else "therapist", f"turn {i} of a long grounded talk")
            for i in range(8)
        ],
        Provenance(
            "synthetic",
            "grounded-gen",
            "",
            "CC-BY",
            {
                "passage_id": "p_1",
                "passage_locator": {"pmcid": "PMC777", "url": "https://example.org/paper"},
                "client_locator": {"row": 12},
            },
        ),
        category="grounded",
        split="validation",
        grounding=[PassageRef("p_1", "Sleep hygiene helps.")],
    )
    records["validation"].append(synthetic)
    hostile = make_conversation(
        [Turn("client", HOSTILE), Turn("therapist", "I hear you.")],
        Provenance("dataset", HOSTILE, "", "", {"url": "javascript:alert(1)", "pmid": "1 OR 1"}),
        category="hostile",
        split="test",
        language="en",
    )
    records["test"].append(hostile)
    for split, items in records.items():
        write_jsonl(run_dir / "dataset" / f"{split}.jsonl", [to_openai(r) for r in items])
    rejected = conversation(200, "")
    rejected.meta["pii_redacted"] = {"PHONE": 1}
    write_jsonl(
        run_dir / "quarantine" / "ears.jsonl",
        [
            Rejection(
                "ears", "ears_below_threshold", "EARS score 0.10 is below 0.30", rejected, locator="a.jsonl:9"
            )
        ],
    )
    write_jsonl(
        run_dir / "quarantine" / "ingest.jsonl",
        [
            Rejection(
                "ingest",
                "malformed_json",
                f"x.jsonl:4: not valid JSON {HOSTILE}",
                raw="{",
                locator="x.jsonl:4",
            )
        ],
    )
    exported = sum(len(v) for v in records.values())
    counts = {
        "input": exported + 2,
        "exported": exported,
        "quarantined": 2,
        "passages": 12,
        "rejected": {"ingest": {"malformed_json": 1}, "ears": {"ears_below_threshold": 1}},
        "splits": {k: len(v) for k, v in records.items()},
        "categories": {},
        "split_categories": {
            split: {c: sum(1 for r in items if r.category == c) for c in {r.category for r in items}}
            for split, items in records.items()
        },
        "stages": [
            {"stage": "ingest", "in": exported + 2, "kept": exported + 1, "rejected": 1},
            {"stage": "pii", "in": exported + 1, "kept": exported + 1, "rejected": 0},
            {"stage": "crisis", "in": exported + 1, "kept": exported + 1, "rejected": 0},
            {"stage": "ears", "in": exported + 1, "kept": exported, "rejected": 1},
            {"stage": "split", "in": exported, "kept": exported, "rejected": 0},
        ],
    }
    manifest = {
        "run_id": "run-test-1234",
        "version": "9.9.9",
        "config_hash": "abcdef0123456789",
        "seed": 7,
        "counts": {
            **counts,
            "distinct_dialogues": {
                "total": 30,
                "by_source": {"esconv": 6, "counsel-chat": 24},
                "records_by_source": {"esconv": 21, "counsel-chat": 24},
                "by_licence_use": {"commercial": 24, "non-commercial": 6},
                "records_by_licence_use": {"commercial": 24, "non-commercial": 21},
            },
        },
        "files": {"dataset/train.jsonl": "0" * 64},
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    summary = {
        "run_id": "run-test-1234",
        "wall_seconds": 12.5,
        "executor": "local",
        "stages": [{"stage": s["stage"], "seconds": 0.5} for s in counts["stages"]],
    }
    (run_dir / "run_summary.json").write_text(json.dumps(summary))
    (run_dir / "run.json").write_text(
        json.dumps({"run_id": "run-test-1234", "created": "2026-01-02T03:04:05Z"})
    )
    (run_dir / "dedup_report.json").write_text(
        json.dumps(
            {
                "records": 50,
                "exact_duplicates": 3,
                "near_duplicates": 2,
                "near_clusters": 1,
                "kept": 45,
                "examples": [
                    {"record_id": "c_a", "kept_id": "c_b", "reason": "near_duplicate", "similarity": 0.91}
                ],
                "settings": {"threshold": 0.6},
            }
        )
    )
    gates = [
        GateResult("min_total", True, 44.0, 1.0, ">=", 0.0, "44 records exported"),
        GateResult("max_duplicate_rate", False, 0.05, 0.01, "<=", 0.04, "5% duplicates <b>too many</b>"),
    ]
    (run_dir / "gate_report.json").write_text(json.dumps(GateReport(False, gates).to_dict()))
    (run_dir / "contamination_report.json").write_text(
        json.dumps(
            {
                "passed": False,
                "message": "1 near-duplicate pairs remain across splits",
                "records": exported,
                "pairs": 2,
                "moved_records": 1,
                "remaining_pairs": 1,
                "shares_before": {"train": 0.7, "validation": 0.15, "test": 0.15},
                "shares_after": {"train": 0.72, "validation": 0.14, "test": 0.14},
                "examples": [
                    {
                        "first_id": "a",
                        "second_id": "b",
                        "first_split": "train",
                        "second_split": "test",
                        "similarity": 0.4321,
                        "client_turn_share": 0.5,
                        "action": "moved",
                        "split_after": "train",
                        "first_text": "client: I <b>cannot</b> sleep before exams",
                        "second_text": "client: i can't sleep before my exams",
                    }
                ],
            }
        )
    )
    (run_dir / "split_report.json").write_text(
        json.dumps(
            {
                "passed": True,
                "records": exported,
                "sizes": {
                    "shares": {"train": 0.7, "validation": 0.15, "test": 0.15},
                    "targets": {"train": 0.7, "validation": 0.15, "test": 0.15},
                    "max_deviation": 0.001,
                    "allowed_deviation": 0.01,
                },
                "tests": [
                    {
                        "test": "chi_square",
                        "variable": "category",
                        "statistic": 1.25,
                        "p_value": 0.5353,
                        "passed": True,
                    },
                    {
                        "test": "ks",
                        "variable": "turns",
                        "compare": "train vs test",
                        "skipped": True,
                        "reason": "few",
                    },
                    {
                        "test": "ks",
                        "variable": "length",
                        "compare": "train vs validation",
                        "statistic": 0.4,
                        "p_value": 1.5e-7,
                        "passed": False,
                    },
                ],
                "leakage": {"groups_checked": 40, "leaking_groups": 0},
                "thresholds": {"min_p_value": 0.001},
            }
        )
    )
    (run_dir / "bias_audit.json").write_text(json.dumps(bias_audit(audited_records(records))))
    (run_dir / "README.md").write_text(
        "---\npretty_name: test card\nlicense: cc-by-4.0\n---\n\n# Dataset card\n\nA **small** dataset with `code` and a [link](https://example.org/card).\n\n"
        "## Sources\n\n- counsel-chat\n- esconv\n  continued\n\n| split | n |\n|---|---|\n| train | 30 |\n\n"
        "```\nraw <b>block</b>\n```\n\n> a quote\n\n#hashtag line\n"
        f'{HOSTILE} and [bad](javascript:alert(1)) and [worse](https://a"onmouseover="alert(1))\n'
    )
    return run_dir


def audited_records(records: dict[str, list]) -> list:
    """The exported records plus a counterfactual set and a preference pair, as the bias stage makes them."""
    extra = []
    for value, said in (("woman", "I'm a woman"), ("man", "I'm a man")):
        variant = make_conversation(
            [
                Turn("client", f"For context, {said}. Work is too much."),
                Turn("therapist", "That sounds hard."),
            ],
            Provenance("augmentation", "bias"),
            category="bias",
            split="train",
            meta={
                "counterfactual": {
                    "set": "cf_1",
                    "dimension": "gender_identity",
                    "value": value,
                    "original_id": "c_x",
                }
            },
        )
        extra.append(variant)
    extra.append(
        make_conversation(
            [
                Turn("client", "My family is from Nigeria and I feel alone."),
                Turn("therapist", "Tell me more."),
            ],
            Provenance("augmentation", "bias"),
            category="bias",
            split="test",
            meta={"dpo": {"bias_type": "stereotype"}},
        )
    )
    return [r for items in records.values() for r in items] + extra


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return build_run(tmp_path / "run")


@pytest.fixture()
def page(run_dir: Path) -> str:
    path = write_report(run_dir)
    assert path == run_dir / REPORT_FILE
    return path.read_text(encoding="utf-8")


def test_report_has_every_chart_and_the_headline_numbers(page: str) -> None:
    for title in CHART_TITLES:
        assert f"<figcaption>{title}</figcaption>" in page, title
    assert page.count("<svg") >= len(CHART_TITLES)
    assert "run-test-1234" in page and "abcdef0123456789" in page
    assert '<div class="k">Records in</div><div class="n">47</div>' in page
    assert '<div class="k">Quarantined</div><div class="n">2</div>' in page
    assert "12.50 s" in page and "wall clock, start-up included" in page  # run time from run_summary.json
    assert "not computed in this run" not in page


def test_report_is_self_contained(page: str) -> None:
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r"<(script|img|iframe|object|embed)\b", page)
    assert not re.search(r'\bsrc="', page)
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert hrefs and all(h.startswith(("#", "https://")) for h in hrefs), hrefs


def test_data_cannot_inject_markup(page: str) -> None:
    assert HOSTILE not in page
    examples = section(page, "examples")  # the hostile record is its category's only example
    assert (
        "<b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;</b>"
        in examples
    )
    assert '<span class="role">client</span>&lt;script&gt;' in examples
    assert "&lt;script&gt;alert(" in section(page, "quarantine")  # the hostile rejection message
    assert 'href="javascript' not in page
    assert "pubmed.ncbi.nlm.nih.gov/1 OR 1" not in page


def test_provenance_links_for_papers_videos_and_books(page: str) -> None:
    assert '<a href="https://pubmed.ncbi.nlm.nih.gov/31234567/"' in page
    assert '<a href="https://doi.org/10.1000/xyz.1"' in page
    assert "https://www.youtube.com/watch?v=dQw4w9WgXcQ&amp;t=75s" in page
    assert "YouTube dQw4w9WgXcQ @ 1:15" in page
    assert "guide.pdf" in page and "pp. 3–4" in page


def test_grounded_records_link_their_passage_and_client_origin(page: str) -> None:
    examples = section(page, "examples")
    assert '<a href="https://www.ncbi.nlm.nih.gov/pmc/articles/PMC777/"' in examples
    assert '<a href="https://example.org/paper"' in examples
    assert "row 12" in examples
    assert "grounded in <code>p_1</code>" in examples and "<q>Sleep hygiene helps.</q>" in examples
    assert "… 4 more messages" in examples  # 8 turns, 4 shown


def test_mix_pools_rare_values(page: str) -> None:
    mix = section(page, "mix")
    assert "(other)" in mix and "distinct values; the 8 most common are shown" in mix


def test_gate_failures_are_drawn_in_warm_colours(page: str) -> None:
    gates = re.search(r"<figcaption>Gate pass/fail by reason</figcaption>(.*?)</figure>", page, re.S).group(1)
    assert 'fill="#54a24b"><title>ears · passed: ' in gates
    assert 'fill="#e45756"><title>ears · ears_below_threshold: 1' in gates


def test_dataset_gates_table(page: str) -> None:
    flow = section(page, "flow")
    assert "<h3>Dataset gates</h3>" in flow
    assert (
        '<td>min_total</td><td><span class="badge passed">passed</span></td><td class="num">44</td>' in flow
    )
    assert '<span class="badge failed">failed</span>' in flow and "&lt;= 0.01" in flow
    assert "&lt;b&gt;too many&lt;/b&gt;" in flow


def test_split_tests_show_p_values_and_verdicts(page: str) -> None:
    split = section(page, "split")
    assert "0.535" in split and "1.50e-07" in split
    assert split.count('class="badge failed"') == 1
    assert 'class="badge skipped"' in split
    assert "p &lt; 0.001" in split
    assert "groups checked" in split


def test_contamination_section_shows_both_texts_similarity_and_action(page: str) -> None:
    contamination = section(page, "contamination")
    assert '<span class="badge failed">failed</span>' in contamination
    assert "2 near-duplicate pairs across splits" in contamination and "1 records moved" in contamination
    assert "I &lt;b&gt;cannot&lt;/b&gt; sleep before exams" in contamination  # escaped, not markup
    assert "i can&#x27;t sleep before my exams" in contamination
    assert "0.432" in contamination and "moved train" in contamination
    assert "train 70" in contamination and "72" in contamination


def test_quarantine_table_and_pii_counts(page: str) -> None:
    quarantine = section(page, "quarantine")
    assert "ears_below_threshold" in quarantine and "EARS score 0.10 is below 0.30" in quarantine
    assert "a.jsonl:9" in quarantine
    assert '<td>ingest</td><td class="num">1</td>' in quarantine  # the per-stage totals
    assert '<td><b>all</b></td><td class="num"><b>2</b></td>' in quarantine
    pii = section(page, "pii")
    # two scrubbed records: one exported (NAME 2, EMAIL 1), one quarantined later (PHONE 1)
    assert "<p>2 conversations" in pii and "4 placeholders" in pii
    for kind in ("NAME", "EMAIL", "PHONE"):
        assert f"{kind}: " in pii


def test_dataset_card_markdown_is_rendered_and_escaped(page: str) -> None:
    card = section(page, "card")
    assert "<h3>Dataset card</h3>" in card and "<h4>Sources</h4>" in card
    assert "<summary>Card metadata (YAML front matter)</summary><pre><code>pretty_name: test card" in card
    assert "<b>small</b>" in card and "<code>code</code>" in card
    assert '<a href="https://example.org/card">link</a>' in card
    assert "<li>esconv continued</li>" in card
    assert "<td>train</td>" in card
    assert "raw &lt;b&gt;block&lt;/b&gt;" in card
    assert "<blockquote>a quote</blockquote>" in card
    assert "#hashtag line" in card
    assert '<a href="javascript' not in card
    assert '<a href="https://a' not in card  # a quote cannot end the href and start an attribute


def test_bias_audit_coverage(page: str) -> None:
    bias = section(page, "bias")
    for title in (
        "Demographic markers per split",
        "Counterfactual variants by dimension",
        "Preference pairs by bias type",
    ):
        assert f"<figcaption>{title}</figcaption>" in bias, title
    assert "gender_identity (2 values)" in bias  # both gender variants of the one set
    assert '<span class="badge passed">0</span>' in bias  # no counterfactual set spans two splits
    assert "2 of " in bias and "marker values have counterfactual variants" in bias
    assert "stereotype: 1" in bias


def test_an_unknown_audit_shape_still_becomes_charts(run_dir: Path) -> None:
    audit = {"records": 9, "by_group": {"a": 5, "b": 4}, "per_split": {"train": {"a": 3}, "test": {"b": 1}}}
    (run_dir / "bias_audit.json").write_text(json.dumps(audit))
    bias = section(write_report(run_dir).read_text(), "bias")
    assert "<figcaption>Bias audit: by group</figcaption>" in bias
    assert "<figcaption>Bias audit: per split</figcaption>" in bias
    assert "<td>records</td>" in bias


def test_examples_are_a_few_per_category_with_scrubbed_text(page: str) -> None:
    examples = section(page, "examples")
    # three of the therapeutic records, three of the grounded ones, the bias and the hostile record
    assert examples.count('class="pill"') == EXAMPLES_PER_CATEGORY * 2 + 2
    assert examples.count('<span class="role">client</span>') >= 6
    assert "licence: CC-BY-4.0" in examples


def test_missing_inputs_say_not_computed(tmp_path: Path) -> None:
    run_dir = tmp_path / "bare"
    (run_dir / "dataset").mkdir(parents=True)
    page = write_report(run_dir).read_text()
    keys = (
        "flow",
        "distributions",
        "mix",
        "dedup",
        "pii",
        "bias",
        "split",
        "contamination",
        "examples",
        "card",
    )
    for key in keys:
        assert "not computed in this run" in section(page, key), key
    assert "manifest.json not found" in page
    for title in ("EARS score distribution", "Crisis score distribution"):
        assert f"<figcaption>{title}</figcaption>" in page


def test_unreadable_inputs_are_reported_not_fatal(run_dir: Path) -> None:
    (run_dir / "split_report.json").write_text("{not json")
    with open(run_dir / "dataset" / "train.jsonl", "ab") as handle:
        handle.write(b'{"id": "broken", "messages": [\n')
    with open(run_dir / "quarantine" / "ears.jsonl", "ab") as handle:
        handle.write(b"not json\n")
    page = write_report(run_dir).read_text()
    assert "split_report.json could not be read" in section(page, "split")
    assert "1 dataset lines could not be read (train.jsonl:" in page
    assert "1 quarantine lines could not be read" in page


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="not a directory"):
        write_report(tmp_path / "missing")
    with pytest.raises(ReportError, match="not a finished run directory"):
        write_report(tmp_path)


def test_module_entry_point(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / REPORT_FILE)
    assert main([str(tmp_path / "nowhere")]) == 1
    assert "is not a directory" in capsys.readouterr().err
    assert main([]) == 2 and "usage:" in capsys.readouterr().err


def test_scan_counts_in_one_pass(run_dir: Path) -> None:
    scan = scan_dataset(run_dir / "dataset")
    assert scan.records == 45
    assert [name for name, _ in scan.ordered_splits()] == ["train", "validation", "test"]
    train = scan.splits["train"]
    assert train.records == 25
    assert train.categories == {"therapeutic": 24, "grounded": 1}
    assert train.crisis["ideation"] == 1 and train.crisis["none"] == 24
    assert sum(train.turns.values()) == 25 and set(train.turns) <= {2, 3, 4}
    assert sum(scan.scores.bins["ears"]["train"]) == 25
    assert scan.pii == {"NAME": 2, "EMAIL": 1} and scan.records_with_pii == 1
    for kept in scan.examples.values():
        assert len(kept) <= EXAMPLES_PER_CATEGORY and [r.id for r in kept] == sorted(r.id for r in kept)
    all_ids = sorted(
        json.loads(line)["id"]
        for path in (run_dir / "dataset").glob("*.jsonl")
        for line in path.read_text().splitlines()
        if json.loads(line)["metadata"]["category"] == "therapeutic"
    )
    assert [r.id for r in scan.examples["therapeutic"]] == all_ids[:EXAMPLES_PER_CATEGORY]
    quarantine = scan_quarantine(run_dir / "quarantine")
    assert quarantine.total == 2 and quarantine.pii == {"PHONE": 1}
    assert sum(quarantine.scores.bins["ears"]["quarantined"]) == 1


def test_length_bins_are_half_octaves() -> None:
    assert [length_bin(n) for n in (0, 99, 100, 141, 142, 200, 400)] == [0, 0, 1, 1, 2, 3, 5]
    assert [length_bin_start(i) for i in range(4)] == [0, 100, 141, 200]


def test_report_is_rewritten_in_place(run_dir: Path) -> None:
    first = write_report(run_dir).read_text()
    (run_dir / "dedup_report.json").unlink()
    second = write_report(run_dir).read_text()
    assert "Duplicate clusters found" in first and "Duplicate clusters found" not in second
    assert "dedup_report.json): not computed in this run" in section(second, "dedup")
    assert not list(run_dir.glob(".report.html.tmp*"))


def section(page: str, key: str) -> str:
    match = re.search(rf'<section id="{key}">(.*?)</section>', page, re.S)
    assert match, key
    return match.group(1)


def test_text_that_cannot_be_encoded_is_replaced_not_fatal(run_dir: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["run_id"] = "run-\ud800-x"  # a lone surrogate: valid JSON, not encodable as UTF-8
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    page = write_report(run_dir).read_text(encoding="utf-8")
    assert "run-?-x" in page


def test_axis_tops_split_into_round_steps() -> None:
    assert [_nice_ceiling(v, whole=True) for v in (0, 3, 32, 50, 4500)] == [1.0, 4.0, 40.0, 80.0, 8000.0]
    assert _nice_ceiling(0.75) == pytest.approx(0.8) and _nice_ceiling(0.07) == pytest.approx(0.08)


def test_python_dash_m_runs_the_package() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ai.pipelines.report"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "usage: python -m ai.pipelines.report RUN_DIR" in done.stderr


def test_the_judge_bias_audit_is_charted_with_its_failures(run_dir: Path) -> None:
    from ai.pipelines.orchestrator.bias_audit import (
        AuditOptions,
        Judgement,
        audit_judges,
        client_text,
        probe_sets,
    )

    def penalise_muslim_clients(records: list) -> list:
        return [Judgement(0.5, "Muslim" not in client_text(r)) for r in records]

    originals = [
        make_conversation(
            [
                Turn("client", f"I keep worrying about work ({n}). I can't sleep."),
                Turn("therapist", "Tell me more."),
            ],
            Provenance("dataset", "esconv"),
        )
        for n in range(6)
    ]
    options = AuditOptions(originals=6, min_sets=2, bootstrap=20)
    audit = audit_judges(probe_sets(originals, options), {"planted": penalise_muslim_clients}, options)
    (run_dir / "bias_judge_audit.json").write_text(json.dumps(audit))
    bias = section(write_report(run_dir).read_text(), "bias")
    assert '<span class="badge failed">failed</span>' in bias
    assert "<figcaption>planted: decision flip rate, worst value per dimension</figcaption>" in bias
    assert "<td>religion</td><td>Muslim</td>" in bias
    assert "Demographic markers per split" in bias  # the coverage part stays
    (run_dir / "bias_audit.json").unlink()  # a run without synthetic sources has only the judge audit
    bias = section(write_report(run_dir).read_text(), "bias")
    assert "Do the judges treat groups alike?" in bias and "Demographic markers per split" not in bias


def test_overview_shows_records_next_to_distinct_dialogues_and_the_licence_mix(page: str) -> None:
    assert "Records and distinct dialogues (30 dialogues)" in page
    assert '<td>esconv</td><td class="num">21</td><td class="num">6</td>' in page
    assert '<td>non-commercial</td><td class="num">21</td><td class="num">6</td>' in page
    assert "would remove 21 of 45 records (47%; 6 distinct dialogues): 21 non-commercial." in page
