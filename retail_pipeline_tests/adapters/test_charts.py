"""The report's SVG charts (adapters/charts.py): well-formed, every value placed where its axis says, and
the same bytes for the same figures."""

import xml.etree.ElementTree as ET
from datetime import date

import pytest

from retail_pipeline.adapters import charts

NS = "{" + charts.SVG_NS + "}"


def test_nice_ticks_are_round_and_span_the_values():
    assert charts.nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    assert charts.nice_ticks(0.93, 1.0) == pytest.approx([0.92, 0.94, 0.96, 0.98, 1.0])
    assert charts.nice_ticks(-30, 70) == [-40, -20, 0, 20, 40, 60, 80]
    ticks = charts.nice_ticks(5, 5)  # one value: still an axis
    assert len(ticks) >= 2 and ticks[0] <= 5 <= ticks[-1]


def test_a_line_chart_places_each_point_on_its_axes():
    days = [date(2011, 1, 1), date(2011, 2, 1), date(2011, 3, 1)]
    svg = charts.line_chart("Revenue <GBP>", days, {"GBP": ([0.0, 50.0, 100.0], "#111"), "EUR": ([10.0, None, 30.0], "#222")})
    root = ET.fromstring(svg)  # well-formed, the title escaped
    assert root.find(f"{NS}text").text == "Revenue <GBP>"
    lines = root.findall(f"{NS}polyline")
    # GBP one line of three points; EUR broken by its missing value into two one-point pieces.
    assert [len(p.get("points").split()) for p in lines] == [3, 1, 1]
    points = [tuple(map(float, xy.split(","))) for xy in lines[0].get("points").split()]
    xs, ys = [x for x, _ in points], [y for _, y in points]
    assert xs[0] == charts.LEFT and xs[-1] == charts.WIDTH - charts.RIGHT
    assert xs[1] == pytest.approx(xs[0] + (xs[2] - xs[0]) * 31 / 59, abs=0.1)  # dates spaced by days, not by index
    assert ys[0] > ys[1] > ys[2] and ys[1] == pytest.approx((ys[0] + ys[2]) / 2, abs=0.1)
    labels = [t.text for t in root.findall(f"{NS}text")]
    assert "2011-01-01" in labels and "2011-03-01" in labels and "GBP" in labels and "EUR" in labels


def test_bars_are_as_long_as_their_values_and_keep_their_order():
    svg = charts.bar_chart("Top", ["a & b", "c"], [200.0, 50.0], "#333", horizontal=True)
    root = ET.fromstring(svg)
    bars = root.findall(f"{NS}rect")[1:]  # after the background
    assert float(bars[0].get("width")) == pytest.approx(4 * float(bars[1].get("width")), abs=0.5)
    assert float(bars[0].get("y")) < float(bars[1].get("y"))  # the first label on top
    assert bars[0].find(f"{NS}title").text == "a & b: 200"
    vertical = ET.fromstring(charts.bar_chart("Segments", ["x", "y", "z"], [0.0, 3.0, 6.0], "#333"))
    heights = [float(b.get("height")) for b in vertical.findall(f"{NS}rect")[1:]]
    assert heights[0] == 0 and heights[2] == pytest.approx(2 * heights[1])


def test_empty_figures_still_draw_and_the_same_figures_give_the_same_bytes():
    for svg in (charts.line_chart("None", [], {}), charts.bar_chart("None", [], [], "#333")):
        ET.fromstring(svg)
    args = ("R", [date(2011, 1, 1), date(2011, 1, 2)], {"A": ([1.0, 2.0], "#111")})
    assert charts.line_chart(*args) == charts.line_chart(*args)
    grid = ET.fromstring(charts.grid([charts.line_chart(*args)] * 3, columns=2, shown_width=1000))
    assert grid.get("width") == "1000" and len(grid.findall(f"{NS}g")) == 3
