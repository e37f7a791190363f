"""Inline SVG charts for the dataset report: drawn in Python, no script, no font files, no network.

Each chart is a ``<figure>`` whose ``<figcaption>`` carries its title, so the report reads without
styling and a test can find every chart by its title. Bars carry ``<title>`` tooltips with exact values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

# Qualitative palette without red: red is kept for rejected and quarantined records.
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#b279a2",
    "#72b7b2",
    "#eeca3b",
    "#9d755d",
    "#ff9da6",
    "#79706e",
    "#8cd17d",
)
NAMED_COLORS = {
    "train": "#4c78a8",
    "validation": "#f58518",
    "test": "#54a24b",
    "unsplit": "#9d755d",
    "quarantined": "#e45756",
    "kept": "#54a24b",
    "passed": "#54a24b",
    "rejected": "#e45756",
    "target": "#bab0ac",
    "actual": "#4c78a8",
    "none": "#c9d6e3",
    # crisis levels, from a signal to an attempt: a sequential warm scale
    "indicator": "#eeca3b",
    "ideation": "#f58518",
    "behavior_or_plan": "#e45756",
    "attempt": "#9e2a2b",
    "not scored": "#e6e6e6",
    "(other)": "#bab0ac",
}
WIDTH = 640
TEXT = "#2d3340"
MUTED = "#7a8190"
GRID = "#e7e9ee"

Formatter = Callable[[float], str]


def fmt_count(value: float) -> str:
    return f"{value:,.0f}"


def fmt_share(value: float) -> str:
    return f"{value * 100:.1f}%"


def fmt_seconds(value: float) -> str:
    return f"{value:,.2f} s" if value < 100 else f"{value:,.0f} s"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


# Warm shades for the reasons records were rejected: never confused with a "passed" green.
REJECTION_PALETTE = ("#e45756", "#f58518", "#ff9da6", "#eeca3b", "#9d755d", "#b279a2", "#79706e")


class Colors:
    """Stable colours: well-known names get their own, the rest take the palette in first-seen order."""

    def __init__(self, palette: Sequence[str] = PALETTE) -> None:
        self._palette = tuple(palette)
        self._assigned: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        if name in NAMED_COLORS:
            return NAMED_COLORS[name]
        if name not in self._assigned:
            self._assigned[name] = self._palette[len(self._assigned) % len(self._palette)]
        return self._assigned[name]


def figure(title: str, body: str, legend: Sequence[tuple[str, str]] = (), note: str = "") -> str:
    """A titled chart; ``legend`` is (label, colour) pairs shown under it."""
    items = "".join(
        f'<li><span class="swatch" style="background:{color}"></span>{escape(label)}</li>'
        for label, color in legend
    )
    legend_html = f'<ul class="legend">{items}</ul>' if items else ""
    note_html = f'<p class="chart-note">{escape(note)}</p>' if note else ""
    return (
        f'<figure class="chart" data-chart="{escape(slug(title))}">'
        f"<figcaption>{escape(title)}</figcaption>{body}{legend_html}{note_html}</figure>"
    )


def ink_on(background: str) -> str:
    """White or near-black text, whichever reads better on a ``#rrggbb`` background."""
    red, green, blue = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    return "#2d3340" if 0.299 * red + 0.587 * green + 0.114 * blue > 170 else "#ffffff"


def slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def hbar_chart(
    title: str, rows: Sequence[tuple[str, float]], fmt: Formatter = fmt_count, color: str = "", note: str = ""
) -> str:
    """One horizontal bar per (label, value), in the order given."""
    if not rows:
        return figure(title, _empty_svg("nothing to show"), note=note)
    label_w, row_h, top = 190, 24, 6
    plot_w = WIDTH - label_w - 70
    peak = max(value for _, value in rows) or 1.0
    parts = []
    for index, (label, value) in enumerate(rows):
        y = top + index * row_h
        length = max(value / peak * plot_w, 1.5 if value else 0)
        fill = color or PALETTE[0]
        parts.append(_row_label(label, label_w - 8, y + row_h / 2))
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{length:.1f}" height="{row_h - 8}" rx="3" fill="{fill}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
            f'<text x="{label_w + length + 6:.1f}" y="{y + row_h / 2 + 4:.1f}" class="v">{escape(fmt(value))}</text>'
        )
    return figure(title, _svg(top * 2 + len(rows) * row_h, "".join(parts)), note=note)


def stacked_hbar_chart(
    title: str,
    rows: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    colors: Colors | None = None,
    normalise: bool = True,
    fmt: Formatter = fmt_count,
    note: str = "",
) -> str:
    """One bar per row, split into segments; ``normalise`` draws every bar at 100% (a mix)."""
    colors = colors or Colors()
    rows = [(label, [(name, v) for name, v in segments if v > 0]) for label, segments in rows]
    if not any(segments for _, segments in rows):
        return figure(title, _empty_svg("nothing to show"), note=note)
    label_w, row_h, top = 110, 30, 6
    plot_w = WIDTH - label_w - (12 if normalise else 70)
    peak = max(sum(v for _, v in segments) for _, segments in rows) or 1.0
    parts = []
    seen: dict[str, str] = {}
    for index, (label, segments) in enumerate(rows):
        y = top + index * row_h
        total = sum(v for _, v in segments)
        scale = plot_w / (total if normalise else peak) if total else 0.0
        x = float(label_w)
        parts.append(_row_label(label, label_w - 8, y + row_h / 2))
        for name, value in segments:
            color = seen.setdefault(name, colors(name))
            width = value * scale
            share = value / total if total else 0.0
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{width:.1f}" height="{row_h - 8}" fill="{color}">'
                f"<title>{escape(label)} · {escape(name)}: {escape(fmt(value))} ({fmt_share(share)})</title></rect>"
            )
            if width > 44:
                text = fmt_share(share) if normalise else fmt(value)
                parts.append(
                    f'<text x="{x + width / 2:.1f}" y="{y + row_h / 2 + 4:.1f}" class="in" '
                    f'style="fill:{ink_on(color)}">{escape(text)}</text>'
                )
            x += width
        if not normalise:
            parts.append(
                f'<text x="{x + 6:.1f}" y="{y + row_h / 2 + 4:.1f}" class="v">{escape(fmt(total))}</text>'
            )
    legend = list(seen.items())
    return figure(title, _svg(top * 2 + len(rows) * row_h, "".join(parts)), legend, note)


