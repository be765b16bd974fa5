"""The report's picture: an SVG of horizontal bar charts, written by hand so it needs no plotting library.

One panel per enum field of the schema (records per value, e.g. by category and by urgency), then, when the
run's model calls are known, calls per phase and tokens per phase (prompt and completion stacked). Values are
drawn in the order given, so the same records give the same file; every label is escaped and redacted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

from etlcrew.redact import redact

WIDTH = 640
LABEL_W = 170  # label column
BAR_X = LABEL_W + 10
BAR_MAX = WIDTH - BAR_X - 70  # room for the value after the longest bar
ROW_H, BAR_H, TITLE_H, GAP = 20, 14, 28, 14
COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
PROMPT, COMPLETION = "#4e79a7", "#f28e2b"

Bar = tuple[str, Sequence[int]]  # label, stacked segment values


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in attrs.items())
    return f'<text x="{x:g}" y="{y:g}"{extra}>{escape(redact(text))}</text>'


def _label(text: str, limit: int = 26) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _panel(top: float, title: str, bars: list[Bar], colours: Sequence[str], legend: Sequence[str] = ()) -> tuple[
        list[str], float]:
    """One titled bar chart starting at ``top``; returns its SVG elements and its height."""
    parts = [_text(8, top + 18, title, font_weight="bold", font_size="14")]
    if legend:
        x = WIDTH - 10 - 110 * len(legend)
        for i, name in enumerate(legend):
            parts.append(f'<rect x="{x + 110 * i}" y="{top + 8}" width="10" height="10" fill="{colours[i]}"/>')
            parts.append(_text(x + 110 * i + 14, top + 17, name, font_size="11"))
    peak = max([sum(values) for _, values in bars] + [1])
    y = top + TITLE_H
    for row, (label, values) in enumerate(bars):
        parts.append(_text(LABEL_W, y + BAR_H - 3, _label(label), text_anchor="end"))
        x = float(BAR_X)
        for i, value in enumerate(values):
            width = BAR_MAX * value / peak
            if width > 0:
                colour = colours[i] if legend else colours[row % len(colours)]
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR_H}" fill="{colour}">'
                             f"<title>{escape(redact(f'{label}: {value}'))}</title></rect>")
                x += width
        parts.append(_text(x + 5, y + BAR_H - 3, f"{sum(values):,}", font_size="11"))
        y += ROW_H
    return parts, TITLE_H + ROW_H * max(len(bars), 1) + GAP


def render_chart(title: str, by_field: Mapping[str, Sequence[tuple[str, int]]],
                 calls_by_phase: Mapping[str, Mapping[str, int]] | None = None) -> str | None:
    """The SVG text, or None when there is nothing to draw (no enum field and no model call)."""
    panels: list[tuple[str, list[Bar], Sequence[str], Sequence[str]]] = [
        (f"Records by {field}", [(label, [count]) for label, count in rows], COLOURS, ())
        for field, rows in by_field.items() if rows
    ]
    if calls_by_phase:
        phases = list(calls_by_phase.items())
        panels.append(("Model calls per phase", [(p, [int(v.get("calls", 0))]) for p, v in phases], COLOURS, ()))
        panels.append(("Tokens per phase", [(p, [int(v.get("prompt_tokens", 0)), int(v.get("completion_tokens", 0))])
                                            for p, v in phases], (PROMPT, COMPLETION), ("prompt", "completion")))
    if not panels:
        return None
    body: list[str] = [_text(8, 20, title, font_weight="bold", font_size="16")]
    top = 34.0
    for name, bars, colours, legend in panels:
        parts, height = _panel(top, name, bars, colours, legend)
        body += parts
        top += height
    height = int(top)
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12" fill="#222">',
        f"<title>{escape(redact(title))}</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
        *body, "</svg>", ""])

