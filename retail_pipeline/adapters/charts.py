"""Small SVG charts (lines over dates or months, bars) for the KPI report, written as text.

Why not a plotting library: the report is refreshed by every run, and matplotlib took 1.3-1.5 s of a
3.7 s whole-history refresh (0.35 s to import, the rest to lay out and rasterise five charts twice, as SVG
and PNG). These charts need axes, ticks, labels and a legend, nothing more; SVG text is the same bytes for
the same figures, opens in any browser and in Dagster's UI (a ``data:image/svg+xml`` image).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from html import escape

SVG_NS = "http://www.w3.org/2000/svg"
FONT = 'font-family="system-ui, sans-serif"'
WIDTH, HEIGHT = 900, 450
LEFT, RIGHT, TOP, BOTTOM = 90, 45, 40, 80  # plot margins: room for tick labels and the title


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2f}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) spanning ``low`` .. ``high``."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(n * step, 10) for n in range(first, max(last, first + 1) + 1)]


def _frame(title: str, width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg xmlns="{SVG_NS}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<rect width="{width}" height="{height}" fill="white"/>'
        f'<text x="{width / 2:.0f}" y="24" text-anchor="middle" font-size="16" {FONT}>{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _value_axis(ticks: list[float], to_y, x0: float, x1: float) -> list[str]:
    out = []
    for tick in ticks:
        y = to_y(tick)
        out.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{x0 - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" font-size="11" {FONT}>{_number(tick)}</text>')
    return out


def line_chart(
    title: str,
    x: Sequence[date],
    series: dict[str, tuple[Sequence[float | None], str]],
    y_range: tuple[float, float] | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """One line per series (label -> (values, colour)) over the dates ``x``; missing values break a line."""
    x0, x1, y0, y1 = LEFT, width - RIGHT, height - BOTTOM, TOP + 20  # the legend between title and plot
    values = [v for vs, _ in series.values() for v in vs if v is not None]
    low, high = y_range or ((min(values), max(values)) if values else (0.0, 1.0))
    ticks = nice_ticks(low, high)
    if y_range is None:
        low, high = ticks[0], ticks[-1]
    else:  # the range asked for, with the round values inside it
        ticks = [t for t in ticks if low - 1e-9 <= t <= high + 1e-9] or [low, high]
    days = [d.toordinal() for d in x]
    first, last = (min(days), max(days)) if days else (0, 1)

    def to_x(day: int) -> float:
        return x0 + (x1 - x0) * ((day - first) / (last - first) if last > first else 0.5)

    def to_y(value: float) -> float:
        return y0 - (y0 - y1) * ((value - low) / (high - low) if high > low else 0.5)

    body = _value_axis(ticks, to_y, x0, x1)
    shown = sorted(set(range(0, len(x), max(1, math.ceil(len(x) / 8)))) | ({len(x) - 1} if x else set()))
    for i in shown:
        body.append(_label(to_x(days[i]), y0 + 16, x[i].isoformat(), rotate=-45))
    body.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#888"/>')
    legend_x = x0 + 10
    for label, (vals, colour) in series.items():
        runs, run = [], []
        for day, value in zip(days, vals, strict=True):
            if value is None:
                runs, run = runs + [run] if run else runs, []
            else:
                run.append(f"{to_x(day):.1f},{to_y(value):.1f}")
        for points in runs + ([run] if run else []):
            body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        body.append(f'<rect x="{legend_x}" y="{y1 - 18}" width="14" height="4" fill="{colour}"/>')
        body.append(f'<text x="{legend_x + 18}" y="{y1 - 12}" font-size="11" {FONT}>{escape(label)}</text>')
        legend_x += 30 + 7 * len(label)  # about the width of its text at 11 px
    return _frame(title, width, height, body)


def _bar(x: float, y: float, width: float, height: float, colour: str, label: str, value: float) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0):.1f}" height="{max(height, 0):.1f}" fill="{colour}">'
        f"<title>{escape(label)}: {_number(value)}</title></rect>"
    )


def _label(x: float, y: float, text: str, rotate: int | None = None) -> str:
    """A tick label ending at (x, y), turned by ``rotate`` degrees about that point."""
    turn = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="end" font-size="11" {FONT}{turn}>{escape(text)}</text>'


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    colour: str,
    horizontal: bool = False,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """One bar per label, in the order given (the first on top when ``horizontal``)."""
    left = 240 if horizontal else LEFT
    x0, x1, y0, y1 = left, width - RIGHT, height - BOTTOM, TOP
    ticks = nice_ticks(min(0.0, *values) if values else 0.0, max(values) if values else 1.0)
    low, high = ticks[0], ticks[-1]
    n = max(len(labels), 1)
    body = []
    if horizontal:
        def to_x(value: float) -> float:
            return x0 + (x1 - x0) * (value - low) / (high - low)

        for tick in ticks:
            px = to_x(tick)
            body.append(f'<line x1="{px:.1f}" y1="{y1}" x2="{px:.1f}" y2="{y0}" stroke="#e5e5e5"/>')
            body.append(f'<text x="{px:.1f}" y="{y0 + 16}" text-anchor="middle" font-size="11" {FONT}>{_number(tick)}</text>')
        band = (y0 - y1) / n
        for i, (label, value) in enumerate(zip(labels, values, strict=True)):
            top = y1 + band * i + band * 0.15
            body.append(_bar(to_x(0), top, to_x(value) - to_x(0), band * 0.7, colour, label, value))
            body.append(_label(x0 - 6, top + band * 0.35 + 4, label))
    else:
        def to_y(value: float) -> float:
            return y0 - (y0 - y1) * (value - low) / (high - low)

        body += _value_axis(ticks, to_y, x0, x1)
        band = (x1 - x0) / n
        for i, (label, value) in enumerate(zip(labels, values, strict=True)):
            left_edge = x0 + band * i + band * 0.15
            body.append(_bar(left_edge, to_y(value), band * 0.7, to_y(0) - to_y(value), colour, label, value))
            body.append(_label(left_edge + band * 0.35, y0 + 16, label, rotate=-30))
    body.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#888"/>')
    return _frame(title, width, height, body)


def grid(charts: Sequence[str], columns: int = 2, width: int = WIDTH, height: int = HEIGHT, shown_width: int = 1000) -> str:
    """The charts (each ``width`` x ``height``) side by side, ``columns`` a row, as one SVG shown
    ``shown_width`` pixels wide (Dagster's UI shows an image at its own size)."""
    rows = math.ceil(len(charts) / columns)
    cells = [
        f'<g transform="translate({width * (i % columns)} {height * (i // columns)})">{chart}</g>'
        for i, chart in enumerate(charts)
    ]
    total_w, total_h = width * columns, height * rows
    return (
        f'<svg xmlns="{SVG_NS}" width="{shown_width}" height="{round(total_h * shown_width / total_w)}" '
        f'viewBox="0 0 {total_w} {total_h}"><rect width="{total_w}" height="{total_h}" fill="white"/>'
        + "".join(cells)
        + "</svg>"
    )
