"""The dataset report's page: sections of headline numbers, charts and tables as one HTML string.

Every value that comes from data (texts, names, reasons, paths) goes through ``escape``; the only links
are https links built from identifiers (PMID, DOI, PMCID, YouTube id) or http(s) URLs found in a
locator, so a hostile dataset cannot inject markup or script into the report.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ai.infrastructure.production.export_to_ready_packages import (
    dialogue_rows,
    licence_filter_effect,
    licence_rows,
)
from ai.pipelines.orchestrator.registry import GATE_STAGES
from ai.pipelines.report.charts import (
    REJECTION_PALETTE,
    Colors,
    Series,
    column_chart,
    figure,
    fmt_count,
    fmt_seconds,
    fmt_share,
    hbar_chart,
    line_chart,
    stacked_hbar_chart,
)
from ai.pipelines.report.data import (
    MAX_TURN_BIN,
    SCORE_BINS,
    DatasetScan,
    ExportedRecord,
    Loaded,
    QuarantineScan,
    RunInputs,
    SplitStats,
    length_bin_start,
)
from ai.pipelines.report.markdown import markdown_html, split_front_matter

CSS_FILE = Path(__file__).with_name("report_assets") / "report.css"
MIX_TOP = 8  # values shown per mix chart; the rest are pooled into "(other)"
SCORE_TITLES = {
    "ears": "EARS score distribution",
    "crisis": "Crisis score distribution",
    "quality": "Quality score distribution",
    "content": "Content filter score distribution",
}
NOT_COMPUTED = "not computed in this run"
CRISIS_LEVELS = ("none", "indicator", "ideation", "behavior_or_plan", "attempt", "not scored")
SECTIONS = (
    ("overview", "Overview"),
    ("flow", "Record flow"),
    ("quarantine", "Quarantine"),
    ("distributions", "Shape"),
    ("mix", "Mix"),
    ("scores", "Scores"),
    ("dedup", "Duplicates"),
    ("pii", "PII"),
    ("bias", "Bias audit"),
    ("split", "Split tests"),
    ("contamination", "Contamination"),
    ("examples", "Examples"),
    ("card", "Dataset card"),
)


def render_report(inputs: RunInputs, dataset: DatasetScan, quarantine: QuarantineScan) -> str:
    page = ReportPage(inputs, dataset, quarantine)
    return page.render()


class PageSection:
    """What every part of the page reads: the run's inputs, the scans, and the page's one palette."""

    def __init__(
        self, inputs: RunInputs, dataset: DatasetScan, quarantine: QuarantineScan, colors: Colors
    ) -> None:
        self.inputs = inputs
        self.dataset = dataset
        self.quarantine = quarantine
        self.counts = inputs.counts
        self.colors = colors


class ReportPage(PageSection):
    """The page: its frame (header, navigation, footer) and the run sections (overview, record flow,
    quarantine). The dataset's own sections are ``DatasetSections``, the checks made on it ``CheckSections``.
    """

    def __init__(self, inputs: RunInputs, dataset: DatasetScan, quarantine: QuarantineScan) -> None:
        # One palette for the page, so a category keeps its colour everywhere.
        super().__init__(inputs, dataset, quarantine, Colors())
        self.data = DatasetSections(inputs, dataset, quarantine, self.colors)
        self.checks = CheckSections(inputs, dataset, quarantine, self.colors)

    def render(self) -> str:
        sections = [
            self.overview(),
            self.flow(),
            self.quarantine_section(),
            self.data.distributions(),
            self.data.mix(),
            self.data.scores(),
            self.checks.dedup(),
            self.checks.pii(),
            self.checks.bias(),
            self.checks.split_tests(),
            self.checks.contamination(),
            self.data.examples(),
            self.data.card(),
        ]
        nav = "".join(f'<a href="#{key}">{escape(label)}</a>' for key, label in SECTIONS)
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Dataset report · {escape(self.run_id)}</title>"
            f"<style>{CSS_FILE.read_text(encoding='utf-8')}</style></head><body>"
            f"{self.header()}<nav>{nav}</nav><main>{''.join(sections)}</main>{self.footer()}</body></html>\n"
        )

    # -- header and footer ------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        for loaded in (self.inputs.manifest, self.inputs.summary, self.inputs.run_info):
            if isinstance(loaded.data, dict) and loaded.data.get("run_id"):
                return str(loaded.data["run_id"])
        return self.inputs.run_dir.name

    def header(self) -> str:
        manifest = _as_dict(self.inputs.manifest.data)
        info = _as_dict(self.inputs.run_info.data)
        facts = [
            ("run", self.run_id),
            ("created", str(info.get("created", ""))),
            ("version", str(manifest.get("version", ""))),
            ("config hash", str(manifest.get("config_hash", ""))),
            ("seed", str(manifest.get("seed", ""))),
            ("executor", str(_as_dict(self.inputs.summary.data).get("executor", ""))),
        ]
        items = "".join(
            f"<span><b>{escape(label)}</b> {escape(value)}</span>" for label, value in facts if value
        )
        return (
            '<header><div class="brand">Unified AI Dataset Pipeline</div>'
            f'<h1>Dataset report</h1><div class="facts">{items}</div></header>'
        )

    def footer(self) -> str:
        files = _as_dict(_as_dict(self.inputs.manifest.data).get("files"))
        rows = [(escape(str(name)), f"<code>{escape(str(digest))}</code>") for name, digest in files.items()]
        listing = (
            f"<details><summary>{len(rows)} files with SHA-256 checksums (from manifest.json)</summary>"
            f"{_table(['file', 'sha256'], rows)}</details>"
            if rows
            else ""
        )
        generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        return f"<footer>{listing}<p>Report generated {generated} from {escape(str(self.inputs.run_dir))}.</p></footer>"

    # -- overview -----------------------------------------------------------------------------------
    def overview(self) -> str:
        counts = self.counts
        exported = _int(counts.get("exported"), self.dataset.records)
        n_in = _int(counts.get("input"), exported + self.quarantine.total)
        quarantined = _int(counts.get("quarantined"), self.quarantine.total)
        wall = _as_dict(self.inputs.summary.data).get("wall_seconds")
        cards = [
            ("Records in", fmt_count(n_in), "read from all sources"),
            ("Exported", fmt_count(exported), _percent(exported, n_in) + " of input"),
            ("Quarantined", fmt_count(quarantined), _percent(quarantined, n_in) + " of input"),
        ]
        if counts.get("passages"):
            cards.append(("Passages", fmt_count(counts["passages"]), "knowledge chunks for grounding"))
        if isinstance(wall, int | float):
            # a small run's wall clock is mostly start-up (worker pools, models): a rate would mislead
            rate = (
                f"{n_in / wall:,.0f} records/s"
                if wall > 0 and n_in >= 1000
                else "wall clock, start-up included"
            )
            cards.append(("Run time", fmt_seconds(wall), rate))
        else:
            cards.append(("Run time", "—", "run_summary.json " + NOT_COMPUTED))
        card_html = "".join(
            f'<div class="card"><div class="k">{escape(k)}</div><div class="n">{escape(v)}</div>'
            f'<div class="d">{escape(d)}</div></div>'
            for k, v, d in cards
        )
        notes = self._input_notes()
        split_categories = self._split_categories()
        rows = [(split, sorted(cats.items(), key=lambda kv: -kv[1])) for split, cats in split_categories]
        chart = stacked_hbar_chart(
            "Exported records by split and category", rows, self.colors, normalise=False
        )
        table = self._split_category_table(split_categories)
        return _section(
            "overview",
            "Overview",
            f'<div class="cards">{card_html}</div>{notes}<div class="grid">{chart}<div>{table}</div></div>'
            + self._dialogues_and_licences(),
        )

    def _dialogues_and_licences(self) -> str:
        """Records next to the distinct source dialogues they came from, and the licence mix."""
        manifest = _as_dict(self.inputs.manifest.data)
        sources = dialogue_rows(manifest)
        if not sources:
            return ""
        total = _int(_as_dict(self.counts.get("distinct_dialogues")).get("total"))
        source_table = _table(
            ["source", "records", "distinct dialogues"],
            [(escape(name), fmt_count(n), fmt_count(d)) for name, n, d in sources],
            numeric_from=1,
        )
        licence_table = _table(
            ["licence use", "records", "distinct dialogues"],
            [(escape(use), fmt_count(n), fmt_count(d)) for use, n, d in licence_rows(manifest)],
            numeric_from=1,
        )
        return (
            f"<h3>Records and distinct dialogues ({fmt_count(total)} dialogues)</h3>"
            "<p>Long dialogs are cut into windows, each its own record; windows share "
            "<code>metadata.source_dialogue_id</code>, which is what the distinct count counts.</p>"
            f'<div class="grid"><div>{source_table}</div><div>{licence_table}'
            f"<p>{escape(licence_filter_effect(manifest).replace('`', ''))}</p></div></div>"
        )

    def _input_notes(self) -> str:
        notes = []
        if not self.inputs.manifest.present:
            notes.append(
                self.inputs.manifest.error or "manifest.json not found: counts come from the dataset files"
            )
        if self.dataset.unreadable:
            notes.append(
                f"{self.dataset.unreadable} dataset lines could not be read ({self.dataset.first_error})"
            )
        if self.quarantine.unreadable:
            notes.append(f"{self.quarantine.unreadable} quarantine lines could not be read")
        return "".join(f'<p class="warn">{escape(n)}</p>' for n in notes)

    def _split_categories(self) -> list[tuple[str, dict[str, int]]]:
        from_manifest = _as_dict(self.counts.get("split_categories"))
        if from_manifest:
            order = {name: i for i, name in enumerate(("train", "validation", "test", "unsplit"))}
            return sorted(
                ((s, {str(k): _int(v) for k, v in _as_dict(c).items()}) for s, c in from_manifest.items()),
                key=lambda item: (order.get(item[0], 9), item[0]),
            )
        return [(name, dict(stats.categories)) for name, stats in self.dataset.ordered_splits()]

    def _split_category_table(self, split_categories: list[tuple[str, dict[str, int]]]) -> str:
        if not split_categories:
            return _missing("No exported records.")
        categories = sorted({c for _, cats in split_categories for c in cats})
        rows = []
        for split, cats in split_categories:
            cells = [fmt_count(cats.get(c, 0)) for c in categories]
            rows.append((escape(split), *cells, f"<b>{fmt_count(sum(cats.values()))}</b>"))
        totals = [fmt_count(sum(cats.get(c, 0) for _, cats in split_categories)) for c in categories]
        grand = sum(sum(cats.values()) for _, cats in split_categories)
        rows.append(("<b>all</b>", *(f"<b>{t}</b>" for t in totals), f"<b>{fmt_count(grand)}</b>"))
        return _table(["split", *categories, "total"], rows, numeric_from=1)

    # -- flow -----------------------------------------------------------------------------------------
    def flow(self) -> str:
        stages = [s for s in self.counts.get("stages", []) if isinstance(s, dict)]
        if not stages:
            return _section(
                "flow", "Record flow", _missing("Stage counts (manifest.json) " + NOT_COMPUTED + ".")
            )
        rows = [
            (str(s.get("stage")), [("kept", _int(s.get("kept"))), ("rejected", _int(s.get("rejected")))])
            for s in stages
        ]
        funnel = stacked_hbar_chart(
            "Records kept and rejected at each stage", rows, self.colors, normalise=False
        )
        timing = _missing("Stage timings (run_summary.json) " + NOT_COMPUTED + ".")
        summary_stages = _as_dict(self.inputs.summary.data).get("stages")
        if isinstance(summary_stages, list):
            seconds = [
                (str(s.get("stage")), float(s.get("seconds") or 0.0))
                for s in summary_stages
                if isinstance(s, dict)
            ]
            timing = hbar_chart("Time per stage", seconds, fmt_seconds, color="#72b7b2")
        return _section(
            "flow",
            "Record flow",
            f'<div class="grid">{funnel}{timing}</div>'
            f'<div class="grid">{self._gates()}<div>{self._dataset_gates()}</div></div>',
        )

    def _gates(self) -> str:
        rejected = _as_dict(self.counts.get("rejected"))
        stages = {str(s.get("stage")): s for s in self.counts.get("stages", []) if isinstance(s, dict)}
        gates = [name for name in GATE_STAGES if name in stages]
        if not gates:
            return _missing(
                "Safety and quality gates (crisis, content, ears, quality): " + NOT_COMPUTED + "."
            )
        rows = []
        for name in gates:
            reasons = sorted(_as_dict(rejected.get(name)).items(), key=lambda kv: -_int(kv[1]))
            rows.append(
                (name, [("passed", _int(stages[name].get("kept"))), *((r, _int(n)) for r, n in reasons)])
            )
        return stacked_hbar_chart(
            "Gate pass/fail by reason",
            rows,
            Colors(REJECTION_PALETTE),
            normalise=True,
            note="Share of the records reaching each gate that passed it, and why the rest failed.",
        )

    def _dataset_gates(self) -> str:
        """The dataset-level gates (gate_report.json): totals, per-category minimums, split ratios ..."""
        loaded = self.inputs.report("gate")
        gates = [g for g in _as_dict(loaded.data).get("gates", []) if isinstance(g, dict)]
        if not gates:
            return _missing(_absent(loaded, "Dataset-level gates"))
        rows = []
        for gate in gates:
            verdict = "passed" if gate.get("passed") else "failed"
            threshold = f"{gate.get('comparison', '')} {_number(gate.get('threshold'))}".strip()
            rows.append(
                (
                    escape(str(gate.get("name", ""))),
                    f'<span class="badge {verdict}">{verdict}</span>',
                    escape(_number(gate.get("value"))),
                    escape(threshold),
                    escape(_clip(str(gate.get("message", "")), 160)),
                )
            )
        return "<h3>Dataset gates</h3>" + _table(
            ["gate", "result", "value", "threshold", "detail"], rows, numeric_cols={2, 3}
        )

    # -- quarantine -------------------------------------------------------------------------------------
    def quarantine_section(self) -> str:
        counts = self._rejection_counts()
        if not counts:
            message = (
                "Nothing was quarantined."
                if self.counts or self.quarantine.present
                else ("Quarantine " + NOT_COMPUTED + ".")
            )
            return _section("quarantine", "Quarantined records", _missing(message))
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        chart = hbar_chart(
            "Quarantined records by stage and reason",
            [(f"{stage} · {reason}", n) for (stage, reason), n in ordered[:25]],
            color="#e45756",
        )
        rows = []
        for (stage, reason), n in ordered:
            example = self.quarantine.examples.get((stage, reason))
            message = _clip(example.message, 220) if example else ""
            where = example.locator if example else ""
            rows.append(
                (
                    escape(stage),
                    f"<code>{escape(reason)}</code>",
                    fmt_count(n),
                    escape(message)
                    + (f'<div class="muted">{escape(_clip(where, 120))}</div>' if where else ""),
                )
            )
        table = _table(["stage", "reason", "records", "first example"], rows, numeric_cols={2})
        return _section(
            "quarantine",
            "Quarantined records",
            f'<div class="grid">{chart}<div>{_by_stage_table(counts)}</div></div>'
            f"<details><summary>Every reason, with its first message and where it came from</summary>{table}</details>",
        )

    def _rejection_counts(self) -> dict[tuple[str, str], int]:
        from_manifest = _as_dict(self.counts.get("rejected"))
        if from_manifest:
            return {
                (stage, str(reason)): _int(n)
                for stage, reasons in from_manifest.items()
                for reason, n in _as_dict(reasons).items()
            }
        return dict(self.quarantine.counts)


class DatasetSections(PageSection):
    """What the exported dataset holds: distributions, category mix, scores, examples and its card."""

    # -- distributions ------------------------------------------------------------------------------------
    def distributions(self) -> str:
        splits = self.dataset.ordered_splits()
        splits = [(name, stats) for name, stats in splits if stats.records]
        if not splits:
            return _section(
                "distributions", "Conversation shape", _missing("Exported dataset " + NOT_COMPUTED + ".")
            )
        turns = _histogram_series(splits, lambda s: s.turns)
        low, high = _used_range(turns)
        labels = [f"{i}+" if i == MAX_TURN_BIN else str(i) for i in range(low, high + 1)]
        turn_chart = column_chart(
            "Turns per conversation by split",
            labels,
            [Series(name, values[low : high + 1]) for name, values in turns],
            fmt=fmt_share,
            colors=self.colors,
            note="Share of each split's conversations with that many messages (system included).",
        )
        lengths = _histogram_series(splits, lambda s: s.lengths)
        low, high = _used_range(lengths)
        length_chart = line_chart(
            "Conversation length by split",
            [_short_count(length_bin_start(i)) for i in range(low, high + 1)],
            [Series(name, values[low : high + 1]) for name, values in lengths],
            colors=self.colors,
            note="Characters in all messages, half-octave bins (label = lower edge); share of each split.",
        )
        return _section(
            "distributions", "Conversation shape", f'<div class="grid">{turn_chart}{length_chart}</div>'
        )

    # -- mix -----------------------------------------------------------------------------------------------
    def mix(self) -> str:
        splits = [(name, stats) for name, stats in self.dataset.ordered_splits() if stats.records]
        if not splits:
            return _section("mix", "Mix per split", _missing("Exported dataset " + NOT_COMPUTED + "."))
        charts = [
            self._mix_chart("Category mix by split", splits, lambda s: s.categories),
            self._mix_chart("Source mix by split", splits, lambda s: s.sources),
            self._mix_chart("Language mix by split", splits, lambda s: s.languages),
            self._crisis_mix(splits),
        ]
        return _section("mix", "Mix per split", f'<div class="grid">{"".join(charts)}</div>')

    def _crisis_mix(self, splits: list[tuple[str, SplitStats]]) -> str:
        title = "Crisis level by split"
        if all(set(stats.crisis) == {"not scored"} for _, stats in splits):
            return figure(title, _missing(f"Crisis levels: {NOT_COMPUTED} (the crisis stage did not run)."))
        return self._mix_chart(title, splits, lambda s: s.crisis, order=CRISIS_LEVELS)

    def _mix_chart(
        self, title: str, splits: list[tuple[str, SplitStats]], pick: Any, order: Sequence[str] = ()
    ) -> str:
        """Per split, the shares of the most common values (in ``order`` when given, else by frequency)."""
        overall: Counter[str] = Counter()
        for _, stats in splits:
            overall.update(pick(stats))
        top = [name for name, _ in overall.most_common(MIX_TOP)]
        rank = {name: i for i, name in enumerate(order)}
        top.sort(key=lambda name: rank.get(name, len(rank)))
        rows = []
        for split, stats in splits:
            counter: Counter[str] = pick(stats)
            segments = [(name, float(counter.get(name, 0))) for name in top]
            other = sum(n for name, n in counter.items() if name not in top)
            if other:
                segments.append(("(other)", float(other)))
            rows.append((split, segments))
        note = (
            f"{len(overall)} distinct values; the {MIX_TOP} most common are shown."
            if len(overall) > MIX_TOP
            else ""
        )
        return stacked_hbar_chart(title, rows, self.colors, normalise=True, note=note)

    # -- scores ---------------------------------------------------------------------------------------------
    def scores(self) -> str:
        names = sorted(
            set(self.dataset.scores.names()) | set(self.quarantine.scores.names()) | {"ears", "crisis"},
            key=lambda n: (list(SCORE_TITLES).index(n) if n in SCORE_TITLES else len(SCORE_TITLES), n),
        )
        charts = []
        for name in names:
            title = SCORE_TITLES.get(name, f"{name} score distribution".capitalize())
            series = self._score_series(name)
            if not series:
                charts.append(
                    figure(title, _missing(f"{name} scores: {NOT_COMPUTED} (the {name} stage did not run)."))
                )
                continue
            labels = [f"{i / SCORE_BINS:.2f}" for i in range(SCORE_BINS)]
            charts.append(
                column_chart(
                    title,
                    labels,
                    series,
                    stacked=True,
                    colors=self.colors,
                    note="Records per score bin (label = lower edge); quarantined records that carry the score included.",
                )
            )
        return _section("scores", "Score distributions", f'<div class="grid">{"".join(charts)}</div>')

    def _score_series(self, name: str) -> list[Series]:
        exported = self.dataset.scores.bins.get(name, {})
        order = [s for s, _ in self.dataset.ordered_splits() if s in exported]
        series = [Series(split, exported[split]) for split in order]
        quarantined = self.quarantine.scores.bins.get(name, {}).get("quarantined")
        if quarantined:
            series.append(Series("quarantined", quarantined))
        return series

    # -- examples -------------------------------------------------------------------------------------------
    def examples(self) -> str:
        if not self.dataset.examples:
            return _section(
                "examples", "Example conversations", _missing("Exported dataset " + NOT_COMPUTED + ".")
            )
        rows = []
        for category in sorted(self.dataset.examples):
            for record in self.dataset.examples[category]:
                rows.append(
                    (
                        f'<span class="pill" style="border-color:{self.colors(category)}">{escape(category)}</span>'
                        f'<div class="muted">{escape(record.metadata.split)}</div>',
                        _conversation_html(record),
                        _provenance_html(record),
                        _scores_html(record.metadata.scores),
                    )
                )
        table = _table(
            ["category", "conversation (as exported, PII scrubbed)", "provenance", "scores"],
            rows,
            css="examples",
        )
        return _section("examples", "Example conversations", table)

    # -- card ------------------------------------------------------------------------------------------------
    def card(self) -> str:
        if not self.inputs.card:
            return _section(
                "card", "Dataset card", _missing("Dataset card (README.md) " + NOT_COMPUTED + ".")
            )
        front, body = split_front_matter(self.inputs.card)
        front_html = (
            f"<details><summary>Card metadata (YAML front matter)</summary><pre><code>{escape(front)}</code></pre></details>"
            if front
            else ""
        )
        return _section(
            "card",
            "Dataset card",
            f'<p class="muted">{escape(self.inputs.card_name)}</p>{front_html}'
            f'<article class="md">{markdown_html(body)}</article>',
        )


class CheckSections(PageSection):
    """The checks a run made on its dataset: dedup, PII scrubbing, the bias audit and the split tests."""

    # -- dedup ---------------------------------------------------------------------------------------------
    def dedup(self) -> str:
        loaded = self.inputs.report("dedup")
        report = _as_dict(loaded.data)
        if not report:
            return _section("dedup", "Duplicates", _missing(_absent(loaded, "Deduplication")))
        rows = [
            (label, float(report[key]))
            for key, label in (
                ("exact_duplicates", "exact duplicates"),
                ("near_duplicates", "near duplicates"),
                ("near_clusters", "near-duplicate clusters"),
            )
            if isinstance(report.get(key), int | float)
        ]
        chart = hbar_chart("Duplicate clusters found", rows, color="#b279a2")
        examples = [e for e in report.get("examples", []) if isinstance(e, dict)]
        table = (
            _table(
                ["removed", "kept copy", "reason", "similarity"],
                [
                    (
                        f"<code>{escape(str(e.get('record_id', '')))}</code>",
                        f"<code>{escape(str(e.get('kept_id', '')))}</code>",
                        escape(str(e.get("reason", ""))),
                        escape(_number(e.get("similarity"))),
                    )
                    for e in examples[:8]
                ],
                numeric_cols={3},
            )
            if examples
            else ""
        )
        settings = _as_dict(report.get("settings"))
        settings_html = (
            '<p class="muted">settings: '
            + escape(", ".join(f"{k}={v}" for k, v in settings.items()))
            + "</p>"
            if settings
            else ""
        )
        return _section(
            "dedup", "Duplicates", f'<div class="grid">{chart}<div>{table}{settings_html}</div></div>'
        )

    # -- pii -------------------------------------------------------------------------------------------------
    def pii(self) -> str:
        stages = {str(s.get("stage")) for s in self.counts.get("stages", []) if isinstance(s, dict)}
        totals = self.dataset.pii + self.quarantine.pii
        records = self.dataset.records_with_pii + self.quarantine.records_with_pii
        if not totals:
            ran = "pii" in stages
            message = (
                "The pii stage ran and found nothing to scrub."
                if ran
                else "PII scrubbing " + NOT_COMPUTED + "."
            )
            return _section("pii", "PII scrubbed", _missing(message))
        chart = hbar_chart(
            "PII types scrubbed",
            sorted(((k, float(v)) for k, v in totals.items()), key=lambda kv: (-kv[1], kv[0])),
            color="#f58518",
        )
        text = (
            f"<p>{fmt_count(records)} conversation{'' if records == 1 else 's'} had personal data replaced by "
            "typed placeholders "
            f"(<code>[NAME_1]</code>, <code>[EMAIL_1]</code> …): {fmt_count(sum(totals.values()))} "
            "placeholders in all, counted over exported and later-quarantined records.</p>"
        )
        return _section("pii", "PII scrubbed", f'<div class="grid">{chart}<div>{text}</div></div>')

    # -- bias audit ---------------------------------------------------------------------------------------
    def bias(self) -> str:
        loaded = self.inputs.report("bias_audit")
        judges = self.inputs.report("bias_judge_audit")
        judged = judge_bias_html(judges.data) if isinstance(judges.data, dict) and judges.data else ""
        if not isinstance(loaded.data, dict) or not loaded.data:
            body = judged or _missing(_absent(loaded, "The bias audit"))
            return _section("bias", "Bias audit", body)
        audit = loaded.data
        body = bias_audit_html(audit) if isinstance(audit.get("markers"), dict) else None
        return _section(
            "bias", "Bias audit", (body or auto_render(audit, "Bias audit", self.colors)) + judged
        )

    # -- split ----------------------------------------------------------------------------------------------
    def split_tests(self) -> str:
        loaded = self.inputs.report("split")
        report = _as_dict(loaded.data)
        if not report:
            return _section(
                "split", "Split and its statistical tests", _missing(_absent(loaded, "The split check"))
            )
        verdict = "passed" if report.get("passed") else "failed"
        message = f": {escape(str(report['message']))}" if report.get("message") else ""
        head = (
            f'<p><span class="badge {verdict}">{verdict}</span> '
            f"{fmt_count(_int(report.get('records')))} records split{message}</p>"
        )
        sizes = _as_dict(report.get("sizes"))
        shares, targets = _as_dict(sizes.get("shares")), _as_dict(sizes.get("targets"))
        names = [n for n in ("train", "validation", "test") if n in shares or n in targets]
        size_chart = (
            column_chart(
                "Split sizes: target and actual share",
                names,
                [
                    Series("target", [float(targets.get(n, 0.0)) for n in names]),
                    Series("actual", [float(shares.get(n, 0.0)) for n in names]),
                ],
                fmt=fmt_share,
                colors=self.colors,
                note=f"largest deviation {_number(sizes.get('max_deviation'))}, "
                f"allowed {_number(sizes.get('allowed_deviation'))}",
            )
            if names
            else ""
        )
        return _section(
            "split",
            "Split and its statistical tests",
            f'{head}<div class="grid">{size_chart}<div>{self._leakage(report)}</div></div>{self._tests_table(report)}',
        )

    # -- contamination ------------------------------------------------------------------------------------
    def contamination(self) -> str:
        """Near-duplicate pairs across splits (contamination_report.json): both texts, similarity, action."""
        title = "Contamination across splits"
        loaded = self.inputs.report("contamination")
        report = _as_dict(loaded.data)
        if not report:
            return _section("contamination", title, _missing(_absent(loaded, "The contamination check")))
        verdict = "passed" if report.get("passed") else "failed"
        message = f": {escape(str(report['message']))}" if report.get("message") else ""
        before, after = _as_dict(report.get("shares_before")), _as_dict(report.get("shares_after"))
        shares = ", ".join(
            f"{name} {fmt_share(float(before.get(name, 0.0)))} → {fmt_share(float(after.get(name, 0.0)))}"
            for name in ("train", "validation", "test")
            if name in before or name in after
        )
        head = (
            f'<p><span class="badge {verdict}">{verdict}</span> '
            f"{fmt_count(_int(report.get('pairs')))} near-duplicate pairs across splits among "
            f"{fmt_count(_int(report.get('records')))} records; {fmt_count(_int(report.get('moved_records')))} "
            f"records moved, {fmt_count(_int(report.get('remaining_pairs')))} pairs remain{message}</p>"
            + (f'<p class="muted">split shares before → after: {escape(shares)}</p>' if shares else "")
        )
        examples = [e for e in report.get("examples", []) if isinstance(e, dict)]
        rows = [
            (
                f"{escape(str(e.get('first_split', '')))}: {escape(str(e.get('first_text', '')))}",
                f"{escape(str(e.get('second_split', '')))}: {escape(str(e.get('second_text', '')))}",
                escape(_number(e.get("similarity"))),
                escape(_number(e.get("client_turn_share"))),
                escape(f"{e.get('action', '')} {e.get('split_after', '')}".strip()),
            )
            for e in examples[:12]
        ]
        table = (
            _table(["one text", "the other", "similarity", "shared client turns", "action"], rows, {2, 3})
            if rows
            else ""
        )
        return _section("contamination", title, head + table)

    def _tests_table(self, report: dict[str, Any]) -> str:
        tests = [t for t in report.get("tests", []) if isinstance(t, dict)]
        if not tests:
            return _missing("No statistical tests recorded.")
        threshold = _as_dict(report.get("thresholds")).get("min_p_value")
        rows = []
        for t in tests:
            if t.get("skipped"):
                result = f'<span class="badge skipped">skipped</span> {escape(str(t.get("reason", "")))}'
            else:
                verdict = "passed" if t.get("passed") else "failed"
                result = f'<span class="badge {verdict}">{verdict}</span>'
            rows.append(
                (
                    escape(
                        {"ks": "Kolmogorov-Smirnov", "chi_square": "chi-square"}.get(
                            str(t.get("test")), str(t.get("test"))
                        )
                    ),
                    escape(str(t.get("variable", ""))),
                    escape(str(t.get("compare", "all splits"))),
                    escape(_number(t.get("statistic"))),
                    escape(_p_value(t.get("p_value"))),
                    result,
                )
            )
        caption = (
            f'<p class="muted">A test fails when p &lt; {escape(_number(threshold))}.</p>'
            if threshold
            else ""
        )
        return f"<h3>Statistical tests</h3>{caption}" + _table(
            ["test", "variable", "compared", "statistic", "p-value", "result"], rows, numeric_cols={3, 4}
        )

    def _leakage(self, report: dict[str, Any]) -> str:
        leakage = _as_dict(report.get("leakage"))
        if not leakage:
            return _missing("Leakage check " + NOT_COMPUTED + ".")
        rows = [
            (escape(k.replace("_", " ")), escape(_number(v)))
            for k, v in leakage.items()
            if not isinstance(v, dict | list)
        ]
        return "<h3>Leakage across splits</h3>" + _table(["check", "value"], rows, numeric_cols={1})


# -- the bias audit (ai.sourcing.synthetic.audit) -----------------------------------------------------
def bias_audit_html(audit: dict[str, Any]) -> str:
    """Marker balance across splits, counterfactual coverage of marker values, preference pairs."""
    counterfactual = _as_dict(audit.get("counterfactual"))
    pairs = _as_dict(audit.get("preference_pairs"))
    records = _int(audit.get("records"))
    covered, total = (
        _int(counterfactual.get("marker_values_covered")),
        _int(counterfactual.get("marker_values_total")),
    )
    spanning = _int(counterfactual.get("sets_spanning_splits"))
    facts = [
        ("records audited", fmt_count(records)),
        ("records stating a demographic marker", f"{fmt_count(_int(audit.get('records_with_markers')))} "
         f"({_percent(_int(audit.get('records_with_markers')), records)})"),
        ("counterfactual sets / variants", f"{fmt_count(_int(counterfactual.get('sets')))} / "
         f"{fmt_count(_int(counterfactual.get('variants')))}"),
        ("originals covered by a counterfactual set", f"{fmt_count(_int(counterfactual.get('originals_covered')))} "
         f"({fmt_share(float(counterfactual.get('share_of_originals_covered') or 0.0))})"),
        ("marker values with a counterfactual variant", f"{covered} of {total}"),
        ("counterfactual sets spanning splits", f'<span class="badge {"passed" if not spanning else "failed"}">'
         f"{spanning}</span>"),
        ("preference pairs", fmt_count(_int(pairs.get("total")))),
    ]  # fmt: skip
    table = _table(
        ["", ""], [(escape(k), v if "badge" in v else escape(v)) for k, v in facts], numeric_cols={1}
    )
    charts = [_marker_balance_chart(audit), _coverage_chart(counterfactual)]
    by_type = {str(k): float(_int(v)) for k, v in _as_dict(pairs.get("by_bias_type")).items()}
    if by_type:
        charts.append(
            hbar_chart("Preference pairs by bias type", sorted(by_type.items(), key=lambda kv: -kv[1]))
        )
    return (
        f'<div class="grid"><div>{table}</div>{charts[0]}</div><div class="grid">{"".join(charts[1:])}</div>'
    )


# -- the bias audit of the judges (ai.pipelines.orchestrator.bias_audit) ------------------------------------
def judge_bias_html(audit: dict[str, Any]) -> str:
    """Per judge, the worst value's decision flip rate in each dimension, against the gate's limit."""
    gate = _as_dict(audit.get("gate"))
    limit = float(gate.get("max_flip_rate") or 0.0)
    verdict = "passed" if gate.get("passed") else "failed"
    head = (
        f'<h3>Do the judges treat groups alike?</h3><p><span class="badge {verdict}">{verdict}</span> '
        f"{fmt_count(_int(audit.get('sets')))} counterfactual probe sets ({fmt_count(_int(audit.get('variants')))} "
        f"variants of {fmt_count(_int(audit.get('originals')))} exported conversations): a dimension fails when "
        f"one marker value flips a judge's decision in more than {fmt_share(limit)} of its sets "
        f"(values in fewer than {_int(gate.get('min_sets'))} sets are not judged).</p>"
    )
    worst: dict[str, list[tuple[str, float]]] = {}
    for check in gate.get("checks") or []:
        label = f"{check['dimension']} ({check['value']})"
        worst.setdefault(str(check["judge"]), []).append((label, float(check["flip_rate"])))
    charts = [
        hbar_chart(
            f"{judge}: decision flip rate, worst value per dimension",
            sorted(rows, key=lambda row: -row[1]),
            fmt=fmt_share,
            note=f"Bars above {fmt_share(limit)} fail the gate. CIs and every value: bias_judge_audit.json.",
        )
        for judge, rows in worst.items()
    ]
    failed = [
        (
            escape(str(c["judge"])),
            escape(str(c["dimension"])),
            escape(str(c["value"])),
            f"{fmt_share(float(c['flip_rate']))} [{fmt_share(float(c['flip_rate_ci'][0]))}, "
            f"{fmt_share(float(c['flip_rate_ci'][1]))}]",
            fmt_count(_int(c["sets"])),
        )
        for c in gate.get("checks") or []
        if not c.get("passed")
    ]
    table = (
        _table(["judge", "dimension", "value", "flip rate [95% CI]", "sets"], failed, numeric_cols={3, 4})
        if failed
        else ""
    )
    return f'{head}{table}<div class="grid">{"".join(charts)}</div>'


def _marker_balance_chart(audit: dict[str, Any]) -> str:
    """Per dimension, the share of each split's records that state a marker of it: balance across splits."""
    dimensions = sorted(_as_dict(audit.get("markers")))
    splits = _as_dict(audit.get("splits"))
    order = [s for s in ("train", "validation", "test", "unsplit") if s in splits] + sorted(
        s for s in splits if s not in ("train", "validation", "test", "unsplit")
    )
    series = []
    for split in order:
        entry = _as_dict(splits[split])
        markers = _as_dict(entry.get("markers"))
        n = _int(entry.get("records")) or 1
        series.append(Series(split, [sum(_as_dict(markers.get(d)).values()) / n for d in dimensions]))
    return column_chart(
        "Demographic markers per split",
        dimensions,
        series,
        fmt=fmt_share,
        note="Marker mentions in client turns per record of each split, by dimension.",
    )


