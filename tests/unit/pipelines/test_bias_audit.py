"""The judge bias audit: gaps and flip rates per dimension and value, bootstrap CIs, and the flip-rate gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pipeline_helpers import cli, write_openai_jsonl

from ai.core.records import Conversation, Provenance, Turn, make_conversation, to_openai
from ai.pipelines.orchestrator.bias_audit import (
    AUDIT_FILE,
    AuditOptions,
    Judgement,
    audit_judges,
    audit_run_dir,
    client_text,
    default_judges,
    exported_records,
    first_exchange,
    gate_messages,
    probe_sets,
    run_thresholds,
    summary_rows,
)
from ai.pipelines.orchestrator.quality_gates import (
    BiasAuditGateOptions,
    DatasetGateOptions,
    evaluate_dataset_gates,
)
from ai.sourcing.synthetic.demographics import detect_markers

CLIENT_LINES = [
    "I have been feeling anxious about my new job. I can't stop overthinking every email.",
    "I feel lonely since my best friend moved away. Weekends are the hardest.",
    "I keep arguing with my brother. I feel guilty after every single fight.",
    "I have been so tired lately. I can't find the motivation to cook or clean.",
    "I feel stuck in my studies. I worry that I am falling behind everyone.",
    "I get nervous before presentations. My hands shake when I start talking.",
    "My partner and I keep fighting about chores. I don't know how to talk to them.",
    "I can't sleep before exams. My mind races all night.",
]


def _records() -> list[Conversation]:
    return [
        make_conversation(
            [
                Turn("client", line),
                Turn("therapist", f"That sounds hard ({n}). What would help most right now?"),
            ],
            Provenance(kind="dataset", name="esconv", license="CC BY-NC 4.0"),
            group=f"dialog-{n}",
        )
        for n, line in enumerate(CLIENT_LINES)
    ]


def neutral_judge(records: list[Conversation]) -> list[Judgement]:
    """Scores only the therapist's words, which no variant changes: it cannot treat groups differently."""
    return [Judgement(len(r.turns[-1].text) / 100, True) for r in records]


def penalise_muslim_clients(records: list[Conversation]) -> list[Judgement]:
    """A planted biased judge: a client who says they are Muslim loses half a point and is rejected."""
    out = []
    for record in records:
        muslim = "Muslim" in detect_markers(client_text(record)).get("religion", [])
        out.append(Judgement(0.9 - (0.5 if muslim else 0.0), not muslim))
    return out


OPTIONS = AuditOptions(originals=8, variants_per_set=7, bootstrap=200, min_sets=3, seed=7)


def test_a_judge_that_penalises_one_group_fails_the_gate_naming_the_dimension() -> None:
    sets = probe_sets(_records(), OPTIONS)
    audit = audit_judges(sets, {"neutral": neutral_judge, "planted": penalise_muslim_clients}, OPTIONS)
    gate = audit["gate"]
    assert gate["passed"] is False
    assert "bias_flip_rate:planted:religion" in gate["failed"]
    assert not [name for name in gate["failed"] if name.startswith("bias_flip_rate:neutral")]
    failed = {c["dimension"]: c for c in gate["checks"] if not c["passed"]}
    assert failed["religion"]["value"] == "Muslim" and failed["religion"]["flip_rate"] == 1.0
    assert all("religion" in d for d in failed)  # only religion (alone or in an intersection) fails
    messages = gate_messages(audit)
    assert any("planted" in m and "religion" in m and "'Muslim'" in m for m in messages)
    muslim = audit["judges"]["planted"]["dimensions"]["religion"]["values"]["Muslim"]
    assert muslim["mean_gap"] == -0.5 and muslim["mean_gap_ci"] == [-0.5, -0.5] and muslim["max_gap"] == -0.5
    christian = audit["judges"]["planted"]["dimensions"]["religion"]["values"]["Christian"]
    assert christian["mean_gap"] == 0.0 and christian["flip_rate"] == 0.0


def test_a_judge_blind_to_the_client_has_no_gap_and_passes() -> None:
    sets = probe_sets(_records(), OPTIONS)
    audit = audit_judges(sets, {"neutral": neutral_judge}, OPTIONS)
    assert audit["gate"]["passed"] and audit["gate"]["checks"]
    for stats in audit["judges"]["neutral"]["dimensions"].values():
        assert stats["mean_gap"] == 0.0 and stats["flip_rate"] == 0.0 and stats["mean_gap_ci"] == [0.0, 0.0]
    assert audit["originals"] == len(CLIENT_LINES)
    assert len(audit["targets"]) >= 19 and {"age", "religion", "race_ethnicity+gender_identity"} <= set(
        audit["targets"]
    )


