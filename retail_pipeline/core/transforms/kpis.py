"""Gold: KPI marts over silver transactions, with the definitions of DESIGN.md section 4.

A "gross" row is a deduplicated line that is not a cancellation and has quantity > 0 and unit price > 0,
whatever its line type. Money is summed exactly to the millionth (see ``exact_sum``) and not rounded further:
rounding sums to pennies would stop daily and monthly figures from reconciling to the penny.
"""

from __future__ import annotations

import polars as pl

from retail_pipeline.core.contracts import DAILY_SALES, MONTHLY_KPIS, conform

CURRENCIES = ("gbp", "eur", "usd")

IS_CANCELLATION = pl.col("line_type") == "cancellation"
IS_GROSS = ~IS_CANCELLATION & (pl.col("quantity") > 0) & (pl.col("unit_price") > 0)


# Money is summed as decimals: a float sum depends on the order rows arrive in (threads, file layout), so the
# same data could give 0.6050000000000001 once and 0.605 the next time. (Integer micro-units divided by 1e6 are
# no better: polars multiplies by the reciprocal, 1100000 / 1e6 = 1.0999999999999999.) Ten places, not six: a
# line total in EUR or USD (quantity x price x rate) has up to nine, and rounding each line to the millionth
# before the sum biased it (half-millionth cases are common): a 30M-row day's USD revenue was 0.0054 low.
MONEY = pl.Decimal(38, 10)


def exact_sum(expr: pl.Expr) -> pl.Expr:
    """Sum of money as an exact decimal, the same whatever the row order."""
    return expr.cast(MONEY).sum()


def kpi_aggregations() -> list[pl.Expr]:
    """The KPI measures of one group of silver lines."""
    money: list[pl.Expr] = []
    for ccy in CURRENCIES:
        total = pl.col(f"line_total_{ccy}")
        gross = exact_sum(total.filter(IS_GROSS))
        cancelled = pl.lit(0, MONEY) - exact_sum(total.filter(IS_CANCELLATION))
        money += [
            gross.cast(pl.Float64).alias(f"gross_revenue_{ccy}"),
            exact_sum(total.filter(IS_GROSS & pl.col("is_product"))).cast(pl.Float64).alias(f"product_revenue_{ccy}"),
            cancelled.cast(pl.Float64).alias(f"cancelled_revenue_{ccy}"),
            (gross - cancelled).cast(pl.Float64).alias(f"net_revenue_{ccy}"),
        ]
    return [
        *money,
        pl.col("invoice_no").filter(IS_GROSS).n_unique().alias("orders"),
        pl.col("invoice_no").filter(IS_CANCELLATION).n_unique().alias("cancelled_orders"),
        pl.col("customer_id").drop_nulls().n_unique().alias("customers"),
        pl.len().alias("lines"),
        pl.col("quantity").filter(IS_GROSS).sum().alias("units"),
        (pl.col("line_total_eur").is_null() | pl.col("line_total_usd").is_null()).sum().cast(pl.Int64).alias("lines_without_fx"),
    ]


def finish(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The ratios of the aggregated measures: average order value (GBP, to the penny) and the cancellation
    rate, cancelled invoices / (orders + cancelled invoices); null where there is nothing to divide."""
    average = pl.col("gross_revenue_gbp") / pl.col("orders")
    invoices = pl.col("orders") + pl.col("cancelled_orders")
    return frame.with_columns(
        pl.when(pl.col("orders") > 0).then(average.round(2)).alias("aov_gbp"),
        pl.when(invoices > 0).then(pl.col("cancelled_orders") / invoices).alias("cancellation_rate"),
    )


def daily_sales(silver: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (business date, country as the shop wrote it)."""
    frame = silver.group_by("invoice_date", "country").agg(
        pl.col("country_iso2").first(), *kpi_aggregations()
    )
    return conform(finish(frame), DAILY_SALES).sort("invoice_date", "country", nulls_last=True)


def monthly_kpis(silver: pl.LazyFrame, previous: pl.DataFrame | None = None, months=()) -> pl.LazyFrame:
    """One row per calendar month (``month`` = its first day) over the whole history, with the customers
    who bought that month split into new (their first purchase is in the month) and returning. With
    ``previous`` (the mart as it was), the measures of only ``months`` are recomputed; the split, which
    depends on every earlier month, is recomputed for all from silver's buyers."""
    month = pl.col("invoice_date").dt.truncate("1mo").alias("month")
    source = silver if previous is None else silver.filter(month.is_in(sorted(months)))
    frame = source.group_by(month).agg(*kpi_aggregations())
    if previous is not None:
        measures = frame.collect_schema().names()
        kept = previous.lazy().filter(~pl.col("month").is_in(sorted(months))).select(measures)
        frame = pl.concat([kept, frame], how="vertical_relaxed")
    buyers = silver.filter(IS_GROSS & pl.col("customer_id").is_not_null()).select(month, "customer_id").unique()
    first = buyers.group_by("customer_id").agg(pl.col("month").min().alias("first_month"))
    split = (
        buyers.join(first, on="customer_id")
        .group_by("month")
        .agg(
            (pl.col("month") == pl.col("first_month")).sum().cast(pl.Int64).alias("new_customers"),
            (pl.col("month") > pl.col("first_month")).sum().cast(pl.Int64).alias("returning_customers"),
        )
    )
    frame = frame.join(split, on="month", how="left").with_columns(
        pl.col("new_customers", "returning_customers").fill_null(0)
    )
    return conform(finish(frame), MONTHLY_KPIS).sort("month")