def _coverage_chart(counterfactual: dict[str, Any]) -> str:
    """Counterfactual variants per dimension, with how many of the dimension's values they state."""
    by_dimension = _as_dict(counterfactual.get("variants_by_dimension"))
    by_value = _as_dict(counterfactual.get("variants_by_value"))
    rows = [
        (f"{dimension} ({len(_as_dict(by_value.get(dimension)))} values)", float(_int(n)))
        for dimension, n in sorted(by_dimension.items(), key=lambda kv: -_int(kv[1]))
    ]
    covered, total = counterfactual.get("marker_values_covered"), counterfactual.get("marker_values_total")
    note = f"{covered} of {total} marker values have counterfactual variants." if total else ""
    return hbar_chart("Counterfactual variants by dimension", rows, color="#b279a2", note=note)


# -- generic rendering of a JSON report (the bias audit's shape belongs to its stage) -----------------
def auto_render(data: dict[str, Any], title: str, colors: Colors) -> str:
    """Charts for the numeric maps in ``data`` and a table for its scalar facts, one level deep."""
    facts: list[tuple[str, str]] = []
    charts: list[str] = []
    for key, value in data.items():
        label = _label(key)
        if isinstance(value, dict):
            charts.extend(_auto_charts(f"{title}: {label}", value, colors))
        elif isinstance(value, list):
            facts.append((label, f"{len(value)} entries"))
        else:
            facts.append((label, _number(value)))
    table = _table(["", ""], [(escape(k), escape(v)) for k, v in facts], numeric_cols={1}) if facts else ""
    return f'{table}<div class="grid">{"".join(charts)}</div>'


