"""The data-quality scorecard on hand-made frames whose figures are worked out by hand."""

from datetime import date, datetime

import polars as pl
import pytest

from retail_pipeline.core.contracts import DAILY_SALES, SILVER_TRANSACTIONS
from retail_pipeline.core.transforms.quality import SCORECARD, build_scorecard

D1, D2 = date(2011, 1, 3), date(2011, 1, 4)


def silver_line(row: int, **changes) -> dict:
    line = {
        "invoice_no": "536365", "stock_code": "85123A", "description": "HEART", "quantity": 2,
        "invoice_ts": datetime(2011, 1, 3, 8), "invoice_date": D1, "unit_price": 2.5, "customer_id": None,
        "country": "EIRE", "country_iso2": "IE", "region": "Northern Europe", "line_type": "sale",
        "is_product": True, "gbp_eur": 1.2, "gbp_usd": 1.5, "line_total_gbp": 5.0, "line_total_eur": 6.0,
        "line_total_usd": 7.5, "_source_file": "f.csv", "_source_sheet": None, "_source_row": row,
        "_file_sha256": "a" * 64, "_run_id": "r",
    }
    return {**line, **changes}


def test_scores_per_day_and_table():
    # Bronze on D1: 4 rows, one without a price (quarantined), one exact duplicate.
    bronze = pl.LazyFrame(
        {
            "_partition_date": [D1] * 4,
            "invoice_no": ["1", "2", "2", "3"],
            "stock_code": ["A"] * 4,
            "invoice_ts": ["1/3/2011 8:00"] * 4,
            "quantity": ["1"] * 4,
            "unit_price": ["1", "1", "1", None],
        }
    )
    stats = pl.LazyFrame(
        {
            "business_date": [D1, D2],
            "bronze_rows": [4, 0],
            "silver_rows": [2, 0],
            "quarantined_rows": [1, 0],
            "duplicates_dropped": [1, 0],
            "quarantined_by_reason": [[{"reason_code": "missing_required", "rows": 1}], []],
        }
    )
    # Silver on D1: 2 lines, one breaking the contract (a cancellation line type with positive quantity).
    silver = pl.DataFrame(
        [silver_line(1), silver_line(2, invoice_no="C1", line_type="cancellation", line_total_gbp=5.0)],
        schema=SILVER_TRANSACTIONS,
    )
    gold = pl.DataFrame(schema=DAILY_SALES)
    card = build_scorecard(bronze, silver.lazy(), gold.lazy(), stats, D1, D2 + (D2 - D1))
    assert card.schema == SCORECARD
    rows = {(r["business_date"], r["table"]): r for r in card.iter_rows(named=True)}
    b = rows[(D1, "bronze/transactions")]
    assert (b["rows"], b["validity"], b["uniqueness"]) == (4, 0.75, 0.75)
    assert b["completeness"] == pytest.approx((1 + 1 + 1 + 1 + 0.75) / 5)
    assert b["quarantined_by_reason"] == [{"reason_code": "missing_required", "rows": 1}]
    s = rows[(D1, "silver/transactions")]
    assert (s["rows"], s["completeness"], s["validity"], s["uniqueness"]) == (2, 1.0, 0.5, 1.0)
    assert s["score"] == pytest.approx(2.5 / 3)
    empty = rows[(D2, "gold/daily_sales")]
    assert (empty["rows"], empty["score"]) == (0, None)
    assert card.height == 2 * 3
