"""Server-side SVG bar charts: no JavaScript, no CDN, no inline styles (colours come from CSS classes).

Every text is escaped; long labels are shortened to fit and the full label stays in the row's ``<title>``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from html import escape

WIDTH = 940
ROW = 30
BAR = 18
TOP = 8
AXIS = 26
VALUE_ROOM = 120
TICKS = (0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str
    tone: str = "neutral"
    title: str = ""


def tone_for(share: float, good: float = 0.8, fair: float = 0.6) -> str:
    """CSS tone for a share of correct answers (or a score against a pass mark)."""
    return "good" if share >= good else "fair" if share >= fair else "poor"


def _text_width(text: str) -> float:
    """Rough rendered width at the chart's 13px font: CJK characters are square, the rest about half."""
    return sum(13.0 if ord(ch) > 0x2E7F else 7.2 for ch in text)


def fit(text: str, room: float) -> str:
    text = " ".join(text.split())
    if _text_width(text) <= room:
        return text
    while text and _text_width(text + "…") > room:
        text = text[:-1]
    return text + "…"


def bar_chart(bars: list[Bar], caption: str, marker: float | None = None, marker_label: str = "",
              label_width: int = 250) -> str:
    """A horizontal bar chart of values from 0 to 1, one row per bar, with an optional marker line (pass mark)."""
    chart_id = "chart-" + hashlib.sha1((caption + str(len(bars))).encode("utf-8")).hexdigest()[:8]
    plot_x, plot_w = label_width, WIDTH - label_width - VALUE_ROOM
    top = TOP + (18 if marker is not None else 0)
    bottom = top + ROW * max(len(bars), 1)
    height = bottom + AXIS
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" '
             f'width="{WIDTH}" height="{height}" role="img" aria-labelledby="{chart_id}">',
             f'<title id="{chart_id}">{escape(caption)}</title>']
    for tick in TICKS:
        x = plot_x + tick * plot_w
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}"/>')
        parts.append(f'<text class="axis" x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{int(tick * 100)}%'
                     '</text>')
    if not bars:
        parts.append(f'<text class="empty" x="{plot_x + plot_w / 2:.1f}" y="{top + ROW / 2 + 5}" '
                     'text-anchor="middle">暂无数据</text>')
    for n, bar in enumerate(bars):
        y = top + n * ROW + (ROW - BAR) / 2
        value = min(max(bar.value, 0.0), 1.0)
        width = max(value * plot_w, 2.0)
        parts.append(f'<g class="row"><title>{escape(bar.title or bar.label)}：{escape(bar.text)}</title>')
        parts.append(f'<text class="label" x="{plot_x - 10}" y="{y + BAR - 4:.1f}" text-anchor="end">'
                     f'{escape(fit(bar.label, label_width - 16))}</text>')
        parts.append(f'<rect class="track" x="{plot_x}" y="{y:.1f}" width="{plot_w}" height="{BAR}" rx="3"/>')
        parts.append(f'<rect class="bar {escape(bar.tone)}" x="{plot_x}" y="{y:.1f}" width="{width:.1f}" '
                     f'height="{BAR}" rx="3"/>')
        parts.append(f'<text class="value" x="{plot_x + plot_w + 8}" y="{y + BAR - 4:.1f}">{escape(bar.text)}</text>')
        parts.append('</g>')
    if marker is not None:
        x = plot_x + min(max(marker, 0.0), 1.0) * plot_w
        parts.append(f'<line class="marker" x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{bottom + 2}"/>')
        if marker_label:
            parts.append(f'<text class="marker-label" x="{x:.1f}" y="{top - 11}" text-anchor="middle">'
                         f'{escape(marker_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