def _auto_charts(title: str, value: dict[str, Any], colors: Colors) -> list[str]:
    numbers = {
        str(k): float(v) for k, v in value.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    nested = {str(k): v for k, v in value.items() if isinstance(v, dict)}
    charts = []
    if numbers:
        fmt = (
            fmt_share
            if all(0 <= v <= 1 for v in numbers.values()) and any(v % 1 for v in numbers.values())
            else fmt_count
        )
        charts.append(hbar_chart(title, sorted(numbers.items(), key=lambda kv: -kv[1])[:30], fmt))
    flat = {
        k: v
        for k, v in nested.items()
        if all(isinstance(x, int | float) and not isinstance(x, bool) for x in v.values())
    }
    if flat:
        rows = [(k, [(str(n), float(x)) for n, x in v.items()]) for k, v in list(flat.items())[:12]]
        charts.append(stacked_hbar_chart(title, rows, colors, normalise=False))
    for key, inner in nested.items():
        if key not in flat:
            charts.extend(_auto_charts(f"{title} · {_label(key)}", inner, colors))
    return charts


# -- examples ---------------------------------------------------------------------------------------------
ROLE_LABELS = {"user": "client", "assistant": "therapist", "system": "system"}


def _conversation_html(record: ExportedRecord, max_turns: int = 4, max_chars: int = 320) -> str:
    shown = [m for m in record.messages if m.role != "system"][:max_turns]
    parts = [
        f'<div class="turn {escape(m.role)}"><span class="role">{escape(ROLE_LABELS.get(m.role, m.role))}</span>'
        f"{escape(_clip(m.content or '', max_chars))}</div>"
        for m in shown
    ]
    rest = len(record.messages) - len(shown)
    if rest > 0:
        parts.append(f'<div class="muted">… {rest} more message{"s" if rest > 1 else ""}</div>')
    return "".join(parts)


def _provenance_html(record: ExportedRecord) -> str:
    source = record.metadata.source
    lines = [f'<b>{escape(source.name)}</b> <span class="muted">{escape(source.kind)}</span>']
    links = provenance_links(source.locator)
    if links:
        lines.append(" · ".join(links))
    if source.license:
        lines.append(f'<span class="muted">licence: {escape(_clip(source.license, 90))}</span>')
    for ref in record.metadata.grounding[:2]:
        quote_text = str(ref.get("quote", ""))
        lines.append(
            f'<span class="muted">grounded in <code>{escape(str(ref.get("passage_id", "")))}</code></span>'
            + (f"<q>{escape(_clip(quote_text, 140))}</q>" if quote_text else "")
        )
    lines.append(f'<code class="id">{escape(record.id)}</code>')
    return "<br>".join(lines)


def provenance_links(locator: dict[str, Any], depth: int = 0) -> list[str]:
    """HTML snippets for a locator: links for PMID, DOI, PMCID, YouTube times; text for file, page, row."""
    parts: list[str] = []
    pmid = str(locator.get("pmid", "")).strip()
    if pmid.isdigit():
        parts.append(_link(f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/", f"PMID {pmid}"))
    doi = str(locator.get("doi", "")).strip()
    if re.fullmatch(r"10\.\d{3,9}/\S+", doi):
        parts.append(_link(f"https://doi.org/{quote(doi, safe='/:;()._-')}", f"DOI {doi}"))
    pmcid = str(locator.get("pmcid", "")).strip()
    if re.fullmatch(r"PMC\d+", pmcid):
        parts.append(_link(f"https://www.ncbi.nlm.nih.gov/pmc/articles/{pmcid}/", pmcid))
    video = str(locator.get("video_id", "")).strip()
    if re.fullmatch(r"[A-Za-z0-9_-]{11}", video):
        start = locator.get("start")
        seconds = int(start) if isinstance(start, int | float) else 0
        stamp = f" @ {_clock(seconds)}" if isinstance(start, int | float) else ""
        parts.append(
            _link(f"https://www.youtube.com/watch?v={video}&t={seconds}s", f"YouTube {video}{stamp}")
        )
    url = str(locator.get("url", "")).strip()
    if url.startswith(("https://", "http://")) and not (doi or pmid):
        parts.append(_link(url, _clip(url, 60)))
    parts.extend(_locator_texts(locator))
    if depth < 2:
        for key in ("passage_locator", "client_locator", "original_locator"):
            nested = locator.get(key)
            if isinstance(nested, dict):
                parts.extend(provenance_links(nested, depth + 1))
    return parts


def _locator_texts(locator: dict[str, Any]) -> list[str]:
    texts = []
    file = locator.get("file") or locator.get("file_line")
    if file:
        texts.append(f'<span class="muted">{escape(_clip(Path(str(file)).name, 60))}</span>')
    pages = locator.get("pages")
    if isinstance(pages, list) and pages:
        texts.append(escape(f"p. {pages[0]}" if pages[0] == pages[-1] else f"pp. {pages[0]}–{pages[-1]}"))
    elif locator.get("page") is not None:
        texts.append(escape(f"p. {locator['page']}"))
    if isinstance(locator.get("start"), int | float) and not locator.get("video_id"):
        texts.append(
            escape(f"{_clock(int(locator['start']))}–{_clock(int(locator.get('end') or locator['start']))}")
        )
    if locator.get("row") is not None and not file:
        texts.append(escape(f"row {locator['row']}"))
    return texts


def _scores_html(scores: dict[str, float]) -> str:
    parts = [f'<span class="score">{escape(k)} <b>{v:.2f}</b></span>' for k, v in sorted(scores.items())]
    return "<br>".join(parts) or '<span class="muted">—</span>'


def _by_stage_table(counts: dict[tuple[str, str], int]) -> str:
    by_stage: Counter[str] = Counter()
    for (stage, _), n in counts.items():
        by_stage[stage] += n
    rows = [(escape(stage), fmt_count(n)) for stage, n in by_stage.most_common()]
    rows.append(("<b>all</b>", f"<b>{fmt_count(sum(by_stage.values()))}</b>"))
    return _table(["stage", "quarantined"], rows, numeric_cols={1})


# -- small helpers --------------------------------------------------------------------------------------
def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{escape(title)}</h2>{body}</section>'


def _missing(message: str) -> str:
    return f'<p class="missing">{escape(message)}</p>'


def _absent(loaded: Loaded, what: str) -> str:
    return loaded.error or f"{what} ({loaded.name}): {NOT_COMPUTED}."


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric_cols: set[int] | None = None,
    numeric_from: int | None = None,
    css: str = "",
    escape_header: bool = True,
) -> str:
    """Rows hold HTML already escaped by the caller; header cells are escaped here unless told not to."""

    def cls(index: int) -> str:
        numeric = (numeric_cols and index in numeric_cols) or (
            numeric_from is not None and index >= numeric_from
        )
        return ' class="num"' if numeric else ""

    head = "".join(f"<th{cls(i)}>{escape(h) if escape_header else h}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    css_attr = f' class="{css}"' if css else ""
    return f'<div class="table-wrap"><table{css_attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _histogram_series(splits: list[tuple[str, SplitStats]], pick: Any) -> list[tuple[str, list[float]]]:
    """Per split, shares by bin index 0..max over all splits (so series line up)."""
    top = max((max(pick(stats), default=0) for _, stats in splits), default=0)
    series = []
    for name, stats in splits:
        counter = pick(stats)
        total = sum(counter.values()) or 1
        series.append((name, [counter.get(i, 0) / total for i in range(top + 1)]))
    return series


def _used_range(series: list[tuple[str, list[float]]]) -> tuple[int, int]:
    used = [i for _, values in series for i, v in enumerate(values) if v > 0]
    return (min(used), max(used)) if used else (0, 0)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _percent(part: int, whole: int) -> str:
    return f"{part / whole * 100:.1f}%" if whole else "—"


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _p_value(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value:.3g}" if value >= 0.001 else f"{value:.2e}"


def _short_count(value: int) -> str:
    return f"{value / 1000:.3g}k" if value >= 1000 else str(value)


def _clock(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _label(key: str) -> str:
    return key.replace("_", " ")


def _link(href: str, label: str) -> str:
    return f'<a href="{escape(href)}" rel="noreferrer noopener">{escape(label)}</a>'
