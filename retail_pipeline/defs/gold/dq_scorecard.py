"""gold/dq_scorecard: data quality per business date and table."""

import dagster as dg
import polars as pl

from retail_pipeline.core import tables
from retail_pipeline.core.transforms.quality import build_scorecard
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.partitions import window_dates
from retail_pipeline.defs.policies import DAILY_MART, input_of, key_of


@dg.asset(
    key=key_of(tables.DQ_SCORECARD),
    ins={
        "bronze": input_of(tables.BRONZE_TRANSACTIONS),
        "silver": input_of(tables.SILVER_TRANSACTIONS),
        "stats": input_of(tables.PARTITION_STATS),
        "daily_sales": input_of(tables.DAILY_SALES),
    },
    **DAILY_MART,
)
def dq_scorecard(
    context: dg.AssetExecutionContext,
    bronze: pl.LazyFrame,
    silver: pl.LazyFrame,
    stats: pl.LazyFrame,
    daily_sales: pl.LazyFrame,
) -> pl.LazyFrame:
    """Data quality per business date and table (bronze, silver, gold daily sales): completeness, validity
    against the contract, uniqueness, an overall score, and the quarantined rows by reason."""
    start, end = window_dates(context)
    card = build_scorecard(bronze, silver, daily_sales, stats, start, end)
    # Numeric figures so the UI plots them over materialisations.
    summary = card.group_by("table").agg(pl.col("completeness", "validity", "uniqueness", "score").mean())
    context.add_output_metadata(
        {
            f"{table.replace('/', '_')}_{measure}": float(value) if value is not None else float("nan")
            for table, *values in summary.iter_rows()
            for measure, value in zip(("completeness", "validity", "uniqueness", "score"), values, strict=True)
        }
    )
    return card.lazy()


matches_contract = contract_check(tables.DQ_SCORECARD)
