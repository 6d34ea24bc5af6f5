"""Gold: KPI marts people read (DESIGN.md section 4 definitions)."""


import dagster as dg
import polars as pl

from retail_pipeline.automation import HISTORY_MART_CONDITION
from retail_pipeline.io_manager import PARTITION_COLUMN
from retail_pipeline.partitions import daily_partitions, window_dates
from retail_pipeline.transforms import gold
from retail_pipeline.transforms.quality import build_scorecard


@dg.asset(
    key=["gold", "daily_sales"],
    ins={"silver": dg.AssetIn(key=["silver", "transactions"])},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={PARTITION_COLUMN: "invoice_date"},
    group_name="gold",
    kinds={"delta", "polars"},
)
def daily_sales(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Sales KPIs per business date and country: gross, product, cancelled and net revenue in GBP, EUR and
    USD, orders, customers, lines, units and average order value."""
    return gold.daily_sales(silver)


@dg.asset(
    key=["gold", "monthly_kpis"],
    ins={"silver": dg.AssetIn(key=["silver", "transactions"])},
    automation_condition=HISTORY_MART_CONDITION,
    group_name="gold",
    kinds={"delta", "polars"},
)
def monthly_kpis(context: dg.AssetExecutionContext, silver: pl.LazyFrame) -> pl.LazyFrame:
    """Sales KPIs per calendar month over the whole history: revenue (gross, product, cancelled, net) in
    GBP, EUR and USD, orders, customers, lines, units and average order value."""
    frame = gold.monthly_kpis(silver).collect()
    context.add_output_metadata({"gross_revenue_gbp_total": float(frame["gross_revenue_gbp"].sum())})
    return frame.lazy()


@dg.asset(
    key=["gold", "dq_scorecard"],
    ins={
        "bronze": dg.AssetIn(key=["bronze", "transactions"]),
        "silver": dg.AssetIn(key=["silver", "transactions"]),
        "stats": dg.AssetIn(key=["silver", "partition_stats"]),
        "daily_sales": dg.AssetIn(key=["gold", "daily_sales"]),
    },
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={PARTITION_COLUMN: "business_date"},
    group_name="gold",
    kinds={"delta", "polars"},
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
