"""Gold: KPI marts people read (DESIGN.md section 4 definitions)."""


import dagster as dg
import polars as pl

from retail_pipeline.io_manager import PARTITION_COLUMN
from retail_pipeline.partitions import daily_partitions
from retail_pipeline.transforms import gold


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
    group_name="gold",
    kinds={"delta", "polars"},
)
def monthly_kpis(context: dg.AssetExecutionContext, silver: pl.LazyFrame) -> pl.LazyFrame:
    """Sales KPIs per calendar month over the whole history: revenue (gross, product, cancelled, net) in
    GBP, EUR and USD, orders, customers, lines, units and average order value."""
    frame = gold.monthly_kpis(silver).collect()
    context.add_output_metadata({"gross_revenue_gbp_total": float(frame["gross_revenue_gbp"].sum())})
    return frame.lazy()
