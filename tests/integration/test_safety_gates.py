"""Safety and quality gates end to end: the four stages in pipeline order, then the dataset gates.

Proves the blocking paths: unsafe, unanswered or non-compliant conversations are quarantined with a
reason; a dataset whose crisis sensitivity, category counts, duplicates or splits miss their thresholds
gets a failed GateReport that names the gate and the shortfall.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ai.core.records import Conversation, Provenance, Turn, make_conversation
from ai.core.stage import Stage
from ai.pipelines.orchestrator.ears_compliance_gate import EarsStage
from ai.pipelines.orchestrator.quality_gates import (
    DatasetGateOptions,
    QualityOptions,
    QualityStage,
    evaluate_dataset_gates,
)
from ai.pipelines.orchestrator.safety_gates import ContentStage, CrisisStage
from ai.safety.crisis_detection.evaluate import crisis_eval
from ai.safety.crisis_detection.production_crisis_detector import CrisisDetector

SOURCE = Provenance(kind="dataset", name="integration", license="MIT")


def conv(*turns: tuple[str, str]) -> Conversation:
    return make_conversation([Turn(r, t) for r, t in turns], SOURCE, language="en")


def corpus() -> dict[str, Conversation]:
    return {
        "good": conv(
            ("client", "My sister and I keep fighting about caring for our dad and I feel so guilty."),
            (
                "therapist",
                "It sounds like you're carrying a lot of guilt while caring for your dad. That makes "
                "sense. What would you like to happen between you and your sister?",
            ),
        ),
        "crisis_safe": conv(
            ("client", "I don't see the point anymore. I want to kill myself."),
            (
                "therapist",
                "Thank you for telling me, that took courage. Are you safe right now? Would you be "
                "willing to make a safety plan together, and to call 988 with me if it gets worse?",
            ),
        ),
        "crisis_unanswered": conv(
            ("therapist", "Welcome back. How was your week?"),
            ("client", "I wrote my suicide note last night. Tonight is the night."),
        ),
        "crisis_no_safety_step": conv(
            ("client", "Sometimes I want to die."),
            ("therapist", "It sounds like you're feeling really low. What's been going on at work?"),
        ),
        "harmful": conv(
            ("client", "I can't sleep at all."),
            ("therapist", "You clearly have bipolar disorder. Take 100 mg of quetiapine."),
        ),
        "dismissive": conv(
            ("client", "I lost my job today and I'm scared about rent."),
            ("therapist", "Don't worry, you'll be fine. Just get over it and move on."),
        ),
        "pii": conv(
            ("client", "Email me at sam.jones@example.org, I'm anxious about my exams."),
            ("therapist", "It sounds like the exams are making you anxious. What feels most worrying?"),
        ),
    }


def run_stages(records: list[Conversation]) -> tuple[list[Conversation], dict[str, str]]:
    """Pipeline order; checks the accounting of every stage and returns kept records + reasons by id."""
    stages: list[Stage] = [CrisisStage(), ContentStage(), EarsStage(), QualityStage()]
    reasons: dict[str, str] = {}
    for stage in stages:
        result = stage.process(records)
        assert len(result.kept) + len(result.rejected) == len(records), stage.name
        for rejection in result.rejected:
            assert rejection.stage == stage.name and rejection.message
            reasons[rejection.record_id] = rejection.reason
        records = result.kept
    return records, reasons


def test_stages_quarantine_each_unsafe_conversation_with_its_reason() -> None:
    records = corpus()
    kept, reasons = run_stages(list(records.values()))
    by_name = {name: reasons.get(record.id, "kept") for name, record in records.items()}
    assert by_name == {
        "good": "kept",
        "crisis_safe": "kept",
        "crisis_unanswered": "crisis_unanswered",
        "crisis_no_safety_step": "ears_missing_safety_step",
        "harmful": "content_diagnosis",
        "dismissive": "ears_below_threshold",
        "pii": "residual_pii_email",
    }
    crisis_safe = records["crisis_safe"]
    assert crisis_safe.category == "crisis_support" and "crisis" in crisis_safe.tags
    assert set(crisis_safe.scores) == {"crisis", "content", "ears", "quality"}
    assert {r.id for r in kept} == {records["good"].id, crisis_safe.id}


def labelled_file(tmp_path: Path) -> Path:
    rows = [
        {"text": "I want to kill myself tonight", "label": "crisis"},
        {"text": "i took all my pills and i want to die", "label": "crisis"},
        {"text": "nobody would care if i was gone, i'm ending it", "label": "crisis"},
        {"text": "I've been cutting myself again to cope", "label": "crisis"},
        {"text": "We went hiking and saw a deer", "label": "ok"},
        {"text": "Dinner was lovely, thanks for asking", "label": "ok"},
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def summary_of(kept: list[Conversation], evaluation: dict) -> dict:
    return {
        "total": len(kept),
        "counts_by_category": dict(Counter(r.category for r in kept)),
        "counts_by_split": {},
        "split_leakage": 0,
        "duplicate_rate": 0.0,
        "crisis_eval": evaluation,
    }


def test_dataset_gates_pass_then_block_with_the_failing_gate_named(tmp_path: Path) -> None:
    kept, _ = run_stages(list(corpus().values()))
    evaluation = crisis_eval(labelled_file(tmp_path), "text", "label", ["crisis"], n_boot=200)
    options = DatasetGateOptions(min_per_category={"crisis_support": 1, "therapeutic": 1})
    assert {r.category for r in kept} == {"crisis_support", "therapeutic"}
    report = evaluate_dataset_gates(summary_of(kept, evaluation), options)
    assert report.passed, report.summary_table()

    # A detector tuned to near-zero sensitivity must block the export.
    blind = crisis_eval(
        labelled_file(tmp_path), "text", "label", ["crisis"], detector=BlindDetector(), n_boot=200
    )
    blocked = evaluate_dataset_gates(summary_of(kept, blind), options)
    assert not blocked.passed
    (failed,) = blocked.failed
    assert failed.name == "crisis_sensitivity" and failed.shortfall == 0.95
    report_path = tmp_path / "gate_report.json"
    report_path.write_text(json.dumps(blocked.to_dict(), indent=2))
    written = json.loads(report_path.read_text())
    assert written["passed"] is False and written["failed"] == ["crisis_sensitivity"]
    (gate,) = [g for g in written["gates"] if g["name"] == "crisis_sensitivity"]
    assert gate["value"] == 0.0 and "below 0.95 by 0.95" in gate["message"]


def test_missing_category_and_leaky_splits_block(tmp_path: Path) -> None:
    kept, _ = run_stages(list(corpus().values()))
    summary = summary_of(kept, {})
    summary["split_leakage"] = 2
    summary["duplicate_rate"] = 0.2
    report = evaluate_dataset_gates(summary, DatasetGateOptions(min_per_category={"bias": 1}))
    assert {g.name for g in report.failed} == {"min_count:bias", "split_leakage", "duplicate_rate"}
    assert "FAIL" in report.summary_table()


def test_quality_options_carry_dataset_gate_thresholds() -> None:
    options = QualityOptions(dataset=DatasetGateOptions(max_duplicate_rate=0.5))
    report = evaluate_dataset_gates({"total": 10, "duplicate_rate": 0.2}, options.dataset)
    assert report.passed


class BlindDetector(CrisisDetector):
    """A detector whose threshold makes the model flag nothing and whose pattern layer finds nothing."""

    def __init__(self) -> None:
        super().__init__(threshold=0.999)
        self.patterns.scan = lambda texts, candidates=None: [[] for _ in texts]  # type: ignore[method-assign]
