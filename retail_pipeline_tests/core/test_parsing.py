"""How raw strings become typed values: the formats shops export."""

from datetime import datetime

import polars as pl

from retail_pipeline.core.parsing import normalise_customer_id, parse_price, parse_quantity, parse_timestamp


def test_the_three_date_formats_and_nothing_else():
    raw = pl.Series(
        ["12/1/2010 8:26", "2010-12-01 08:26:00", "2010-12-01 08:26", "01-12-2010 08:26", " 12/1/2010 8:26 ",
         "13/45/2010 9:41", "2010/12/01 08:26", "", None]
    )
    got = pl.select(parse_timestamp(pl.lit(raw))).to_series().to_list()
    assert got[:5] == [datetime(2010, 12, 1, 8, 26)] * 5
    assert got[5:] == [None] * 4


def test_customer_ids_quantities_and_prices():
    frame = pl.DataFrame(
        {
            "customer": ["17850", "17850.0", " 17850.00 ", "", None],
            "quantity": ["6", "6.0", "-12", "6.5", "six"],
            "price": ["2.55", "0", "1e2", "nan", "£2"],
        }
    )
    got = frame.select(
        normalise_customer_id(pl.col("customer")), parse_quantity(pl.col("quantity")), parse_price(pl.col("price"))
    )
    assert got["customer"].to_list() == ["17850", "17850", "17850", None, None]
    assert got["quantity"].to_list() == [6, 6, -12, None, None]
    assert got["price"].to_list() == [2.55, 0.0, 100.0, None, None]
