"""'Exactly N accepted': generate candidates until N pass the run's gates or the budget is spent.

Candidates go through ``context.gate`` in batches no larger than what is still missing (plus a little
slack), so few passing candidates are thrown away. Candidates that fail a gate are not yielded: the
orchestrator would only reject them again. Rejections the generator itself produced (a reply that
failed the groundedness check) are yielded, so the quarantine shows them. The outcome of every
stratum is reported as a warning the ingest log records, and kept in ``QuotaReport`` for callers.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from ai.core.context import SourceContext
from ai.core.records import Conversation
from ai.core.stage import Rejection


@dataclass
class QuotaReport:
    source: str
    stratum: str
    target: int
    budget: int  # candidates allowed
    accepted: int = 0
    candidates: int = 0
    generator_rejected: Counter[str] = field(default_factory=Counter)
    gate_rejected: Counter[str] = field(default_factory=Counter)
    status: str = "running"  # met | budget_spent | material_exhausted

    def message(self) -> str:
        outcome = {
            "met": "target met",
            "budget_spent": "BUDGET SPENT before the target",
            "material_exhausted": "MATERIAL EXHAUSTED before the target",
        }.get(self.status, self.status)
        parts = [
            f"{self.source} [{self.stratum}]: {outcome}: {self.accepted}/{self.target} accepted "
            f"from {self.candidates} candidates (budget {self.budget})"
        ]
        if self.generator_rejected:
            parts.append(f"generator rejected {dict(self.generator_rejected)}")
        if self.gate_rejected:
            parts.append(f"gates rejected {dict(self.gate_rejected)}")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "stratum": self.stratum,
            "target": self.target,
            "budget": self.budget,
            "accepted": self.accepted,
            "candidates": self.candidates,
            "generator_rejected": dict(self.generator_rejected),
            "gate_rejected": dict(self.gate_rejected),
            "status": self.status,
        }


def gated(
    candidates: Iterator[Conversation | Rejection],
    report: QuotaReport,
    context: SourceContext | None,
    batch_size: int = 256,
) -> Iterator[Conversation | Rejection]:
    """Yield exactly ``report.target`` gate-passing conversations (fewer only when budget/material ran out)."""
    exhausted = False
    while report.accepted < report.target and report.candidates < report.budget and not exhausted:
        missing = report.target - report.accepted
        want = min(batch_size, report.budget - report.candidates, missing + max(4, missing // 10))
        batch: list[Conversation] = []
        while len(batch) < want:
            item = next(candidates, None)
            if item is None:
                exhausted = True
                break
            report.candidates += 1
            if isinstance(item, Rejection):
                report.generator_rejected[item.reason] += 1
                yield item
                if report.candidates >= report.budget:
                    break
            else:
                batch.append(item)
        verdicts = context.gate(batch) if context is not None and batch else [None] * len(batch)
        for candidate, verdict in zip(batch, verdicts, strict=True):
            if verdict is not None:
                report.gate_rejected[verdict.reason] += 1
            elif report.accepted < report.target:
                report.accepted += 1
                yield candidate
    report.status = (
        "met" if report.accepted >= report.target else "material_exhausted" if exhausted else "budget_spent"
    )
    warnings.warn(report.message(), SyntheticQuotaWarning, stacklevel=2)


def budget_for(target: int, budget: float) -> int:
    return max(target, math.ceil(target * budget))


class SyntheticQuotaWarning(UserWarning):
    """The outcome of one stratum of a synthetic source (met, budget spent or material exhausted)."""
