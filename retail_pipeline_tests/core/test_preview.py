"""Previews of table rows for Dagster's metadata: customers hidden, and no change to the process
environment. polars' ``pl.Config`` sets and unsets environment variables on entry and exit; done while
native threads read the environment, that crashed a test worker with SIGSEGV in CI (the dump showed
``polars/config.py restore_defaults`` under ``markdown_preview``), and a loop of ``pl.Config`` beside polars
queries in another thread segfaulted here within 45 s."""

import os
from datetime import date

import polars as pl

from retail_pipeline.core.preview import HIDDEN, markdown_preview


def test_a_preview_never_writes_the_environment(monkeypatch):
    writes = []
    monkeypatch.setattr(os, "putenv", lambda key, value: writes.append(("put", key)))
    monkeypatch.setattr(os, "unsetenv", lambda key: writes.append(("unset", key)))
    frame = pl.DataFrame({"customer_id": ["17850"], "country": ["EIRE"], "n": [1]})
    before = dict(os.environ)
    markdown_preview(frame)
    assert writes == [] and dict(os.environ) == before


def test_a_preview_is_a_markdown_table_of_the_first_rows():
    frame = pl.DataFrame(
        {
            "customer_id": ["17850", None, "13047", "1", "2", "3"],
            "description": ["WHITE | HANGING\nHEART " + "X" * 60, None, "a", "b", "c", "d"],
            "day": [date(2011, 1, 4)] * 6,
            "price": [2.55, 3.0, None, 1.0, 1.0, 1.0],
        }
    )
    lines = markdown_preview(frame).splitlines()
    assert lines[0] == "| customer_id | description | day | price |"
    assert lines[1] == "| --- | --- | --- | --- |"
    assert len(lines) == 2 + 5  # header, rule, five rows
    first = lines[2]
    assert first.startswith(f"| {HIDDEN} | WHITE \\| HANGING HEART ") and "| 2011-01-04 | 2.55 |" in first
    assert len(first.split(" | ")[1]) <= 41  # long text cut at 40 characters (+ an ellipsis)
    assert lines[3] == "|  |  | 2011-01-04 | 3.0 |"  # nulls are empty, a missing id stays visible as missing
    assert "17850" not in "\n".join(lines) and "13047" not in "\n".join(lines)


def test_an_empty_frame_previews_its_header():
    assert markdown_preview(pl.DataFrame(schema={"a": pl.Int64})).splitlines() == ["| a |", "| --- |"]
