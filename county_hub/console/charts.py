"""Charts for the supervision page as server-rendered SVG (no script, no library): horizontal
bars with their labels and values, escaped like any other text on the page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Bar", "bars_svg"]

_COLOURS = {"statutory_breach": "#5a0000", "red": "#d93025", "yellow": "#f9c513",
            "on_time": "#34a853", "": "#4a78c2"}


@dataclass(frozen=True, kw_only=True)
class Bar:
    label: str
    value: float  # 0..1 for a rate, a count otherwise
    text: str  # what is written after the bar
    tone: str = ""


def bars_svg(bars: Sequence[Bar], *, title: str, maximum: float | None = None,
             width: int = 600) -> str:
    label_w, row_h, value_w = 190, 26, 90
    top = 28
    height = top + row_h * max(1, len(bars)) + 8
    most = maximum if maximum is not None else max((b.value for b in bars), default=1) or 1
    span = width - label_w - value_w
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}">',
             f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>']
    if not bars:
        parts.append(f'<text x="0" y="{top + 16}">（暂无数据）</text>')
    for n, bar in enumerate(bars):
        y = top + n * row_h
        length = 0 if most <= 0 else max(0.0, min(1.0, bar.value / most)) * span
        label = bar.label if len(bar.label) <= 14 else bar.label[:13] + "…"
        parts += [
            f'<text x="0" y="{y + 17}">{escape(label)}</text>',
            f'<rect x="{label_w}" y="{y + 5}" width="{length:.1f}" height="16" '
            f'fill="{_COLOURS.get(bar.tone, _COLOURS[""])}"><title>{escape(bar.label)}: '
            f'{escape(bar.text)}</title></rect>',
            f'<text x="{label_w + length + 6:.1f}" y="{y + 17}">{escape(bar.text)}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)
