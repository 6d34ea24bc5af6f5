"""Gold: KPI marts over silver transactions, with the definitions of DESIGN.md section 4.

A "gross" row is a deduplicated line that is not a cancellation and has quantity > 0 and unit price > 0,
whatever its line type. Money is rounded to pennies (and cents) in the marts, where people read it.
"""

from __future__ import annotations

import polars as pl

from retail_pipeline.schemas import DAILY_SALES, MONTHLY_KPIS, conform

CURRENCIES = ("gbp", "eur", "usd")

IS_CANCELLATION = pl.col("line_type") == "cancellation"
IS_GROSS = ~IS_CANCELLATION & (pl.col("quantity") > 0) & (pl.col("unit_price") > 0)


def kpi_aggregations() -> list[pl.Expr]:
    """The KPI measures of one group of silver lines."""
    money: list[pl.Expr] = []
    for ccy in CURRENCIES:
        total = pl.col(f"line_total_{ccy}")
        gross = total.filter(IS_GROSS).sum()
        # 0.0 - x rather than -x: a day without cancellations shows 0.0, not -0.0.
        cancelled = pl.lit(0.0) - total.filter(IS_CANCELLATION).sum()
        money += [
            gross.alias(f"gross_revenue_{ccy}"),
            total.filter(IS_GROSS & pl.col("is_product")).sum().alias(f"product_revenue_{ccy}"),
            cancelled.alias(f"cancelled_revenue_{ccy}"),
            (gross - cancelled).alias(f"net_revenue_{ccy}"),
        ]
    return [
        *money,
        pl.col("invoice_no").filter(IS_GROSS).n_unique().alias("orders"),
        pl.col("customer_id").drop_nulls().n_unique().alias("customers"),
        pl.len().alias("lines"),
        pl.col("quantity").filter(IS_GROSS).sum().alias("units"),
    ]


def _finish(frame: pl.LazyFrame) -> pl.LazyFrame:
    money = [f"{m}_{c}" for m in ("gross_revenue", "product_revenue", "cancelled_revenue", "net_revenue") for c in CURRENCIES]
    return frame.with_columns(
        pl.when(pl.col("orders") > 0).then(pl.col("gross_revenue_gbp") / pl.col("orders")).round(2).alias("aov_gbp"),
        *[pl.col(c).round(2) for c in money],
    )


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
