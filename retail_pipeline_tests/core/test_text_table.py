"""Aligned text tables for the command line, written without polars' printer (``pl.Config`` writes the
process environment, which crashes a process whose native threads read it)."""

import os
from datetime import date

import polars as pl

from retail_pipeline.core.text_table import text_table


def test_numbers_align_right_with_separators_and_text_left(monkeypatch):
    writes = []
    monkeypatch.setattr(os, "putenv", lambda key, value: writes.append(key))
    monkeypatch.setattr(os, "unsetenv", lambda key: writes.append(key))
    frame = pl.DataFrame(
        {"month": [date(2011, 1, 1), date(2011, 2, 1)], "country": ["United Kingdom", None],
         "gross_revenue_gbp": [1234567.891, 2.5], "orders": [1200, 7]}
    )
    lines = text_table(frame).splitlines()
    assert writes == []
    assert lines[0].split() == ["month", "country", "gross_revenue_gbp", "orders"]
    assert lines[2] == "2011-01-01  United Kingdom       1,234,567.89   1,200"
    assert lines[3] == "2011-02-01  null                         2.50       7"
    assert len({len(line) for line in lines[:3]}) == 1  # one width for header, rule and full rows


def test_rows_are_capped_and_long_text_cut():
    frame = pl.DataFrame({"description": ["X" * 100, "a\nb", "c"]})
    lines = text_table(frame, max_rows=2, width=10).splitlines()
    assert lines[2] == "XXXXXXXXX…" and lines[3] == "a b" and len(lines) == 4
