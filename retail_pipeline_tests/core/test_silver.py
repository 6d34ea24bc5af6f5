"""Silver transform on hand-made bronze frames: quarantine reasons, dedup, classification, enrichment."""

from datetime import date, datetime

import polars as pl
import pytest

from retail_pipeline.core.contracts import BRONZE_TRANSACTIONS, PARTITION_STATS, SILVER_QUARANTINE, SILVER_TRANSACTIONS
from retail_pipeline.core.transforms.silver import build_silver

START, END = date(2010, 12, 1), date(2010, 12, 3)
VALID = (date(2010, 12, 1), date(2012, 1, 1))
FIELDS = ["invoice_no", "stock_code", "description", "quantity", "invoice_ts", "unit_price", "customer_id", "country"]


def bronze(rows: list[tuple], partition_dates: list[date] | None = None) -> pl.LazyFrame:
    frame = pl.DataFrame([dict(zip(FIELDS, r, strict=True)) for r in rows], schema={f: pl.String for f in FIELDS})
    n = frame.height
    return frame.with_columns(
        pl.lit(None, pl.String).alias("_extra"),
        pl.lit(None, pl.Int64).alias("_field_count"),
        pl.lit(None, pl.String).alias("_raw_record"),
        pl.Series("_partition_date", partition_dates or [date(2010, 12, 1)] * n, pl.Date),
        pl.lit("f.csv").alias("_source_file"),
        pl.lit(None, pl.String).alias("_source_sheet"),
        pl.int_range(1, n + 1, dtype=pl.Int64).alias("_source_row"),
        pl.lit("sha").alias("_file_sha256"),
        pl.lit("csv/online_retail_i/utf-8").alias("_format"),
        pl.lit(datetime(2026, 1, 1)).cast(pl.Datetime("us", "UTC")).alias("_ingested_at"),
        pl.lit("run").alias("_run_id"),
        pl.int_range(2, n + 2, dtype=pl.Int64).alias("_first_line"),
        pl.int_range(2, n + 2, dtype=pl.Int64).alias("_last_line"),
        pl.lit("utf-8").alias("_encoding"),
        pl.lit(False).alias("_unbalanced_quote"),
    ).select(BRONZE_TRANSACTIONS.names()).lazy()


FX = pl.LazyFrame(  # silver/fx_daily's shape: each day has its own fixing
    {"date": [date(2010, 12, 1), date(2010, 12, 2)], "gbp_eur": [1.2, 1.25], "gbp_usd": [1.5, 1.6]}
).with_columns(pl.col("date").alias("fixing_date"))
COUNTRIES = pl.LazyFrame(
    {"country_key": ["united kingdom", "eire"], "country_iso2": ["GB", "IE"], "region": ["Northern Europe"] * 2}
)


def run(rows, partition_dates=None):
    return build_silver(bronze(rows, partition_dates), FX, COUNTRIES, START, END, *VALID, "run-1")


def test_each_untrustworthy_row_is_quarantined_with_its_reason():
    result = run(
        [
            ("536365", "85123A", "HEART", "6", "12/1/2010 8:26", "2.55", "17850", "United Kingdom"),
            ("", "85123A", "HEART", "6", "12/1/2010 8:26", "2.55", "17850", "United Kingdom"),
            ("536366", "85123A", "HEART", "6", "31/31/2010 8:26", "2.55", "", "United Kingdom"),
            ("536367", "85123A", "HEART", "6", "1/1/2031 8:26", "2.55", "", "United Kingdom"),
            ("536368", "85123A", "HEART", "6.5", "12/1/2010 8:26", "2.55", "", "United Kingdom"),
            ("536369", "85123A", "HEART", "6", "12/1/2010 8:26", "two", "", "United Kingdom"),
            ("536370", "  ", "HEART", "", "12/1/2010 8:26", "1", "", "United Kingdom"),
        ]
    )
    assert result.transactions.height == 1
    codes = dict(result.quarantine.select("_source_row", "reason_code").iter_rows())
    assert codes == {
        2: "missing_required",
        3: "unparseable_date",
        4: "date_out_of_range",
        5: "unparseable_quantity",
        6: "unparseable_price",
        7: "missing_required",
    }
    reasons = dict(result.quarantine.select("_source_row", "reason").iter_rows())
    assert reasons[7] == "required field(s) empty: stock_code, quantity"
    assert "'31/31/2010 8:26'" in reasons[3]
    assert result.quarantine["quantity"].to_list()[3] == "6.5"  # raw value kept for the person fixing it


def test_exact_duplicates_keep_the_first_by_file_and_row_after_trimming():
    line = ("536365", "85123A", "WHITE  HEART ", "6", "12/1/2010 8:26", "2.55", "17850.0", "United Kingdom")
    trimmed = ("536365", "85123A", " WHITE HEART", "6", "12/1/2010 8:26", "2.550", "17850", "United Kingdom")
    other = ("536365", "85123A", "WHITE HEART", "7", "12/1/2010 8:26", "2.55", "17850", "United Kingdom")
    result = run([line, other, trimmed, line])
    assert result.transactions["_source_row"].to_list() == [1, 2]
    assert result.transactions["description"].to_list() == ["WHITE HEART", "WHITE HEART"]
    assert result.transactions["customer_id"].to_list() == ["17850", "17850"]
    stats = result.partition_stats.row(0, named=True)
    assert (stats["bronze_rows"], stats["silver_rows"], stats["duplicates_dropped"]) == (4, 2, 2)


