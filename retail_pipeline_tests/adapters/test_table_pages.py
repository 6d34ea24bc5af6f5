"""Paging a real Delta table through ``TablePages`` with hostile keys: ties (a key that is not unique), nulls
in key columns, months with no rows, pages that end inside a run of ties or on a month's last row."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.table_pages import PageRequest, TablePages
from retail_pipeline.core import paging, tables
from retail_pipeline.core.dates import Window

TABLE = tables.FACT_SALES  # paged by (invoice_date, _source_file, _source_row), which the test makes collide


def _frame(keys: list[tuple[int, str | None, int | None]]) -> pl.DataFrame:
    schema = TABLE.schema
    n = len(keys)
    columns = {
        "invoice_date": [date(2011, 1, 1) + timedelta(days=d) for d, _, _ in keys],
        "_source_file": [f for _, f, _ in keys],
        "_source_row": [r for _, _, r in keys],
        "quantity": list(range(n)),  # each row's identity
    }
    frame = pl.DataFrame({c: columns.get(c, [None] * n) for c in schema.names()}, schema=schema, strict=False)
    return frame


keys = st.lists(
    # Few distinct keys, so that runs of ties span pages; days in three months, one of them empty between.
    st.tuples(st.sampled_from([0, 1, 120]), st.sampled_from([None, "a.csv"]), st.sampled_from([None, 1])),
    min_size=1, max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=keys, limit=st.integers(1, 9), personal=st.booleans())
def test_every_row_once_in_key_order(tmp_path_factory, rows, limit, personal):
    root = tmp_path_factory.mktemp("pages")
    lakehouse = Lakehouse(root=str(root))
    frame = _frame(rows)
    lakehouse.write(TABLE.path, frame, TABLE.date_column, Window(date(2011, 1, 1), date(2011, 6, 1)))
    pages = TablePages(lakehouse)
    seen, cursor = [], None
    for _ in range(len(rows) + 2):  # a cursor that does not advance would page for ever
        page = pages.page(PageRequest(TABLE, limit, cursor, ["invoice_date", "_source_file", "_source_row", "quantity"], personal=personal))
        assert page.frame.height <= limit
        seen.append(page.frame)
        cursor = page.next_cursor
        if cursor is None:
            break
        assert page.frame.height == limit
    else:
        pytest.fail("paging did not end")
    got = pl.concat(seen)
    assert sorted(got["quantity"].to_list()) == list(range(len(rows)))  # every row, once
    order = got.select(paging.page_key(TABLE)).rows()
    rank = lambda k: tuple((v is not None, v) for v in k)  # noqa: E731 (nulls first)
    assert order == sorted(order, key=rank)


def test_a_filtered_range_reads_only_its_months(tmp_path):
    lakehouse = Lakehouse(root=str(tmp_path))
    frame = _frame([(d, "a.csv", i) for i, d in enumerate([0, 31, 59, 90, 120] * 3)])
    lakehouse.write(TABLE.path, frame, TABLE.date_column, Window(date(2011, 1, 1), date(2011, 6, 1)))
    page = TablePages(lakehouse).page(PageRequest(TABLE, 100, date_from=date(2011, 2, 1), date_to=date(2011, 3, 31)))
    assert sorted(page.frame["invoice_date"].unique().to_list()) == [date(2011, 2, 1), date(2011, 3, 1)]
    assert page.next_cursor is None and page.frame.height == 6


@pytest.mark.parametrize("text", ["", "!!", "e30", "eyJ2IjotMSwiayI6W10sIm4iOjAsInEiOiJ4In0"])
def test_a_cursor_that_is_not_ours_is_a_cursor_error(tmp_path, text):
    lakehouse = Lakehouse(root=str(tmp_path))
    lakehouse.write(TABLE.path, _frame([(0, "a.csv", 1)]), TABLE.date_column, Window(date(2011, 1, 1), date(2011, 2, 1)))
    with pytest.raises(paging.CursorError):
        TablePages(lakehouse).page(PageRequest(TABLE, 10, text or "x"))