def column_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
    fmt: Formatter = fmt_count,
    colors: Colors | None = None,
    note: str = "",
) -> str:
    """Vertical bars per category: one bar per series side by side, or stacked."""
    colors = colors or Colors()
    if not categories or not series:
        return figure(title, _empty_svg("nothing to show"), note=note)
    if stacked:
        peak = max(sum(s.values[i] for s in series) for i in range(len(categories)))
    else:
        peak = max(max(s.values, default=0) for s in series)
    frame = _Frame(len(categories), _nice_ceiling(peak, whole=fmt is fmt_count), fmt)
    parts = [frame.axes(categories)]
    slot_w = frame.slot_width
    group_w = slot_w * 0.8
    for index in range(len(categories)):
        x0 = frame.left + index * slot_w + (slot_w - group_w) / 2
        base = 0.0
        for order, s in enumerate(series):
            value = s.values[index]
            if stacked:
                x, width, bottom = x0, group_w, base
                base += value
            else:
                width = group_w / len(series)
                x, bottom = x0 + order * width, 0.0
            y_top, y_bottom = frame.y(bottom + value), frame.y(bottom)
            if value <= 0:
                continue
            parts.append(
                f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{max(width - 1, 1):.1f}" '
                f'height="{max(y_bottom - y_top, 0.8):.1f}" fill="{colors(s.name)}">'
                f"<title>{escape(categories[index])} · {escape(s.name)}: {escape(fmt(value))}</title></rect>"
            )
    legend = [(s.name, colors(s.name)) for s in series] if len(series) > 1 else []
    return figure(title, _svg(frame.height, "".join(parts)), legend, note)


def line_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Formatter = fmt_share,
    colors: Colors | None = None,
    note: str = "",
) -> str:
    """One line per series over shared categories: for comparing distributions of different sizes."""
    colors = colors or Colors()
    if not categories or not series:
        return figure(title, _empty_svg("nothing to show"), note=note)
    peak = max(max(s.values, default=0) for s in series)
    frame = _Frame(len(categories), _nice_ceiling(peak, whole=fmt is fmt_count), fmt)
    parts = [frame.axes(categories)]
    for s in series:
        points = [(frame.center(i), frame.y(v)) for i, v in enumerate(s.values)]
        color = colors(s.name)
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2.2"/>')
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{color}">'
            f"<title>{escape(s.name)} · {escape(categories[i])}: {escape(fmt(s.values[i]))}</title></circle>"
            for i, (x, y) in enumerate(points)
        )
    legend = [(s.name, colors(s.name)) for s in series]
    return figure(title, _svg(frame.height, "".join(parts)), legend, note)


class _Frame:
    """Axes of a vertical chart: y gridlines with labels, category labels along x."""

    height = 230
    top, bottom, left, right = 10, 42, 56, 10

    def __init__(self, n_categories: int, y_max: float, fmt: Formatter) -> None:
        self.n = n_categories
        self.y_max = y_max or 1.0
        self.fmt = fmt
        self.plot_h = self.height - self.top - self.bottom
        self.slot_width = (WIDTH - self.left - self.right) / max(n_categories, 1)

    def y(self, value: float) -> float:
        return self.top + self.plot_h * (1 - value / self.y_max)

    def center(self, index: int) -> float:
        return self.left + (index + 0.5) * self.slot_width

    def axes(self, categories: Sequence[str]) -> str:
        parts = []
        for step in range(5):
            value = self.y_max * step / 4
            y = self.y(value)
            parts.append(
                f'<line x1="{self.left}" x2="{WIDTH - self.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
                f'<text x="{self.left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                f"{escape(self.fmt(value))}</text>"
            )
        # Thin out x labels so they never overlap: about 7 px per character at this size.
        longest = max((len(c) for c in categories), default=1)
        every = max(1, math.ceil(longest * 6.5 / self.slot_width))
        for index, label in enumerate(categories):
            if index % every == 0:
                parts.append(
                    f'<text x="{self.center(index):.1f}" y="{self.height - self.bottom + 16}" class="tick" '
                    f'text-anchor="middle">{escape(label)}</text>'
                )
        return "".join(parts)


def _nice_ceiling(value: float, whole: bool = False) -> float:
    """An axis top of 4 equal steps of 1, 2 or 5 x 10^k: round gridline labels (whole steps for counts)."""
    if value <= 0:
        return 1.0
    quarter = value / 4
    power = 10 ** math.floor(math.log10(quarter))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= quarter - 1e-12)
    return 4 * (max(step, 1.0) if whole else step)


def _row_label(label: str, x: float, y: float) -> str:
    shown = label if len(label) <= 28 else label[:27] + "…"
    return (
        f'<text x="{x}" y="{y + 4:.1f}" class="lbl" text-anchor="end"><title>{escape(label)}</title>'
        f"{escape(shown)}</text>"
    )


def _svg(height: float, content: str) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">{content}</svg>'
    )


def _empty_svg(message: str) -> str:
    return _svg(40, f'<text x="8" y="24" class="tick">{escape(message)}</text>')