def test_dimension_statistics_resample_whole_sets_and_the_ci_holds_the_estimate() -> None:
    def half_the_muslims(records: list[Conversation]) -> list[Judgement]:
        judged = penalise_muslim_clients(records)
        return [
            j if int(r.group[-1]) % 2 else Judgement(0.9, True) for j, r in zip(judged, records, strict=True)
        ]

    sets = probe_sets(_records(), OPTIONS)
    audit = audit_judges(sets, {"judge": half_the_muslims}, OPTIONS)
    religion = audit["judges"]["judge"]["dimensions"]["religion"]
    low, high = religion["flip_rate_ci"]
    assert low <= religion["flip_rate"] <= high
    assert religion["sets"] < religion["variants"]  # several variants per set
    assert 0.0 <= religion["sets_with_a_flip"] <= 1.0


def test_values_seen_in_too_few_sets_are_reported_but_not_judged() -> None:
    strict = AuditOptions(originals=2, variants_per_set=7, bootstrap=50, min_sets=50, seed=7)
    audit = audit_judges(probe_sets(_records(), strict), {"planted": penalise_muslim_clients}, strict)
    assert audit["gate"]["checks"] == [] and audit["gate"]["passed"]
    assert audit["judges"]["planted"]["dimensions"]["religion"]["values"]["Muslim"]["flip_rate"] == 1.0


def test_probe_sets_are_reproducible_from_the_seed() -> None:
    first = [s.id for s in probe_sets(_records(), OPTIONS)]
    assert first == [s.id for s in probe_sets(_records(), OPTIONS)]
    other = AuditOptions(originals=3, seed=8)
    assert len({s.original.id for s in probe_sets(_records(), other)}) == 3


def test_a_judge_that_loses_records_is_an_error() -> None:
    sets = probe_sets(_records(), OPTIONS)[:2]
    with pytest.raises(ValueError, match="returned 1 judgements"):
        audit_judges(sets, {"broken": lambda records: [Judgement(0.0, True)]}, OPTIONS)


def test_first_exchange_joins_the_client_turns_before_the_first_reply() -> None:
    record = make_conversation(
        [Turn("client", "a"), Turn("client", "b"), Turn("therapist", "c"), Turn("client", "d")],
        Provenance(kind="dataset", name="x"),
    )
    assert first_exchange(record) == ("a\nb", "c")


def test_the_pipeline_judges_score_every_record() -> None:
    judges = default_judges()
    assert set(judges) == {"crisis", "content", "ears", "quality"}
    records = _records()[:3]
    for judge in judges.values():
        judged = judge(records)
        assert len(judged) == 3 and all(isinstance(j.score, float) for j in judged)


def _run_dir(tmp_path: Path, config: str = "") -> Path:
    (tmp_path / "dataset").mkdir()
    with open(tmp_path / "dataset" / "train.jsonl", "w", encoding="utf-8") as handle:
        for record in _records():
            handle.write(json.dumps(to_openai(record)) + "\n")
    if config:
        (tmp_path / "config.yaml").write_text(config)
    return tmp_path


