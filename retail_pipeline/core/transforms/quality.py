"""The data-quality scorecard: per business date and table, how complete, valid and unique the rows are.

- completeness: the non-null share of the table's required fields;
- validity: the share of rows that pass: for bronze, rows that were not quarantined; for silver and gold,
  rows with no failure against their contract (``contracts.py``);
- uniqueness: 1 - the share of rows that repeat a business key (bronze: exact duplicates dropped);
- score: the mean of the three. A day without rows has no scores (null), not perfect ones.
"""

from datetime import date, timedelta

import pandera.polars as pa
import polars as pl

from retail_pipeline.core import contracts
from retail_pipeline.core.contracts import BUSINESS_COLUMNS

SCORECARD = contracts.DQ_SCORECARD
RAW_REQUIRED = ["invoice_no", "stock_code", "invoice_ts", "quantity", "unit_price"]


def _required(model: type[pa.DataFrameModel]) -> list[str]:
    return [name for name, column in model.to_schema().columns.items() if not column.nullable]


def _invalid_rows(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> pl.Series:
    """A boolean per row: does it break a rule of the contract."""
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        bad = exc.failure_cases["index"].drop_nulls().unique()
        return pl.int_range(frame.height, eager=True).is_in(bad.cast(pl.Int64).implode())
    return pl.repeat(False, frame.height, eager=True)


def _scores(frame: pl.DataFrame, date_column: str, table: str, required: list[str], invalid: pl.Series, key: list[str]) -> pl.LazyFrame:
    return (
        frame.lazy()
        .with_columns(invalid.alias("__invalid"), pl.struct(key).is_duplicated().alias("__repeat"))
        .group_by(pl.col(date_column).alias("business_date"))
        .agg(
            pl.len().cast(pl.Int64).alias("rows"),
            pl.mean_horizontal([pl.col(c).is_not_null().mean() for c in required]).alias("completeness"),
            (1 - pl.col("__invalid").mean()).alias("validity"),
            (1 - pl.col("__repeat").mean()).alias("uniqueness"),
        )
        .with_columns(pl.lit(table).alias("table"))
    )


def build_scorecard(
    bronze: pl.LazyFrame,
    silver: pl.LazyFrame,
    daily_sales: pl.LazyFrame,
    stats: pl.LazyFrame,
    start: date,
    end: date,
) -> pl.DataFrame:
    """One row per (business date in ``[start, end)``, table) for bronze, silver and gold daily sales."""
    days = pl.LazyFrame({"business_date": pl.date_range(start, end - timedelta(days=1), "1d", eager=True)})
    tables = pl.LazyFrame({"table": ["bronze/transactions", "silver/transactions", "gold/daily_sales"]})
    bronze_scores = (
        bronze.group_by(pl.col("_partition_date").alias("business_date"))
        .agg(pl.mean_horizontal([pl.col(c).is_not_null().mean() for c in RAW_REQUIRED]).alias("completeness"))
        .join(stats, on="business_date")
        .select(
            "business_date",
            pl.lit("bronze/transactions").alias("table"),
            pl.col("bronze_rows").alias("rows"),
            "completeness",
            (1 - pl.col("quarantined_rows") / pl.col("bronze_rows")).alias("validity"),
            (1 - pl.col("duplicates_dropped") / pl.col("bronze_rows")).alias("uniqueness"),
            "quarantined_by_reason",
        )
    )
    silver_frame = silver.collect()
    gold_frame = daily_sales.collect()
    silver_scores = _scores(
        silver_frame,
        "invoice_date",
        "silver/transactions",
        _required(contracts.SilverTransactionsModel),
        _invalid_rows(contracts.SilverTransactionsModel, silver_frame),
        BUSINESS_COLUMNS,
    )
    gold_scores = _scores(
        gold_frame,
        "invoice_date",
        "gold/daily_sales",
        _required(contracts.DailySalesModel),
        _invalid_rows(contracts.DailySalesModel, gold_frame),
        ["invoice_date", "country"],
    )
    scored = pl.concat([bronze_scores, silver_scores, gold_scores], how="diagonal_relaxed")
    return (
        days.join(tables, how="cross")
        .join(scored, on=["business_date", "table"], how="left")
        .with_columns(
            pl.col("rows").fill_null(0),
            pl.mean_horizontal("completeness", "validity", "uniqueness").alias("score"),
        )
        .select(SCORECARD.names())
        .cast(dict(SCORECARD))
        .sort("business_date", "table")
        .collect()
    )
