"""Gold: KPI marts people read (DESIGN.md section 4 definitions)."""


import dagster as dg
import polars as pl

from retail_pipeline.automation import HISTORY_MART_CONDITION
from retail_pipeline.io_manager import PARTITION_COLUMN
from retail_pipeline.partitions import daily_partitions, window_dates
from retail_pipeline.transforms import gold, marts
from retail_pipeline.transforms.quality import build_scorecard

SILVER_IN = {"silver": dg.AssetIn(key=["silver", "transactions"])}
# The whole-history marts: rebuilt once after each batch of new daily partitions (automation.py).
HISTORY_MART = {"automation_condition": HISTORY_MART_CONDITION, "group_name": "gold", "kinds": {"delta", "polars"}}
# The daily gold tables: one business date, or a range of them in one run.
DAILY_MART = {
    "partitions_def": daily_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "group_name": "gold",
    "kinds": {"delta", "polars"},
}


@dg.asset(
    key=["gold", "daily_sales"],
    ins=SILVER_IN,
    metadata={PARTITION_COLUMN: "invoice_date"},
    **DAILY_MART,
)
def daily_sales(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Sales KPIs per business date and country: gross, product, cancelled and net revenue in GBP, EUR and
    USD, orders, customers, lines, units and average order value."""
    return gold.daily_sales(silver)


@dg.asset(
    key=["gold", "monthly_kpis"],
    ins=SILVER_IN,
    automation_condition=HISTORY_MART_CONDITION,
    group_name="gold",
    kinds={"delta", "polars"},
)
def monthly_kpis(context: dg.AssetExecutionContext, silver: pl.LazyFrame) -> pl.LazyFrame:
    """Sales KPIs per calendar month over the whole history: revenue (gross, product, cancelled, net) in
    GBP, EUR and USD, orders, cancelled orders and the cancellation rate, customers (new and returning),
    lines, units and average order value."""
    frame = gold.monthly_kpis(silver).collect()
    context.add_output_metadata({"gross_revenue_gbp_total": float(frame["gross_revenue_gbp"].sum())})
    return frame.lazy()



@dg.asset(key=["gold", "product_performance"], ins={**SILVER_IN, "dim_product": dg.AssetIn(key=["gold", "dim_product"])}, **HISTORY_MART)
def product_performance(silver: pl.LazyFrame, dim_product: pl.LazyFrame) -> pl.LazyFrame:
    """Per month and product: gross revenue in GBP, EUR and USD, units, orders, distinct customers, and
    the product's revenue rank in the month (1 = best)."""
    return marts.product_performance(silver, dim_product)


@dg.asset(key=["gold", "product_features"], ins=SILVER_IN, **HISTORY_MART)
def product_features(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Per product over the whole history, the item features a recommender needs: popularity (orders and
    rank), distinct customers, units, revenue, cancellation rate, first and last date sold."""
    return marts.product_features(silver)


@dg.asset(key=["gold", "customer_rfm"], ins=SILVER_IN, **HISTORY_MART)
def customer_rfm(context: dg.AssetExecutionContext, silver: pl.LazyFrame) -> pl.LazyFrame:
    """Per customer with a purchase: recency, frequency and monetary value, their 1-5 scores, the RFM
    segment (champions, loyal, new, potential loyalists, at risk, hibernating, lost), and the customer
    features: average basket, tenure and average days between orders."""
    frame = marts.customer_rfm(silver).collect()
    context.add_output_metadata(
        {f"customers_{segment}": n for segment, n in sorted(frame.group_by("segment").len().iter_rows())}
    )
    return frame.lazy()


@dg.asset(key=["gold", "country_sales"], ins=SILVER_IN, **HISTORY_MART)
def country_sales(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Sales KPIs per month and country (as the shop wrote it, with ISO code and region): revenue in three
    currencies, orders, cancellations, customers, units and average order value."""
    return marts.country_sales(silver)


@dg.asset(
    key=["gold", "dq_scorecard"],
    ins={
        "bronze": dg.AssetIn(key=["bronze", "transactions"]),
        "silver": dg.AssetIn(key=["silver", "transactions"]),
        "stats": dg.AssetIn(key=["silver", "partition_stats"]),
        "daily_sales": dg.AssetIn(key=["gold", "daily_sales"]),
    },
    metadata={PARTITION_COLUMN: "business_date"},
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
