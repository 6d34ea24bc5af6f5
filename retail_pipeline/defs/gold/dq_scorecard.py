"""gold/dq_scorecard: data quality per business date and table."""

import dagster as dg
import polars as pl

from retail_pipeline.adapters.io_manager import read_side_table
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.partition_metadata import add_partition_metadata
from retail_pipeline.core import tables
from retail_pipeline.core.dates import Window
from retail_pipeline.core.transforms.quality import build_scorecard
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.partitions import window_dates
from retail_pipeline.defs.policies import DAILY_MART, input_of, key_of


@dg.asset(
    key=key_of(tables.DQ_SCORECARD),
    ins={
        "bronze": input_of(tables.BRONZE_TRANSACTIONS),
        "silver": input_of(tables.SILVER_TRANSACTIONS),
        "daily_sales": input_of(tables.DAILY_SALES),
    },
    **DAILY_MART,
)
def dq_scorecard(
    context: dg.AssetExecutionContext,
    bronze: pl.LazyFrame,
    silver: pl.LazyFrame,
    daily_sales: pl.LazyFrame,
    lakehouse: Lakehouse,
) -> pl.LazyFrame:
    """Data quality per business date and table (bronze, silver, gold daily sales): completeness, validity
    against the contract, uniqueness, an overall score, and the quarantined rows by reason."""
    start, end = window_dates(context)
    # silver/partition_stats is written by silver's step, upstream of this one (its input).
    stats = read_side_table(context, lakehouse, tables.PARTITION_STATS, Window(start, end))
    card = build_scorecard(bronze, silver, daily_sales, stats, start, end)
    # Each day's scores on its own event, as numbers so the UI plots them (adapters/partition_metadata.py).
    measures = ("completeness", "validity", "uniqueness", "score")
    figures = pl.concat(
        [
            card.select(
                "business_date",
                (pl.col("table").str.replace("/", "_") + f"_{measure}").alias("name"),
                pl.col(measure).cast(pl.Float64).fill_null(float("nan")).alias("value"),
            )
            for measure in measures
        ]
    ).pivot(on="name", index="business_date", values="value", sort_columns=True)
    if figures.height:
        add_partition_metadata(
            context.add_asset_metadata, key_of(tables.DQ_SCORECARD), context.partition_keys, figures, "business_date"
        )
    return card.lazy()


matches_contract = contract_check(tables.DQ_SCORECARD)
