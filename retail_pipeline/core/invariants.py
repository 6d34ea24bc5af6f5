"""The invariants of DESIGN.md section 3 as pure functions: each returns the rows (dates, keys) that break
one, empty when it holds. The asset checks beside each asset (``defs/``) read the tables and call these.
"""

import pandera.polars as pa
import polars as pl

from retail_pipeline.core.transforms.kpis import CURRENCIES, IS_CANCELLATION, IS_GROSS

# Money in gold is exact to the millionth; half a penny leaves room for float representation only.
MONEY_TOLERANCE = 0.005


def row_conservation_failures(
    bronze: pl.LazyFrame, silver: pl.LazyFrame, quarantine: pl.LazyFrame, stats: pl.LazyFrame
) -> pl.DataFrame:
    """Dates where bronze rows != silver rows + quarantined rows + duplicates dropped, counted in the tables."""
    def per_day(frame: pl.LazyFrame, column: str, name: str) -> pl.LazyFrame:
        return frame.group_by(pl.col(column).alias("business_date")).agg(pl.len().alias(name))

    counts = (
        stats.select("business_date", "duplicates_dropped")
        .join(per_day(bronze, "_partition_date", "bronze"), on="business_date", how="left")
        .join(per_day(silver, "invoice_date", "silver"), on="business_date", how="left")
        .join(per_day(quarantine, "_partition_date", "quarantined"), on="business_date", how="left")
        .with_columns(pl.col("bronze", "silver", "quarantined").fill_null(0))
    )
    accounted = pl.col("silver") + pl.col("quarantined") + pl.col("duplicates_dropped")
    return counts.filter(pl.col("bronze") != accounted).sort("business_date").collect()


def revenue_mismatches(silver: pl.LazyFrame, daily_sales: pl.LazyFrame) -> pl.DataFrame:
    """Dates where gold's gross or cancelled revenue differs from the sum of silver's lines, per currency."""
    measures = []
    for ccy in CURRENCIES:
        total = pl.col(f"line_total_{ccy}")
        measures += [
            total.filter(IS_GROSS).sum().alias(f"gross_revenue_{ccy}"),
            (-total.filter(IS_CANCELLATION).sum()).alias(f"cancelled_revenue_{ccy}"),
        ]
    names = [m.meta.output_name() for m in measures]
    from_silver = silver.group_by("invoice_date").agg(measures)
    from_gold = daily_sales.group_by("invoice_date").agg(pl.col(names).sum())
    joined = from_silver.join(from_gold, on="invoice_date", how="full", suffix="_gold", coalesce=True).fill_null(0.0)
    off = pl.any_horizontal([(pl.col(n) - pl.col(f"{n}_gold")).abs() > MONEY_TOLERANCE for n in names])
    return joined.filter(off).sort("invoice_date").collect()


def fact_mismatches(silver: pl.LazyFrame, fact: pl.LazyFrame) -> pl.DataFrame:
    """Dates where the star's fact rows or money differ from silver's lines."""
    def per_day(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.group_by("invoice_date").agg(
            pl.len().alias("lines"), *[pl.col(f"line_total_{c}").sum().alias(c) for c in CURRENCIES]
        )

    joined = per_day(silver).join(per_day(fact), on="invoice_date", how="full", suffix="_fact", coalesce=True)
    joined = joined.with_columns(pl.exclude("invoice_date").fill_null(0))
    off = (pl.col("lines") != pl.col("lines_fact")) | pl.any_horizontal(
        [(pl.col(c) - pl.col(f"{c}_fact")).abs() > MONEY_TOLERANCE for c in CURRENCIES]
    )
    return joined.filter(off).sort("invoice_date").collect()


def contract_failures(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> pl.DataFrame:
    """Pandera's failure cases of ``frame`` against ``model`` (empty when it passes). Collected frames only:
    on a LazyFrame pandera checks the schema and silently skips the data rules."""
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases.select("column", "check", "failure_case", "index")
    return pl.DataFrame(schema={"column": pl.String, "check": pl.String, "failure_case": pl.String, "index": pl.Int32})
