"""Gold marts over the whole history: products, customers (RFM) and countries (DESIGN.md section 4).

Revenue is gross revenue (``IS_GROSS`` lines), summed exactly (``exact_sum``). Orders are distinct invoices
with at least one gross line. A cancellation rate is a share of lines or invoices, always in [0, 1].
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from retail_pipeline.core.contracts import COUNTRY_SALES, CUSTOMER_RFM, PRODUCT_FEATURES, PRODUCT_PERFORMANCE, conform
from retail_pipeline.core.transforms.kpis import IS_CANCELLATION, IS_GROSS, exact_sum, finish, kpi_aggregations
from retail_pipeline.core.transforms.star import surrogate_key

MONTH = pl.col("invoice_date").dt.truncate("1mo").alias("month")

# RFM segments from the recency and frequency scores, first match wins (a common simplification of the
# classic 11-segment grid; monetary is kept as a score but does not split segments).
SEGMENTS: list[tuple[str, pl.Expr]] = [
    ("champions", (pl.col("r_score") >= 4) & (pl.col("f_score") >= 4)),
    ("loyal", (pl.col("r_score") >= 3) & (pl.col("f_score") >= 3)),
    ("new", (pl.col("r_score") >= 4) & (pl.col("f_score") == 1)),
    ("potential_loyalists", pl.col("r_score") >= 3),
    ("at_risk", pl.col("f_score") >= 3),
    ("hibernating", pl.col("r_score") == 2),
    ("lost", pl.lit(True)),
]
SEGMENT_NAMES = [name for name, _ in SEGMENTS]


def _money(prefix: str) -> list[pl.Expr]:
    return [
        exact_sum(pl.col(f"line_total_{c}")).cast(pl.Float64).alias(f"{prefix}_{c}") for c in ("gbp", "eur", "usd")
    ]


def in_months(months) -> pl.Expr:
    """Silver lines of ``months`` (first days of months)."""
    return pl.col("invoice_date").dt.truncate("1mo").is_in(sorted(months))


def merge_months(previous: pl.DataFrame | None, fresh: pl.LazyFrame, months) -> pl.LazyFrame:
    """``fresh`` (the rows of ``months``) with ``previous``'s rows of every other month: a month-grain mart
    refreshed for the months that changed. ``previous`` None: ``fresh`` is the whole mart."""
    if previous is None:
        return fresh
    kept = previous.lazy().filter(~pl.col("month").is_in(sorted(months)))
    return pl.concat([kept, fresh.select(previous.columns)], how="vertical_relaxed")


def product_performance(
    silver: pl.LazyFrame, dim_product: pl.LazyFrame, previous: pl.DataFrame | None = None, months=()
) -> pl.LazyFrame:
    """Per month and product (``is_product`` stock codes): gross revenue in three currencies, units,
    orders, distinct customers and the product's revenue rank in its month (1 = best; ties share a rank).
    With ``previous`` (the mart as it was), only ``months`` are recomputed from silver; descriptions come
    from ``dim_product`` for every row (a product's description follows the whole history)."""
    source = silver if previous is None else silver.filter(in_months(months))
    frame = (
        source.filter(IS_GROSS & pl.col("is_product"))
        .group_by(MONTH, "stock_code")
        .agg(
            *_money("revenue"),
            pl.col("quantity").sum().alias("units"),
            pl.col("invoice_no").n_unique().alias("orders"),
            pl.col("customer_id").drop_nulls().n_unique().alias("customers"),
        )
        .with_columns(
            pl.col("revenue_gbp").rank("min", descending=True).over("month").cast(pl.Int32).alias("revenue_rank"),
            surrogate_key(pl.col("stock_code")).alias("product_key"),
            pl.lit(None, pl.String).alias("description"),
        )
    )
    frame = conform(frame, PRODUCT_PERFORMANCE)
    frame = merge_months(previous, frame, months).drop("description").join(
        dim_product.select("stock_code", "description"), on="stock_code", how="left"
    )
    return conform(frame, PRODUCT_PERFORMANCE).sort("month", "revenue_rank", "stock_code")


def product_features(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Per product over the whole history, the item features a recommender needs: popularity (orders
    containing it, and its rank), distinct customers, units, revenue, the cancellation rate (cancellation
    lines / (gross + cancellation lines)) and the first and last business date it sold."""
    products = silver.filter(pl.col("is_product"))
    gross_lines = IS_GROSS.sum()
    cancel_lines = IS_CANCELLATION.sum()
    frame = (
        products.group_by("stock_code")
        .agg(
            pl.col("invoice_no").filter(IS_GROSS).n_unique().alias("orders"),
            pl.col("customer_id").filter(IS_GROSS).drop_nulls().n_unique().alias("customers"),
            pl.col("quantity").filter(IS_GROSS).sum().alias("units"),
            exact_sum(pl.col("line_total_gbp").filter(IS_GROSS)).cast(pl.Float64).alias("revenue_gbp"),
            (cancel_lines / (gross_lines + cancel_lines)).alias("cancellation_rate"),
            pl.col("invoice_date").filter(IS_GROSS).min().alias("first_sold"),
            pl.col("invoice_date").filter(IS_GROSS).max().alias("last_sold"),
        )
        .filter(pl.col("orders") > 0)  # a product only ever cancelled or written off was never sold
        .with_columns(
            pl.col("orders").rank("min", descending=True).cast(pl.Int32).alias("popularity_rank"),
            surrogate_key(pl.col("stock_code")).alias("product_key"),
        )
    )
    return conform(frame, PRODUCT_FEATURES).sort("popularity_rank", "stock_code")


def quintile(expr: pl.Expr) -> pl.Expr:
    """1..5 by rank: the lowest fifth of values scores 1, the highest 5; equal values score the same."""
    return (((expr.rank("min") - 1) * 5 / pl.len()).floor() + 1).clip(1, 5).cast(pl.Int8)


def customer_rfm(silver: pl.LazyFrame) -> pl.LazyFrame:
    """Per customer with a purchase: recency (days from the last purchase to the day after the last business
    date in the data), frequency (orders), monetary (gross revenue, GBP), their 1-5 scores and segment; and
    the customer features: average basket, tenure, average days between orders, first and last purchase."""
    as_of = silver.select((pl.col("invoice_date").max() + timedelta(days=1)).alias("as_of"))
    buyers = silver.filter(IS_GROSS & pl.col("customer_id").is_not_null())
    frame = (
        buyers.group_by("customer_id")
        .agg(
            pl.col("invoice_date").min().alias("first_purchase"),
            pl.col("invoice_date").max().alias("last_purchase"),
            pl.col("invoice_no").n_unique().alias("frequency"),
            exact_sum(pl.col("line_total_gbp")).cast(pl.Float64).alias("monetary_gbp"),
        )
        .join(as_of, how="cross")
        .with_columns(
            (pl.col("as_of") - pl.col("last_purchase")).dt.total_days().alias("recency_days"),
            (pl.col("last_purchase") - pl.col("first_purchase")).dt.total_days().alias("tenure_days"),
        )
        .with_columns(
            quintile(-pl.col("recency_days")).alias("r_score"),
            quintile(pl.col("frequency")).alias("f_score"),
            quintile(pl.col("monetary_gbp")).alias("m_score"),
            (pl.col("monetary_gbp") / pl.col("frequency")).alias("avg_basket_gbp"),
            pl.when(pl.col("frequency") > 1)
            .then(pl.col("tenure_days") / (pl.col("frequency") - 1))
            .alias("avg_days_between_orders"),
            surrogate_key(pl.col("customer_id")).alias("customer_key"),
        )
        .with_columns(
            pl.concat_str(pl.col("r_score", "f_score", "m_score").cast(pl.String)).alias("rfm_score"),
            pl.coalesce([pl.when(rule).then(pl.lit(name)) for name, rule in SEGMENTS]).alias("segment"),
        )
    )
    return conform(frame, CUSTOMER_RFM).sort("customer_id")


def country_sales(silver: pl.LazyFrame, previous: pl.DataFrame | None = None, months=()) -> pl.LazyFrame:
    """Per month and country as the shop wrote it: the KPI measures of ``daily_sales``, with ISO code and
    region. With ``previous`` (the mart as it was), only ``months`` are recomputed from silver."""
    source = silver if previous is None else silver.filter(in_months(months))
    frame = source.group_by(MONTH, "country").agg(
        pl.col("country_iso2").first(), pl.col("region").first(), *kpi_aggregations()
    )
    frame = merge_months(previous, conform(finish(frame), COUNTRY_SALES), months)
    return conform(frame, COUNTRY_SALES).sort("month", "country", nulls_last=True)