def test_line_types_products_and_money_in_three_currencies():
    result = run(
        [
            ("536365", "85123A", "HEART", "6", "12/1/2010 8:26", "2.50", "17850", "United Kingdom"),
            ("C536379", "22633", "WARMER", "-2", "12/2/2010 9:41", "1.00", "14527", "EIRE"),
            ("536380", "POST", "POSTAGE", "1", "12/2/2010 9:41", "18", "", "Narnia"),
            ("536381", "21777", "damaged", "-5", "12/2/2010 9:41", "0", "", "United Kingdom"),
            ("A563185", "B", "Adjust bad debt", "1", "12/2/2010 9:41", "11062.06", "", "United Kingdom"),
            ("536382", "gift_0001_20", "voucher", "1", "12/2/2010 9:41", "16.67", "", "United Kingdom"),
        ],
        [date(2010, 12, 1)] + [date(2010, 12, 2)] * 5,
    )
    t = result.transactions.sort("_source_row")
    assert t["line_type"].to_list() == ["sale", "cancellation", "fee", "adjustment", "adjustment", "fee"]
    assert t["is_product"].to_list() == [True, True, False, True, False, False]
    assert t["country_iso2"].to_list() == ["GB", "IE", None, "GB", "GB", "GB"]
    first = t.row(0, named=True)
    assert first["line_total_gbp"] == pytest.approx(15.0)
    assert first["line_total_eur"] == pytest.approx(18.0)
    assert first["line_total_usd"] == pytest.approx(22.5)
    assert t.row(1, named=True)["line_total_eur"] == pytest.approx(-2.5)  # 12/2 rate
    assert first["invoice_ts"] == datetime(2010, 12, 1, 8, 26)


def test_every_bronze_row_is_accounted_for_per_day_and_empty_days_have_stats():
    rows = [
        ("1", "85123A", "A", "1", "12/1/2010 8:00", "1", "", "EIRE"),
        ("1", "85123A", "A", "1", "12/1/2010 8:00", "1", "", "EIRE"),
        ("2", "85123A", "A", "x", "12/1/2010 8:00", "1", "", "EIRE"),
    ]
    result = run(rows)
    stats = result.partition_stats
    assert stats["business_date"].to_list() == [date(2010, 12, 1), date(2010, 12, 2)]
    day = stats.row(0, named=True)
    assert day["bronze_rows"] == day["silver_rows"] + day["quarantined_rows"] + day["duplicates_dropped"] == 3
    assert day["quarantined_by_reason"] == [{"reason_code": "unparseable_quantity", "rows": 1}]
    assert stats.row(1, named=True)["bronze_rows"] == 0


def test_outputs_have_their_declared_schemas_even_when_empty():
    result = run([])
    assert result.transactions.schema == SILVER_TRANSACTIONS
    assert result.quarantine.schema == SILVER_QUARANTINE
    assert result.partition_stats.schema == PARTITION_STATS
    assert result.transactions.height == result.quarantine.height == 0


def test_a_row_placed_in_another_day_by_bronze_is_quarantined_there():
    # Bronze put this row on 12-01 because its date was out of range when the partition was built; silver,
    # run later with wider bounds, must still keep it out of 12-01's valid rows.
    result = run(
        [("536365", "85123A", "HEART", "6", "12/2/2010 8:26", "2.55", "17850", "United Kingdom")],
        [date(2010, 12, 1)],
    )
    assert result.transactions.height == 0
    assert result.quarantine["reason_code"].to_list() == ["date_out_of_range"]


def test_a_record_with_the_wrong_field_count_is_quarantined_with_its_raw_text():
    frame = bronze(
        [
            ("536365", "85123A", "HEART", "6", "12/1/2010 8:26", "2.55", "United Kingdom", None),
            ("536366", "85123A", "HEART", "6", "12/1/2010 8:26", "2.55", "17850", "United Kingdom"),
        ]
    ).with_columns(
        pl.Series("_field_count", [7, None], pl.Int64),
        pl.Series("_raw_record", ["536365,85123A,HEART,6,12/1/2010 8:26,2.55,United Kingdom", None]),
    )
    result = build_silver(frame, FX, COUNTRIES, START, END, *VALID, "run-1")
    assert result.transactions["_source_row"].to_list() == [2]
    row = result.quarantine.row(0, named=True)
    assert (row["reason_code"], row["reason"]) == ("wrong_field_count", "record has 7 fields, unlike its file's header")
    assert row["_raw_record"].startswith("536365,85123A")


def test_a_record_with_undecodable_bytes_is_quarantined_as_bad_encoding():
    result = run(
        [
            ("536365", "85123A", "HEART", "6", "12/1/2010 8:26", "2.55", "17850", "EIRE"),
            ("536366", "85123A", "BAD \ufffd BYTE", "6", "12/1/2010 8:26", "2.55", "17850", "EIRE"),
        ]
    )
    assert result.transactions["_source_row"].to_list() == [1]
    assert result.quarantine.select("_source_row", "reason_code").rows() == [(2, "bad_encoding")]
