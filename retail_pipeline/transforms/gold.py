"""Gold: KPI marts over silver transactions, with the definitions of DESIGN.md section 4.

A "gross" row is a deduplicated line that is not a cancellation and has quantity > 0 and unit price > 0,
whatever its line type. Money is summed exactly to the millionth (see ``exact_sum``) and not rounded further:
rounding sums to pennies would stop daily and monthly figures from reconciling to the penny.
"""

from __future__ import annotations

import polars as pl

from retail_pipeline.schemas import DAILY_SALES, MONTHLY_KPIS, conform

CURRENCIES = ("gbp", "eur", "usd")

IS_CANCELLATION = pl.col("line_type") == "cancellation"
IS_GROSS = ~IS_CANCELLATION & (pl.col("quantity") > 0) & (pl.col("unit_price") > 0)


# Money is summed in integer micro-units: a float sum depends on the order rows arrive in (threads, file
# layout), so the same data could give 964165.765 once and 964165.764999 the next time, and round differently.
MICRO = 1_000_000


def exact_sum(expr: pl.Expr) -> pl.Expr:
    """Sum of money that gives the same result whatever the row order."""
    return (expr * MICRO).round().cast(pl.Int64).sum() / MICRO


def kpi_aggregations() -> list[pl.Expr]:
    """The KPI measures of one group of silver lines."""
    money: list[pl.Expr] = []
    for ccy in CURRENCIES:
        total = pl.col(f"line_total_{ccy}")
        gross = exact_sum(total.filter(IS_GROSS))
        # 0.0 - x rather than -x: a day without cancellations shows 0.0, not -0.0.
        cancelled = pl.lit(0.0) - exact_sum(total.filter(IS_CANCELLATION))
        money += [
            gross.alias(f"gross_revenue_{ccy}"),
            exact_sum(total.filter(IS_GROSS & pl.col("is_product"))).alias(f"product_revenue_{ccy}"),
            cancelled.alias(f"cancelled_revenue_{ccy}"),
            # Both terms are whole micro-units, so the difference is too (up to float representation).
            (gross - cancelled).round(6).alias(f"net_revenue_{ccy}"),
        ]
    return [
        *money,
        pl.col("invoice_no").filter(IS_GROSS).n_unique().alias("orders"),
        pl.col("customer_id").drop_nulls().n_unique().alias("customers"),
        pl.len().alias("lines"),
        pl.col("quantity").filter(IS_GROSS).sum().alias("units"),
    ]


def _finish(frame: pl.LazyFrame) -> pl.LazyFrame:
    average = pl.col("gross_revenue_gbp") / pl.col("orders")
    return frame.with_columns(pl.when(pl.col("orders") > 0).then(average.round(2)).alias("aov_gbp"))


def daily_sales(silver: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (business date, country as the shop wrote it)."""
    frame = silver.group_by("invoice_date", "country").agg(
        pl.col("country_iso2").first(), *kpi_aggregations()
    )
    return conform(_finish(frame), DAILY_SALES).sort("invoice_date", "country", nulls_last=True)


def monthly_kpis(silver: pl.LazyFrame) -> pl.LazyFrame:
    """One row per calendar month (``month`` = its first day) over the whole history."""
    frame = silver.group_by(pl.col("invoice_date").dt.truncate("1mo").alias("month")).agg(*kpi_aggregations())
    return conform(_finish(frame), MONTHLY_KPIS).sort("month")
