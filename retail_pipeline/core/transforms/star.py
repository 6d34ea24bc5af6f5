"""Gold star schema: ``fact_sales`` at the grain of one silver line, and its dimensions (date, product,
customer, country), joined by surrogate keys that are the same in every run.

A surrogate key is computed, not assigned: the first 8 bytes of the BLAKE2b digest of the natural key (stock
code, customer id, normalised country name) as a non-negative Int64. A day's fact rows therefore get the same
keys whether the dimensions were rebuilt before or after them, in any run, on any machine and any polars
version (polars' own ``hash`` is only stable within one version). ``date_key`` is the date as yyyymmdd.
"""

from __future__ import annotations

import hashlib
from datetime import date

import holidays
import polars as pl

from retail_pipeline.core.contracts import DIM_CUSTOMER, DIM_DATE, DIM_PRODUCT, FACT_SALES, GOLD_DIM_COUNTRY, conform
from retail_pipeline.core.enrichment.countries import normalise_country_key
from retail_pipeline.core.transforms.kpis import IS_GROSS


def _digest(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big") >> 1


def surrogate_key(expr: pl.Expr) -> pl.Expr:
    """The stable Int64 key of a string natural key; null stays null."""

    def keys(values: pl.Series) -> pl.Series:
        distinct = values.drop_nulls().unique()
        # A Python call per distinct key (a few thousand products or customers), never per row.
        hashed = pl.Series([_digest(v) for v in distinct], dtype=pl.Int64)
        return values.replace_strict(distinct, hashed, default=None, return_dtype=pl.Int64)

    return expr.map_batches(keys, return_dtype=pl.Int64, is_elementwise=True)


def date_key(expr: pl.Expr) -> pl.Expr:
    """20101201 for 2010-12-01."""
    return (expr.dt.year() * 10_000 + expr.dt.month().cast(pl.Int32) * 100 + expr.dt.day().cast(pl.Int32)).cast(pl.Int32)


def country_key(country: pl.Expr) -> pl.Expr:
    return surrogate_key(normalise_country_key(country))


def fact_sales(silver: pl.LazyFrame) -> pl.LazyFrame:
    """One row per silver line (every line type), with the dimensions' keys and the measures in three
    currencies; ``is_gross`` marks the lines that count as gross revenue (DESIGN.md section 4)."""
    frame = silver.with_columns(
        date_key(pl.col("invoice_date")).alias("date_key"),
        surrogate_key(pl.col("stock_code")).alias("product_key"),
        surrogate_key(pl.col("customer_id")).alias("customer_key"),
        country_key(pl.col("country")).alias("country_key"),
        IS_GROSS.alias("is_gross"),
    )
    return conform(frame, FACT_SALES).sort("invoice_date", "_source_file", "_source_row")


def dim_date(first: date, last: date) -> pl.DataFrame:
    """Every day of the calendar years from ``first`` to ``last``: week, month, quarter, weekday and the
    bank holidays of England and Wales (the ``holidays`` package's rules, offline)."""
    start, end = date(first.year, 1, 1), date(last.year, 12, 31)
    bank = holidays.country_holidays("GB", subdiv="ENG", years=range(start.year, end.year + 1))
    named = pl.DataFrame(
        {"date": list(bank.keys()), "uk_holiday_name": list(bank.values())}, schema={"date": pl.Date, "uk_holiday_name": pl.String}
    )
    day = pl.col("date")
    frame = (
        pl.DataFrame({"date": pl.date_range(start, end, "1d", eager=True)})
        .lazy()
        .join(named.lazy(), on="date", how="left")
        .with_columns(
            date_key(day).alias("date_key"),
            day.dt.year().alias("year"),
            day.dt.quarter().alias("quarter"),
            day.dt.month().alias("month"),
            day.dt.strftime("%B").alias("month_name"),
            day.dt.truncate("1mo").alias("month_start"),
            day.dt.iso_year().alias("iso_year"),
            day.dt.week().alias("iso_week"),
            day.dt.day().alias("day_of_month"),
            day.dt.weekday().alias("day_of_week"),
            day.dt.strftime("%A").alias("weekday_name"),
            (day.dt.weekday() >= 6).alias("is_weekend"),
            pl.col("uk_holiday_name").is_not_null().alias("is_uk_bank_holiday"),
        )
    )
    return conform(frame, DIM_DATE).sort("date").collect()


def most_frequent(frame: pl.LazyFrame, by: str, value: str) -> pl.LazyFrame:
    """Per ``by``, its most frequent non-null ``value`` (ties: the smallest, so every run agrees)."""
    counts = frame.filter(pl.col(value).is_not_null()).group_by(by, value).agg(pl.len().alias("__n"))
    return counts.group_by(by).agg(pl.col(value).sort_by(["__n", value], descending=[True, False]).first())


def dim_product(silver: pl.LazyFrame) -> pl.LazyFrame:
    """One row per stock code ever seen: its most frequent description, first and last business date
    seen (any line type) and sold (gross lines), and whether it is a product (not a fee or postage)."""
    seen = silver.group_by("stock_code").agg(
        pl.col("is_product").first(),
        pl.col("invoice_date").min().alias("first_seen"),
        pl.col("invoice_date").max().alias("last_seen"),
        pl.col("invoice_date").filter(IS_GROSS).min().alias("first_sold"),
        pl.col("invoice_date").filter(IS_GROSS).max().alias("last_sold"),
    )
    frame = seen.join(most_frequent(silver, "stock_code", "description"), on="stock_code", how="left").with_columns(
        surrogate_key(pl.col("stock_code")).alias("product_key")
    )
    return conform(frame, DIM_PRODUCT).sort("stock_code")


def dim_customer(silver: pl.LazyFrame) -> pl.LazyFrame:
    """One row per customer id: the country they buy from most, their first and last purchase (gross
    lines) and their cohort: the month of the first purchase (null if they never bought, only cancelled)."""
    known = silver.filter(pl.col("customer_id").is_not_null())
    dates = known.group_by("customer_id").agg(
        pl.col("invoice_date").filter(IS_GROSS).min().alias("first_purchase"),
        pl.col("invoice_date").filter(IS_GROSS).max().alias("last_purchase"),
    )
    iso = known.select("country", "country_iso2").unique(subset="country", keep="any")  # one ISO code per name
    frame = (
        dates.join(most_frequent(known, "customer_id", "country"), on="customer_id", how="left")
        .join(iso, on="country", how="left")
        .with_columns(
            surrogate_key(pl.col("customer_id")).alias("customer_key"),
            pl.col("first_purchase").dt.truncate("1mo").alias("cohort_month"),
        )
    )
    return conform(frame, DIM_CUSTOMER).sort("customer_id")


def gold_dim_country(dim_country: pl.LazyFrame, silver: pl.LazyFrame) -> pl.LazyFrame:
    """silver/dim_country with a surrogate key, plus a row (``match`` = "unknown") for every country name
    in the sales that the lookup does not know, so every fact row finds its country."""
    known = dim_country.rename({"country_key": "country_lookup"})
    seen = (
        silver.select(pl.col("country").drop_nulls().unique())
        .with_columns(normalise_country_key(pl.col("country")).alias("country_lookup"))
        .group_by("country_lookup")
        .agg(pl.col("country").min().alias("country_name"))
    )
    unknown = seen.join(known.select("country_lookup"), on="country_lookup", how="anti").with_columns(
        pl.lit("unknown").alias("match")
    )
    frame = pl.concat([known, unknown], how="diagonal_relaxed").with_columns(
        surrogate_key(pl.col("country_lookup")).alias("country_key")
    )
    return conform(frame, GOLD_DIM_COUNTRY).sort("country_lookup")