def test_audit_run_dir_reads_the_export_and_writes_the_audit(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    audit = audit_run_dir(run_dir, OPTIONS, judges={"planted": penalise_muslim_clients})
    written = json.loads((run_dir / AUDIT_FILE).read_text())
    assert written["gate"] == audit["gate"] and written["run_dir"] == str(run_dir)
    assert audit["originals"] == len(CLIENT_LINES)
    rows = summary_rows(audit)
    religion = next(r for r in rows if r[1] == "religion")
    assert religion[0] == "planted" and religion[-2].startswith("Muslim 100.0%") and religion[-1] == "FAIL"


def test_the_run_thresholds_come_from_its_config(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, "stages:\n  ears: {threshold: 0.01}\n  quality: {min_quality: 0.2}\n")
    assert run_thresholds(run_dir) == (0.01, 0.2)
    assert run_thresholds(tmp_path / "nowhere") == (None, None)


def test_a_directory_without_an_export_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no"):
        list(exported_records(tmp_path))


def test_the_dataset_gate_fails_on_a_flipping_value_and_names_it() -> None:
    sets = probe_sets(_records(), OPTIONS)
    audit = audit_judges(sets, {"neutral": neutral_judge, "planted": penalise_muslim_clients}, OPTIONS)
    summary = {"total": 100, "bias_flip_checks": audit["gate"]["checks"]}
    report = evaluate_dataset_gates(summary, DatasetGateOptions(bias_audit=BiasAuditGateOptions()))
    failed = {g.name: g for g in report.failed}
    assert not report.passed and "bias_flip_rate:planted:religion" in failed
    assert "religion 'Muslim'" in failed["bias_flip_rate:planted:religion"].message
    assert not [name for name in failed if ":neutral:" in name]
    unconfigured = evaluate_dataset_gates(summary, DatasetGateOptions())
    assert unconfigured.passed and not [g for g in unconfigured.gates if g.name.startswith("bias_")]


def test_bias_gate_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_flip_rate"):
        BiasAuditGateOptions(max_flip_rate=1.5)
    assert AuditOptions.from_gate(BiasAuditGateOptions(originals=9, min_sets=3), seed=5).originals == 9


def test_the_bias_audit_command_prints_the_table_with_the_pipeline_judges(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    run_dir = _run_dir(tmp_path)
    code = cli("bias-audit", str(run_dir), "--originals", "2", "--n-boot", "20", "--max-flip-rate", "1.0")
    out = capsys.readouterr().out
    assert code == 0 and "Judge bias audit" in out and "race_ethnicity" in out
    audit = json.loads((run_dir / AUDIT_FILE).read_text())
    assert set(audit["judges"]) == {"crisis", "content", "ears", "quality"} and audit["gate"]["passed"]


def test_the_bias_audit_command_exits_1_naming_the_flipping_value(
    tmp_path: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import ai.pipelines.orchestrator.bias_audit as bias_audit

    monkeypatch.setattr(
        bias_audit, "default_judges", lambda *thresholds: {"planted": penalise_muslim_clients}
    )
    out_file = tmp_path / "audit.json"
    run_dir = _run_dir(tmp_path)
    assert cli("bias-audit", str(run_dir), "--min-sets", "3", "--n-boot", "20", "-o", str(out_file)) == 1
    assert "FAIL planted flips its decision" in capsys.readouterr().out
    assert "bias_flip_rate:planted:religion" in json.loads(out_file.read_text())["gate"]["failed"]


def test_the_bias_audit_command_needs_a_finished_run(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli("bias-audit", str(tmp_path)) == 1
    assert "not a finished run" in capsys.readouterr().err


def _gated_run_config(tmp_path: Path, **bias_audit: object) -> Path:
    corpus = tmp_path / "corpus.jsonl"
    write_openai_jsonl(corpus, 60, seed=3, defects=False)
    config = {
        "run": {"name": "bias", "workers": 1, "seed": 7},
        "sources": [{"name": "corpus", "path": str(corpus), "license": "CC-BY-4.0"}],
        "stages": {"quality": {"dataset": {"bias_audit": {"originals": 3, "bootstrap": 20, **bias_audit}}}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_run_with_the_bias_gate_audits_its_judges_and_reports_the_gates(tmp_path: Path) -> None:
    config = _gated_run_config(tmp_path, min_sets=1, max_flip_rate=1.0)
    out = tmp_path / "run"
    assert cli("run", "--config", str(config), "--output", str(out), "-q") == 0
    audit = json.loads((out / AUDIT_FILE).read_text())
    assert set(audit["judges"]) == {"crisis", "content", "ears", "quality"} and audit["originals"] == 3
    gates = json.loads((out / "gate_report.json").read_text())["gates"]
    bias_gates = [g for g in gates if g["name"].startswith("bias_flip_rate:")]
    assert bias_gates and all(g["passed"] for g in bias_gates)
    assert AUDIT_FILE in json.loads((out / "manifest.json").read_text())["files"]


def test_a_judge_that_flips_for_one_group_blocks_the_export(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ai.pipelines.orchestrator.bias_audit as bias_audit

    monkeypatch.setattr(
        bias_audit, "default_judges", lambda *thresholds: {"planted": penalise_muslim_clients}
    )
    config = _gated_run_config(tmp_path, min_sets=1)
    out = tmp_path / "run"
    assert cli("run", "--config", str(config), "--output", str(out), "-q") == 1
    assert "bias_flip_rate:planted:religion" in json.loads((out / "gate_report.json").read_text())["failed"]
    assert "planted decision flips for religion 'Muslim'" in capsys.readouterr().err
    assert not list((out / "dataset").glob("*.jsonl"))
